#include "blockvol/wire.h"

#include "blockvol/net.h"

namespace stowage::blockvol::wire {
namespace {

Error malformed(const std::string& what) { return Error(ErrorCode::kCorrupt, "malformed frame: " + what); }

// Reads fields from a payload; finish() refuses leftovers.
class Reader {
 public:
  explicit Reader(std::span<const uint8_t> bytes) : bytes_(bytes) {}
  bool u64(uint64_t& out) {
    if (bytes_.size() - pos_ < 8) return false;
    out = get_u64(bytes_.data() + pos_);
    pos_ += 8;
    return true;
  }
  bool u32(uint32_t& out) {
    if (bytes_.size() - pos_ < 4) return false;
    out = get_u32(bytes_.data() + pos_);
    pos_ += 4;
    return true;
  }
  bool u8(uint8_t& out) {
    if (bytes_.size() - pos_ < 1) return false;
    out = bytes_[pos_++];
    return true;
  }
  bool string(std::string& out, size_t max) {
    if (bytes_.size() - pos_ < 2) return false;
    uint16_t len = get_u16(bytes_.data() + pos_);
    if (len > max || bytes_.size() - pos_ - 2 < len) return false;
    out.assign(reinterpret_cast<const char*>(bytes_.data() + pos_ + 2), len);
    pos_ += 2 + size_t(len);
    return true;
  }
  size_t remaining() const { return bytes_.size() - pos_; }
  bool finish() const { return pos_ == bytes_.size(); }

 private:
  std::span<const uint8_t> bytes_;
  size_t pos_ = 0;
};

class Writer {
 public:
  void u64(uint64_t v) {
    size_t at = out_.size();
    out_.resize(at + 8);
    put_u64(out_.data() + at, v);
  }
  void u32(uint32_t v) {
    size_t at = out_.size();
    out_.resize(at + 4);
    put_u32(out_.data() + at, v);
  }
  void u8(uint8_t v) { out_.push_back(v); }
  void string(const std::string& s) {
    size_t at = out_.size();
    out_.resize(at + 2);
    put_u16(out_.data() + at, uint16_t(s.size()));
    out_.insert(out_.end(), s.begin(), s.end());
  }
  std::vector<uint8_t> take() { return std::move(out_); }

