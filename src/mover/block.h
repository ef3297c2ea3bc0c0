// Block-device and image-file backup and restore: fixed, aligned blocks
// (the repository's block size), all-zero blocks recorded as holes, and an
// optional changed-extent list so that an engine with changed-block tracking
// pays only for what changed. Every block snapshot holds a complete block map.
// The data is read from a BlockSource and restored into a BlockSink; a file or
// block device is one implementation of each (an engine brings its own, e.g.
// the replicas of a replicated volume).
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "repo/repository.h"
#include "util/progress.h"

namespace stowage {

class BlockPrefetch;

struct Extent {
  uint64_t offset = 0;
  uint64_t length = 0;
};

// Parses a changed-extent list: one "offset length" pair (bytes, decimal) per
// line; '#' starts a comment.
Result<std::vector<Extent>> parse_extents(std::string_view text);

// What a block backup reads: a volume of size() bytes. read() is called
// from several worker threads at once, each with its own range.
class BlockSource {
 public:
  virtual ~BlockSource() = default;
  virtual std::string name() const = 0;  // for messages and the default snapshot source
  virtual uint64_t size() const = 0;
  virtual Status read(uint64_t offset, std::span<uint8_t> out) = 0;
};

// Where a block restore writes. prepare() comes first, with the snapshot's
// size; then write() (from several worker threads at once) and
// write_zeroes() (for the ranges the snapshot holds as holes, from the
// calling thread) in any order; finish() last, only when all succeeded.
class BlockSink {
 public:
  virtual ~BlockSink() = default;
  virtual std::string name() const = 0;
  virtual Status prepare(uint64_t size) = 0;
  virtual Status write(uint64_t offset, std::span<const uint8_t> data) = 0;
  virtual Status write_zeroes(uint64_t offset, uint64_t length) = 0;
  virtual Status finish() = 0;
};

// A block device or an image file to read.
Result<std::unique_ptr<BlockSource>> open_block_file_source(const std::string& device);
// A block device (kept at its size, must be at least as large as the
// snapshot, holes zeroed) or an image file (created or truncated to the
// snapshot's size, holes left as holes) to write.
Result<std::unique_ptr<BlockSink>> open_block_file_sink(const std::string& target);

struct BlockBackupOptions {
  // Recorded as the snapshot's source; empty: the source's name (the device
  // path). An engine that reads a point-in-time copy (a reflink clone) names
  // the volume here.
  std::string source;
  std::vector<std::string> tags;
  std::optional<ObjectId> parent;
  // With a parent: only these byte ranges are read; the rest of the block map
  // is taken from the parent. Without: every block is read (but see
  // changed_lists_allocation).
  std::optional<std::vector<Extent>> changed;
  // Without a parent: `changed` lists every allocated range of the source and
  // the rest reads as zeros, so it is recorded as holes without being read
  // (an engine that knows its allocation map, e.g. a replica's snapshot).
  bool changed_lists_allocation = false;
  // Blocks already read (and compressed) while the repository opened
  // (mover/block_prefetch.h); used only if made with the repository's block
  // size and compression level, and taken out as they are used.
  BlockPrefetch* prefetch = nullptr;
  size_t workers = 0;
  Progress* progress = nullptr;
};

Result<Snapshot> backup_block(Repository& repo, BlockSource& source, const BlockBackupOptions& options);
Result<Snapshot> backup_block(Repository& repo, const std::string& device, const BlockBackupOptions& options);

struct BlockRestoreOptions {
  size_t workers = 0;
  Progress* progress = nullptr;
};

// Writes the snapshot to target: a block device (must be at least as large)
// or an image file (created or truncated to size; zero blocks become holes).
Status restore_block(Repository& repo, const Snapshot& snapshot, const std::string& target,
                     const BlockRestoreOptions& options);
// Writes the snapshot to sink: each stored block once, holes as write_zeroes.
Status restore_block(Repository& repo, const Snapshot& snapshot, BlockSink& sink, const BlockRestoreOptions& options);

}  // namespace stowage
