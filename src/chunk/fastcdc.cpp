#include "chunk/fastcdc.h"

#include <bit>
#include <cstring>

namespace stowage {

namespace {
uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// A mask with `bits` one-bits spread over the upper 48 bits, as FastCDC does:
// gear hashes mix best in the high bits.
uint64_t spread_mask(int bits) {
  uint64_t mask = 0;
  int placed = 0;
  for (int pos = 63; pos >= 16 && placed < bits; pos -= 2, placed++) mask |= 1ULL << pos;
  for (int pos = 62; pos >= 16 && placed < bits; pos -= 2, placed++) mask |= 1ULL << pos;
  return mask;
}
}  // namespace

FastCdc::FastCdc(const ChunkerParams& params, ByteView seed) : params_(params) {
  uint64_t state = 0;
  for (size_t i = 0; i < seed.size(); i++) state = state * 131 + seed[i] + (state >> 61);
  for (auto& g : gear_) g = splitmix64(state);
  int bits = std::bit_width(params.avg_size) - 1;
  mask_small_ = spread_mask(bits + 2);  // normalization level 2
  mask_large_ = spread_mask(bits - 2);
}

size_t FastCdc::next_boundary(const uint8_t* data, size_t len, bool final) const {
  const size_t min = params_.min_size, avg = params_.avg_size, max = params_.max_size;
  if (len <= min) return final ? len : 0;
  size_t limit = len < max ? len : max;
  size_t normal = avg < limit ? avg : limit;
  uint64_t fp = 0;
  size_t i = min;
  for (; i < normal; i++) {
    fp = (fp << 1) + gear_[data[i]];
    if (!(fp & mask_small_)) return i + 1;
  }
  for (; i < limit; i++) {
    fp = (fp << 1) + gear_[data[i]];
    if (!(fp & mask_large_)) return i + 1;
  }
  if (limit == max) return max;
  return final ? len : 0;
}

void StreamChunker::feed(ByteView data) {
  if (start_ > 0 && start_ >= buf_.size() / 2) {
    buf_.erase(buf_.begin(), buf_.begin() + long(start_));
    start_ = 0;
  }
  buf_.insert(buf_.end(), data.begin(), data.end());
}

bool StreamChunker::next(Bytes& chunk) {
  size_t avail = buf_.size() - start_;
  if (avail == 0) return false;
  size_t n = cdc_.next_boundary(buf_.data() + start_, avail, final_);
  if (n == 0) return false;
  chunk.assign(buf_.begin() + long(start_), buf_.begin() + long(start_ + n));
  start_ += n;
  if (start_ == buf_.size()) {
    buf_.clear();
    start_ = 0;
  }
  return true;
}

}  // namespace stowage
