// BlockPrefetch: reads and compresses the blocks of a changed-extent list
// ahead of a block backup, on a thread of its own, while the repository is
// being opened. The repository's key derivation keeps one core busy for
// 0.03–0.07 s, and neither reading nor compressing needs the key, so the
// other core can do the part of the backup that does not need it. The
// backup (backup_block) then takes each block it needs from here when there
// is one; ids, encryption and packing still happen there. It starts from
// the repository's config before that config is authenticated, so the backup
// uses a block only if block size and compression level equal those of the
// opened repository. Bounded: at most max_bytes of blocks, in extent order;
// stop() ends it after the block being read.
#pragma once

#include <atomic>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

#include "mover/block.h"
#include "repo/compress.h"

namespace stowage {

struct PrefetchedBlock {
  Bytes data;  // as read
  Compression method = Compression::kNone;
  Bytes compressed;  // data compressed at the level given, unless kNone
};

class BlockPrefetch {
 public:
  // Bounds its memory. About what one core reads and compresses while the
  // key is derived and the index read; what it has not reached when the
  // backup gets there, the backup reads itself.
  static constexpr uint64_t kDefaultMaxBytes = 32ull << 20;

  // compression_level 0: blocks are only read.
  BlockPrefetch(BlockSource& source, std::vector<Extent> extents, uint64_t block_size, int compression_level,
                uint64_t max_bytes = kDefaultMaxBytes);
  ~BlockPrefetch();
  BlockPrefetch(const BlockPrefetch&) = delete;
  BlockPrefetch& operator=(const BlockPrefetch&) = delete;

  // Ends the reading after the current block and waits for the thread; what
  // was read stays available.
  void stop();
  // Whether blocks were made for this block size and compression level.
  bool matches(uint64_t block_size, int compression_level) const {
    return block_size == block_size_ && compression_level == level_;
  }
  // Block number `index` if it was read (in full, without error); handed
  // out once.
  std::optional<PrefetchedBlock> take(uint64_t index);
  size_t blocks() const;  // held

 private:
  void run();

  BlockSource& source_;
  const std::vector<Extent> extents_;
  const uint64_t block_size_;
  const int level_;
  const uint64_t max_bytes_;
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  std::unordered_map<uint64_t, PrefetchedBlock> blocks_;
  std::thread thread_;  // last: starts once the rest is built
};

}  // namespace stowage
