// A parser of `zfs send` streams that finds where the records lie, so the
// stream can be cut into chunks along them (docs/engines.md, "Record-aligned
// chunks").
//
// A send stream is a sequence of records: a fixed 312-byte header
// (dmu_replay_record_t: drr_type, drr_payloadlen, a union of per-type
// fields, and in newer streams a checksum at its end), then for some types a
// payload whose length the header gives:
//
//   DRR_BEGIN           drr_payloadlen (a packed nvlist: send -R, resumable
//                       and newer streams; 0 in old ones)
//   DRR_OBJECT          the bonus buffer: drr_raw_bonuslen if set (raw
//                       streams), else drr_bonuslen rounded up to 8
//   DRR_WRITE           the block: drr_compressed_size if the record is
//                       compressed (drr_compressiontype != 0), else
//                       drr_logical_size (drr_length in old streams)
//   DRR_SPILL           drr_compressed_size if set, else drr_length
//   DRR_WRITE_EMBEDDED  drr_psize rounded up to 8
//   others              none (FREEOBJECTS, FREE, END, WRITE_BYREF,
//                       OBJECT_RANGE, REDACT)
//
// Every field is in the sender's byte order, which the first record's magic
// (DRR_BEGIN, drr_magic 0x2F5bacbac) tells; both orders are read. The parser
// never changes, drops or reorders a byte: it only labels the bytes it is fed
// and says where a chunk should end. Anything it does not recognise — no
// BEGIN magic at the start, an unknown record type, an implausible length —
// makes the rest of the stream opaque (one label, no more cuts); a truncated
// stream simply ends inside a record (finish() says so).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "util/bytes.h"

namespace stowage::engine {

inline constexpr size_t kZfsRecordHeaderSize = 312;
inline constexpr uint64_t kZfsBackupMagic = 0x2F5bacbacULL;
// The record types, as numbered in dmu_replay_record_t.
enum ZfsRecordType : uint32_t {
  kDrrBegin = 0,
  kDrrObject = 1,
  kDrrFreeObjects = 2,
  kDrrWrite = 3,
  kDrrFree = 4,
  kDrrEnd = 5,
  kDrrWriteByref = 6,
  kDrrSpill = 7,
  kDrrWriteEmbedded = 8,
  kDrrObjectRange = 9,
  kDrrRedact = 10,
};
// No payload of a valid stream comes near this (blocks are at most 16 MiB).
inline constexpr uint64_t kZfsMaxPayload = 64ull << 20;

enum class ZfsPieceKind {
  kRecord,  // record headers and metadata payloads (BEGIN nvlist, OBJECT bonus, SPILL, WRITE_EMBEDDED)
  kData,    // the payload of a DRR_WRITE record: one block of a file or volume
  kOpaque,  // after something unrecognised: the rest of the stream, as is
};

// A run of consecutive input bytes of one kind. cut_after: a chunk should end
// after it (the end of the header run before a DRR_WRITE payload, and the end
// of that payload).
struct ZfsPiece {
  size_t length = 0;
  ZfsPieceKind kind = ZfsPieceKind::kRecord;
  bool cut_after = false;
};

struct ZfsStreamStats {
  uint64_t bytes = 0;          // everything fed
  uint64_t records = 0;        // complete record headers
  uint64_t write_records = 0;  // DRR_WRITE records with a payload
  uint64_t data_bytes = 0;     // DRR_WRITE payload bytes
  uint64_t opaque_bytes = 0;   // bytes after the parser gave up
  bool big_endian = false;     // the sender's byte order
  std::string opaque_reason;   // why it gave up ("" while it has not)
};

class ZfsStreamParser {
 public:
  // Labels the next data.size() bytes of the stream: appends pieces to out
  // whose lengths add up to data.size(), in order.
  void feed(ByteView data, std::vector<ZfsPiece>& out);
  // The stream ended: whether it ended at a record boundary after a DRR_END
  // record with nothing opaque (a complete stream). Also sets
  // opaque_reason for a truncated stream.
  bool finish();
  const ZfsStreamStats& stats() const { return stats_; }

 private:
  enum class State { kHeader, kPayload, kOpaque };
  void header_complete(std::vector<ZfsPiece>& out);
  void go_opaque(std::string reason);
  uint32_t u32(size_t offset) const;
  uint64_t u64(size_t offset) const;
  uint8_t u8(size_t offset) const { return header_[offset]; }

  State state_ = State::kHeader;
  std::array<uint8_t, kZfsRecordHeaderSize> header_{};
  size_t header_fill_ = 0;
  uint64_t payload_left_ = 0;
  bool payload_is_data_ = false;
  bool begun_ = false;
  uint32_t last_type_ = ~0u;
  ZfsStreamStats stats_;
};

// Convenience for tests and tools: the pieces of a whole stream.
std::vector<ZfsPiece> zfs_stream_pieces(ByteView stream, ZfsStreamStats* stats = nullptr);

}  // namespace stowage::engine
