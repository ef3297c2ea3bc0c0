#include "mover/block_prefetch.h"

#include <algorithm>

namespace stowage {

BlockPrefetch::BlockPrefetch(BlockSource& source, std::vector<Extent> extents, uint64_t block_size,
                             int compression_level, uint64_t max_bytes)
    : source_(source),
      extents_(std::move(extents)),
      block_size_(block_size),
      level_(compression_level),
      max_bytes_(max_bytes),
      thread_([this] { run(); }) {}

BlockPrefetch::~BlockPrefetch() { stop(); }

void BlockPrefetch::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

std::optional<PrefetchedBlock> BlockPrefetch::take(uint64_t index) {
  std::lock_guard lock(mu_);
  auto it = blocks_.find(index);
  if (it == blocks_.end()) return std::nullopt;
  PrefetchedBlock block = std::move(it->second);
  blocks_.erase(it);
  return block;
}

size_t BlockPrefetch::blocks() const {
  std::lock_guard lock(mu_);
  return blocks_.size();
}

void BlockPrefetch::run() {
  const uint64_t size = source_.size();
  const uint64_t bs = block_size_;
  if (bs == 0) return;
  uint64_t fetched = 0;
  // The blocks each extent touches, as backup_block marks them.
  for (const Extent& e : extents_) {
    if (e.length == 0 || e.offset >= size) continue;
    uint64_t last = e.offset + std::min(e.length, size - e.offset) - 1;  // no overflow: offset < size
    for (uint64_t b = e.offset / bs; b <= last / bs; b++) {
      if (stop_ || fetched >= max_bytes_) return;
      {
        std::lock_guard lock(mu_);
        if (blocks_.count(b)) continue;  // extents may overlap
      }
      PrefetchedBlock block;
      block.data.resize(std::min(bs, size - b * bs));
      if (!source_.read(b * bs, std::span<uint8_t>(block.data.data(), block.data.size())).ok())
        continue;  // the backup reads it again and reports the error
      fetched += block.data.size();
      if (level_ > 0 && !all_zero(block.data)) {
        block.method = compress(block.data, level_, block.compressed);  // exactly sized
      }
      std::lock_guard lock(mu_);
      blocks_.emplace(b, std::move(block));
    }
  }
}

}  // namespace stowage
