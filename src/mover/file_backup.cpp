#include "mover/file_backup.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <filesystem>
#include <thread>

#include "mover/file_metadata.h"
#include "mover/snapshot_writer.h"
#include "util/work_queue.h"

namespace stowage {

namespace {

constexpr size_t kReadSize = 4 << 20;
// Changed files go to the readers in batches of up to this many files or
// bytes: one task per small file cost more in hand-offs between threads (a
// wake-up and a context switch each) than reading the file.
constexpr size_t kBatchFiles = 64;
constexpr uint64_t kBatchBytes = 8 << 20;

struct FdCloser {
  int fd;
  ~FdCloser() {
    if (fd >= 0) close(fd);
  }
};

// One directory being backed up. Its tree is saved when the last of its
// children (files being read, subdirectories being walked) completes, by
// whichever thread completes it, so the walker never waits for file reads.
struct DirState {
  std::string rel;
  std::optional<Tree> previous;  // the parent snapshot's tree of this directory
  BlobId previous_id;            // its id; set when the parent snapshot has this directory
  std::vector<Node> nodes;
  std::vector<char> skip;
  std::atomic<size_t> pending{1};  // the walker's own hold, released after listing
  std::shared_ptr<DirState> parent;
  size_t index_in_parent = 0;
};

// A file of kReadSize or more: the reader only cuts it into chunks, and the
// savers hash, deduplicate and save them, so one large file is not bounded by
// one thread's hashing. Its ids arrive out of order into slots that stay in
// place (a deque only appends); the last of the reader and the chunks in
// flight to finish moves them into the node and releases the directory.
struct FileChunks {
  std::shared_ptr<DirState> dir;
  size_t index = 0;  // of the node in dir->nodes
  std::deque<BlobId> ids;
  std::atomic<size_t> holds{1};  // the reader's, plus one per chunk in flight
};

class FileBackup {
 public:
  FileBackup(Repository& repo, const FileBackupOptions& options, std::string root)
      : repo_(repo),
        options_(options),
        root_(std::move(root)),
        walkers_(default_workers(), 64),
        readers_(options.read_workers ? options.read_workers : 2, 64),
        savers_(options.save_workers ? options.save_workers : default_workers(), 4) {}

  Result<BlobId> run(std::optional<Tree> parent_root, const BlobId& parent_root_id);
  SnapshotSummary summary() const {
    SnapshotSummary s;
    s.files = files_;
    s.dirs = dirs_;
    s.bytes = bytes_;
    s.bytes_read = bytes_read_;
    s.files_unchanged = unchanged_;
    s.errors = errors_;
    return s;
  }
  std::vector<std::string> warnings() const { return warnings_; }

 private:
  // Walks one directory (its descriptor is closed at the end): loads its tree
  // in the parent snapshot, then lists and compares its entries.
  Status walk_dir(int dirfd, std::shared_ptr<DirState> state);
  // Lists and compares one directory's entries against state->previous.
  Status backup_dir(int dirfd, std::shared_ptr<DirState> state);
  bool stopped() const { return walkers_.failed() || readers_.failed() || savers_.failed(); }
  // Releases one hold on state; the last release saves its tree and releases
  // one hold on its parent.
  void complete(std::shared_ptr<DirState> state);
  Status read_file(const std::string& path, const std::shared_ptr<DirState>& state, size_t index, bool& skip);
  // Releases one hold on a large file's chunks (FileChunks).
  void release(const std::shared_ptr<FileChunks>& file);
  void warn(const std::string& message) {
    std::lock_guard l(warn_mu_);
    errors_++;
    if (options_.progress) options_.progress->errors++;
    if (warnings_.size() < 1000) warnings_.push_back(message);
  }
  std::string full(const std::string& rel) const { return rel.empty() ? root_ : root_ + "/" + rel; }

