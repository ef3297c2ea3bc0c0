// ReplicaClient: one connection to a replica, speaking the replication
// protocol (wire.h). Not thread-safe: one caller at a time. A transport
// failure (connection lost, timeout, broken frame) is kUnavailable, so the
// target can tell a dead replica from a replica that refused a request.
#pragma once

#include <chrono>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "blockvol/net.h"
#include "blockvol/wire.h"

namespace stowage::blockvol {

class ReplicaClient {
 public:
  static Result<std::unique_ptr<ReplicaClient>> connect(const HostPort& address, std::chrono::milliseconds io_timeout);

  const HostPort& address() const { return address_; }

  // Sends one request; its reply is read by receive(). Requests may be
  // sent to several replicas before any reply is read (fan-out).
  Status send(wire::Op op, uint16_t flags, uint64_t offset, uint32_t length, std::span<const uint8_t> payload);
  // The reply to the last send(): its payload, or the replica's refusal as
  // an error (kInvalidArgument, kPermissionDenied when fenced, kNotFound,
  // kConflict, kIo), or kUnavailable when the connection failed.
  Result<std::vector<uint8_t>> receive();
  Result<std::vector<uint8_t>> call(wire::Op op, uint16_t flags, uint64_t offset, uint32_t length,
                                    std::span<const uint8_t> payload);
  // The payload of the reply is written into `out` (reads), avoiding a copy.
  Status call_into(wire::Op op, uint64_t offset, std::span<uint8_t> out, std::span<const uint8_t> payload);

  Result<wire::VolumeInfo> hello();
  Status read(uint64_t offset, std::span<uint8_t> out);
  Status read_snapshot(uint64_t seq, uint64_t offset, std::span<uint8_t> out);
  Status write(uint64_t offset, std::span<const uint8_t> data, bool fua);
  Status fill(uint64_t offset, std::span<const uint8_t> data);
  Status flush();
  Status create_snapshot(uint64_t seq, const std::string& name);
  Status delete_snapshot(uint64_t seq);
  Result<std::vector<SnapshotInfo>> snapshots();
  Result<std::vector<Extent>> changed_extents(uint64_t from_seq, uint64_t to_seq);
  Status fence();
  Status unfence();
  Status set_epoch(uint64_t epoch);
  Status reset();

  // True when the connection failed; it must be replaced.
  bool broken() const { return broken_; }

 private:
  ReplicaClient(HostPort address, Socket socket) : address_(std::move(address)), socket_(std::move(socket)) {}
  Error transport_error(Error error);
  Result<wire::ReplyHeader> receive_header();
  Error refusal(wire::Status status, const std::vector<uint8_t>& payload) const;

  HostPort address_;
  Socket socket_;
  uint64_t next_id_ = 1;
  uint64_t pending_id_ = 0;
  bool broken_ = false;
};

// True for errors that mean the replica is gone (connection-level), as
// opposed to a refusal of one request.
bool replica_lost(const Error& error);

}  // namespace stowage::blockvol