 private:
  std::vector<uint8_t> out_;
};

constexpr size_t kMaxName = 128;

}  // namespace

const char* op_name(Op op) {
  switch (op) {
    case Op::kHello: return "hello";
    case Op::kRead: return "read";
    case Op::kWrite: return "write";
    case Op::kWriteZeroes: return "write-zeroes";
    case Op::kFlush: return "flush";
    case Op::kSnapshotCreate: return "snapshot-create";
    case Op::kSnapshotDelete: return "snapshot-delete";
    case Op::kSnapshotList: return "snapshot-list";
    case Op::kChangedExtents: return "changed-extents";
    case Op::kReadSnapshot: return "read-snapshot";
    case Op::kFill: return "fill";
    case Op::kFence: return "fence";
    case Op::kUnfence: return "unfence";
    case Op::kSetEpoch: return "set-epoch";
    case Op::kReset: return "reset";
  }
  return "unknown";
}

std::array<uint8_t, kRequestHeaderSize> encode(const RequestHeader& h) {
  std::array<uint8_t, kRequestHeaderSize> b{};
  put_u32(&b[0], kRequestMagic);
  b[4] = kVersion;
  b[5] = uint8_t(h.op);
  put_u16(&b[6], h.flags);
  put_u64(&b[8], h.id);
  put_u64(&b[16], h.offset);
  put_u32(&b[24], h.length);
  put_u32(&b[28], h.payload_length);
  return b;
}

std::array<uint8_t, kReplyHeaderSize> encode(const ReplyHeader& h) {
  std::array<uint8_t, kReplyHeaderSize> b{};
  put_u32(&b[0], kReplyMagic);
  b[4] = kVersion;
  b[5] = uint8_t(h.status);
  put_u64(&b[8], h.id);
  put_u32(&b[16], h.payload_length);
  return b;
}

Result<RequestHeader> decode_request(std::span<const uint8_t> b) {
  if (b.size() != kRequestHeaderSize) return malformed("request header is not 32 bytes");
  if (get_u32(&b[0]) != kRequestMagic) return malformed("bad request magic");
  if (b[4] != kVersion) return malformed("unsupported protocol version " + std::to_string(b[4]));
  RequestHeader h;
  uint8_t op = b[5];
  if (op < uint8_t(Op::kHello) || op > uint8_t(Op::kReset)) return malformed("unknown operation " + std::to_string(op));
  h.op = Op(op);
  h.flags = get_u16(&b[6]);
  h.id = get_u64(&b[8]);
  h.offset = get_u64(&b[16]);
  h.length = get_u32(&b[24]);
  h.payload_length = get_u32(&b[28]);
  bool fua_allowed = h.op == Op::kWrite || h.op == Op::kWriteZeroes || h.op == Op::kFill;
  if (h.flags & ~kFlagFua) return malformed("unknown flags");
  if ((h.flags & kFlagFua) && !fua_allowed) return malformed("FUA on an operation that does not write");
  auto no_range = [&]() { return h.offset == 0 && h.length == 0; };
  switch (h.op) {
    case Op::kRead:
      if (h.length == 0 || h.length > kMaxData || h.payload_length != 0) return malformed("bad read size");
      break;
    case Op::kReadSnapshot:
      if (h.length == 0 || h.length > kMaxData || h.payload_length != 8) return malformed("bad snapshot read size");
      break;
    case Op::kWrite:
    case Op::kFill:
      if (h.length == 0 || h.length > kMaxData || h.payload_length != h.length) return malformed("bad write size");
      break;
    case Op::kWriteZeroes:
      if (h.length == 0 || h.payload_length != 0) return malformed("bad write-zeroes size");
      break;
    case Op::kHello:
    case Op::kFlush:
    case Op::kSnapshotList:
    case Op::kFence:
    case Op::kUnfence:
    case Op::kReset:
      if (!no_range() || h.payload_length != 0) return malformed(std::string(op_name(h.op)) + " carries no data");
      break;
    case Op::kSnapshotDelete:
    case Op::kSetEpoch:
      if (!no_range() || h.payload_length != 8) return malformed(std::string(op_name(h.op)) + " carries 8 bytes");
      break;
    case Op::kChangedExtents:
      if (!no_range() || h.payload_length != 16) return malformed("changed-extents carries 16 bytes");
      break;
    case Op::kSnapshotCreate:
      if (!no_range() || h.payload_length < 8 + 2 + 1 || h.payload_length > 8 + 2 + kMaxName)
        return malformed("bad snapshot-create size");
      break;
  }
  return h;
}

Result<ReplyHeader> decode_reply(std::span<const uint8_t> b) {
  if (b.size() != kReplyHeaderSize) return malformed("reply header is not 24 bytes");
  if (get_u32(&b[0]) != kReplyMagic) return malformed("bad reply magic");
  if (b[4] != kVersion) return malformed("unsupported protocol version " + std::to_string(b[4]));
  if (b[5] > uint8_t(Status::kMalformed)) return malformed("unknown reply status");
  if (get_u16(&b[6]) != 0 || get_u32(&b[20]) != 0) return malformed("reserved reply fields are not zero");
  ReplyHeader h;
  h.status = Status(b[5]);
  h.id = get_u64(&b[8]);
  h.payload_length = get_u32(&b[16]);
  if (h.payload_length > kMaxReplyPayload) return malformed("reply payload too large");
  return h;
}

std::vector<uint8_t> encode_volume_info(const VolumeInfo& info) {
  Writer w;
  w.u64(info.size);
  w.u32(info.block_size);
  w.u8(info.fenced ? 1 : 0);
  w.u64(info.epoch);
  w.u64(info.max_seq);
  return w.take();
}

Result<VolumeInfo> decode_volume_info(std::span<const uint8_t> payload) {
  Reader r(payload);
  VolumeInfo info;
  uint8_t fenced = 0;
  if (!r.u64(info.size) || !r.u32(info.block_size) || !r.u8(fenced) || !r.u64(info.epoch) || !r.u64(info.max_seq) ||
      !r.finish() || fenced > 1)
    return malformed("bad hello reply");
  info.fenced = fenced == 1;
  return info;
}

std::vector<uint8_t> encode_u64(uint64_t value) {
  Writer w;
  w.u64(value);
  return w.take();
}

Result<uint64_t> decode_u64(std::span<const uint8_t> payload) {
  Reader r(payload);
  uint64_t v = 0;
  if (!r.u64(v) || !r.finish()) return malformed("expected one 64-bit number");
  return v;
}

std::vector<uint8_t> encode_two_u64(uint64_t a, uint64_t b) {
  Writer w;
  w.u64(a);
  w.u64(b);
  return w.take();
}

Result<std::pair<uint64_t, uint64_t>> decode_two_u64(std::span<const uint8_t> payload) {
  Reader r(payload);
  uint64_t a = 0, b = 0;
  if (!r.u64(a) || !r.u64(b) || !r.finish()) return malformed("expected two 64-bit numbers");
  return std::make_pair(a, b);
}

std::vector<uint8_t> encode_snapshot_create(uint64_t seq, const std::string& name) {
  Writer w;
  w.u64(seq);
  w.string(name);
  return w.take();
}

Result<std::pair<uint64_t, std::string>> decode_snapshot_create(std::span<const uint8_t> payload) {
  Reader r(payload);
  uint64_t seq = 0;
  std::string name;
  if (!r.u64(seq) || !r.string(name, kMaxName) || !r.finish()) return malformed("bad snapshot-create payload");
  if (seq == 0) return malformed("snapshot sequence 0 is reserved");
  if (!valid_snapshot_name(name)) return malformed("bad snapshot name");
  return std::make_pair(seq, name);
}

std::vector<uint8_t> encode_snapshot_list(const std::vector<SnapshotInfo>& snapshots) {
  Writer w;
  w.u32(uint32_t(snapshots.size()));
  for (const auto& s : snapshots) {
    w.u64(s.seq);
    w.u64(uint64_t(s.created_unix));
    w.string(s.name);
  }
  return w.take();
}

Result<std::vector<SnapshotInfo>> decode_snapshot_list(std::span<const uint8_t> payload) {
  Reader r(payload);
  uint32_t count = 0;
  if (!r.u32(count) || count > r.remaining() / 19) return malformed("bad snapshot list");
  std::vector<SnapshotInfo> out(count);
  for (auto& s : out) {
    uint64_t created = 0;
    if (!r.u64(s.seq) || !r.u64(created) || !r.string(s.name, kMaxName)) return malformed("bad snapshot list entry");
    s.created_unix = int64_t(created);
  }
  if (!r.finish()) return malformed("trailing bytes after the snapshot list");
  return out;
}

std::vector<uint8_t> encode_extents(const std::vector<Extent>& extents) {
  Writer w;
  w.u32(uint32_t(extents.size()));
  for (const auto& e : extents) {
    w.u64(e.offset);
    w.u64(e.length);
  }
  return w.take();
}

Result<std::vector<Extent>> decode_extents(std::span<const uint8_t> payload) {
  Reader r(payload);
  uint32_t count = 0;
  if (!r.u32(count) || uint64_t(count) * 16 != r.remaining()) return malformed("bad extent list");
  std::vector<Extent> out(count);
  for (auto& e : out) {
    if (!r.u64(e.offset) || !r.u64(e.length)) return malformed("bad extent");
    if (e.length == 0 || e.offset + e.length < e.offset) return malformed("bad extent");
  }
  return out;
}

}  // namespace stowage::blockvol::wire
