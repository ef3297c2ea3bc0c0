#include "blockvol/replica_server.h"

#include <thread>

namespace stowage::blockvol {
namespace {

using wire::Op;

std::pair<wire::Status, std::vector<uint8_t>> failure(const Error& error) {
  wire::Status status = wire::Status::kIo;
  switch (error.code()) {
    case ErrorCode::kInvalidArgument:
    case ErrorCode::kAlreadyExists: status = wire::Status::kInvalid; break;
    case ErrorCode::kNotFound: status = wire::Status::kNotFound; break;
    case ErrorCode::kConflict: status = wire::Status::kConflict; break;
    case ErrorCode::kCorrupt: status = wire::Status::kMalformed; break;
    default: break;
  }
  std::string text = error.to_string().substr(0, 4000);
  return {status, std::vector<uint8_t>(text.begin(), text.end())};
}

std::pair<wire::Status, std::vector<uint8_t>> done(Status status) {
  if (!status.ok()) return failure(status.error());
  return {wire::Status::kOk, {}};
}

}  // namespace

std::pair<wire::Status, std::vector<uint8_t>> ReplicaServer::handle(const wire::RequestHeader& request,
                                                                    std::span<const uint8_t> payload) {
  const bool fua = request.flags & wire::kFlagFua;
  auto fenced_refusal = [&]() -> std::pair<wire::Status, std::vector<uint8_t>> {
    std::string text = "the replica is fenced: it serves no IO until unfenced";
    return {wire::Status::kFenced, std::vector<uint8_t>(text.begin(), text.end())};
  };
  switch (request.op) {
    case Op::kHello: {
      wire::VolumeInfo info{store_.size(), kBlockSize, store_.fenced(), store_.epoch(), store_.max_seq()};
      return {wire::Status::kOk, wire::encode_volume_info(info)};
    }
    case Op::kRead: {
      if (store_.fenced()) return fenced_refusal();
      std::vector<uint8_t> data(request.length);
      Status s = store_.read(request.offset, data);
      if (!s.ok()) return failure(s.error());
      return {wire::Status::kOk, std::move(data)};
    }
    case Op::kReadSnapshot: {
      auto seq = wire::decode_u64(payload);
      if (!seq.ok()) return failure(seq.error());
      std::vector<uint8_t> data(request.length);
      Status s = store_.read_snapshot(*seq, request.offset, data);
      if (!s.ok()) return failure(s.error());
      return {wire::Status::kOk, std::move(data)};
    }
    case Op::kWrite:
      if (store_.fenced()) return fenced_refusal();
      return done(store_.write(request.offset, payload, fua));
    case Op::kFill:
      if (!store_.fenced()) {
        std::string text = "fill is only accepted while the replica is fenced";
        return {wire::Status::kConflict, std::vector<uint8_t>(text.begin(), text.end())};
      }
      return done(store_.write(request.offset, payload, fua));
    case Op::kWriteZeroes:
      if (store_.fenced()) return fenced_refusal();
      return done(store_.write_zeroes(request.offset, request.length, fua));
    case Op::kFlush:
      if (store_.fenced()) return fenced_refusal();
      return done(store_.flush());
    case Op::kSnapshotCreate: {
      auto args = wire::decode_snapshot_create(payload);
      if (!args.ok()) return failure(args.error());
      Status s = store_.create_snapshot(args->first, args->second);
      if (s.ok()) log_.info("snapshot created", {{"seq", std::to_string(args->first)}, {"name", args->second}});
      return done(std::move(s));
    }
    case Op::kSnapshotDelete: {
      auto seq = wire::decode_u64(payload);
      if (!seq.ok()) return failure(seq.error());
      Status s = store_.delete_snapshot(*seq);
      if (s.ok()) log_.info("snapshot deleted", {{"seq", std::to_string(*seq)}});
      return done(std::move(s));
    }
    case Op::kSnapshotList:
      return {wire::Status::kOk, wire::encode_snapshot_list(store_.snapshots())};
    case Op::kChangedExtents: {
      auto range = wire::decode_two_u64(payload);
      if (!range.ok()) return failure(range.error());
      auto extents = store_.changed_extents(range->first, range->second);
      if (!extents.ok()) return failure(extents.error());
      return {wire::Status::kOk, wire::encode_extents(*extents)};
    }
    case Op::kFence:
      log_.info("fenced");
      return done(store_.set_fenced(true));
    case Op::kUnfence:
      log_.info("unfenced");
      return done(store_.set_fenced(false));
    case Op::kSetEpoch: {
      auto epoch = wire::decode_u64(payload);
      if (!epoch.ok()) return failure(epoch.error());
      return done(store_.set_epoch(*epoch));
    }
    case Op::kReset:
      log_.info("reset: all data and snapshots dropped for a rebuild");
      return done(store_.reset());
  }
  return failure(Error(ErrorCode::kInvalidArgument, "unknown operation"));
}

void ReplicaServer::serve_connection(Socket connection) {
  std::vector<uint8_t> payload;
  for (;;) {
    std::array<uint8_t, wire::kRequestHeaderSize> header_bytes{};
    Status got = read_full(connection.fd(), header_bytes);
    if (!got.ok()) {
      if (got.error().code() != ErrorCode::kNotFound) log_.warning("connection lost", {{"error", got.error().to_string()}});
      return;
    }
    auto header = wire::decode_request(header_bytes);
    if (!header.ok()) {
      // The framing cannot be trusted any more: say why, then hang up.
      log_.warning("malformed request; closing the connection", {{"error", header.error().to_string()}});
      std::string text = header.error().message();
      wire::ReplyHeader reply{wire::Status::kMalformed, get_u64(&header_bytes[8]), uint32_t(text.size())};
      auto reply_bytes = wire::encode(reply);
      (void)write_full(connection.fd(), reply_bytes);
      (void)write_full(connection.fd(), std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
      return;
    }
    payload.resize(header->payload_length);
    if (!read_full(connection.fd(), payload).ok()) return;
    auto [status, reply_payload] = handle(*header, payload);
    wire::ReplyHeader reply{status, header->id, uint32_t(reply_payload.size())};
    auto reply_bytes = wire::encode(reply);
    if (!write_full(connection.fd(), reply_bytes).ok() || !write_full(connection.fd(), reply_payload).ok()) return;
  }
}

void ReplicaServer::serve(Socket listener) {
  while (!stopping_) {
    auto connection = accept_tcp(listener, std::chrono::milliseconds(200));
    if (!connection.ok()) {
      if (connection.error().code() != ErrorCode::kUnavailable)
        log_.warning("accept failed", {{"error", connection.error().to_string()}});
      continue;
    }
    std::thread([this, c = std::move(*connection)]() mutable { serve_connection(std::move(c)); }).detach();
  }
}

}  // namespace stowage::blockvol
