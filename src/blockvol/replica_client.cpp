#include "blockvol/replica_client.h"

namespace stowage::blockvol {

using wire::Op;

bool replica_lost(const Error& error) {
  return error.code() == ErrorCode::kUnavailable || error.code() == ErrorCode::kIo;
}

Result<std::unique_ptr<ReplicaClient>> ReplicaClient::connect(const HostPort& address,
                                                              std::chrono::milliseconds io_timeout) {
  auto socket = TRY(connect_tcp(address, std::chrono::milliseconds(2000)));
  set_io_timeout(socket, io_timeout);
  return std::unique_ptr<ReplicaClient>(new ReplicaClient(address, std::move(socket)));
}

Error ReplicaClient::transport_error(Error error) {
  broken_ = true;
  socket_.shutdown();
  return Error(ErrorCode::kUnavailable, error.message(), address_.to_string());
}

Status ReplicaClient::send(Op op, uint16_t flags, uint64_t offset, uint32_t length, std::span<const uint8_t> payload) {
  if (broken_) return Error(ErrorCode::kUnavailable, "connection already failed", address_.to_string());
  wire::RequestHeader header{op, flags, next_id_++, offset, length, uint32_t(payload.size())};
  pending_id_ = header.id;
  auto bytes = wire::encode(header);
  Status sent = write_full(socket_.fd(), bytes);
  if (sent.ok() && !payload.empty()) sent = write_full(socket_.fd(), payload);
  if (!sent.ok()) return transport_error(std::move(sent).error());
  return ok_status();
}

Result<wire::ReplyHeader> ReplicaClient::receive_header() {
  std::array<uint8_t, wire::kReplyHeaderSize> bytes{};
  Status got = read_full(socket_.fd(), bytes);
  if (!got.ok()) return transport_error(std::move(got).error());
  auto header = wire::decode_reply(bytes);
  if (!header.ok()) return transport_error(std::move(header).error());
  if (header->id != pending_id_) return transport_error(Error(ErrorCode::kCorrupt, "reply to another request"));
  return header;
}

Error ReplicaClient::refusal(wire::Status status, const std::vector<uint8_t>& payload) const {
  std::string text(payload.begin(), payload.end());
  switch (status) {
    case wire::Status::kInvalid: return Error(ErrorCode::kInvalidArgument, text, address_.to_string());
    case wire::Status::kFenced: return Error(ErrorCode::kPermissionDenied, text, address_.to_string());
    case wire::Status::kNotFound: return Error(ErrorCode::kNotFound, text, address_.to_string());
    case wire::Status::kConflict: return Error(ErrorCode::kConflict, text, address_.to_string());
    case wire::Status::kMalformed: return Error(ErrorCode::kCorrupt, "the replica refused the frame: " + text, address_.to_string());
    default: return Error(ErrorCode::kIo, "replica storage failed: " + text, address_.to_string());
  }
}

Result<std::vector<uint8_t>> ReplicaClient::receive() {
  auto header = TRY(receive_header());
  std::vector<uint8_t> payload(header.payload_length);
  Status got = read_full(socket_.fd(), payload);
  if (!got.ok()) return transport_error(std::move(got).error());
  if (header.status != wire::Status::kOk) {
    if (header.status == wire::Status::kMalformed) broken_ = true;  // the replica hangs up after this
    return refusal(header.status, payload);
  }
  return payload;
}

Result<std::vector<uint8_t>> ReplicaClient::call(Op op, uint16_t flags, uint64_t offset, uint32_t length,
                                                 std::span<const uint8_t> payload) {
  TRY_STATUS(send(op, flags, offset, length, payload));
  return receive();
}

Status ReplicaClient::call_into(Op op, uint64_t offset, std::span<uint8_t> out, std::span<const uint8_t> payload) {
  TRY_STATUS(send(op, 0, offset, uint32_t(out.size()), payload));
  auto header = TRY(receive_header());
  if (header.status == wire::Status::kOk) {
    if (header.payload_length != out.size())
      return transport_error(Error(ErrorCode::kCorrupt, "read reply has the wrong length"));
    Status got = read_full(socket_.fd(), out);
    if (!got.ok()) return transport_error(std::move(got).error());
    return ok_status();
  }
  std::vector<uint8_t> text(header.payload_length);
  Status got = read_full(socket_.fd(), text);
  if (!got.ok()) return transport_error(std::move(got).error());
  return refusal(header.status, text);
}

Result<wire::VolumeInfo> ReplicaClient::hello() {
  auto payload = TRY(call(Op::kHello, 0, 0, 0, {}));
  auto info = wire::decode_volume_info(payload);
  if (!info.ok()) return transport_error(std::move(info).error());
  return info;
}

Status ReplicaClient::read(uint64_t offset, std::span<uint8_t> out) { return call_into(Op::kRead, offset, out, {}); }

Status ReplicaClient::read_snapshot(uint64_t seq, uint64_t offset, std::span<uint8_t> out) {
  auto payload = wire::encode_u64(seq);
  return call_into(Op::kReadSnapshot, offset, out, payload);
}

Status ReplicaClient::write(uint64_t offset, std::span<const uint8_t> data, bool fua) {
  TRY(call(Op::kWrite, fua ? wire::kFlagFua : 0, offset, uint32_t(data.size()), data));
  return ok_status();
}

Status ReplicaClient::fill(uint64_t offset, std::span<const uint8_t> data) {
  TRY(call(Op::kFill, 0, offset, uint32_t(data.size()), data));
  return ok_status();
}

Status ReplicaClient::flush() {
  TRY(call(Op::kFlush, 0, 0, 0, {}));
  return ok_status();
}

Status ReplicaClient::create_snapshot(uint64_t seq, const std::string& name) {
  auto payload = wire::encode_snapshot_create(seq, name);
  TRY(call(Op::kSnapshotCreate, 0, 0, 0, payload));
  return ok_status();
}

Status ReplicaClient::delete_snapshot(uint64_t seq) {
  auto payload = wire::encode_u64(seq);
  TRY(call(Op::kSnapshotDelete, 0, 0, 0, payload));
  return ok_status();
}

Result<std::vector<SnapshotInfo>> ReplicaClient::snapshots() {
  auto payload = TRY(call(Op::kSnapshotList, 0, 0, 0, {}));
  auto list = wire::decode_snapshot_list(payload);
  if (!list.ok()) return transport_error(std::move(list).error());
  return list;
}

Result<std::vector<Extent>> ReplicaClient::changed_extents(uint64_t from_seq, uint64_t to_seq) {
  auto request = wire::encode_two_u64(from_seq, to_seq);
  auto payload = TRY(call(Op::kChangedExtents, 0, 0, 0, request));
  auto list = wire::decode_extents(payload);
  if (!list.ok()) return transport_error(std::move(list).error());
  return list;
}

Status ReplicaClient::fence() {
  TRY(call(Op::kFence, 0, 0, 0, {}));
  return ok_status();
}

Status ReplicaClient::unfence() {
  TRY(call(Op::kUnfence, 0, 0, 0, {}));
  return ok_status();
}

Status ReplicaClient::set_epoch(uint64_t epoch) {
  auto payload = wire::encode_u64(epoch);
  TRY(call(Op::kSetEpoch, 0, 0, 0, payload));
  return ok_status();
}

Status ReplicaClient::reset() {
  TRY(call(Op::kReset, 0, 0, 0, {}));
  return ok_status();
}

}  // namespace stowage::blockvol
