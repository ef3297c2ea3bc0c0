// FastCDC content-defined chunker with normalized chunking (Xia et al., 2016/2020)
// over a keyed gear table: boundaries depend on content and on a repository
// secret, so identical data chunks identically within one repository only.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "util/bytes.h"

namespace stowage {

struct ChunkerParams {
  uint32_t min_size = 256 * 1024;
  uint32_t avg_size = 1024 * 1024;  // must be a power of two
  uint32_t max_size = 4 * 1024 * 1024;
};

class FastCdc {
 public:
  // seed: 32 secret bytes from which the gear table is generated.
  FastCdc(const ChunkerParams& params, ByteView seed);

  // Length of the next chunk at the start of data. When no boundary is found
  // and more data may follow (!final) and len < max_size, returns 0: call again
  // with more bytes. With final, returns at most len (the tail chunk).
  size_t next_boundary(const uint8_t* data, size_t len, bool final) const;

  const ChunkerParams& params() const { return params_; }

 private:
  ChunkerParams params_;
  uint64_t mask_small_;  // more bits set: harder to cut before avg_size
  uint64_t mask_large_;  // fewer bits set: easier to cut after avg_size
  std::array<uint64_t, 256> gear_;
};

// Splits a byte stream fed in arbitrary pieces into content-defined chunks,
// keeping at most max_size plus one input piece buffered.
class StreamChunker {
 public:
  explicit StreamChunker(const FastCdc& cdc) : cdc_(cdc) {}
  // Appends data; then call next() until it returns false.
  void feed(ByteView data);
  // Marks the end of the stream: the remaining bytes become the last chunk.
  void finish() { final_ = true; }
  // Moves the next complete chunk into chunk; false when more input is needed
  // (or, after finish(), when the stream is exhausted).
  bool next(Bytes& chunk);

 private:
  const FastCdc& cdc_;
  Bytes buf_;
  size_t start_ = 0;
  bool final_ = false;
};

}  // namespace stowage
