#include "repo/index.h"

#include <cstring>

namespace stowage {

static constexpr char kIndexMagic[8] = {'S', 'T', 'W', 'I', 'D', 'X', '0', '1'};

Bytes encode_index(const std::vector<PackRecord>& packs) {
  Bytes out(kIndexMagic, kIndexMagic + 8);
  put_u32(out, uint32_t(packs.size()));
  for (const auto& p : packs) {
    out.insert(out.end(), p.id.bytes.begin(), p.id.bytes.end());
    put_u32(out, uint32_t(p.entries.size()));
    for (const auto& e : p.entries) encode_entry(e, out);
  }
  return out;
}

Result<std::vector<PackRecord>> decode_index(ByteView data) {
  if (data.size() < 12 || std::memcmp(data.data(), kIndexMagic, 8) != 0)
    return Error(ErrorCode::kCorrupt, "index object does not start with the index magic");
  size_t pos = 8;
  uint32_t npacks = get_u32(data.data() + pos);
  pos += 4;
  std::vector<PackRecord> packs;
  for (uint32_t i = 0; i < npacks; i++) {
    if (data.size() - pos < 36) return Error(ErrorCode::kCorrupt, "index object is truncated in a pack header");
    PackRecord rec;
    std::memcpy(rec.id.bytes.data(), data.data() + pos, 32);
    uint32_t count = get_u32(data.data() + pos + 32);
    pos += 36;
    if ((data.size() - pos) / kPackEntrySize < count)
      return Error(ErrorCode::kCorrupt, "index object is truncated in the entries of pack " + rec.id.short_hex());
    rec.entries.reserve(count);
    for (uint32_t k = 0; k < count; k++) {
      size_t used = 0;
      auto entry = decode_entry(data.data() + pos, data.size() - pos, used);
      if (!entry.ok()) return std::move(entry).error().with_context("index entry of pack " + rec.id.short_hex());
      rec.entries.push_back(*entry);
      pos += used;
    }
    packs.push_back(std::move(rec));
  }
  if (pos != data.size()) return Error(ErrorCode::kCorrupt, "index object has trailing bytes");
  return packs;
}

void Index::add_pack(const ObjectId& pack, const std::vector<PackEntry>& entries) {
  std::unique_lock lock(mu_);
  auto [it, inserted] = pack_numbers_.try_emplace(pack, uint32_t(pack_ids_.size()));
  if (inserted) pack_ids_.push_back(pack);
  uint32_t n = it->second;
  for (const auto& e : entries)
    blobs_.try_emplace(e.id, Slot{n, e.offset, e.length, e.raw_length, e.group_offset, e.group_length, e.type,
                                  e.compression});
}

bool Index::contains(const BlobId& id) const {
  std::shared_lock lock(mu_);
  return blobs_.count(id) > 0;
}

Result<BlobLocation> Index::find(const BlobId& id) const {
  std::shared_lock lock(mu_);
  auto it = blobs_.find(id);
  if (it == blobs_.end())
    return Error(ErrorCode::kNotFound, "blob " + id.hex() + " is in no index", "blob " + id.hex(),
                 "run 'stowage repo check' to find which snapshots are affected");
  const Slot& s = it->second;
  return BlobLocation{pack_ids_[s.pack], s.entry(id)};
}

size_t Index::blob_count() const {
  std::shared_lock lock(mu_);
  return blobs_.size();
}
size_t Index::pack_count() const {
  std::shared_lock lock(mu_);
  return pack_ids_.size();
}
bool Index::has_pack(const ObjectId& pack) const {
  std::shared_lock lock(mu_);
  return pack_numbers_.count(pack) > 0;
}

std::vector<PackRecord> Index::packs() const {
  std::shared_lock lock(mu_);
  std::vector<PackRecord> out(pack_ids_.size());
  for (size_t i = 0; i < pack_ids_.size(); i++) out[i].id = pack_ids_[i];
  for (const auto& [id, s] : blobs_)
    out[s.pack].entries.push_back(s.entry(id));
  return out;
}

}  // namespace stowage
