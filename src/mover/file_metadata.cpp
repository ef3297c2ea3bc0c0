#include "mover/file_metadata.h"

#include <sys/xattr.h>

#include <cerrno>
#include <cstring>

namespace stowage {

bool node_from_stat(const struct stat& st, Node& n) {
  switch (st.st_mode & S_IFMT) {
    case S_IFREG: n.type = NodeType::kFile; break;
    case S_IFDIR: n.type = NodeType::kDir; break;
    case S_IFLNK: n.type = NodeType::kSymlink; break;
    case S_IFIFO: n.type = NodeType::kFifo; break;
    case S_IFCHR: n.type = NodeType::kCharDevice; break;
    case S_IFBLK: n.type = NodeType::kBlockDevice; break;
    case S_IFSOCK: n.type = NodeType::kSocket; break;
    default: return false;
  }
  n.mode = st.st_mode & 07777;
  n.uid = st.st_uid;
  n.gid = st.st_gid;
  n.mtime_ns = int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  n.ctime_ns = int64_t(st.st_ctim.tv_sec) * 1000000000 + st.st_ctim.tv_nsec;
  // Identity and size are kept (and encoded, repo/tree.cpp) for files only:
  // a field set here but not stored would make every re-read node differ
  // from its parent snapshot's, so unchanged directories would be re-encoded.
  if (n.type == NodeType::kFile) {
    n.size = uint64_t(st.st_size);
    n.inode = st.st_ino;
    n.device = st.st_dev;
    n.links = uint32_t(st.st_nlink);
  }
  if (n.type == NodeType::kCharDevice || n.type == NodeType::kBlockDevice) n.rdev = st.st_rdev;
  return true;
}

namespace {

// Lists and reads attributes through the given list/get calls, so the path
// and descriptor variants share one loop.
template <class List, class Get>
Status read_xattrs_with(const std::string& path, std::vector<Xattr>& out, List list, Get get) {
  out.clear();
  ssize_t len = list(nullptr, 0);
  if (len < 0) {
    if (errno == ENOTSUP || errno == ENODATA) return ok_status();
    return Error(ErrorCode::kIo, std::string("listing extended attributes failed: ") + strerror(errno), path);
  }
  if (len == 0) return ok_status();
  std::string names(size_t(len), '\0');
  len = list(names.data(), names.size());
  if (len < 0) return Error(ErrorCode::kIo, std::string("listing extended attributes failed: ") + strerror(errno), path);
  names.resize(size_t(len));
  for (size_t pos = 0; pos < names.size();) {
    std::string name = names.c_str() + pos;
    pos += name.size() + 1;
    if (name.empty()) continue;
    ssize_t vlen = get(name.c_str(), nullptr, 0);
    if (vlen < 0) continue;  // removed meanwhile
    Xattr x{name, Bytes(size_t(vlen))};
    vlen = get(name.c_str(), x.value.data(), x.value.size());
    if (vlen < 0) continue;
    x.value.resize(size_t(vlen));
    out.push_back(std::move(x));
  }
  return ok_status();
}

}  // namespace

Status read_xattrs(const std::string& path, std::vector<Xattr>& out) {
  return read_xattrs_with(
      path, out, [&](char* buf, size_t n) { return llistxattr(path.c_str(), buf, n); },
      [&](const char* name, void* buf, size_t n) { return lgetxattr(path.c_str(), name, buf, n); });
}

Status read_xattrs_fd(int fd, const std::string& path, std::vector<Xattr>& out) {
  return read_xattrs_with(
      path, out, [&](char* buf, size_t n) { return flistxattr(fd, buf, n); },
      [&](const char* name, void* buf, size_t n) { return fgetxattr(fd, name, buf, n); });
}

}  // namespace stowage
