// ReplicatedVolume: the target's view of one volume kept on N replicas.
// Writes and flushes go to every replica that takes writes and succeed when
// a quorum of healthy replicas acknowledged them; reads come from one healthy
// replica. A replica that fails is dropped (degraded); a thread per replica
// reconnects it and rebuilds it from a healthy one before it counts again.
// Crash-consistent snapshots pause writes, drain, and snapshot every healthy
// replica with one sequence number (rolled back unless a quorum has it).
// Epochs: the healthy replicas carry the newest epoch number; whenever a
// healthy replica is lost, the others move to a new epoch before any further
// write is acknowledged, so a restarted target can tell stale replicas apart.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "blockvol/block_device.h"
#include "blockvol/io_gate.h"
#include "blockvol/replica_client.h"
#include "util/log.h"

namespace stowage::blockvol {

struct VolumeOptions {
  std::vector<HostPort> replicas;
  size_t quorum = 1;
  uint64_t size = 0;
  std::chrono::milliseconds io_timeout{30000};         // one replica request
  std::chrono::milliseconds reconnect_interval{1000};  // between attempts to reach a lost replica
  std::chrono::milliseconds rebuild_pause_limit{10000}; // drain bound for one rebuild step
  // At startup, how long to wait for the replicas beyond the quorum before
  // serving (a replica that joins later is rebuilt).
  std::chrono::milliseconds startup_grace{3000};
};

enum class ReplicaState { kOffline, kFenced, kStandby, kRebuilding, kHealthy };
const char* replica_state_name(ReplicaState state);

struct SnapshotOutcome {
  uint64_t seq = 0;
  std::string name;
  double pause_ms = 0;                  // writes were held back this long
  std::vector<std::string> replicas;    // where the snapshot now exists
};

class ReplicatedVolume : public BlockDevice {
 public:
  ReplicatedVolume(VolumeOptions options, Logger log);
  ~ReplicatedVolume() override;  // stops the replica threads
  ReplicatedVolume(const ReplicatedVolume&) = delete;
  ReplicatedVolume& operator=(const ReplicatedVolume&) = delete;

  // Starts one thread per replica; the volume is ready once a quorum of
  // unfenced replicas answered (those with the newest epoch become healthy).
  // The same choice is made again if every replica was lost.
  void start();
  bool ready() const { return ready_; }
  // Waits until ready(); kUnavailable after `timeout`.
  Status wait_ready(std::chrono::milliseconds timeout);
  uint64_t size() const override { return options_.size; }

  Status read(uint64_t offset, std::span<uint8_t> out) override;
  Status write(uint64_t offset, std::span<const uint8_t> data, bool fua) override;
  Status write_zeroes(uint64_t offset, uint32_t length, bool fua) override;
  Status flush() override;

  Result<SnapshotOutcome> snapshot(const std::string& name, std::chrono::milliseconds drain_timeout);
  Result<std::vector<SnapshotInfo>> snapshots();
  // Deletes on every healthy replica (lost ones are rebuilt without it).
  Result<std::vector<std::string>> delete_snapshot(const std::string& name, std::chrono::milliseconds timeout);
  // `from` empty: everything allocated up to `to`; `to` empty: the live head.
  Result<std::vector<Extent>> changed_extents(const std::string& from, const std::string& to);
  nlohmann::json status() const;

 private:
  // One replica as the target sees it.
  struct Link {
    size_t index = 0;
    HostPort address;
    std::mutex io;                          // one request at a time on `client`
    std::unique_ptr<ReplicaClient> client;  // guarded by io
    // Guarded by state_mu_:
    ReplicaState state = ReplicaState::kOffline;
    bool takes_writes = false;  // healthy, or rebuilding and already receiving new writes
    wire::VolumeInfo info;
    std::string last_error;
    uint64_t rebuilt_bytes = 0;
    std::thread thread;
  };
  struct Reply {
    Link* link;
    bool was_healthy;
    Result<std::vector<uint8_t>> result;
  };

  void run_link(Link& link);
  bool connect_link(Link& link);
  void decide_startup();
  Status rebuild(Link& link);
  Status copy_extents(Link& source, Link& target, uint64_t seq, const std::vector<Extent>& extents, bool gated);
  // Marks a link offline (caller holds its io mutex or it is not in use).
  void lose(Link& link, const Error& error);
  std::vector<Link*> writable_links();
  std::vector<Link*> healthy_links();
  Link* first_healthy();
  // Sends one request to every target (locked in order), collects the
  // replies, drops lost replicas and moves the rest to a new epoch if a
  // healthy replica was lost since the last time. Caller holds no io lock.
  std::vector<Reply> broadcast(const std::vector<Link*>& targets, wire::Op op, uint16_t flags, uint64_t offset,
                               uint32_t length, std::span<const uint8_t> payload);
  Status quorum_result(const std::vector<Reply>& replies, const char* what);
  Result<uint64_t> resolve_snapshot(const std::string& name);
  // Refused before reaching a replica (which would take it as a broken frame).
  Status check_request(uint64_t offset, uint64_t length, uint64_t max_length) const;

  VolumeOptions options_;
  Logger log_;
  std::vector<std::unique_ptr<Link>> links_;
  mutable std::mutex state_mu_;  // link states, epoch; taken after io mutexes, never before
  std::condition_variable state_changed_;
  std::atomic<bool> ready_{false};
  std::atomic<bool> stopping_{false};
  std::chrono::steady_clock::time_point started_at_;
  bool epoch_dirty_ = false;     // a healthy replica was lost; bump before the next ack
  uint64_t epoch_ = 0;
  uint64_t next_seq_ = 1;
  std::atomic<size_t> read_turn_{0};  // round robin over healthy replicas
  IoGate gate_;
  std::timed_mutex snapshot_mu_;  // snapshots, snapshot deletion and rebuilds, one at a time
};

}  // namespace stowage::blockvol
