// Sealed objects: how a backup location stores content that quotes the
// cluster (archives, item lists, logs, results, metadata) so that nobody who
// can only write to the bucket can read it or change it unnoticed.
//
// Layout (docs/repository-format.md, "Sealed objects"):
//   "STWSEAL1" | u32 big-endian plaintext segment size | segment...
// each segment is AES-256-GCM (nonce | ciphertext | tag) of up to segment-size
// plaintext bytes, with associated data binding it to the object's key, its
// index and whether it is the last one: segments cannot be moved to another
// object, reordered, dropped or the object cut short without detection.
//
// ObjectReader streams an object (sealed or plain) with bounded memory by
// ranged reads, checks each segment as it arrives and the whole object's
// SHA-256 against the expected digest when it reaches the end.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "crypto/aead.h"
#include "crypto/hash.h"
#include "store/object_store.h"
#include "util/bytes.h"
#include "util/result.h"

namespace stowage::backupstore {

inline constexpr std::string_view kSealedMagic = "STWSEAL1";
inline constexpr size_t kSealedHeaderSize = 12;
inline constexpr size_t kDefaultSegmentSize = 1 << 20;

// Size and SHA-256 (hex) of an object's stored bytes, as a manifest records them.
struct ObjectDigest {
  uint64_t size = 0;
  std::string sha256;
  bool operator==(const ObjectDigest&) const = default;
};

ObjectDigest digest_of(ByteView stored);

// The sealed form of plaintext for the object at `key`.
Bytes seal_object(const crypto::Aead& aead, std::string_view key, ByteView plaintext,
                  size_t segment_size = kDefaultSegmentSize);
bool is_sealed(ByteView stored_prefix);

struct ReadPolicy {
  const crypto::Aead* aead = nullptr;  // opens sealed objects; without it they are refused
  bool require_sealed = false;         // refuse plain objects (an encrypted location)
  std::optional<ObjectDigest> expected;  // checked at the end of the object
  uint64_t max_size = UINT64_MAX;       // refuse larger stored objects up front
};

class ObjectReader {
 public:
  static Result<std::unique_ptr<ObjectReader>> open(ObjectStore& store, std::string key, const ReadPolicy& policy);

  // Up to out.size() plaintext bytes; 0 at the end, which is reached only
  // after the digest (if expected) matched.
  Result<size_t> read(std::span<uint8_t> out);
  bool sealed() const { return sealed_; }
  const std::string& key() const { return key_; }

 private:
  ObjectReader(ObjectStore& store, std::string key, ReadPolicy policy, uint64_t size);
  Status load_next();

  ObjectStore& store_;
  std::string key_;
  ReadPolicy policy_;
  uint64_t size_;
  bool sealed_ = false;
  size_t segment_size_ = kDefaultSegmentSize;
  uint64_t segment_count_ = 0;
  uint64_t next_segment_ = 0;   // sealed: index of the next segment to load
  uint64_t next_offset_ = 0;    // stored bytes consumed so far
  Bytes buffer_;                // plaintext not yet handed out
  size_t buffer_pos_ = 0;
  crypto::DigestStream digest_{crypto::HashAlgorithm::kSha256};
  bool finished_ = false;
};

// Everything a reader has left, up to its end (and digest check).
Result<Bytes> read_remaining(ObjectReader& reader);
// Reads a whole object (at most policy.max_size stored bytes) through ObjectReader.
Result<Bytes> read_object(ObjectStore& store, const std::string& key, const ReadPolicy& policy);

}  // namespace stowage::backupstore
