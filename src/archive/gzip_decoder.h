// GzipDecoder: decompresses a gzip stream (one member or several, back to
// back) pulled from a source, and verifies each member's CRC-32 and length
// with zlib. The reader uses it instead of libarchive's gzip filter, which in
// libarchive 3.6 checks neither: there, a damaged byte inside an item's JSON
// would come out as a silently different object.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "util/bytes.h"
#include "util/result.h"

namespace stowage::archive {

using MutableByteView = std::span<uint8_t>;
// Fills the view with the next bytes and returns how many; 0 means the end.
using ByteSource = std::function<Result<size_t>(MutableByteView)>;

// True if `data` starts with the gzip magic bytes 1f 8b.
bool starts_like_gzip(ByteView data);

class GzipDecoder {
 public:
  static Result<GzipDecoder> open(ByteSource compressed);

  GzipDecoder(GzipDecoder&&) noexcept;
  GzipDecoder& operator=(GzipDecoder&&) noexcept;
  ~GzipDecoder();

  // Decompressed bytes into `out`; 0 only once the compressed stream has
  // ended on a complete, verified member. Errors are kCorrupt (damaged,
  // truncated, trailing data that is not another member) or the source's.
  Result<size_t> read(MutableByteView out);

  uint64_t compressed_bytes() const;
  uint64_t decompressed_bytes() const;

  struct State;  // implementation detail (zlib state)

 private:
  explicit GzipDecoder(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace stowage::archive
