#include "archive/gzip_decoder.h"

#include <zlib.h>

#include <algorithm>
#include <string>

namespace stowage::archive {

struct GzipDecoder::State {
  ByteSource source;
  z_stream zs{};
  bool initialized = false;
  std::vector<uint8_t> input;
  bool source_ended = false;
  bool member_ended = false;  // the last inflate() call finished a member (trailer verified)
  bool finished = false;      // the stream ended on a complete member
  uint64_t members = 0;       // complete members so far
  bool in_padding = false;    // zero bytes after the last member (block padding some writers add)
  Status failed;              // sticky
  uint64_t compressed = 0;
  uint64_t decompressed = 0;

  ~State() {
    if (initialized) inflateEnd(&zs);
  }
};

namespace {

constexpr size_t kInputBytes = 64 * 1024;
constexpr const char* kHint = "the backup tarball is damaged or truncated; take a new backup or restore from another";

Error damaged(const std::string& what) {
  return Error(ErrorCode::kCorrupt, "gzip stream is damaged: " + what, "", kHint);
}

}  // namespace

bool starts_like_gzip(ByteView data) { return data.size() >= 2 && data[0] == 0x1f && data[1] == 0x8b; }

GzipDecoder::GzipDecoder(std::unique_ptr<State> state) : state_(std::move(state)) {}
GzipDecoder::GzipDecoder(GzipDecoder&&) noexcept = default;
GzipDecoder& GzipDecoder::operator=(GzipDecoder&&) noexcept = default;
GzipDecoder::~GzipDecoder() = default;

uint64_t GzipDecoder::compressed_bytes() const { return state_ ? state_->compressed : 0; }
uint64_t GzipDecoder::decompressed_bytes() const { return state_ ? state_->decompressed : 0; }

Result<GzipDecoder> GzipDecoder::open(ByteSource compressed) {
  if (!compressed) return Error(ErrorCode::kInvalidArgument, "gzip decoder: no source given");
  auto state = std::make_unique<State>();
  state->source = std::move(compressed);
  state->input.resize(kInputBytes);
  // 15 + 16: a 32 KiB window, gzip wrapper only (header, CRC-32 and length checked).
  if (inflateInit2(&state->zs, 15 + 16) != Z_OK)
    return Error(ErrorCode::kInternal, "gzip decoder: zlib could not initialize");
  state->initialized = true;
  return GzipDecoder(std::move(state));
}

Result<size_t> GzipDecoder::read(MutableByteView out) {
  if (!state_) return Error(ErrorCode::kInternal, "gzip decoder: used after being moved from");
  State& s = *state_;
  if (!s.failed.ok()) return s.failed.error();
  if (s.finished || out.empty()) return size_t(0);
  z_stream& zs = s.zs;
  zs.next_out = out.data();
  const size_t wanted = std::min<size_t>(out.size(), size_t(1) << 30);
  zs.avail_out = uInt(wanted);
  auto fail = [&](Error e) -> Result<size_t> {
    s.failed = e;
    return e;
  };

  while (zs.avail_out > 0) {
    if (zs.avail_in == 0 && !s.source_ended) {
      Result<size_t> n = s.source(MutableByteView(s.input.data(), s.input.size()));
      if (!n.ok()) return fail(std::move(n).error());
      if (*n > s.input.size())
        return fail(Error(ErrorCode::kInternal, "gzip decoder: the source reported more bytes than it was given"));
      if (*n == 0) {
        s.source_ended = true;
      } else {
        zs.next_in = s.input.data();
        zs.avail_in = uInt(*n);
        s.compressed += *n;
      }
    }
    if (zs.avail_in == 0 && s.source_ended) {
      if (s.member_ended) {
        s.finished = true;
        break;
      }
      return fail(damaged(s.compressed == 0 ? "the stream is empty"
                                            : "it ends early (truncated after " + std::to_string(s.compressed) +
                                                  " compressed bytes)"));
    }
    if (s.member_ended && (s.in_padding || zs.next_in[0] == 0)) {
      // Zero bytes after the last member: padding to a block size, as
      // libarchive's writers add by default. Anything else there is refused.
      s.in_padding = true;
      for (; zs.avail_in > 0; zs.next_in++, zs.avail_in--)
        if (zs.next_in[0] != 0)
          return fail(damaged("data after the end of the gzip stream, at about compressed byte " +
                              std::to_string(s.compressed - zs.avail_in)));
      continue;
    }
    if (s.member_ended) {
      // More input after a complete member: it must be another member.
      if (inflateReset(&zs) != Z_OK) return fail(Error(ErrorCode::kInternal, "gzip decoder: zlib reset failed"));
      s.member_ended = false;
    }
    size_t before = zs.avail_out;
    int rc = inflate(&zs, Z_NO_FLUSH);
    s.decompressed += before - zs.avail_out;
    if (rc == Z_STREAM_END) {
      s.member_ended = true;
      s.members++;
      continue;
    }
    if (rc == Z_OK) continue;
    if (rc == Z_BUF_ERROR) continue;  // no progress possible with this input: fetch more
    std::string why = zs.msg ? zs.msg : ("zlib error " + std::to_string(rc));
    if (why == "incorrect data check") why += " (CRC-32 mismatch)";
    if (why == "incorrect header check" && s.members > 0) why = "data after the end of the gzip stream";
    return fail(damaged(why + " at about compressed byte " + std::to_string(s.compressed - zs.avail_in)));
  }
  return size_t(wanted - zs.avail_out);
}

}  // namespace stowage::archive
