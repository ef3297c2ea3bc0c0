// What the operations on replicated volumes share (backups and restores in
// engine/replicated_volume.cpp, local snapshots and clones in
// engine/replicated_snapshot.cpp): the target's control port, reading a
// volume snapshot from whichever replica still holds it, writing every
// block to every fenced replica, and the fence-fill-verify-unfence sequence
// of a restore or a clone. Internal to the engine layer.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "blockvol/net.h"
#include "mover/block.h"
#include "util/result.h"

namespace stowage::engine {

inline constexpr auto kReplicaTimeout = std::chrono::milliseconds(60000);
inline constexpr auto kControlTimeout = std::chrono::milliseconds(60000);
inline constexpr uint64_t kMaxRequest = 16u << 20;  // bytes per replica request (the protocol allows 32 MiB)

class ClientPool;  // idle connections to one replica

// A volume snapshot read from one replica (read-snapshot requests); when
// that replica is lost (or lacks the snapshot), the reads move on to the
// next one (another refusal is not retried: it would be refused again).
// `operation` ("backup", "clone") names what to run again in messages.
class ReplicaSnapshotSource : public BlockSource {
 public:
  ReplicaSnapshotSource(const std::vector<blockvol::HostPort>& replicas, std::string snapshot, uint64_t seq,
                        uint64_t size, std::string operation);
  ~ReplicaSnapshotSource() override;
  std::string name() const override { return "snapshot " + snapshot_; }
  uint64_t size() const override { return size_; }
  Status read(uint64_t offset, std::span<uint8_t> out) override;

  std::string replica() const;               // the replica read last
  std::vector<std::string> failures() const;  // replicas given up on, with why

 private:
  void give_up(size_t index, const Error& why);

  std::string snapshot_;
  uint64_t seq_;
  uint64_t size_;
  std::string operation_;
  std::vector<std::unique_ptr<ClientPool>> pools_;
  std::atomic<size_t> current_{0};
  mutable std::mutex mu_;
  std::vector<std::string> failures_;
};

// Writes every block to every replica: each write is sent to all replicas
// before any reply is awaited (fill requests; the replicas are fenced).
// Holes are not written: the replicas were reset, so they read as zeros.
// `operation` ("restore", "clone") names what to run again in messages.
class ReplicaFillSink : public BlockSink {
 public:
  ReplicaFillSink(const std::vector<blockvol::HostPort>& replicas, std::string operation);
  ~ReplicaFillSink() override;
  std::string name() const override { return "the replicas"; }
  Status prepare(uint64_t) override { return ok_status(); }
  Status write_zeroes(uint64_t, uint64_t) override { return ok_status(); }
  Status write(uint64_t offset, std::span<const uint8_t> data) override;
  // Fencing again makes each replica's data durable (a fenced replica
  // refuses a plain flush) and keeps it fenced.
  Status finish() override;

  uint64_t bytes_written() const { return bytes_written_; }

 private:
  Error failed(size_t index, const Error& why) const;

  std::string operation_;
  std::vector<std::unique_ptr<ClientPool>> pools_;
  std::atomic<uint64_t> bytes_written_{0};
};

// The extents changed between volume snapshots from_seq (0: the beginning)
// and to_seq, from the first of `replicas` that answers.
Result<std::vector<Extent>> replica_changed_extents(const std::vector<blockvol::HostPort>& replicas, uint64_t from_seq,
                                                    uint64_t to_seq, const std::string& operation);

// One request to the target's control port; the error names the port and
// the request.
Result<nlohmann::json> call_target(const blockvol::HostPort& control, const nlohmann::json& request,
                                   std::chrono::milliseconds timeout = kControlTimeout);

struct TakenSnapshot {
  uint64_t seq = 0;
  double pause_ms = 0;                // how long the target held writes back
  std::vector<std::string> replicas;  // where the snapshot now exists
};

// Takes crash-consistent volume snapshot `name` through the target's control
// port (writes paused and drained, then a snapshot on every healthy replica).
Result<TakenSnapshot> take_volume_snapshot(const blockvol::HostPort& control, const std::string& name,
                                           std::chrono::milliseconds pause_timeout);

// What a restore or a clone puts into fenced replicas, and how each one is
// checked afterwards (fill_replicas_verified runs the steps both share).
struct ReplicaFillPlan {
  std::string operation;      // "restore" or "clone", for messages
  uint64_t size = 0;          // every replica must hold at least this many bytes
  std::string size_owner;     // what has that size ("the backup", "the snapshot's volume"), for messages
  std::string snapshot_name;  // created on every replica at the filled point
  // Writes everything into the sink (from several threads) and finishes it.
  std::function<Status(ReplicaFillSink&)> fill;
  // Reads one replica's volume snapshot `seq` back and compares it with what
  // was written; adds the bytes it read.
  std::function<Status(const blockvol::HostPort&, uint64_t seq, std::atomic<uint64_t>& bytes_read)> verify;
};

struct FilledReplicas {
  uint64_t bytes_written = 0;   // sent to each replica
  uint64_t bytes_verified = 0;  // read back from each replica
};

// Checks that every replica answers and is large enough before touching
// any; fences (no target can serve them from then on) and resets them;
// fills them (plan.fill: one read of the data, every block to every
// replica, durable and still fenced at the end); creates the snapshot
// plan.snapshot_name on each and verifies each, in parallel; unfences them
// only when every one verified. On any failure they stay fenced and the
// error names the replica.
Result<FilledReplicas> fill_replicas_verified(const std::vector<blockvol::HostPort>& replicas,
                                              const ReplicaFillPlan& plan);

}  // namespace stowage::engine
