// zstd compression for blobs and repository objects. A chunk that does not
// shrink is stored raw (compression kNone) so incompressible data costs no CPU
// on restore.
#pragma once

#include <cstdint>

#include "util/bytes.h"
#include "util/result.h"

namespace stowage {

enum class Compression : uint8_t { kNone = 0, kZstd = 1 };

// Compresses data at level into out, sized exactly to the compressed bytes;
// returns kNone and leaves out empty when the result would not be smaller
// than the input.
Compression compress(ByteView data, int level, Bytes& out);
// raw_size bounds the output: a zstd bomb that expands further is kCorrupt.
Result<Bytes> decompress(Compression method, ByteView data, size_t raw_size);

}  // namespace stowage
