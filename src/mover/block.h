// Block-device and image-file backup and restore: fixed, aligned blocks
// (the repository's block size), all-zero blocks recorded as holes, and an
// optional changed-extent list so that an engine with changed-block tracking
// pays only for what changed. Every block snapshot holds a complete block map.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "repo/repository.h"
#include "util/progress.h"

namespace stowage {

struct Extent {
  uint64_t offset = 0;
  uint64_t length = 0;
};

// Parses a changed-extent list: one "offset length" pair (bytes, decimal) per
// line; '#' starts a comment.
Result<std::vector<Extent>> parse_extents(std::string_view text);

struct BlockBackupOptions {
  // Recorded as the snapshot's source; empty: the device path. An engine that
  // reads a point-in-time copy (a reflink clone) names the volume here.
  std::string source;
  std::vector<std::string> tags;
  std::optional<ObjectId> parent;
  // With a parent: only these byte ranges are read; the rest of the block map
  // is taken from the parent. Without: every block is read.
  std::optional<std::vector<Extent>> changed;
  size_t workers = 0;
  Progress* progress = nullptr;
};

Result<Snapshot> backup_block(Repository& repo, const std::string& device, const BlockBackupOptions& options);

struct BlockRestoreOptions {
  size_t workers = 0;
  Progress* progress = nullptr;
};

// Writes the snapshot to target: a block device (must be at least as large)
// or an image file (created or truncated to size; zero blocks become holes).
Status restore_block(Repository& repo, const Snapshot& snapshot, const std::string& target,
                     const BlockRestoreOptions& options);

}  // namespace stowage
