#include "repo/pack.h"

#include <cstring>

namespace stowage {

static constexpr char kPackMagic[8] = {'S', 'T', 'W', 'P', 'A', 'C', 'K', '1'};
static constexpr const char* kTrailerAad = "stowage pack trailer v1";

void encode_entry(const PackEntry& e, Bytes& out) {
  out.push_back(uint8_t(e.type));
  out.insert(out.end(), e.id.bytes.begin(), e.id.bytes.end());
  put_u32(out, e.offset);
  put_u32(out, e.length);
  put_u32(out, e.raw_length);
  out.push_back(uint8_t(e.compression));
}

Result<PackEntry> decode_entry(const uint8_t* p) {
  PackEntry e;
  if (p[0] > 1) return Error(ErrorCode::kCorrupt, "unknown blob type " + std::to_string(p[0]));
  e.type = BlobType(p[0]);
  std::memcpy(e.id.bytes.data(), p + 1, 32);
  e.offset = get_u32(p + 33);
  e.length = get_u32(p + 37);
  e.raw_length = get_u32(p + 41);
  if (p[45] > 1) return Error(ErrorCode::kCorrupt, "unknown compression " + std::to_string(p[45]));
  e.compression = Compression(p[45]);
  if (e.raw_length > kMaxBlobSize || e.length > kMaxBlobSize + crypto::kAeadOverhead + 1024)
    return Error(ErrorCode::kCorrupt, "blob " + e.id.short_hex() + " claims a size beyond the 64 MiB maximum");
  return e;
}

void PackBuilder::add(BlobType type, const BlobId& id, ByteView payload, uint32_t raw_length,
                      Compression compression) {
  PackEntry e{type, id, uint32_t(size()), 0, raw_length, compression};
  size_t before = data_.size();
  aead_.seal(payload, id.bytes, data_);
  e.length = uint32_t(data_.size() - before);
  entries_.push_back(e);
}

Bytes PackBuilder::finish(std::vector<PackEntry>& entries) {
  Bytes trailer;
  put_u32(trailer, uint32_t(entries_.size()));
  for (const auto& e : entries_) encode_entry(e, trailer);
  size_t before = data_.size();
  aead_.seal(trailer, as_bytes(kTrailerAad), data_);
  put_u32(data_, uint32_t(data_.size() - before));
  data_.insert(data_.end(), kPackMagic, kPackMagic + 8);
  entries = std::move(entries_);
  entries_.clear();
  taken_ = 0;
  Bytes out = std::move(data_);
  data_.clear();
  return out;
}

Result<uint64_t> pack_trailer_span(ByteView footer, uint64_t pack_size) {
  if (footer.size() < kPackFooterSize || pack_size < kPackFooterSize)
    return Error(ErrorCode::kCorrupt, "pack is shorter than its footer (truncated)");
  const uint8_t* f = footer.data() + footer.size() - kPackFooterSize;
  if (std::memcmp(f + 4, kPackMagic, 8) != 0)
    return Error(ErrorCode::kCorrupt, "pack does not end with the pack magic (truncated or not a pack)");
  uint64_t trailer_len = get_u32(f);
  if (trailer_len + kPackFooterSize > pack_size || trailer_len < crypto::kAeadOverhead + 4)
    return Error(ErrorCode::kCorrupt, "pack trailer length is out of range");
  return trailer_len + kPackFooterSize;
}

Result<std::vector<PackEntry>> parse_pack_trailer(ByteView tail, uint64_t pack_size, const crypto::Aead& aead) {
  uint64_t span = TRY(pack_trailer_span(tail, pack_size));
  if (tail.size() < span) return Error(ErrorCode::kCorrupt, "pack tail is shorter than its trailer");
  ByteView sealed = tail.subspan(tail.size() - span, span - kPackFooterSize);
  Bytes plain = TRY(aead.open(sealed, as_bytes(kTrailerAad)));
  if (plain.size() < 4) return Error(ErrorCode::kCorrupt, "pack trailer is empty");
  uint32_t count = get_u32(plain.data());
  if (uint64_t(count) * kPackEntrySize + 4 != plain.size())
    return Error(ErrorCode::kCorrupt, "pack trailer entry count does not match its length");
  std::vector<PackEntry> entries;
  entries.reserve(count);
  uint64_t data_end = pack_size - span;
  for (uint32_t i = 0; i < count; i++) {
    PackEntry e = TRY(decode_entry(plain.data() + 4 + size_t(i) * kPackEntrySize));
    if (uint64_t(e.offset) + e.length > data_end)
      return Error(ErrorCode::kCorrupt, "pack trailer entry for blob " + e.id.short_hex() + " points past the data");
    entries.push_back(e);
  }
  return entries;
}

}  // namespace stowage
