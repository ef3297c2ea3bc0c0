#include "repo/pack.h"

#include <cstring>

namespace stowage {

static constexpr char kPackMagic[8] = {'S', 'T', 'W', 'P', 'A', 'C', 'K', '1'};
static constexpr const char* kTrailerAad = "stowage pack trailer v1";

static constexpr const char* kGroupAad = "stowage blob group v1";
static constexpr uint8_t kGroupedFlag = 0x80;  // in the compression byte

void encode_entry(const PackEntry& e, Bytes& out) {
  out.push_back(uint8_t(e.type));
  out.insert(out.end(), e.id.bytes.begin(), e.id.bytes.end());
  put_u32(out, e.offset);
  put_u32(out, e.length);
  put_u32(out, e.raw_length);
  out.push_back(uint8_t(uint8_t(e.compression) | (e.grouped() ? kGroupedFlag : 0)));
  if (e.grouped()) {
    put_u32(out, e.group_offset);
    put_u32(out, e.group_length);
  }
}

Result<PackEntry> decode_entry(const uint8_t* p, size_t avail, size_t& used) {
  if (avail < kPackEntrySize) return Error(ErrorCode::kCorrupt, "blob entry is truncated");
  PackEntry e;
  if (p[0] > 1) return Error(ErrorCode::kCorrupt, "unknown blob type " + std::to_string(p[0]));
  e.type = BlobType(p[0]);
  std::memcpy(e.id.bytes.data(), p + 1, 32);
  e.offset = get_u32(p + 33);
  e.length = get_u32(p + 37);
  e.raw_length = get_u32(p + 41);
  const uint8_t method = p[45] & uint8_t(~kGroupedFlag);
  if (method > 1) return Error(ErrorCode::kCorrupt, "unknown compression " + std::to_string(method));
  e.compression = Compression(method);
  used = kPackEntrySize;
  if (p[45] & kGroupedFlag) {
    if (avail < kPackEntrySize + kGroupedEntryExtra)
      return Error(ErrorCode::kCorrupt, "entry of grouped blob " + e.id.short_hex() + " is truncated");
    e.group_offset = get_u32(p + kPackEntrySize);
    e.group_length = get_u32(p + kPackEntrySize + 4);
    used += kGroupedEntryExtra;
    if (e.group_length == 0 || e.group_length > kMaxBlobSize ||
        uint64_t(e.group_offset) + e.raw_length > e.group_length)
      return Error(ErrorCode::kCorrupt, "grouped blob " + e.id.short_hex() + " lies outside its group");
  }
  if (e.raw_length > kMaxBlobSize || e.length > kMaxBlobSize + crypto::kAeadOverhead + 1024)
    return Error(ErrorCode::kCorrupt, "blob " + e.id.short_hex() + " claims a size beyond the 64 MiB maximum");
  return e;
}

ByteView group_aad() { return as_bytes(kGroupAad); }

void PackBuilder::add(BlobType type, const BlobId& id, ByteView payload, uint32_t raw_length,
                      Compression compression) {
  PackEntry e{type, id, uint32_t(size()), 0, raw_length, compression};
  size_t before = data_.size();
  aead_.seal(payload, id.bytes, data_);
  e.length = uint32_t(data_.size() - before);
  entries_.push_back(e);
}

void PackBuilder::add_to_group(BlobType type, const BlobId& id, ByteView plaintext, int level) {
  PackEntry e{type, id, 0, 0, uint32_t(plaintext.size()), Compression::kNone};
  e.group_offset = uint32_t(group_.size());
  group_.insert(group_.end(), plaintext.begin(), plaintext.end());
  group_entries_.push_back(e);
  group_level_ = level;
  if (group_.size() >= kGroupTarget) seal_group();
}

void PackBuilder::seal_group() {
  if (group_entries_.empty()) return;
  thread_local Bytes compressed;  // kept between groups: fresh memory costs a page fault per 4 KiB
  Compression method = compress(group_, group_level_, compressed);
  const uint32_t offset = uint32_t(size());
  const size_t before = data_.size();
  aead_.seal(method == Compression::kNone ? ByteView(group_) : ByteView(compressed), group_aad(), data_);
  const uint32_t length = uint32_t(data_.size() - before);
  for (PackEntry& e : group_entries_) {
    e.offset = offset;
    e.length = length;
    e.compression = method;
    e.group_length = uint32_t(group_.size());
    entries_.push_back(e);
  }
  group_.clear();
  group_entries_.clear();
}

Bytes PackBuilder::finish(std::vector<PackEntry>& entries) {
  seal_group();
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
  if (uint64_t(count) * kPackEntrySize + 4 > plain.size())
    return Error(ErrorCode::kCorrupt, "pack trailer entry count does not match its length");
  std::vector<PackEntry> entries;
  entries.reserve(count);
  uint64_t data_end = pack_size - span;
  size_t pos = 4;
  for (uint32_t i = 0; i < count; i++) {
    size_t used = 0;
    PackEntry e = TRY(decode_entry(plain.data() + pos, plain.size() - pos, used));
    pos += used;
    if (uint64_t(e.offset) + e.length > data_end)
      return Error(ErrorCode::kCorrupt, "pack trailer entry for blob " + e.id.short_hex() + " points past the data");
    entries.push_back(e);
  }
  if (pos != plain.size()) return Error(ErrorCode::kCorrupt, "pack trailer entry count does not match its length");
  return entries;
}

}  // namespace stowage
