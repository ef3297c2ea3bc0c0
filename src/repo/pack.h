// Pack objects: many encrypted blobs in one stored object (tens of MiB), with
// an encrypted trailer that lists them, so the index can be rebuilt from the
// packs alone.
//
//   piece_0 … piece_n-1 each AES-256-GCM sealed: one blob (AAD = its id), or
//                       a group of small blobs compressed together (AAD =
//                       "stowage blob group v1"; repository format 4)
//   trailer             sealed list of entries, one per blob (type, id,
//                       offset, length, raw length, compression, and for a
//                       grouped blob where it lies in its group),
//                       AAD = "stowage pack trailer v1"
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
  uint32_t offset = 0;      // of the sealed piece (the blob, or its group) within the pack
  uint32_t length = 0;      // sealed length of that piece
  uint32_t raw_length = 0;  // the blob's plaintext length
  Compression compression = Compression::kNone;  // of the piece
  // A grouped blob is the plaintext bytes [group_offset, group_offset +
  // raw_length) of its group, whose whole plaintext is group_length bytes.
  // group_length 0: the blob is a piece of its own.
  uint32_t group_offset = 0;
  uint32_t group_length = 0;

  bool grouped() const { return group_length != 0; }
};

// An entry takes 46 bytes, and 8 more for a grouped blob (flagged in the
// compression byte, so a reader of format 3 refuses it by name).
inline constexpr size_t kPackEntrySize = 1 + 32 + 4 + 4 + 4 + 1;
inline constexpr size_t kGroupedEntryExtra = 4 + 4;
inline constexpr size_t kPackFooterSize = 4 + 8;
inline constexpr uint32_t kMaxBlobSize = 64u << 20;
// Data blobs smaller than this are compressed and sealed in groups of about
// kGroupTarget bytes (repository format 4): zstd's fixed cost per call and
// the tables it builds are paid once per group, and small files compress
// better together.
inline constexpr uint32_t kGroupBlobMax = 64u << 10;
inline constexpr uint32_t kGroupTarget = 1u << 20;

void encode_entry(const PackEntry& e, Bytes& out);
// Decodes the entry at p, of at most avail bytes; used receives its size.
Result<PackEntry> decode_entry(const uint8_t* p, size_t avail, size_t& used);
// The associated data a group of blobs is sealed with.
ByteView group_aad();

// Builds one pack in memory. Not thread-safe; the repository guards it.
class PackBuilder {
 public:
  explicit PackBuilder(const crypto::Aead& aead) : aead_(aead) {}
  // Reserves room for a pack of this size, so that growing never copies and
  // never holds twice the pack in memory (untouched pages cost nothing).
  void reserve(size_t bytes) { data_.reserve(bytes); }
  // payload is the (possibly compressed) plaintext of the blob.
  void add(BlobType type, const BlobId& id, ByteView payload, uint32_t raw_length, Compression compression);
  // Adds a small blob's plaintext to the open group, which is compressed at
  // level and sealed once it holds kGroupTarget bytes (or at seal_group()).
  void add_to_group(BlobType type, const BlobId& id, ByteView plaintext, int level);
  // Compresses and seals the open group, if any, as one piece.
  void seal_group();
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
  bool empty() const { return entries_.empty() && group_entries_.empty(); }
  // Seals the open group, appends the trailer and returns the pack bytes
  // (those not taken); the builder is then empty.
  Bytes finish(std::vector<PackEntry>& entries);

 private:
  const crypto::Aead& aead_;
  Bytes data_;
  size_t taken_ = 0;
  std::vector<PackEntry> entries_;
  Bytes group_;  // plaintext of the open group
  std::vector<PackEntry> group_entries_;
  int group_level_ = 1;
};

// The plaintext of the last group a reader opened, so that the blobs of one
// group, read one after another, decrypt and decompress it once.
struct BlobGroupCache {
  std::string pack_key;
  uint32_t offset = 0;
  Bytes plaintext;
};

// Reads and decrypts a pack's trailer from the whole pack or its tail.
// pack_size is the full object size; tail holds its last tail.size() bytes.
Result<std::vector<PackEntry>> parse_pack_trailer(ByteView tail, uint64_t pack_size, const crypto::Aead& aead);
// How many tail bytes parse_pack_trailer needs, from the footer (last 12 bytes).
Result<uint64_t> pack_trailer_span(ByteView footer, uint64_t pack_size);

}  // namespace stowage
