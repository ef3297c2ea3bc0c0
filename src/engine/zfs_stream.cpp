#include "engine/zfs_stream.h"

#include <algorithm>

namespace stowage::engine {

namespace {

// Offsets in the 312-byte header: drr_type (u32) at 0, drr_payloadlen (u32)
// at 4, the per-type union from 8.
constexpr size_t kPayloadLen = 4;
constexpr size_t kU = 8;
constexpr size_t kBeginMagic = kU + 0;
constexpr size_t kObjectBonusLen = kU + 20;     // u32
constexpr size_t kObjectRawBonusLen = kU + 28;  // u32, raw streams only (pad before)
constexpr size_t kWriteLogicalSize = kU + 24;   // u64 (drr_length in old streams)
constexpr size_t kWriteCompression = kU + 42;   // u8 (pad before)
constexpr size_t kWriteCompressedSize = kU + 88;  // u64, after the 40-byte ddt key
constexpr size_t kSpillLength = kU + 8;           // u64
constexpr size_t kSpillCompressedSize = kU + 32;  // u64 (pad before)
constexpr size_t kEmbeddedPsize = kU + 44;        // u32

uint64_t round8(uint64_t n) { return (n + 7) & ~uint64_t(7); }

}  // namespace

uint32_t ZfsStreamParser::u32(size_t o) const {
  uint32_t v = 0;
  for (size_t k = 0; k < 4; k++)
    v |= uint32_t(header_[o + (stats_.big_endian ? 3 - k : k)]) << (8 * k);
  return v;
}

uint64_t ZfsStreamParser::u64(size_t o) const {
  uint64_t v = 0;
  for (size_t k = 0; k < 8; k++)
    v |= uint64_t(header_[o + (stats_.big_endian ? 7 - k : k)]) << (8 * k);
  return v;
}

void ZfsStreamParser::go_opaque(std::string reason) {
  state_ = State::kOpaque;
  if (stats_.opaque_reason.empty()) stats_.opaque_reason = std::move(reason);
}

void ZfsStreamParser::header_complete(std::vector<ZfsPiece>& out) {
  header_fill_ = 0;
  if (!begun_) {
    stats_.big_endian = false;
    if (u32(0) != kDrrBegin || u64(kBeginMagic) != kZfsBackupMagic) {
      stats_.big_endian = true;
      if (u32(0) != kDrrBegin || u64(kBeginMagic) != kZfsBackupMagic) {
        stats_.big_endian = false;
        return go_opaque("the stream does not start with a DRR_BEGIN record");
      }
    }
    begun_ = true;
  }
  uint32_t type = u32(0);
  if (type > kDrrRedact) return go_opaque("unknown record type " + std::to_string(type));
  stats_.records++;
  last_type_ = type;
  uint64_t payload = 0;
  bool data = false;
  switch (type) {
    case kDrrBegin:
      payload = u32(kPayloadLen);
      break;
    case kDrrObject: {
      uint32_t raw = u32(kObjectRawBonusLen);
      payload = raw != 0 ? raw : round8(u32(kObjectBonusLen));
      break;
    }
    case kDrrWrite:
      payload = u8(kWriteCompression) != 0 ? u64(kWriteCompressedSize) : u64(kWriteLogicalSize);
      data = true;
      break;
    case kDrrSpill: {
      uint64_t compressed = u64(kSpillCompressedSize);
      payload = compressed != 0 ? compressed : u64(kSpillLength);
      break;
    }
    case kDrrWriteEmbedded:
      payload = round8(u32(kEmbeddedPsize));
      break;
    default:
      break;
  }
  if (payload > kZfsMaxPayload)
    return go_opaque("record type " + std::to_string(type) + " with a payload of " + std::to_string(payload) +
                     " bytes");
  payload_left_ = payload;
  payload_is_data_ = data && payload > 0;
  if (payload_is_data_) {
    stats_.write_records++;
    out.back().cut_after = true;  // the header run ends before the block
  }
  state_ = payload > 0 ? State::kPayload : State::kHeader;
}

void ZfsStreamParser::feed(ByteView data, std::vector<ZfsPiece>& out) {
  const size_t first = out.size();
  auto push = [&](size_t n, ZfsPieceKind kind) {
    if (out.size() > first && out.back().kind == kind && !out.back().cut_after)
      out.back().length += n;
    else
      out.push_back(ZfsPiece{n, kind, false});
  };
  stats_.bytes += data.size();
  size_t pos = 0;
  while (pos < data.size()) {
    size_t left = data.size() - pos;
    switch (state_) {
      case State::kHeader: {
        size_t n = std::min(left, kZfsRecordHeaderSize - header_fill_);
        std::copy_n(data.data() + pos, n, header_.data() + header_fill_);
        header_fill_ += n;
        pos += n;
        push(n, ZfsPieceKind::kRecord);
        if (header_fill_ == kZfsRecordHeaderSize) header_complete(out);
        break;
      }
      case State::kPayload: {
        size_t n = size_t(std::min<uint64_t>(left, payload_left_));
        payload_left_ -= n;
        pos += n;
        if (payload_is_data_) {
          stats_.data_bytes += n;
          push(n, ZfsPieceKind::kData);
          if (payload_left_ == 0) out.back().cut_after = true;
        } else {
          push(n, ZfsPieceKind::kRecord);
        }
        if (payload_left_ == 0) state_ = State::kHeader;
        break;
      }
      case State::kOpaque:
        stats_.opaque_bytes += left;
        push(left, ZfsPieceKind::kOpaque);
        pos = data.size();
        break;
    }
  }
}

bool ZfsStreamParser::finish() {
  if (state_ == State::kOpaque) return false;
  if (state_ == State::kPayload || header_fill_ != 0) {
    if (stats_.opaque_reason.empty())
      stats_.opaque_reason = state_ == State::kPayload ? "the stream ends inside a record's payload"
                                                       : "the stream ends inside a record header";
    return false;
  }
  if (!begun_ || last_type_ != kDrrEnd) {
    if (stats_.opaque_reason.empty()) stats_.opaque_reason = "the stream does not end with a DRR_END record";
    return false;
  }
  return true;
}

std::vector<ZfsPiece> zfs_stream_pieces(ByteView stream, ZfsStreamStats* stats) {
  ZfsStreamParser parser;
  std::vector<ZfsPiece> out;
  parser.feed(stream, out);
  parser.finish();
  if (stats) *stats = parser.stats();
  return out;
}

}  // namespace stowage::engine
