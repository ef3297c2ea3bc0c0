// Stream backup and restore: a byte stream (stdin, a 'zfs send' pipe) cut
// into content-defined chunks, so successive full streams deduplicate.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "repo/repository.h"
#include "util/progress.h"

namespace stowage {

struct StreamBackupOptions {
  std::string name = "stdin";  // recorded as the snapshot's source
  std::vector<std::string> tags;
  std::optional<ObjectId> parent;
  size_t workers = 0;
  Progress* progress = nullptr;
};

Result<Snapshot> backup_stream(Repository& repo, int fd, const StreamBackupOptions& options);

struct StreamRestoreOptions {
  size_t prefetch = 8;  // chunks loaded ahead of the writer
  Progress* progress = nullptr;
};

Status restore_stream(Repository& repo, const Snapshot& snapshot, int fd, const StreamRestoreOptions& options);

}  // namespace stowage
