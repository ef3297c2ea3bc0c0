#include "store/fs_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <random>
#include <vector>

namespace stowage {

namespace {

// Closes a file descriptor when it goes out of scope.
class FileDescriptor {
 public:
  explicit FileDescriptor(int fd = -1) : fd_(fd) {}
  ~FileDescriptor() { if (fd_ >= 0) ::close(fd_); }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int get() const { return fd_; }
  // Closes explicitly, reporting the error close() may carry (NFS, quotas).
  int close() {
    int rc = ::close(fd_);
    fd_ = -1;
    return rc;
  }

 private:
  int fd_;
};

// An Error for a failed system call on `key` stored at `path`.
Error os_error(int error_number, const std::string& what, const std::string& key, const std::string& path,
               const std::string& root) {
  std::string message = what + " " + path + ": " + std::strerror(error_number);
  switch (error_number) {
    case ENOENT:
    case ENOTDIR:
      return Error(ErrorCode::kNotFound, message, key, "check the key, or whether the object was removed");
    case EACCES:
    case EPERM:
    case EROFS:
      return Error(ErrorCode::kPermissionDenied, message, key,
                   "check that the user running stowage may read and write " + root);
    case ENOSPC:
    case EDQUOT:
      return Error(ErrorCode::kIo, message, key, "free space on the filesystem holding " + root);
    default:
      return Error(ErrorCode::kIo, message, key, "check the filesystem holding " + root + " (dmesg, mount options)");
  }
}

Error not_an_object(const std::string& key, const std::string& path) {
  return Error(ErrorCode::kNotFound, "object " + key + " not found: " + path + " is not a regular file", key,
               "keys name files, not directories; check the key");
}

Status fsync_directory(const std::string& dir, const std::string& key, const std::string& root) {
  FileDescriptor fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) return os_error(errno, "cannot open directory", key, dir, root);
  if (::fsync(fd.get()) != 0) return os_error(errno, "cannot fsync directory", key, dir, root);
  return ok_status();
}

std::string parent_of(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == 0) return "/";
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

std::string random_suffix() {
  thread_local std::mt19937_64 generator{std::random_device{}()};
  static const char kDigits[] = "0123456789abcdef";
  std::string out;
  uint64_t value = generator();
  for (int i = 0; i < 16; i++, value >>= 4) out.push_back(kDigits[value & 15]);
  return out;
}

Status read_exact(int fd, uint8_t* out, uint64_t length, uint64_t offset, const std::string& key,
                  const std::string& path, const std::string& root) {
  uint64_t done = 0;
  while (done < length) {
    ssize_t n = ::pread(fd, out + done, length - done, off_t(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return os_error(errno, "cannot read", key, path, root);
    }
    if (n == 0) {
      return Error(ErrorCode::kIo, "object file " + path + " shrank while being read", key,
                   "another process is modifying the repository directory; objects must never change");
    }
    done += uint64_t(n);
  }
  return ok_status();
}

}  // namespace

FsStore::FsStore(std::string root) : root_(std::move(root)) {
  while (root_.size() > 1 && root_.back() == '/') root_.pop_back();
}

std::string FsStore::describe() const { return "file://" + root_; }

std::string FsStore::path_of(const std::string& key) const { return root_ + "/" + key; }

Status FsStore::check_key(const std::string& key) const {
  auto invalid = [&](const std::string& why) {
    return Error(ErrorCode::kInvalidArgument, "invalid object key \"" + key + "\" for " + describe() + ": " + why, key,
                 "keys are relative paths like data/ab/abcdef with non-empty components");
  };
  if (key.empty()) return invalid("it is empty");
  if (key.find('\0') != std::string::npos) return invalid("it contains a NUL byte");
  size_t start = 0;
  while (true) {
    size_t slash = key.find('/', start);
    std::string component = key.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    if (component.empty()) return invalid("it has an empty path component");
    if (component == "." || component == "..") return invalid("it has a '.' or '..' component");
    if (component.rfind(kTempPrefix, 0) == 0) return invalid(std::string("components may not start with ") + kTempPrefix);
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return ok_status();
}

Status FsStore::ensure_root() {
  // mkdir -p, fsyncing each new directory's parent so it survives a crash.
  std::string path;
  size_t start = 1;
  while (start <= root_.size()) {
    size_t slash = root_.find('/', start);
    if (slash == std::string::npos) slash = root_.size();
    path = root_.substr(0, slash);
    if (::mkdir(path.c_str(), 0755) == 0) {
      TRY_STATUS(fsync_directory(parent_of(path), root_, root_));
    } else if (errno != EEXIST) {
      return os_error(errno, "cannot create directory", root_, path, root_);
    }
    start = slash + 1;
  }
  struct stat st;
  if (::stat(root_.c_str(), &st) != 0) return os_error(errno, "cannot stat", root_, root_, root_);
  if (!S_ISDIR(st.st_mode)) {
    return Error(ErrorCode::kInvalidArgument, "repository location " + root_ + " exists and is not a directory", root_,
                 "point file:// at a directory");
  }
  return ok_status();
}

Status FsStore::make_parent_dirs(const std::string& key, const std::string& path) {
  std::string parent = parent_of(path);
  struct stat st;
  if (::stat(parent.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return ok_status();
  TRY_STATUS(ensure_root());
  // Create each directory level of the key below the root.
  size_t slash = key.find('/');
  while (slash != std::string::npos) {
    std::string dir = root_ + "/" + key.substr(0, slash);
    if (::mkdir(dir.c_str(), 0755) == 0) {
      TRY_STATUS(fsync_directory(parent_of(dir), key, root_));
    } else if (errno != EEXIST) {
      return os_error(errno, "cannot create directory", key, dir, root_);
    }
    slash = key.find('/', slash + 1);
  }
  return ok_status();
}

// Writeback of a streamed object starts every kWritebackStep bytes, so that
// the fsync at commit finds little left to write.
constexpr uint64_t kWritebackStep = 8ull << 20;

// A streamed object (a pack) bypasses the page cache where the filesystem
// allows it: copying packs into the cache cost more CPU than the disk write
// (a tenth of a kernel-tree backup), and a backup should not evict the
// application's cached data for objects that are seldom read again. The
// aligned part of each piece is copied in slices to aligned buffers and
// written with O_DIRECT set on the descriptor, behind: by the store's
// write-behind threads, at most kSlicesInFlight slices per object, so the
// writing thread waits for the disk only when it is that far ahead. The
// unaligned rest waits for the next piece, and at commit is written with
// O_DIRECT cleared. A direct write that fails is written again through the
// page cache, and the object goes on that way.
constexpr size_t kDirectAlign = 4096;
constexpr size_t kDirectSlice = 1 << 20;
constexpr size_t kSlicesInFlight = 4;  // 4 MiB per object: a few pieces of a streamed pack (repo/repository.cpp)
constexpr size_t kWriteBehindThreads = 2;

// Returns 0, or the errno of the write that failed.
int pwrite_all(int fd, const uint8_t* data, size_t size, uint64_t offset) {
  size_t done = 0;
  while (done < size) {
    ssize_t n = ::pwrite(fd, data + done, size - done, off_t(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    done += size_t(n);
  }
  return 0;
}

FsStore::SliceBuffer FsStore::take_slice_buffer() {
  {
    std::lock_guard lock(buffers_mu_);
    if (!buffers_.empty()) {
      SliceBuffer b = std::move(buffers_.back());
      buffers_.pop_back();
      return b;
    }
  }
  SliceBuffer b(static_cast<uint8_t*>(std::aligned_alloc(kDirectAlign, kDirectSlice)));
  if (!b) abort();  // out of memory
  return b;
}

void FsStore::give_back(SliceBuffer buffer) {
  std::lock_guard lock(buffers_mu_);
  buffers_.push_back(std::move(buffer));
}

WorkQueue& FsStore::write_behind() {
  std::call_once(write_behind_started_, [this] {
    write_behind_ = std::make_unique<WorkQueue>(kWriteBehindThreads, 64 * kSlicesInFlight);
  });
  return *write_behind_;
}

class FsStoreWriter : public ObjectWriter {
 public:
  // `key` is the object put() writes, named in write errors; empty for a
  // streamed object, whose key comes only at commit.
  FsStoreWriter(FsStore& store, std::string temp_path, int fd, std::string key, bool durable)
      : store_(store),
        temp_path_(std::move(temp_path)),
        fd_(fd),
        durable_(durable),
        streamed_(key.empty()),
        key_(streamed_ ? temp_path_ : std::move(key)) {
    direct_ = streamed_ && set_direct(true);
  }
  ~FsStoreWriter() override {
    {
      std::unique_lock lock(mu_);
      written_back_.wait(lock, [&] { return all_done(); });
    }
    if (fd_ >= 0) ::close(fd_);
    if (!temp_path_.empty()) ::unlink(temp_path_.c_str());
  }
  Status append(ByteView data) override {
    if (fd_ < 0) return Error(ErrorCode::kInvalidArgument, "append after commit", key_);
    if (direct_) return append_direct(data);
    return append_buffered(data);
  }
  Status commit(const std::string& key) override {
    if (fd_ < 0) return Error(ErrorCode::kInvalidArgument, "commit after commit", key);
    if (direct_) TRY_STATUS(leave_direct());
    if (streamed_) {  // put() did both before creating its file beside the key
      TRY_STATUS(store_.check_key(key));
      TRY_STATUS(store_.make_parent_dirs(key, store_.path_of(key)));
    }
    int fd = fd_;
    fd_ = -1;  // commit_temp closes it
    Status committed = store_.commit_temp(fd, temp_path_, key, durable_);
    temp_path_.clear();  // commit_temp removed it
    return committed;
  }

 private:
  // A slice handed to the write-behind threads.
  struct Slice {
    FsStore::SliceBuffer buffer;
    uint64_t offset = 0;
    size_t size = 0;
    bool done = false;
    int error = 0;  // errno of the direct write
  };

  Status append_buffered(ByteView data) {
    TRY_STATUS(write_at(data.data(), data.size(), written_));
    written_ += data.size();
    if (written_ - started_ >= kWritebackStep) {
      (void)::sync_file_range(fd_, off_t(started_), off_t(written_ - started_), SYNC_FILE_RANGE_WRITE);
      started_ = written_;
    }
    return ok_status();
  }
  Status append_direct(ByteView data) {
    while (!data.empty()) {
      FsStore::SliceBuffer out = TRY(next_buffer());
      if (!direct_) {  // a direct write failed: the rest goes through the page cache
        store_.give_back(std::move(out));
        return append_buffered(data);
      }
      size_t take = std::min(data.size(), kDirectSlice - tail_size_);
      std::memcpy(out.get(), tail_.data(), tail_size_);
      std::memcpy(out.get() + tail_size_, data.data(), take);
      data = data.subspan(take);
      size_t total = tail_size_ + take;
      size_t aligned = total / kDirectAlign * kDirectAlign;
      tail_size_ = total - aligned;
      std::memcpy(tail_.data(), out.get() + aligned, tail_size_);
      if (aligned == 0) {
        store_.give_back(std::move(out));
        continue;
      }
      write_behind(std::move(out), aligned);
    }
    return ok_status();
  }
  // Hands the first `size` bytes of buffer, the next aligned slice, to the
  // write-behind threads.
  void write_behind(FsStore::SliceBuffer buffer, size_t size) {
    Slice* slice;
    {
      std::lock_guard lock(mu_);
      slice = &in_flight_.emplace_back(Slice{std::move(buffer), written_, size});
    }
    written_ += size;
    const int fd = fd_;
    std::function<Status()> write = [this, slice, fd]() -> Status {
      int error_number = pwrite_all(fd, slice->buffer.get(), slice->size, slice->offset);
      std::lock_guard lock(mu_);
      slice->error = error_number;
      slice->done = true;
      written_back_.notify_all();  // under the lock: the writer may be gone once it is released
      return ok_status();
    };
    if (!store_.write_behind().submit(write)) (void)write();  // never refused (no task fails), but never lost
  }
  // A buffer for the next slice: a new one while fewer than kSlicesInFlight
  // are in flight, else the oldest slice's once it is written. If that
  // write failed, the object leaves O_DIRECT (leave_direct).
  Result<FsStore::SliceBuffer> next_buffer() {
    bool failed = false;
    {
      std::unique_lock lock(mu_);
      if (in_flight_.size() < kSlicesInFlight) return store_.take_slice_buffer();
      written_back_.wait(lock, [&] { return in_flight_.front().done; });
      failed = in_flight_.front().error != 0;
      if (!failed) {
        FsStore::SliceBuffer buffer = std::move(in_flight_.front().buffer);
        in_flight_.pop_front();
        return buffer;
      }
    }
    TRY_STATUS(leave_direct());
    return store_.take_slice_buffer();
  }
  bool all_done() const {
    return std::all_of(in_flight_.begin(), in_flight_.end(), [](const Slice& s) { return s.done; });
  }
  bool set_direct(bool on) {
    int flags = ::fcntl(fd_, F_GETFL);
    return flags >= 0 && ::fcntl(fd_, F_SETFL, on ? flags | O_DIRECT : flags & ~O_DIRECT) == 0;
  }
  // Goes on through the page cache: waits for every slice in flight, clears
  // O_DIRECT, writes a slice whose direct write failed again, then the
  // unaligned tail.
  Status leave_direct() {
    std::deque<Slice> slices;
    {
      std::unique_lock lock(mu_);
      written_back_.wait(lock, [&] { return all_done(); });
      slices.swap(in_flight_);
    }
    direct_ = false;
    if (!set_direct(false)) return os_error(errno, "cannot clear O_DIRECT on", key_, temp_path_, store_.root_);
    for (Slice& slice : slices) {
      if (slice.error != 0) TRY_STATUS(write_at(slice.buffer.get(), slice.size, slice.offset));
      store_.give_back(std::move(slice.buffer));
    }
    TRY_STATUS(write_at(tail_.data(), tail_size_, written_));
    written_ += tail_size_;
    tail_size_ = 0;
    return ok_status();
  }
  Status write_at(const uint8_t* data, size_t size, uint64_t offset) {
    if (int error_number = pwrite_all(fd_, data, size, offset))
      return os_error(error_number, "cannot write", key_, temp_path_, store_.root_);
    return ok_status();
  }

  FsStore& store_;
  std::string temp_path_;
  int fd_;
  const bool durable_;
  const bool streamed_;
  std::string key_;
  uint64_t written_ = 0;  // handed to write(2) or the write-behind; with O_DIRECT not counting tail_
  uint64_t started_ = 0;  // writeback started for [0, started_)
  bool direct_ = false;
  std::array<uint8_t, kDirectAlign> tail_{};  // not yet written (O_DIRECT only)
  size_t tail_size_ = 0;
  std::mutex mu_;  // guards in_flight_ and each slice's done and error
  std::condition_variable written_back_;
  std::deque<Slice> in_flight_;  // oldest first; push_back and pop_front keep the others' addresses
};

Result<std::unique_ptr<ObjectWriter>> FsStore::create_temp(const std::string& dir, const std::string& key,
                                                           bool durable) {
  std::string temp_path = dir + "/" + kTempPrefix + random_suffix();
  int fd = ::open(temp_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return os_error(errno, "cannot create temporary file", key.empty() ? temp_path : key, temp_path, root_);
  return std::unique_ptr<ObjectWriter>(std::make_unique<FsStoreWriter>(*this, std::move(temp_path), fd, key, durable));
}

Result<std::unique_ptr<ObjectWriter>> FsStore::open_writer() {
  auto writer = create_temp(root_, "");
  if (writer.ok() || writer.error().code() != ErrorCode::kNotFound) return writer;
  TRY_STATUS(ensure_root());  // the first write to a new root
  return create_temp(root_, "");
}

Status FsStore::commit_temp(int raw_fd, const std::string& temp_path, const std::string& key, bool durable) {
  FileDescriptor fd(raw_fd);
  const std::string path = path_of(key);
  auto discard_temp = [&] { ::unlink(temp_path.c_str()); };
  Status written = ok_status();
  if (durable && ::fsync(fd.get()) != 0) written = os_error(errno, "cannot fsync", key, temp_path, root_);
  if (written.ok() && fd.close() != 0) written = os_error(errno, "cannot close", key, temp_path, root_);
  if (!written.ok()) {
    discard_temp();
    return written;
  }
  // link() fails with EEXIST instead of replacing: this is what makes the put
  // create-only, and readers only ever see the complete, synced file.
  if (::link(temp_path.c_str(), path.c_str()) != 0) {
    int error_number = errno;
    discard_temp();
    if (error_number == EEXIST) {
      return Error(ErrorCode::kAlreadyExists, "object " + key + " already exists at " + path, key,
                   "objects are write-once; choose a new key");
    }
    return os_error(error_number, "cannot link temporary file to", key, path, root_);
  }
  discard_temp();
  return durable ? fsync_directory(parent_of(path), key, root_) : ok_status();
}

Status FsStore::put(const std::string& key, ByteView data) { return put_object(key, data, true); }

Status FsStore::put_transient(const std::string& key, ByteView data) { return put_object(key, data, false); }

Status FsStore::put_object(const std::string& key, ByteView data, bool durable) {
  TRY_STATUS(check_key(key));
  const std::string path = path_of(key);
  TRY_STATUS(make_parent_dirs(key, path));
  std::unique_ptr<ObjectWriter> writer = TRY(create_temp(parent_of(path), key, durable));
  TRY_STATUS(writer->append(data));
  return writer->commit(key);
}

Result<Bytes> FsStore::get(const std::string& key) {
  TRY_STATUS(check_key(key));
  const std::string path = path_of(key);
  FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return os_error(errno, "cannot open object file", key, path, root_);
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return os_error(errno, "cannot stat", key, path, root_);
  if (!S_ISREG(st.st_mode)) return not_an_object(key, path);
  Bytes data(size_t(st.st_size));
  TRY_STATUS(read_exact(fd.get(), data.data(), data.size(), 0, key, path, root_));
  return data;
}

Result<FsStore::OpenFile> FsStore::open_for_read(const std::string& key) {
  {
    std::lock_guard lock(open_mu_);
    for (auto it = open_files_.begin(); it != open_files_.end(); ++it) {
      if (it->key != key) continue;
      open_files_.splice(open_files_.begin(), open_files_, it);
      return open_files_.front();
    }
  }
  const std::string path = path_of(key);
  int raw = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (raw < 0) return os_error(errno, "cannot open object file", key, path, root_);
  std::shared_ptr<const int> fd(new int(raw), [](const int* p) {
    ::close(*p);
    delete p;
  });
  struct stat st;
  if (::fstat(raw, &st) != 0) return os_error(errno, "cannot stat", key, path, root_);
  if (!S_ISREG(st.st_mode)) return not_an_object(key, path);
  OpenFile file{key, fd, uint64_t(st.st_size)};
  std::lock_guard lock(open_mu_);
  open_files_.push_front(file);
  if (open_files_.size() > kOpenFiles) open_files_.pop_back();
  return file;
}

void FsStore::forget_open(const std::string& key) {
  std::lock_guard lock(open_mu_);
  open_files_.remove_if([&](const OpenFile& f) { return f.key == key; });
}

Result<Bytes> FsStore::get_range(const std::string& key, uint64_t offset, uint64_t length) {
  TRY_STATUS(check_key(key));
  OpenFile file = TRY(open_for_read(key));
  const uint64_t size = file.size;
  if (offset > size || length > size - offset) {
    return Error(ErrorCode::kInvalidArgument,
                 "range [" + std::to_string(offset) + ", +" + std::to_string(length) + ") is past the end of object " +
                     key + " at " + path_of(key) + " (" + std::to_string(size) + " bytes)",
                 key, "the object is shorter than the caller expected: it may be truncated; run a repository check");
  }
  Bytes data(length);
  TRY_STATUS(read_exact(*file.fd, data.data(), length, offset, key, path_of(key), root_));
  return data;
}

Result<ObjectInfo> FsStore::stat(const std::string& key) {
  TRY_STATUS(check_key(key));
  const std::string path = path_of(key);
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return os_error(errno, "cannot stat object file", key, path, root_);
  if (!S_ISREG(st.st_mode)) return not_an_object(key, path);
  return ObjectInfo{key, uint64_t(st.st_size), int64_t(st.st_mtime)};
}

Status FsStore::list(const std::string& prefix, const std::function<void(const ObjectInfo&)>& fn) {
  return list_dir("", prefix, fn);
}

// Walks one directory. Sibling entries are visited sorted by their name, with a
// directory sorting as "name/": every key below it starts with that, so the
// walk yields keys in exact lexicographic order ("a-c" < "a/b" < "a0").
Status FsStore::list_dir(const std::string& dir_key, const std::string& prefix,
                         const std::function<void(const ObjectInfo&)>& fn) {
  const std::string dir_path = dir_key.empty() ? root_ : root_ + "/" + dir_key.substr(0, dir_key.size() - 1);
  DIR* dir = ::opendir(dir_path.c_str());
  if (dir == nullptr) {
    if (errno == ENOENT || errno == ENOTDIR) return ok_status();  // nothing stored there (yet)
    return os_error(errno, "cannot list directory", prefix, dir_path, root_);
  }
  struct Entry {
    std::string sort_key;  // key relative to the root, directories with a trailing '/'
    bool is_dir;
  };
  std::vector<Entry> entries;
  errno = 0;
  while (struct dirent* entry = ::readdir(dir)) {
    std::string name = entry->d_name;
    if (name == "." || name == ".." || name.rfind(kTempPrefix, 0) == 0) continue;
    bool is_dir = entry->d_type == DT_DIR;
    if (entry->d_type == DT_UNKNOWN || entry->d_type == DT_LNK) {
      struct stat st;
      if (::stat((dir_path + "/" + name).c_str(), &st) != 0) continue;  // vanished meanwhile
      is_dir = S_ISDIR(st.st_mode);
    }
    std::string key = dir_key + name + (is_dir ? "/" : "");
    // Keep what can hold a match: a key starting with the prefix, or a
    // directory that the prefix reaches into.
    bool relevant = key.compare(0, prefix.size(), prefix) == 0 ||
                    (is_dir && prefix.compare(0, key.size(), key) == 0);
    if (relevant) entries.push_back(Entry{std::move(key), is_dir});
    errno = 0;
  }
  int read_error = errno;
  ::closedir(dir);
  if (read_error != 0) return os_error(read_error, "cannot read directory", prefix, dir_path, root_);

  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) { return a.sort_key < b.sort_key; });
  for (const Entry& entry : entries) {
    if (entry.is_dir) {
      TRY_STATUS(list_dir(entry.sort_key, prefix, fn));
      continue;
    }
    struct stat st;
    if (::stat(path_of(entry.sort_key).c_str(), &st) != 0) {
      if (errno == ENOENT) continue;  // removed while listing
      return os_error(errno, "cannot stat object file", entry.sort_key, path_of(entry.sort_key), root_);
    }
    if (!S_ISREG(st.st_mode)) continue;
    fn(ObjectInfo{entry.sort_key, uint64_t(st.st_size), int64_t(st.st_mtime)});
  }
  return ok_status();
}

Status FsStore::remove(const std::string& key) { return remove_object(key, true); }

Status FsStore::remove_transient(const std::string& key) { return remove_object(key, false); }

Status FsStore::remove_object(const std::string& key, bool durable) {
  TRY_STATUS(check_key(key));
  forget_open(key);
  const std::string path = path_of(key);
  if (::unlink(path.c_str()) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) return ok_status();
    return os_error(errno, "cannot remove object file", key, path, root_);
  }
  return durable ? fsync_directory(parent_of(path), key, root_) : ok_status();
}

}  // namespace stowage
