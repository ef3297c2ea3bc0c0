#include "engine/block_volume.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <climits>
#include <condition_variable>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "util/clock.h"
#include "util/process.h"

namespace stowage::engine {

namespace {

struct Fd {
  int fd = -1;
  explicit Fd(int f = -1) : fd(f) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

// Removes a file when it goes out of scope.
struct TempFile {
  std::string path;
  ~TempFile() {
    if (!path.empty()) unlink(path.c_str());
  }
};

std::string read_first_line(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

// "\040" → ' ' in /proc/self/mountinfo fields.
std::string unescape_mount_field(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); i++) {
    if (s[i] == '\\' && i + 3 < s.size() && std::isdigit(uint8_t(s[i + 1])) &&
        std::isdigit(uint8_t(s[i + 2])) && std::isdigit(uint8_t(s[i + 3]))) {
      out += char((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::string real_path(const std::string& path) {
  char buf[PATH_MAX];
  if (realpath(path.c_str(), buf) == nullptr) return path;
  return buf;
}

// A frozen filesystem that a watchdog thaws after a deadline.
class Freeze {
 public:
  static Result<std::unique_ptr<Freeze>> start(const std::string& mountpoint, std::chrono::milliseconds max) {
    auto frozen = run_checked({"fsfreeze", "--freeze", mountpoint});
    if (!frozen.ok()) {
      Error e = std::move(frozen).error();
      return Error(e.code(), "cannot freeze the volume's filesystem: " + e.message(), mountpoint,
                   e.code() == ErrorCode::kNotFound
                       ? "install util-linux (fsfreeze) on the node"
                       : "this filesystem may not support freezing; use consistency none to read it as is, or "
                         "keep the volume as an image on btrfs/xfs for a reflink copy");
    }
    std::unique_ptr<Freeze> f(new Freeze(mountpoint));
    f->start_ns_ = now_unix_nanos();
    Freeze* self = f.get();
    f->watchdog_ = std::thread([self, max] {
      std::unique_lock lock(self->mu_);
      if (!self->cv_.wait_for(lock, max, [self] { return self->thawed_; })) {
        self->thaw_locked();
        self->expired_ = true;
      }
    });
    return f;
  }
  ~Freeze() { (void)thaw(); }

  // Thaws (once); an error when thawing failed or the watchdog had to.
  Status thaw() {
    {
      std::lock_guard lock(mu_);
      thaw_locked();
      cv_.notify_all();
    }
    if (watchdog_.joinable()) watchdog_.join();
    std::lock_guard lock(mu_);
    if (!thaw_error_.empty())
      return Error(ErrorCode::kIo, "cannot thaw the volume's filesystem: " + thaw_error_, mountpoint_,
                   "thaw it by hand at once: fsfreeze --unfreeze " + mountpoint_);
    return ok_status();
  }
  bool expired() {
    std::lock_guard lock(mu_);
    return expired_;
  }
  double seconds() {
    std::lock_guard lock(mu_);
    return double(end_ns_ - start_ns_) / 1e9;
  }

 private:
  explicit Freeze(std::string mountpoint) : mountpoint_(std::move(mountpoint)) {}
  void thaw_locked() {
    if (thawed_) return;
    thawed_ = true;
    auto r = run_checked({"fsfreeze", "--unfreeze", mountpoint_});
    if (!r.ok()) {
      // One more try: a frozen filesystem blocks every writer on it.
      auto again = run_checked({"fsfreeze", "--unfreeze", mountpoint_});
      if (!again.ok()) thaw_error_ = r.error().message();
    }
    end_ns_ = now_unix_nanos();
  }

  std::string mountpoint_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool thawed_ = false;
  bool expired_ = false;
  std::string thaw_error_;
  int64_t start_ns_ = 0, end_ns_ = 0;
  std::thread watchdog_;
};

// Drops cached pages of a block device, so that reads see what the mounted
// filesystem wrote around the device's page cache.
void drop_device_cache(const std::string& path) {
  Fd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.fd < 0) return;
  struct stat st;
  if (fstat(fd.fd, &st) != 0) return;
  if (S_ISBLK(st.st_mode) && ioctl(fd.fd, BLKFLSBUF, 0) == 0) return;
  fdatasync(fd.fd);
  posix_fadvise(fd.fd, 0, 0, POSIX_FADV_DONTNEED);
}

// What the path is and where its data lives.
struct Volume {
  std::string path;        // as given
  bool is_image = false;   // a regular file
  dev_t rdev = 0;          // block device number (the loop device for an attached image)
  std::string block_device;  // the block device ("" for an unattached image)
  std::string image;       // the image file holding the data ("" for a plain device)
  std::optional<MountEntry> mount;
};

Result<Volume> inspect(const std::string& path) {
  Volume v;
  v.path = path;
  struct stat st;
  if (stat(path.c_str(), &st) != 0)
    return Error(errno == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIo,
                 std::string("cannot stat the volume: ") + strerror(errno), path,
                 "check the volume's device path on this node");
  if (S_ISREG(st.st_mode)) {
    v.is_image = true;
    v.image = path;
    v.block_device = loop_device_of_image(path);
    struct stat bst;
    if (!v.block_device.empty() && stat(v.block_device.c_str(), &bst) == 0) v.rdev = bst.st_rdev;
  } else if (S_ISBLK(st.st_mode)) {
    v.block_device = path;
    v.rdev = st.st_rdev;
    v.image = loop_backing_file(path);
  } else {
    return Error(ErrorCode::kInvalidArgument, "the volume is neither a block device nor an image file", path,
                 "pass the volume's block device (/dev/...) or its image file");
  }
  if (!v.block_device.empty()) v.mount = TRY(find_mount_of_device(v.rdev, v.block_device));
  return v;
}

}  // namespace

const char* consistency_name(Consistency c) {
  switch (c) {
    case Consistency::kAuto: return "auto";
    case Consistency::kReflink: return "reflink";
    case Consistency::kFreeze: return "freeze";
    case Consistency::kNone: return "none";
  }
  return "?";
}

Result<Consistency> parse_consistency(std::string_view text) {
  for (Consistency c : {Consistency::kAuto, Consistency::kReflink, Consistency::kFreeze, Consistency::kNone})
    if (text == consistency_name(c)) return c;
  return Error(ErrorCode::kInvalidArgument, "unknown consistency method '" + std::string(text) + "'",
               std::string(text), "use auto, reflink, freeze or none");
}

Result<std::optional<MountEntry>> find_mount_of_device(dev_t dev, const std::string& device_path) {
  std::ifstream in("/proc/self/mountinfo");
  if (!in)
    return Error(ErrorCode::kIo, "cannot read /proc/self/mountinfo", "/proc/self/mountinfo",
                 "mount /proc in the agent's container");
  const std::string want_dev = std::to_string(major(dev)) + ":" + std::to_string(minor(dev));
  const std::string want_path = real_path(device_path);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::vector<std::string> f;
    std::string w;
    while (fields >> w) f.push_back(w);
    // id parent major:minor root mountpoint options [optional...] - fstype source superoptions
    size_t dash = 0;
    for (size_t i = 6; i < f.size(); i++)
      if (f[i] == "-") {
        dash = i;
        break;
      }
    if (dash == 0 || dash + 2 >= f.size()) continue;
    MountEntry m{unescape_mount_field(f[4]), f[dash + 1], unescape_mount_field(f[dash + 2])};
    bool same_dev = dev != 0 && f[2] == want_dev;
    bool same_source = !m.source.empty() && m.source[0] == '/' && real_path(m.source) == want_path;
    if (same_dev || same_source) return std::optional<MountEntry>(m);
  }
  return std::optional<MountEntry>();
}

std::string loop_backing_file(const std::string& device) {
  std::string name = real_path(device);
  auto slash = name.rfind('/');
  if (slash != std::string::npos) name = name.substr(slash + 1);
  if (name.rfind("loop", 0) != 0) return "";
  std::string backing = read_first_line("/sys/block/" + name + "/loop/backing_file");
  const std::string deleted = " (deleted)";
  if (backing.size() > deleted.size() && backing.compare(backing.size() - deleted.size(), deleted.size(), deleted) == 0)
    return "";  // its image was unlinked: nothing to clone
  return backing;
}

std::string loop_device_of_image(const std::string& image) {
  struct stat want;
  if (stat(image.c_str(), &want) != 0) return "";
  DIR* dir = opendir("/sys/block");
  if (!dir) return "";
  std::string found;
  while (dirent* e = readdir(dir)) {
    std::string name = e->d_name;
    if (name.rfind("loop", 0) != 0) continue;
    std::string backing = read_first_line("/sys/block/" + name + "/loop/backing_file");
    struct stat st;
    if (backing.empty() || stat(backing.c_str(), &st) != 0) continue;
    if (st.st_dev == want.st_dev && st.st_ino == want.st_ino) {
      found = "/dev/" + name;
      break;
    }
  }
  closedir(dir);
  return found;
}

Result<BlockVolumeBackupResult> backup_block_volume(Repository& repo, const std::string& device_or_image,
                                                    const BlockVolumeBackupOptions& options) {
  Volume v = TRY(inspect(device_or_image));
  BlockVolumeBackupResult result;
  BlockBackupOptions bo;
  bo.source = device_or_image;
  bo.parent = options.parent;
  bo.changed = options.changed;
  bo.workers = options.workers;
  bo.progress = options.progress;
  auto with_method = [&](Consistency method) {
    bo.tags = options.tags;
    bo.tags.push_back(std::string("block.consistency=") + consistency_name(method));
    result.method = method;
  };

  // Reflink: clone the image, read the clone.
  if ((options.consistency == Consistency::kAuto || options.consistency == Consistency::kReflink) &&
      !v.image.empty()) {
    Fd src(open(v.image.c_str(), O_RDONLY | O_CLOEXEC));
    if (src.fd < 0)
      return Error(ErrorCode::kIo, std::string("cannot open the volume's image: ") + strerror(errno), v.image);
    auto slash = v.image.rfind('/');
    std::string dir = slash == std::string::npos ? "." : v.image.substr(0, slash);
    std::string base = slash == std::string::npos ? v.image : v.image.substr(slash + 1);
    std::string tmpl = dir + "/." + base + ".stowage-clone-XXXXXX";
    TempFile clone;
    Fd dst(mkostemp(tmpl.data(), O_CLOEXEC));
    if (dst.fd < 0)
      return Error(ErrorCode::kIo, std::string("cannot create the clone next to the image: ") + strerror(errno), dir,
                   "the directory holding the image must be writable by the agent");
    clone.path = tmpl;
    int clone_errno = 0;
    {
      std::unique_ptr<Freeze> freeze;
      if (v.mount) {
        freeze = TRY(Freeze::start(v.mount->mountpoint, options.max_freeze));
        result.frozen_mountpoint = v.mount->mountpoint;
      }
      if (ioctl(dst.fd, FICLONE, src.fd) != 0) clone_errno = errno;
      if (freeze) {
        TRY_STATUS(freeze->thaw());
        result.frozen_seconds = freeze->seconds();
      }
    }
    if (clone_errno == 0) {
      with_method(Consistency::kReflink);
      result.detail = "read a reflink copy of " + v.image;
      if (v.mount)
        result.detail += "; " + v.mount->fstype + " at " + v.mount->mountpoint + " was frozen for " +
                         std::to_string(int64_t(result.frozen_seconds * 1000)) + " ms while cloning";
      result.snapshot = TRY(backup_block(repo, clone.path, bo));
      return result;
    }
    result.frozen_mountpoint.clear();
    result.frozen_seconds = 0;
    if (options.consistency == Consistency::kReflink)
      return Error(ErrorCode::kUnsupported,
                   std::string("cannot reflink-copy the volume's image: ") + strerror(clone_errno), v.image,
                   "keep images on btrfs or xfs (mkfs.xfs -m reflink=1), or use consistency freeze or none");
    // Auto: no reflinks here; fall through to freezing or reading as is.
  } else if (options.consistency == Consistency::kReflink) {
    return Error(ErrorCode::kInvalidArgument, "reflink consistency needs an image file or a loop device",
                 device_or_image, "use consistency freeze (mounted filesystem) or none");
  }

  // Freeze: the filesystem stays frozen for the whole read.
  if ((options.consistency == Consistency::kAuto || options.consistency == Consistency::kFreeze) && v.mount) {
    auto freeze = TRY(Freeze::start(v.mount->mountpoint, options.max_freeze));
    result.frozen_mountpoint = v.mount->mountpoint;
    with_method(Consistency::kFreeze);
    drop_device_cache(v.block_device.empty() ? device_or_image : v.block_device);
    auto snap = backup_block(repo, device_or_image, bo);
    Status thawed = freeze->thaw();
    result.frozen_seconds = freeze->seconds();
    bool expired = freeze->expired();
    if (!snap.ok()) return std::move(snap).error().with_context("reading the frozen volume");
    if (expired) {
      (void)repo.remove_snapshot(snap->id);
      return Error(ErrorCode::kUnavailable,
                   "the read took longer than the freeze window (" +
                       std::to_string(options.max_freeze.count()) + " ms); the filesystem was thawed during the read, "
                       "so the copy is not consistent and was discarded",
                   device_or_image,
                   "raise the freeze window, or keep the volume as an image on btrfs/xfs so that a reflink copy is "
                   "read instead");
    }
    TRY_STATUS(thawed);
    result.detail = v.mount->fstype + " at " + v.mount->mountpoint + " was frozen for " +
                    std::to_string(int64_t(result.frozen_seconds * 1000)) + " ms while reading";
    result.snapshot = std::move(snap).value();
    return result;
  }
  if (options.consistency == Consistency::kFreeze)
    return Error(ErrorCode::kInvalidArgument, "freeze consistency needs a mounted filesystem on the volume",
                 device_or_image, "the volume is not mounted: use consistency none to read it as is");

  // None: read as is.
  with_method(Consistency::kNone);
  if (options.consistency == Consistency::kNone)
    result.detail = "read as is (consistency none was asked for)";
  else if (v.mount)
    result.detail = "read as is";  // unreachable in Auto: a mount is frozen above
  else
    result.detail = "read as is: the volume is not mounted and has no reflink-capable image, so no point-in-time "
                    "copy was taken (consistent if nothing writes to it)";
  if (!v.block_device.empty()) drop_device_cache(v.block_device);
  result.snapshot = TRY(backup_block(repo, device_or_image, bo));
  return result;
}

Status restore_block_volume(Repository& repo, const Snapshot& snapshot, const std::string& device,
                            Progress* progress) {
  if (snapshot.kind != SnapshotKind::kBlock)
    return Error(ErrorCode::kInvalidArgument,
                 "repository snapshot " + snapshot.id.short_hex() + " is a " + snapshot_kind_name(snapshot.kind) +
                     " snapshot, not a block volume",
                 snapshot.id.hex(), "restore it with the restore of its own kind");
  struct stat st {};
  bool is_device = false;
  if (stat(device.c_str(), &st) == 0) {
    is_device = S_ISBLK(st.st_mode);
    if (S_ISBLK(st.st_mode)) {
      auto mount = TRY(find_mount_of_device(st.st_rdev, device));
      if (mount)
        return Error(ErrorCode::kConflict, "the restore target device is mounted at " + mount->mountpoint, device,
                     "stop the workload and unmount it (umount " + mount->mountpoint + ") before restoring");
      Fd excl(open(device.c_str(), O_RDONLY | O_EXCL | O_CLOEXEC));
      if (excl.fd < 0 && errno == EBUSY)
        return Error(ErrorCode::kConflict, "the restore target device is in use (held by a filesystem or a mapper)",
                     device, "release it (e.g. umount, dmsetup remove) before restoring");
    } else if (S_ISREG(st.st_mode)) {
      std::string loop = loop_device_of_image(device);
      if (!loop.empty()) {
        struct stat lst;
        if (stat(loop.c_str(), &lst) == 0) {
          auto mount = TRY(find_mount_of_device(lst.st_rdev, loop));
          if (mount)
            return Error(ErrorCode::kConflict,
                         "the restore target image is attached to " + loop + ", mounted at " + mount->mountpoint,
                         device, "unmount " + mount->mountpoint + " and detach " + loop + " before restoring");
        }
      }
    } else {
      return Error(ErrorCode::kInvalidArgument, "the restore target is neither a block device nor an image file",
                   device);
    }
  }
  BlockRestoreOptions ro;
  ro.progress = progress;
  TRY_STATUS(restore_block(repo, snapshot, device, ro));
  if (is_device) drop_device_cache(device);
  return ok_status();
}

}  // namespace stowage::engine
