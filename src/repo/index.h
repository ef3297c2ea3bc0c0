// The index: which blob lives in which pack, at which offset. Index objects
// (index/<id>) are immutable lists of packs and their entries; a process adds
// new ones and never rewrites another's, so many writers can share a
// repository. In memory, an entry costs about 110 bytes (see
// docs/repository-format.md).
#pragma once

#include <mutex>
#include <shared_mutex>
#include <unordered_map>
#include <vector>

#include "crypto/aead.h"
#include "repo/pack.h"

namespace stowage {

struct BlobLocation {
  ObjectId pack;
  PackEntry entry;
};

struct PackRecord {
  ObjectId id;
  std::vector<PackEntry> entries;
};

// Serialized form of one index object (before encryption).
Bytes encode_index(const std::vector<PackRecord>& packs);
Result<std::vector<PackRecord>> decode_index(ByteView data);

class Index {
 public:
  void add_pack(const ObjectId& pack, const std::vector<PackEntry>& entries);
  bool contains(const BlobId& id) const;
  Result<BlobLocation> find(const BlobId& id) const;
  size_t blob_count() const;
  size_t pack_count() const;
  // Every pack and its entries (a copy; for check and prune).
  std::vector<PackRecord> packs() const;
  bool has_pack(const ObjectId& pack) const;

 private:
  struct Slot {
    uint32_t pack;
    uint32_t offset;
    uint32_t length;
    uint32_t raw_length;
    uint32_t group_offset;
    uint32_t group_length;
    BlobType type;
    Compression compression;

    PackEntry entry(const BlobId& id) const {
      return PackEntry{type, id, offset, length, raw_length, compression, group_offset, group_length};
    }
  };
  mutable std::shared_mutex mu_;
  std::vector<ObjectId> pack_ids_;
  std::unordered_map<ObjectId, uint32_t, BlobIdHash> pack_numbers_;
  std::unordered_map<BlobId, Slot, BlobIdHash> blobs_;
};

}  // namespace stowage
