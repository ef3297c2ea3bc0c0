// Pack objects: many encrypted blobs in one stored object (tens of MiB), with
// an encrypted trailer that lists them, so the index can be rebuilt from the
// packs alone.
//
//   blob_0 … blob_n-1   each AES-256-GCM sealed, AAD = the blob's id
//   trailer             sealed list of entries (type, id, offset, length,
//                       raw length, compression), AAD = "stowage pack trailer v1"
//   u32 trailer length  little-endian, of the sealed trailer
//   "STWPACK1"          8-byte magic
#pragma once

#include <vector>

#include "crypto/aead.h"
#include "repo/blob.h"
#include "repo/compress.h"

namespace stowage {

struct PackEntry {
  BlobType type = BlobType::kData;
  BlobId id;
  uint32_t offset = 0;      // of the sealed blob within the pack
  uint32_t length = 0;      // sealed length
  uint32_t raw_length = 0;  // plaintext length after decompression
  Compression compression = Compression::kNone;
};

inline constexpr size_t kPackEntrySize = 1 + 32 + 4 + 4 + 4 + 1;
inline constexpr size_t kPackFooterSize = 4 + 8;
inline constexpr uint32_t kMaxBlobSize = 64u << 20;

void encode_entry(const PackEntry& e, Bytes& out);
Result<PackEntry> decode_entry(const uint8_t* p);

// Builds one pack in memory. Not thread-safe; the repository guards it.
class PackBuilder {
 public:
  explicit PackBuilder(const crypto::Aead& aead) : aead_(aead) {}
  // Reserves room for a pack of this size, so that growing never copies and
  // never holds twice the pack in memory (untouched pages cost nothing).
  void reserve(size_t bytes) { data_.reserve(bytes); }
  // payload is the (possibly compressed) plaintext of the blob.
  void add(BlobType type, const BlobId& id, ByteView payload, uint32_t raw_length, Compression compression);
  // Bytes of the pack so far, taken or not.
  size_t size() const { return taken_ + data_.size(); }
  // The bytes added since the last drop_buffered(), for a caller that
  // writes the pack out as it grows.
  ByteView buffered() const { return data_; }
  // Forgets the buffered bytes (written out by the caller) but keeps the
  // buffer for the next ones: memory the process touches for the first time
  // costs a page fault per 4 KiB. Offsets keep counting from the pack's
  // start, and finish() then returns only the rest.
  void drop_buffered() {
    taken_ += data_.size();
    data_.clear();
  }
  size_t count() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  // Appends the trailer and returns the pack bytes (those not taken); the
  // builder is then empty.
  Bytes finish(std::vector<PackEntry>& entries);

 private:
  const crypto::Aead& aead_;
  Bytes data_;
  size_t taken_ = 0;
  std::vector<PackEntry> entries_;
};

// Reads and decrypts a pack's trailer from the whole pack or its tail.
// pack_size is the full object size; tail holds its last tail.size() bytes.
Result<std::vector<PackEntry>> parse_pack_trailer(ByteView tail, uint64_t pack_size, const crypto::Aead& aead);
// How many tail bytes parse_pack_trailer needs, from the footer (last 12 bytes).
Result<uint64_t> pack_trailer_span(ByteView footer, uint64_t pack_size);

}  // namespace stowage