  Repository& repo_;
  const FileBackupOptions& options_;
  std::string root_;
  // Subdirectories are walked in parallel (stat and tree decoding are the cost
  // of an incremental backup), then files are read, then chunks saved.
  WorkQueue walkers_;
  WorkQueue readers_;
  WorkQueue savers_;
  std::mutex warn_mu_;
  std::vector<std::string> warnings_;
  std::atomic<uint64_t> files_{0}, dirs_{0}, bytes_{0}, bytes_read_{0}, unchanged_{0}, errors_{0};
  BlobId root_id_;
  bool root_done_ = false;
};

const Node* find_node(const Tree* tree, const std::string& name) {
  if (!tree) return nullptr;
  auto it = std::lower_bound(tree->nodes.begin(), tree->nodes.end(), name,
                             [](const Node& n, const std::string& v) { return n.name < v; });
  return it != tree->nodes.end() && it->name == name ? &*it : nullptr;
}

Result<BlobId> FileBackup::run(std::optional<Tree> parent_root, const BlobId& parent_root_id) {
  int fd = open(root_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return Error(ErrorCode::kIo, std::string("cannot open the directory to back up: ") + strerror(errno), root_);
  FdCloser closer{fd};
  auto root = std::make_shared<DirState>();
  root->previous = std::move(parent_root);
  root->previous_id = parent_root_id;
  Status walked = backup_dir(fd, root);
  Status walkers = walkers_.wait();  // first: walkers are the readers' producers
  Status readers = readers_.wait();
  Status savers = savers_.wait();  // after readers: they are the savers' producers
  TRY_STATUS(walked);
  TRY_STATUS(walkers);
  TRY_STATUS(readers);
  TRY_STATUS(savers);
  if (!root_done_) return Error(ErrorCode::kInternal, "the root directory's tree was never completed", root_);
  return root_id_;
}

void FileBackup::complete(std::shared_ptr<DirState> state) {
  while (state && --state->pending == 0) {
    if (stopped()) return;
    Tree tree;
    tree.nodes.reserve(state->nodes.size());
    for (size_t i = 0; i < state->nodes.size(); i++)
      if (!state->skip[i]) tree.nodes.push_back(std::move(state->nodes[i]));
    // An unchanged directory reuses the parent snapshot's tree blob without
    // encoding and hashing it again.
    Result<BlobId> id = state->previous && state->previous->nodes == tree.nodes && repo_.has_blob(state->previous_id)
                            ? Result<BlobId>(state->previous_id)
                            : repo_.save_tree(encode_tree(tree, repo_.tree_encoding()));
    if (!id.ok()) {
      readers_.fail(std::move(id).error().with_context("saving the tree of '/" + state->rel + "'"));
      return;
    }
    std::shared_ptr<DirState> parent = std::move(state->parent);
    if (!parent) {
      root_id_ = *id;
      root_done_ = true;
      return;
    }
    parent->nodes[state->index_in_parent].subtree = *id;
    state = std::move(parent);
  }
}

Status FileBackup::walk_dir(int dirfd, std::shared_ptr<DirState> state) {
  FdCloser closer{dirfd};
  if (stopped()) {
    complete(state);  // releases the hold its parent took; nothing is saved once stopped
    return ok_status();
  }
  if (!state->previous_id.is_zero()) {
    // A parent tree that cannot be read only costs this directory its reuse.
    auto bytes = repo_.load_blob(state->previous_id);
    if (bytes.ok())
      if (auto t = decode_tree(*bytes); t.ok()) state->previous = std::move(t).value();
  }
  return backup_dir(dirfd, state);
}

Status FileBackup::backup_dir(int dirfd, std::shared_ptr<DirState> state) {
  const std::string& rel = state->rel;
  const Tree* parent = state->previous ? &*state->previous : nullptr;
  std::optional<DirListing> listing;
  if (struct stat self; options_.prefetch && fstat(dirfd, &self) == 0) listing = options_.prefetch->take(rel, self);
  std::vector<std::string> names;
  if (listing) names = std::move(listing->names);
  else if (!list_directory(dirfd, names))
    return Error(ErrorCode::kIo, std::string("cannot list directory: ") + strerror(errno), full(rel));
  dirs_++;
  state->nodes.resize(names.size());
  state->skip.assign(names.size(), 0);
  std::vector<Node>& nodes = state->nodes;
  std::vector<char>& skip = state->skip;
  std::vector<std::pair<size_t, std::string>> batch;  // changed files: node index, path
  uint64_t batch_bytes = 0;
  auto flush_batch = [&] {
    if (batch.empty()) return;
    state->pending++;
    bool queued = readers_.submit([this, state, files = std::move(batch)]() -> Status {
      Status s = ok_status();
      for (const auto& [i, path] : files) {
        if (!s.ok() || stopped()) break;
        bool skipped = false;
        s = read_file(path, state, i, skipped);
        if (skipped) state->skip[i] = 1;
      }
      complete(state);
      return s;
    });
    if (!queued) complete(state);
    batch.clear();
    batch_bytes = 0;
  };
  for (size_t i = 0; i < names.size() && !stopped(); i++) {
    const std::string& name = names[i];
    // Built only when needed: an unchanged file needs neither.
    auto child_rel = [&] { return rel.empty() ? name : rel + "/" + name; };
    auto path = [&] { return full(child_rel()); };
    Node& node = nodes[i];
    node.name = name;
    struct stat st;
    int stat_error = 0;
    if (listing) {
      st = listing->stats[i];
      stat_error = listing->errors[i];
    } else if (fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      stat_error = errno;
    }
    if (stat_error) {
      if (stat_error != ENOENT) warn("cannot stat " + path() + ": " + strerror(stat_error));
      skip[i] = 1;
      continue;
    }
    if (!node_from_stat(st, node)) {
      warn("unsupported file type, skipped: " + path());
      skip[i] = 1;
      continue;
    }
    // Files and directories read their attributes through their open
    // descriptor (files in the reader, or they reuse the parent's when
    // unchanged: ctime covers xattrs); the others through their path.
    if (node.type != NodeType::kFile && node.type != NodeType::kDir)
      if (Status x = read_xattrs(path(), node.xattrs); !x.ok()) warn(x.error().to_string());
    const Node* prev = find_node(parent, name);
    switch (node.type) {
      case NodeType::kDir: {
        int child = openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (child < 0) {
          warn("cannot open directory " + path() + ": " + strerror(errno));
          skip[i] = 1;
          break;
        }
        if (Status x = read_xattrs_fd(child, path(), node.xattrs); !x.ok()) warn(x.error().to_string());
        auto child_state = std::make_shared<DirState>();
        if (prev && prev->type == NodeType::kDir) child_state->previous_id = prev->subtree;
        child_state->rel = child_rel();
        child_state->parent = state;
        child_state->index_in_parent = i;
        state->pending++;
        // Another walker takes the subdirectory when one is free; otherwise
        // this thread walks it (so walkers never wait on their own queue).
        std::function<Status()> walk = [this, child, child_state] { return walk_dir(child, child_state); };
        if (!walkers_.try_submit(walk)) TRY_STATUS(walk());
        break;
      }
      case NodeType::kSymlink: {
        char buf[PATH_MAX + 1];
        ssize_t n = readlinkat(dirfd, name.c_str(), buf, PATH_MAX);
        if (n < 0) {
          warn("cannot read symlink " + path() + ": " + strerror(errno));
          skip[i] = 1;
        } else {
          node.link_target.assign(buf, size_t(n));
        }
        break;
      }
      case NodeType::kFile: {
        files_++;
        bytes_ += node.size;
        if (prev && prev->type == NodeType::kFile && prev->size == node.size && prev->mtime_ns == node.mtime_ns &&
            prev->ctime_ns == node.ctime_ns && prev->inode == node.inode &&
            std::all_of(prev->content.begin(), prev->content.end(), [&](const BlobId& id) { return repo_.has_blob(id); })) {
          node.content = prev->content;
          node.xattrs = prev->xattrs;
          unchanged_++;
          if (options_.progress) {
            options_.progress->files_done++;
            options_.progress->bytes_done += node.size;
          }
          break;
        }
        batch.emplace_back(i, path());
        batch_bytes += node.size;
        if (batch.size() >= kBatchFiles || batch_bytes >= kBatchBytes) flush_batch();
        break;
      }
      default: break;
    }
  }
  flush_batch();
  complete(state);  // the walker's hold
  return ok_status();
}

void FileBackup::release(const std::shared_ptr<FileChunks>& file) {
  if (--file->holds > 0) return;
  file->dir->nodes[file->index].content.assign(file->ids.begin(), file->ids.end());
  complete(file->dir);
}

Status FileBackup::read_file(const std::string& path, const std::shared_ptr<DirState>& state, size_t index,
                             bool& skip) {
  Node& node = state->nodes[index];
  int fd = open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOATIME);
  if (fd < 0 && errno == EPERM) fd = open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    if (errno != ENOENT) warn("cannot open " + path + ": " + strerror(errno));
    skip = true;
    return ok_status();
  }
  FdCloser closer{fd};
  if (Status x = read_xattrs_fd(fd, path, node.xattrs); !x.ok()) warn(x.error().to_string());
  if (node.size >= kReadSize) posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  // Small files (one read) are saved by this thread: handing them to the
  // savers costs a copy and two context switches per file.
  const bool save_inline = node.size < kReadSize;
  const FastCdc& cdc = repo_.chunker();
  size_t cap = cdc.params().max_size + kReadSize;
  thread_local Bytes buf;  // one read buffer per reader thread, not per file
  if (buf.size() < cap) buf.resize(cap);
  std::shared_ptr<FileChunks> chunks;
  if (!save_inline) {
    chunks = std::make_shared<FileChunks>();
    chunks->dir = state;
    chunks->index = index;
    state->pending++;  // the directory's tree waits for this file's ids
  }
  // Every return below releases the reader's hold: a skipped file's node is
  // dropped, but its directory still completes.
  struct Release {
    FileBackup* self;
    const std::shared_ptr<FileChunks>& chunks;
    ~Release() {
      if (chunks) self->release(chunks);
    }
  } release_at_return{this, chunks};
  size_t start = 0, end = 0;
  bool eof = false;
  uint64_t total = 0;
  while (!eof || start < end) {
    if (!eof && end - start < cdc.params().max_size) {
      if (start > 0) {
        memmove(buf.data(), buf.data() + start, end - start);
        end -= start;
        start = 0;
      }
      while (!eof && end < cap) {
        ssize_t n = read(fd, buf.data() + end, cap - end);
        if (n < 0) {
          if (errno == EINTR) continue;
          warn("read error in " + path + ": " + strerror(errno));
          skip = true;
          return ok_status();
        }
        if (n == 0) eof = true;
        end += size_t(n);
        total += uint64_t(n);
        if (options_.progress) options_.progress->bytes_done += uint64_t(n);
        TRY_STATUS(check_cancelled(options_.progress));
      }
    }
    size_t len = cdc.next_boundary(buf.data() + start, end - start, eof);
    if (len == 0) continue;
    ByteView chunk(buf.data() + start, len);
    start += len;
    if (save_inline) {
      BlobId id = repo_.blob_id(chunk);
      node.content.push_back(id);
      auto saved = repo_.save_blob(BlobType::kData, id, chunk);
      if (!saved.ok()) return std::move(saved).error();
      continue;
    }
    BlobId* slot = &chunks->ids.emplace_back();
    chunks->holds++;
    auto data = std::make_shared<Bytes>(chunk.begin(), chunk.end());
    bool queued = savers_.submit([this, chunks, slot, data]() -> Status {
      Status s = ok_status();
      if (!savers_.failed()) {
        *slot = repo_.blob_id(*data);  // save_blob skips a blob the repository has
        if (auto saved = repo_.save_blob(BlobType::kData, *slot, *data); !saved.ok()) s = std::move(saved).error();
      }
      release(chunks);
      return s;
    });
    if (!queued) {  // the savers failed: their error ends the backup
      release(chunks);
      return ok_status();
    }
  }
  bytes_read_ += total;
  if (total != node.size) {
    // The file changed size while being read: store what was read, say so.
    warn("file changed while being read: " + path);
    node.size = total;
  }
  if (options_.progress) options_.progress->files_done++;
  return ok_status();
}

// Counts files and bytes ahead of the backup so progress can show a total and
// an ETA. Runs beside the backup; stops early when the backup ends.
void scan_totals(const std::string& root, Progress& progress, const std::atomic<bool>& stop) {
  std::error_code ec;
  auto options = std::filesystem::directory_options::skip_permission_denied;
  for (auto it = std::filesystem::recursive_directory_iterator(root, options, ec);
       !ec && it != std::filesystem::recursive_directory_iterator() && !stop; it.increment(ec)) {
    if (it->is_regular_file(ec) && !it->is_symlink(ec)) {
      progress.files_total++;
      progress.bytes_total += it->file_size(ec);
    }
  }
}

}  // namespace

