// The replication protocol between the target and its replicas: one request
// frame, one reply frame, over TCP. Every frame starts with a fixed header
// (magic, version byte, then fields) and carries a payload whose length the
// header states. Decoders check every field and refuse anything else.
// Frame layouts and the list of operations: docs/blockvol.md.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "blockvol/layer_store.h"
#include "util/result.h"

namespace stowage::blockvol::wire {

inline constexpr uint32_t kRequestMagic = 0x53565251;  // "SVRQ"
inline constexpr uint32_t kReplyMagic = 0x53565250;    // "SVRP"
inline constexpr uint8_t kVersion = 1;
inline constexpr size_t kRequestHeaderSize = 32;
inline constexpr size_t kReplyHeaderSize = 24;
inline constexpr uint32_t kMaxData = 32u << 20;          // largest read or write
inline constexpr uint32_t kMaxReplyPayload = 64u << 20;  // extent lists can be long
inline constexpr uint16_t kFlagFua = 1;

enum class Op : uint8_t {
  kHello = 1,           // → VolumeInfo
  kRead = 2,            // head [offset, offset+length); refused while fenced
  kWrite = 3,           // payload = data; FUA allowed; refused while fenced
  kWriteZeroes = 4,     // [offset, offset+length); FUA allowed; refused while fenced
  kFlush = 5,           // refused while fenced
  kSnapshotCreate = 6,  // payload: seq u64, name (u16 length + bytes)
  kSnapshotDelete = 7,  // payload: seq u64
  kSnapshotList = 8,    // → count u32, then seq u64, created i64, name
  kChangedExtents = 9,  // payload: from_seq u64, to_seq u64 (0 = nothing / head) → count u32, (offset, length) u64 pairs
  kReadSnapshot = 10,   // payload: seq u64; allowed while fenced
  kFill = 11,           // like kWrite, only while fenced (filling a restored volume)
  kFence = 12,
  kUnfence = 13,
  kSetEpoch = 14,       // payload: epoch u64
  kReset = 15,          // drop all data and snapshots (before a rebuild)
};
const char* op_name(Op op);

enum class Status : uint8_t {
  kOk = 0,
  kInvalid = 1,   // the request was well-formed but not acceptable (range, name, sequence)
  kFenced = 2,    // the replica is fenced
  kNotFound = 3,  // no such snapshot
  kIo = 4,        // the replica's storage failed
  kConflict = 5,  // e.g. snapshot sequence not above the last
  kMalformed = 6, // the frame broke the protocol (the connection is closed after this reply)
};

struct RequestHeader {
  Op op = Op::kHello;
  uint16_t flags = 0;
  uint64_t id = 0;
  uint64_t offset = 0;
  uint32_t length = 0;
  uint32_t payload_length = 0;
};

struct ReplyHeader {
  Status status = Status::kOk;
  uint64_t id = 0;
  uint32_t payload_length = 0;
};

std::array<uint8_t, kRequestHeaderSize> encode(const RequestHeader& header);
std::array<uint8_t, kReplyHeaderSize> encode(const ReplyHeader& header);
// Checks magic, version, operation, flags and the sizes each operation
// allows (not the volume's bounds: the store checks those).
Result<RequestHeader> decode_request(std::span<const uint8_t> bytes);
Result<ReplyHeader> decode_reply(std::span<const uint8_t> bytes);

// What kHello answers.
struct VolumeInfo {
  uint64_t size = 0;
  uint32_t block_size = 0;
  bool fenced = false;
  uint64_t epoch = 0;
  uint64_t max_seq = 0;
};

// Payload builders and parsers; parsers refuse short or trailing bytes.
std::vector<uint8_t> encode_volume_info(const VolumeInfo& info);
Result<VolumeInfo> decode_volume_info(std::span<const uint8_t> payload);
std::vector<uint8_t> encode_u64(uint64_t value);
Result<uint64_t> decode_u64(std::span<const uint8_t> payload);
std::vector<uint8_t> encode_two_u64(uint64_t a, uint64_t b);
Result<std::pair<uint64_t, uint64_t>> decode_two_u64(std::span<const uint8_t> payload);
std::vector<uint8_t> encode_snapshot_create(uint64_t seq, const std::string& name);
Result<std::pair<uint64_t, std::string>> decode_snapshot_create(std::span<const uint8_t> payload);
std::vector<uint8_t> encode_snapshot_list(const std::vector<SnapshotInfo>& snapshots);
Result<std::vector<SnapshotInfo>> decode_snapshot_list(std::span<const uint8_t> payload);
std::vector<uint8_t> encode_extents(const std::vector<Extent>& extents);
Result<std::vector<Extent>> decode_extents(std::span<const uint8_t> payload);

}  // namespace stowage::blockvol::wire
