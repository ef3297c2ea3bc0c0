// DirPrefetch: lists directories and stats their entries ahead of a file
// backup, on a thread of its own, while the repository is being opened. The
// repository's key derivation keeps one core busy for about 0.1 s and needs
// nothing from the disk, so the walk's system calls can run beside it. The
// backup's walk takes a directory's listing from here when there is one and
// the directory it opened is still the one listed, unchanged (device, inode,
// mtime and ctime: adding, removing or renaming an entry changes them), and
// lists the directory itself otherwise. Bounded: only complete listings are
// kept, the walk stops after max_entries entries, and stop() ends it at once.
#pragma once

#include <sys/stat.h>

#include <atomic>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace stowage {

// The names in the open directory dirfd (left open), without "." and "..",
// sorted; false, with errno set, when it cannot be listed.
bool list_directory(int dirfd, std::vector<std::string>& names);

struct DirListing {
  std::vector<std::string> names;  // sorted
  std::vector<struct stat> stats;  // lstat of each name
  std::vector<int> errors;         // errno of a failed lstat, else 0
};

class DirPrefetch {
 public:
  static constexpr size_t kDefaultMaxEntries = 100000;  // ~20 MB of listings

  explicit DirPrefetch(std::string root, size_t max_entries = kDefaultMaxEntries);
  ~DirPrefetch();
  DirPrefetch(const DirPrefetch&) = delete;
  DirPrefetch& operator=(const DirPrefetch&) = delete;

  // Ends the walk and waits for its thread; what was listed stays available.
  void stop();
  // The listing of the directory at rel ("" is the root) if it was listed
  // and `now` (fstat of the directory the caller opened) shows the same
  // directory, unchanged since; handed out once.
  std::optional<DirListing> take(const std::string& rel, const struct stat& now);
  size_t directories() const;  // listings held

 private:
  struct Entry {
    struct stat self;  // the directory's own, when listed
    DirListing listing;
  };
  void run();

  const std::string root_;
  const size_t max_entries_;
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  std::unordered_map<std::string, Entry> dirs_;
  std::thread thread_;
};

}  // namespace stowage
