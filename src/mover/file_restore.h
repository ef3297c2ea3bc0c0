// File-tree restore: writes a file snapshot (or selected paths of it) into a
// target directory. Never writes outside the target, whatever the snapshot
// holds: every entry is created relative to an open directory with
// O_NOFOLLOW, names are single safe components, and links are never followed.
// Sparse regions (all-zero chunks) stay holes; metadata is applied after data.
#pragma once

#include <string>
#include <vector>

#include "repo/repository.h"
#include "repo/tree.h"
#include "util/progress.h"
#include <functional>

namespace stowage {

struct FileRestoreOptions {
  std::vector<std::string> includes;  // paths inside the snapshot; empty: all
  size_t workers = 0;                  // 0: 2 × cores (restores wait on I/O)
  Progress* progress = nullptr;
};

struct FileRestoreSummary {
  uint64_t files = 0, dirs = 0, bytes = 0;
  std::vector<std::string> warnings;
};

Result<FileRestoreSummary> restore_files(Repository& repo, const Snapshot& snapshot, const std::string& target,
                                         const FileRestoreOptions& options);

// Walks a snapshot's tree, calling fn(path, node) for every entry (pre-order).
Status walk_tree(Repository& repo, const BlobId& root,
                 const std::function<Status(const std::string& path, const Node& node)>& fn);

}  // namespace stowage
