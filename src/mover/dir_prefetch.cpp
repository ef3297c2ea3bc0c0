#include "mover/dir_prefetch.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace stowage {

bool list_directory(int dirfd, std::vector<std::string>& names) {
  int fd = dup(dirfd);
  DIR* d = fd >= 0 ? fdopendir(fd) : nullptr;
  if (!d) {
    if (fd >= 0) close(fd);
    return false;
  }
  while (struct dirent* e = readdir(d))
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) names.push_back(e->d_name);
  closedir(d);
  std::sort(names.begin(), names.end());
  return true;
}

DirPrefetch::DirPrefetch(std::string root, size_t max_entries)
    : root_(std::move(root)), max_entries_(max_entries), thread_([this] { run(); }) {}

DirPrefetch::~DirPrefetch() { stop(); }

void DirPrefetch::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

static bool same_time(const struct timespec& a, const struct timespec& b) {
  return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

std::optional<DirListing> DirPrefetch::take(const std::string& rel, const struct stat& now) {
  std::lock_guard lock(mu_);
  auto it = dirs_.find(rel);
  if (it == dirs_.end()) return std::nullopt;
  std::optional<DirListing> out;
  const struct stat& then = it->second.self;
  if (then.st_dev == now.st_dev && then.st_ino == now.st_ino && same_time(then.st_mtim, now.st_mtim) &&
      same_time(then.st_ctim, now.st_ctim))
    out = std::move(it->second.listing);
  dirs_.erase(it);
  return out;
}

size_t DirPrefetch::directories() const {
  std::lock_guard lock(mu_);
  return dirs_.size();
}

void DirPrefetch::run() {
  int root_fd = open(root_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (root_fd < 0) return;  // the backup reports it
  size_t entries = 0;
  // Depth first, in name order, as the backup's walk starts out; directories
  // are reopened by path below the root so no descriptors pile up.
  std::vector<std::string> todo{""};
  while (!todo.empty() && !stop_) {
    std::string rel = std::move(todo.back());
    todo.pop_back();
    int fd = rel.empty() ? dup(root_fd) : openat(root_fd, rel.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) continue;
    Entry entry{};
    DirListing& l = entry.listing;
    if (fstat(fd, &entry.self) != 0 || !list_directory(fd, l.names)) {
      close(fd);
      continue;
    }
    entries += l.names.size();
    if (entries > max_entries_) {
      close(fd);
      break;  // a partial listing is never kept
    }
    l.stats.resize(l.names.size());
    l.errors.assign(l.names.size(), 0);
    std::vector<std::string> subdirs;
    for (size_t i = 0; i < l.names.size() && !stop_; i++) {
      if (fstatat(fd, l.names[i].c_str(), &l.stats[i], AT_SYMLINK_NOFOLLOW) != 0) l.errors[i] = errno;
      else if (S_ISDIR(l.stats[i].st_mode)) subdirs.push_back(rel.empty() ? l.names[i] : rel + "/" + l.names[i]);
    }
    close(fd);
    if (stop_) break;
    // Reversed so that the first name is walked next.
    todo.insert(todo.end(), subdirs.rbegin(), subdirs.rend());
    std::lock_guard lock(mu_);
    dirs_.emplace(std::move(rel), std::move(entry));
  }
  close(root_fd);
}

}  // namespace stowage