Result<Snapshot> backup_files(Repository& repo, const std::string& path, const FileBackupOptions& options) {
  char resolved[PATH_MAX];
  if (!realpath(path.c_str(), resolved))
    return Error(ErrorCode::kNotFound, std::string("cannot resolve the path to back up: ") + strerror(errno), path);
  SnapshotWriter writer(repo, SnapshotKind::kFiles, resolved, options.tags, options.parent);
  std::optional<Tree> parent_root;
  BlobId parent_root_id;
  if (options.parent) {
    Snapshot parent = TRY(repo.load_snapshot(*options.parent));
    if (parent.kind == SnapshotKind::kFiles) {
      auto bytes = repo.load_blob(parent.root);
      if (bytes.ok()) {
        auto t = decode_tree(*bytes);
        if (t.ok()) {
          parent_root = std::move(t).value();
          parent_root_id = parent.root;
        }
      }
    }
  }
  FileBackup backup(repo, options, resolved);
  std::atomic<bool> scan_stop{false};
  std::thread scanner;
  if (options.progress && options.scan_totals)
    scanner = std::thread([&] { scan_totals(resolved, *options.progress, scan_stop); });
  auto root_result = backup.run(std::move(parent_root), parent_root_id);
  scan_stop = true;
  if (scanner.joinable()) scanner.join();
  BlobId root = TRY(std::move(root_result));
  Snapshot& snap = writer.snapshot();
  snap.root = root;
  snap.summary = backup.summary();
  snap.size = snap.summary.bytes;
  snap.warnings = backup.warnings();
  return writer.finish();
}

}  // namespace stowage
