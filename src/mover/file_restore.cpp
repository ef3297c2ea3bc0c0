#include "mover/file_restore.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <map>
#include <unordered_map>

#include "mover/tree_cache.h"
#include "repo/batch_load.h"
#include "util/work_queue.h"

namespace stowage {

namespace {

int open_beneath(int root, const std::string& rel, int flags) {
  struct open_how how = {};
  how.flags = uint64_t(flags | O_CLOEXEC | O_NOFOLLOW);
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  return int(syscall(SYS_openat2, root, rel.empty() ? "." : rel.c_str(), &how, sizeof how));
}

struct timespec to_timespec(int64_t ns) {
  struct timespec t;
  t.tv_sec = ns / 1000000000;
  t.tv_nsec = ns % 1000000000;
  if (t.tv_nsec < 0) {
    t.tv_sec--;
    t.tv_nsec += 1000000000;
  }
  return t;
}

// Writes data at offset, leaving every all-zero 4 KiB block unwritten so that
// the file's holes survive (the file was sized with ftruncate beforehand).
Status write_skipping_zeros(int fd, ByteView data, uint64_t offset, const std::string& path) {
  constexpr size_t kBlock = 4096;
  size_t pos = 0;
  while (pos < data.size()) {
    size_t n = std::min(kBlock, data.size() - pos);
    if (all_zero(data.subspan(pos, n))) {
      pos += n;
      continue;
    }
    size_t end = pos + n;  // extend over following non-zero blocks
    while (end < data.size()) {
      size_t m = std::min(kBlock, data.size() - end);
      if (all_zero(data.subspan(end, m))) break;
      end += m;
    }
    for (size_t done = pos; done < end;) {
      ssize_t w = pwrite(fd, data.data() + done, end - done, off_t(offset + done));
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) return Error(ErrorCode::kIo, std::string("write failed: ") + strerror(errno), path);
      done += size_t(w);
    }
    pos = end;
  }
  return ok_status();
}

enum class Selection { kNone, kDescend, kAll };

// How many files one window may hold open. Three windows are open at a time
// (two being read, one being planned), and the process needs descriptors for
// directories and the store too.
size_t files_per_window() {
  struct rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return 64;
  rlim_t soft = limit.rlim_cur == RLIM_INFINITY ? 1 << 20 : limit.rlim_cur;
  return std::clamp<size_t>(soft > 256 ? (soft - 256) / 4 : 0, 16, 1024);
}

// The walker creates every directory and file in tree order and plans the
// file data in windows: each window maps the blobs of up to files_per_window()
// files to every place they go (file and offset). A window is read with a
// BlobBatchLoader — by pack, in coalesced ranges, out of order — and each blob
// is written to all its places as it arrives, so a blob that many files share
// is read once per window. A file's metadata is applied when its last blob
// lands; directories' metadata last, deepest first.
class FileRestore {
 public:
  FileRestore(Repository& repo, const FileRestoreOptions& options)
      : repo_(repo),
        options_(options),
        files_per_window_(files_per_window()),
        trees_(repo),
        loader_(repo, range_read_options(options.workers ? options.workers : 2 * default_workers())) {
    for (auto inc : options.includes) {
      while (!inc.empty() && inc.front() == '/') inc.erase(0, 1);
      while (!inc.empty() && inc.back() == '/') inc.pop_back();
      includes_.push_back(inc);
    }
  }

  Result<FileRestoreSummary> run(const Snapshot& snap, const std::string& target);

 private:
  // A file being written: closed (and its descriptor freed) by finish_file,
  // or when the last window that names it is dropped after an error.
  struct FileJob {
    int fd = -1;
    std::atomic<size_t> remaining{0};  // blobs not yet written
    Node node;
    std::string path;
    ~FileJob() {
      if (fd >= 0) close(fd);
    }
  };
  struct Target {
    std::shared_ptr<FileJob> file;
    uint64_t offset = 0;
  };
  struct Window {
    std::unordered_map<BlobId, std::vector<Target>, BlobIdHash> targets;
    std::vector<BlobId> order;  // the blobs in the order the walk met them
    size_t files = 0;
    uint64_t bytes = 0;
  };
  static constexpr size_t kWindowsInFlight = 2;
  static constexpr size_t kWindowBlobs = 16384;
  static constexpr uint64_t kWindowBytes = 256ull << 20;


