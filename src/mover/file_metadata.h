// Reading and applying the metadata of a file-system entry (type, mode,
// ownership, times, extended attributes and the ACLs stored in them).
#pragma once

#include <sys/stat.h>

#include <string>

#include "repo/tree.h"

namespace stowage {

// Fills n's type and metadata from st. Returns false for types stowage cannot store.
bool node_from_stat(const struct stat& st, Node& n);
// Reads every extended attribute (system.posix_acl_* included) without
// following a final symlink.
Status read_xattrs(const std::string& path, std::vector<Xattr>& out);
// The same through an open descriptor (path is for messages only).
Status read_xattrs_fd(int fd, const std::string& path, std::vector<Xattr>& out);

}  // namespace stowage
