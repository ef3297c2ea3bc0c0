#include "repo/compress.h"

#include <zstd.h>

namespace stowage {

namespace {
// One compression context per thread: creating one per chunk costs more than
// compressing a small chunk.
ZSTD_CCtx* thread_cctx() {
  thread_local struct Holder {
    ZSTD_CCtx* c = ZSTD_createCCtx();
    ~Holder() { ZSTD_freeCCtx(c); }
  } holder;
  return holder.c;
}
ZSTD_DCtx* thread_dctx() {
  thread_local struct Holder {
    ZSTD_DCtx* d = ZSTD_createDCtx();
    ~Holder() { ZSTD_freeDCtx(d); }
  } holder;
  return holder.d;
}
}  // namespace

Compression compress(ByteView data, int level, Bytes& out) {
  out.clear();
  if (data.size() < 64) return Compression::kNone;
  // zstd writes into a per-thread buffer that only grows, and out receives
  // just the compressed bytes: sizing out to the bound for each chunk would
  // zero-fill four to five times the bytes that are kept.
  thread_local Bytes scratch;
  size_t bound = ZSTD_compressBound(data.size());
  if (scratch.size() < bound) scratch.resize(bound);
  size_t n = ZSTD_compressCCtx(thread_cctx(), scratch.data(), bound, data.data(), data.size(), level);
  if (ZSTD_isError(n) || n >= data.size() - data.size() / 64) return Compression::kNone;  // < 1.5% saving: not worth decoding
  out.assign(scratch.begin(), scratch.begin() + ptrdiff_t(n));
  return Compression::kZstd;
}

Result<Bytes> decompress(Compression method, ByteView data, size_t raw_size) {
  if (method == Compression::kNone) {
    if (data.size() != raw_size) return Error(ErrorCode::kCorrupt, "stored size does not match the recorded size");
    return Bytes(data.begin(), data.end());
  }
  if (method != Compression::kZstd) return Error(ErrorCode::kCorrupt, "unknown compression method");
  Bytes out(raw_size);
  size_t n = ZSTD_decompressDCtx(thread_dctx(), out.data(), out.size(), data.data(), data.size());
  if (ZSTD_isError(n))
    return Error(ErrorCode::kCorrupt, std::string("zstd decompression failed: ") + ZSTD_getErrorName(n) +
                                          " (expands beyond the recorded size, or damaged)");
  if (n != raw_size) return Error(ErrorCode::kCorrupt, "decompressed size does not match the recorded size");
  return out;
}

}  // namespace stowage