  Selection select(const std::string& rel) const {
    if (includes_.empty()) return Selection::kAll;
    Selection best = Selection::kNone;
    for (const auto& inc : includes_) {
      if (inc.empty() || rel == inc || (rel.size() > inc.size() && rel.compare(0, inc.size(), inc) == 0 &&
                                        rel[inc.size()] == '/'))
        return Selection::kAll;
      if (inc.size() > rel.size() && inc.compare(0, rel.size(), rel) == 0 && (rel.empty() || inc[rel.size()] == '/'))
        best = Selection::kDescend;
    }
    return best;
  }

  Status restore_dir(int dirfd, const std::string& rel, const BlobId& tree_id, bool all);
  Status restore_file(int dirfd, const std::string& rel, const Node& node);
  Status restore_special(int dirfd, const std::string& rel, const Node& node);
  Status make_room(int dirfd, const std::string& name, bool want_dir, const std::string& rel);
  // Hands the window being planned to the loader; waits while
  // kWindowsInFlight windows are being read.
  Status submit_window();
  // Writes one loaded blob to every place the window names for it.
  Status deliver(const Window& window, const BlobId& id, Result<Bytes>&& data);
  void finish_file(FileJob& job);
  void apply_metadata_at(int dirfd, const std::string& name, const Node& node, const std::string& rel);
  void warn(const std::string& message) {
    std::lock_guard l(mu_);
    if (options_.progress) options_.progress->errors++;
    if (summary_.warnings.size() < 1000) summary_.warnings.push_back(message);
  }

