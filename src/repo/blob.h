// Blob ids and types: a blob is one stored chunk of data or metadata, named by
// the keyed hash of its plaintext (HMAC-SHA-256 under the repository's id key).
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>

#include "util/bytes.h"
#include "util/result.h"

namespace stowage {

struct BlobId {
  std::array<uint8_t, 32> bytes{};

  std::string hex() const { return hex_encode(bytes); }
  std::string short_hex() const { return hex().substr(0, 12); }
  bool is_zero() const {
    for (auto b : bytes)
      if (b) return false;
    return true;
  }
  static Result<BlobId> parse(std::string_view hex);
  friend bool operator==(const BlobId&, const BlobId&) = default;
  friend auto operator<=>(const BlobId&, const BlobId&) = default;
};

struct BlobIdHash {
  size_t operator()(const BlobId& id) const noexcept {
    size_t h;
    std::memcpy(&h, id.bytes.data(), sizeof h);  // ids are uniformly random
    return h;
  }
};

// Data blobs hold file/volume content; tree blobs hold metadata (directory
// trees, block maps, stream maps). They go to separate packs so metadata can be
// read without touching data packs.
enum class BlobType : uint8_t { kData = 0, kTree = 1 };

inline const char* blob_type_name(BlobType t) { return t == BlobType::kData ? "data" : "tree"; }

// Id of a stored object (pack, index, snapshot): SHA-256 of its stored bytes,
// so every object name is also its checksum.
using ObjectId = BlobId;

}  // namespace stowage
