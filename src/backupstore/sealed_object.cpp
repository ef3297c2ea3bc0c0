#include "backupstore/sealed_object.h"

#include <algorithm>
#include <cstring>

namespace stowage::backupstore {
namespace {

constexpr size_t kSealedSegmentOverhead = crypto::kAeadOverhead;
constexpr size_t kPlainReadSize = 1 << 20;

Bytes segment_associated_data(std::string_view key, uint64_t index, bool last) {
  std::string ad("stowage sealed object segment v1");
  ad.push_back('\0');
  ad.append(key);
  ad.push_back('\0');
  for (int shift = 56; shift >= 0; shift -= 8) ad.push_back(static_cast<char>(index >> shift));
  ad.push_back(last ? 1 : 0);
  return Bytes(ad.begin(), ad.end());
}

Error corrupt(const std::string& key, const std::string& what) {
  return Error(ErrorCode::kCorrupt, "backup location object " + key + " " + what, key,
               "the object was changed or damaged after it was written; restore from another backup or a copy "
               "of this location");
}

}  // namespace

ObjectDigest digest_of(ByteView stored) { return {stored.size(), hex_encode(crypto::sha256(stored))}; }

bool is_sealed(ByteView stored_prefix) {
  return stored_prefix.size() >= kSealedMagic.size() &&
         std::memcmp(stored_prefix.data(), kSealedMagic.data(), kSealedMagic.size()) == 0;
}

Bytes seal_object(const crypto::Aead& aead, std::string_view key, ByteView plaintext, size_t segment_size) {
  Bytes out(kSealedMagic.begin(), kSealedMagic.end());
  put_u32(out, static_cast<uint32_t>(segment_size));
  size_t offset = 0;
  uint64_t index = 0;
  do {
    size_t n = std::min(segment_size, plaintext.size() - offset);
    bool last = offset + n == plaintext.size();
    aead.seal(plaintext.subspan(offset, n), segment_associated_data(key, index, last), out);
    offset += n;
    ++index;
  } while (offset < plaintext.size());
  return out;
}

ObjectReader::ObjectReader(ObjectStore& store, std::string key, ReadPolicy policy, uint64_t size)
    : store_(store), key_(std::move(key)), policy_(std::move(policy)), size_(size) {}

Result<std::unique_ptr<ObjectReader>> ObjectReader::open(ObjectStore& store, std::string key,
                                                         const ReadPolicy& policy) {
  ObjectInfo info = TRY(store.stat(key));
  if (info.size > policy.max_size)
    return Error(ErrorCode::kCorrupt,
                 "backup location object " + key + " is " + std::to_string(info.size) +
                     " bytes, more than the limit of " + std::to_string(policy.max_size),
                 key, "the object is not one stowage wrote; check who can write to the bucket");
  if (policy.expected && policy.expected->size != info.size)
    return corrupt(key, "is " + std::to_string(info.size) + " bytes, but the backup's manifest says " +
                            std::to_string(policy.expected->size));
  std::unique_ptr<ObjectReader> reader(new ObjectReader(store, key, policy, info.size));
  if (info.size >= kSealedHeaderSize) {
    Bytes head = TRY(store.get_range(key, 0, kSealedHeaderSize));
    reader->sealed_ = is_sealed(head);
    if (reader->sealed_) {
      reader->segment_size_ = get_u32(head.data() + kSealedMagic.size());
      if (reader->segment_size_ < 4096 || reader->segment_size_ > (16u << 20))
        return corrupt(key, "has an invalid segment size " + std::to_string(reader->segment_size_));
      reader->digest_.update(head);
      reader->next_offset_ = kSealedHeaderSize;
      uint64_t body = info.size - kSealedHeaderSize;
      uint64_t sealed_segment = reader->segment_size_ + kSealedSegmentOverhead;
      reader->segment_count_ = (body + sealed_segment - 1) / sealed_segment;
      if (reader->segment_count_ == 0 || body - (reader->segment_count_ - 1) * sealed_segment < kSealedSegmentOverhead)
        return corrupt(key, "is cut short (its last segment is incomplete)");
    }
  }
  if (!reader->sealed_ && policy.require_sealed)
    return Error(ErrorCode::kCorrupt, "backup location object " + key + " is not sealed (encrypted), but this "
                 "location writes only sealed objects", key,
                 "someone replaced it with a plain object: do not trust this backup; if the location really holds "
                 "plain Velero archives, set its archiveFormat to Plain");
  if (reader->sealed_ && !policy.aead)
    return Error(ErrorCode::kWrongKey, "backup location object " + key + " is encrypted and no key was given", key,
                 "configure the location's repository password");
  return reader;
}

Status ObjectReader::load_next() {
  buffer_.clear();
  buffer_pos_ = 0;
  if (sealed_) {
    uint64_t sealed_segment = segment_size_ + kSealedSegmentOverhead;
    uint64_t length = std::min<uint64_t>(sealed_segment, size_ - next_offset_);
    Bytes stored = TRY(store_.get_range(key_, next_offset_, length));
    digest_.update(stored);
    bool last = next_segment_ + 1 == segment_count_;
    auto plain = policy_.aead->open(stored, segment_associated_data(key_, next_segment_, last));
    if (!plain.ok())
      return corrupt(key_, "failed authentication in segment " + std::to_string(next_segment_) +
                               " (changed, reordered, cut short, or sealed with another key)");
    buffer_ = std::move(plain).value();
    next_offset_ += length;
    ++next_segment_;
  } else {
    uint64_t length = std::min<uint64_t>(kPlainReadSize, size_ - next_offset_);
    buffer_ = TRY(store_.get_range(key_, next_offset_, length));
    digest_.update(buffer_);
    next_offset_ += length;
  }
  return ok_status();
}

Result<size_t> ObjectReader::read(std::span<uint8_t> out) {
  while (buffer_pos_ == buffer_.size()) {
    if (finished_) return size_t{0};
    bool at_end = sealed_ ? next_segment_ == segment_count_ : next_offset_ == size_;
    if (at_end) {
      finished_ = true;
      if (policy_.expected) {
        std::string actual = hex_encode(digest_.finish());
        if (actual != policy_.expected->sha256)
          return corrupt(key_, "has SHA-256 " + actual + ", but the backup's manifest says " +
                                   policy_.expected->sha256);
      }
      return size_t{0};
    }
    TRY_STATUS(load_next());
  }
  size_t n = std::min(out.size(), buffer_.size() - buffer_pos_);
  std::memcpy(out.data(), buffer_.data() + buffer_pos_, n);
  buffer_pos_ += n;
  return n;
}

Result<Bytes> read_remaining(ObjectReader& reader) {
  Bytes out;
  uint8_t chunk[64 * 1024];
  for (size_t n; (n = TRY(reader.read(chunk))) > 0;) out.insert(out.end(), chunk, chunk + n);
  return out;
}

Result<Bytes> read_object(ObjectStore& store, const std::string& key, const ReadPolicy& policy) {
  auto reader = TRY(ObjectReader::open(store, key, policy));
  return read_remaining(*reader);
}

}  // namespace stowage::backupstore