  Repository& repo_;
  const FileRestoreOptions& options_;
  const size_t files_per_window_;
  std::vector<std::string> includes_;
  std::mutex mu_;
  FileRestoreSummary summary_;
  std::map<std::pair<uint64_t, uint64_t>, std::string> links_;  // (device, inode) → first path
  std::vector<std::pair<std::string, Node>> dirs_;                // for metadata after data
  int root_fd_ = -1;
  bool is_root_ = geteuid() == 0;
  TreeCache trees_;  // prefetched for a full restore
  Window window_;    // being planned by the walker
  std::mutex flow_mu_;
  std::condition_variable flow_cv_;
  size_t windows_in_flight_ = 0;  // guarded by flow_mu_
  BlobBatchLoader loader_;        // last: its threads stop first
};

Result<FileRestoreSummary> FileRestore::run(const Snapshot& snap, const std::string& target) {
  if (snap.kind != SnapshotKind::kFiles)
    return Error(ErrorCode::kInvalidArgument, "snapshot " + snap.id.short_hex() + " is a " +
                                                  snapshot_kind_name(snap.kind) + " snapshot, not a file tree",
                 snap.id.hex(), "use 'snapshot restore --block' or '--stdout' for it");
  if (mkdir(target.c_str(), 0700) != 0 && errno != EEXIST)
    return Error(ErrorCode::kIo, std::string("cannot create the restore target: ") + strerror(errno), target);
  root_fd_ = open(target.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (root_fd_ < 0)
    return Error(ErrorCode::kIo, std::string("cannot open the restore target: ") + strerror(errno), target);
  // A partial restore reads only the trees on its paths.
  if (includes_.empty()) trees_.prefetch(snap.root);
  Status walked = restore_dir(root_fd_, "", snap.root, select("") == Selection::kAll);
  if (walked.ok()) walked = submit_window();
  window_ = Window{};  // after an error: closes the files it held
  Status drained = loader_.wait();
  if (walked.ok() && drained.ok()) {
    // Directory metadata last, deepest first, so that writing children does
    // not disturb the mtimes set on their parents.
    for (auto it = dirs_.rbegin(); it != dirs_.rend(); ++it) {
      int fd = open_beneath(root_fd_, it->first, O_RDONLY | O_DIRECTORY);
      if (fd < 0) {
        warn("cannot reopen directory " + it->first + ": " + strerror(errno));
        continue;
      }
      apply_metadata_at(fd, "", it->second, it->first);
      close(fd);
    }
  }
  close(root_fd_);
  if (!walked.ok()) return std::move(walked).error();
  if (!drained.ok()) return std::move(drained).error();
  return summary_;
}

Status FileRestore::make_room(int dirfd, const std::string& name, bool want_dir, const std::string& rel) {
  struct stat st;
  if (fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return ok_status();
  if (S_ISDIR(st.st_mode)) {
    if (want_dir) return ok_status();
    if (unlinkat(dirfd, name.c_str(), AT_REMOVEDIR) != 0)
      return Error(ErrorCode::kIo, "a non-empty directory is in the way of a file", rel,
                   "restore into an empty directory, or remove it");
    return ok_status();
  }
  if (unlinkat(dirfd, name.c_str(), 0) != 0)
    return Error(ErrorCode::kIo, std::string("cannot replace the existing entry: ") + strerror(errno), rel);
  return ok_status();
}

// The tree from the cache, else loaded now.
Result<std::shared_ptr<const Tree>> load_tree(Repository& repo, const TreeCache& cache, const BlobId& id,
                                              const std::string& rel) {
  if (auto cached = cache.find(id)) return cached;
  auto bytes = repo.load_blob(id);
  if (!bytes.ok()) return std::move(bytes).error().with_context("loading the tree of '/" + rel + "'");
  auto tree = decode_tree(*bytes);
  if (!tree.ok()) return std::move(tree).error().with_context("tree of '/" + rel + "'");
  return std::make_shared<const Tree>(std::move(tree).value());
}

Status FileRestore::restore_dir(int dirfd, const std::string& rel, const BlobId& tree_id, bool all) {
  std::shared_ptr<const Tree> tree = TRY(load_tree(repo_, trees_, tree_id, rel));
  for (const Node& node : tree->nodes) {
    if (loader_.failed()) break;
    std::string child = rel.empty() ? node.name : rel + "/" + node.name;
    Selection sel = all ? Selection::kAll : select(child);
    if (sel == Selection::kNone) continue;
    if (node.type == NodeType::kDir) {
      TRY_STATUS(make_room(dirfd, node.name, true, child));
      if (mkdirat(dirfd, node.name.c_str(), 0700) != 0 && errno != EEXIST)
        return Error(ErrorCode::kIo, std::string("cannot create directory: ") + strerror(errno), child);
      int fd = openat(dirfd, node.name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0) return Error(ErrorCode::kIo, std::string("cannot open directory: ") + strerror(errno), child);
      Status s = restore_dir(fd, child, node.subtree, sel == Selection::kAll);
      close(fd);
      TRY_STATUS(s);
      {
        std::lock_guard l(mu_);
        summary_.dirs++;
      }
      if (sel == Selection::kAll) dirs_.emplace_back(child, node);
    } else if (sel == Selection::kAll) {
      TRY_STATUS(check_cancelled(options_.progress));
      TRY_STATUS(make_room(dirfd, node.name, false, child));
      if (node.type == NodeType::kFile) TRY_STATUS(restore_file(dirfd, child, node));
      else TRY_STATUS(restore_special(dirfd, child, node));
    }
  }
  return ok_status();
}

Status FileRestore::restore_file(int dirfd, const std::string& rel, const Node& node) {
  if (node.links > 1) {
    std::lock_guard l(mu_);
    auto [it, first] = links_.try_emplace({node.device, node.inode}, rel);
    if (!first) {
      if (linkat(root_fd_, it->second.c_str(), dirfd, node.name.c_str(), 0) == 0) {
        summary_.files++;
        return ok_status();
      }
      // fall through: restore a separate copy
    }
  }
  int fd = openat(dirfd, node.name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return Error(ErrorCode::kIo, std::string("cannot create file: ") + strerror(errno), rel);
  if (ftruncate(fd, off_t(node.size)) != 0) {
    close(fd);
    return Error(ErrorCode::kIo, std::string("cannot size file: ") + strerror(errno), rel);
  }
  {
    std::lock_guard l(mu_);
    summary_.files++;
    summary_.bytes += node.size;
  }
  auto job = std::make_shared<FileJob>();
  job->fd = fd;
  job->node = node;
  job->path = rel;
  if (node.content.empty()) {
    finish_file(*job);
    return ok_status();
  }
  std::vector<uint32_t> lengths;
  lengths.reserve(node.content.size());
  for (const BlobId& id : node.content) {
    auto loc = repo_.index().find(id);
    if (!loc.ok()) return std::move(loc).error().with_context("file '" + rel + "'");  // job closes fd
    lengths.push_back(loc->entry.raw_length);
  }
  job->remaining = node.content.size();
  uint64_t offset = 0;
  for (size_t i = 0; i < node.content.size(); i++) {
    std::vector<Target>& targets = window_.targets[node.content[i]];
    if (targets.empty()) window_.order.push_back(node.content[i]);
    targets.push_back(Target{job, offset});
    offset += lengths[i];
    window_.bytes += lengths[i];
    if (window_.targets.size() >= kWindowBlobs || window_.bytes >= kWindowBytes) TRY_STATUS(submit_window());
  }
  window_.files++;
  if (window_.files >= files_per_window_) TRY_STATUS(submit_window());
  if (offset != node.size && !loader_.failed())
    warn("file '" + rel + "' has chunks totalling " + std::to_string(offset) + " bytes but records size " +
         std::to_string(node.size));
  return ok_status();
}

Status FileRestore::submit_window() {
  if (window_.targets.empty()) return ok_status();
  bool failed = false;
  {
    std::unique_lock lock(flow_mu_);
    flow_cv_.wait(lock, [&] { return windows_in_flight_ < kWindowsInFlight || loader_.failed(); });
    failed = loader_.failed();
    if (!failed) windows_in_flight_++;  // the window's done callback takes it back
  }
  if (failed) return loader_.wait();
  auto window = std::make_shared<const Window>(std::move(window_));
  window_ = Window{};
  return loader_.submit(
      window->order, [this, window](const BlobId& id, Result<Bytes>&& data) { return deliver(*window, id, std::move(data)); },
      [this] {
        std::lock_guard lock(flow_mu_);
        windows_in_flight_--;
        flow_cv_.notify_all();
      });
}

Status FileRestore::deliver(const Window& window, const BlobId& id, Result<Bytes>&& data) {
  TRY_STATUS(check_cancelled(options_.progress));
  auto it = window.targets.find(id);
  if (it == window.targets.end())
    return Error(ErrorCode::kInternal, "blob " + id.short_hex() + " was loaded for no file of the restore");
  Status result = ok_status();
  for (const Target& target : it->second) {
    FileJob& file = *target.file;
    if (!data.ok()) {
      if (result.ok()) result = Error(data.error()).with_context("file '" + file.path + "'");
    } else {
      Status written = write_skipping_zeros(file.fd, *data, target.offset, file.path);
      if (!written.ok() && result.ok()) result = std::move(written);
      if (options_.progress) options_.progress->bytes_done += data->size();
    }
    if (--file.remaining == 0) finish_file(file);
  }
  return result;
}

void FileRestore::finish_file(FileJob& job) {
  if (job.fd < 0) return;
  apply_metadata_at(job.fd, "", job.node, job.path);
  close(job.fd);
  job.fd = -1;
  if (options_.progress) options_.progress->files_done++;
}

Status FileRestore::restore_special(int dirfd, const std::string& rel, const Node& node) {
  int rc = 0;
  switch (node.type) {
    case NodeType::kSymlink: rc = symlinkat(node.link_target.c_str(), dirfd, node.name.c_str()); break;
    case NodeType::kFifo: rc = mkfifoat(dirfd, node.name.c_str(), 0600); break;
    case NodeType::kCharDevice: rc = mknodat(dirfd, node.name.c_str(), S_IFCHR | 0600, dev_t(node.rdev)); break;
    case NodeType::kBlockDevice: rc = mknodat(dirfd, node.name.c_str(), S_IFBLK | 0600, dev_t(node.rdev)); break;
    case NodeType::kSocket: rc = mknodat(dirfd, node.name.c_str(), S_IFSOCK | 0600, 0); break;
    default: return ok_status();
  }
  if (rc != 0) {
    warn("cannot create " + std::string(node_type_name(node.type)) + " " + rel + ": " + strerror(errno));
    return ok_status();
  }
  apply_metadata_at(dirfd, node.name, node, rel);
  return ok_status();
}

// With name empty, fd is the entry itself; otherwise the entry is name in fd.
void FileRestore::apply_metadata_at(int fd, const std::string& name, const Node& node, const std::string& rel) {
  bool is_link = node.type == NodeType::kSymlink;
  int flags = name.empty() ? AT_EMPTY_PATH : AT_SYMLINK_NOFOLLOW;
  const char* path = name.empty() ? "" : name.c_str();
  if (is_root_ && fchownat(fd, path, node.uid, node.gid, flags) != 0)
    warn("cannot set owner of " + rel + ": " + strerror(errno));
  // xattrs: through /proc/self/fd for entries without an fd of their own.
  std::string xpath = "/proc/self/fd/" + std::to_string(fd) + (name.empty() ? "" : "/" + name);
  for (const auto& x : node.xattrs) {
    int rc = name.empty() ? fsetxattr(fd, x.name.c_str(), x.value.data(), x.value.size(), 0)
                          : lsetxattr(xpath.c_str(), x.name.c_str(), x.value.data(), x.value.size(), 0);
    if (rc != 0) warn("cannot set extended attribute " + x.name + " on " + rel + ": " + strerror(errno));
  }
  // chmod after chown (chown clears setuid bits); symlinks have no mode.
  if (!is_link) {
    int rc = name.empty() ? fchmod(fd, node.mode) : fchmodat(fd, path, node.mode, 0);
    if (rc != 0) warn("cannot set mode of " + rel + ": " + strerror(errno));
  }
  struct timespec times[2] = {to_timespec(node.mtime_ns), to_timespec(node.mtime_ns)};
  int rc = name.empty() ? futimens(fd, times) : utimensat(fd, path, times, AT_SYMLINK_NOFOLLOW);
  if (rc != 0) warn("cannot set times of " + rel + ": " + strerror(errno));
}

}  // namespace

Result<FileRestoreSummary> restore_files(Repository& repo, const Snapshot& snapshot, const std::string& target,
                                         const FileRestoreOptions& options) {
  FileRestore restore(repo, options);
  return restore.run(snapshot, target);
}

Status walk_tree(Repository& repo, const BlobId& root,
                 const std::function<Status(const std::string& path, const Node& node)>& fn) {
  struct Walker {
    Repository& repo;
    const std::function<Status(const std::string&, const Node&)>& fn;
    TreeCache trees;
    Status walk(const BlobId& id, const std::string& prefix) {
      auto tree = trees.find(id);
      if (!tree) {
        auto bytes = repo.load_blob(id);
        if (!bytes.ok()) return std::move(bytes).error().with_context("tree of '/" + prefix + "'");
        auto decoded = decode_tree(*bytes);
        if (!decoded.ok()) return std::move(decoded).error().with_context("tree of '/" + prefix + "'");
        tree = std::make_shared<const Tree>(std::move(decoded).value());
      }
      for (const Node& n : tree->nodes) {
        std::string path = prefix.empty() ? n.name : prefix + "/" + n.name;
        TRY_STATUS(fn(path, n));
        if (n.type == NodeType::kDir) TRY_STATUS(walk(n.subtree, path));
      }
      return ok_status();
    }
  };
  Walker w{repo, fn, TreeCache(repo)};
  w.trees.prefetch(root);
  return w.walk(root, "");
}

}  // namespace stowage
