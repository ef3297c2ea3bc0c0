#include "engine/replicated_volume.h"

#include <algorithm>
#include <atomic>
#include <ctime>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <thread>

#include "blockvol/control.h"
#include "blockvol/layer_store.h"
#include "blockvol/replica_client.h"
#include "crypto/hash.h"
#include "mover/chunk_list.h"
#include "util/work_queue.h"

namespace stowage::engine {

namespace {

using blockvol::HostPort;
using blockvol::ReplicaClient;

constexpr auto kReplicaTimeout = std::chrono::milliseconds(60000);
constexpr auto kControlTimeout = std::chrono::milliseconds(60000);
constexpr uint64_t kMaxRequest = 16u << 20;  // bytes per replica request (the protocol allows 32 MiB)
constexpr uint64_t kClonePiece = 4u << 20;   // bytes a clone reads, hashes and sends at once
static_assert(kClonePiece <= kMaxRequest);

// Idle connections to one replica, lent to one worker thread at a time.
class ClientPool {
 public:
  explicit ClientPool(HostPort address) : address_(std::move(address)) {}
  const HostPort& address() const { return address_; }
  Result<std::unique_ptr<ReplicaClient>> take() {
    {
      std::lock_guard lock(mu_);
      if (!idle_.empty()) {
        auto client = std::move(idle_.back());
        idle_.pop_back();
        return client;
      }
    }
    return ReplicaClient::connect(address_, kReplicaTimeout);
  }
  void give_back(std::unique_ptr<ReplicaClient> client) {
    if (!client || client->broken()) return;
    std::lock_guard lock(mu_);
    idle_.push_back(std::move(client));
  }

 private:
  HostPort address_;
  std::mutex mu_;
  std::vector<std::unique_ptr<ReplicaClient>> idle_;
};

// A volume snapshot read from one replica (read-snapshot requests); when
// that replica is lost (or lacks the snapshot), the reads move on to the
// next one (another refusal is not retried: it would be refused again).
// `operation` ("backup", "clone") names what to run again in messages.
class ReplicaSnapshotSource : public BlockSource {
 public:
  ReplicaSnapshotSource(const std::vector<HostPort>& replicas, std::string snapshot, uint64_t seq, uint64_t size,
                        std::string operation)
      : snapshot_(std::move(snapshot)), seq_(seq), size_(size), operation_(std::move(operation)) {
    for (const auto& r : replicas) pools_.push_back(std::make_unique<ClientPool>(r));
  }
  std::string name() const override { return "snapshot " + snapshot_; }
  uint64_t size() const override { return size_; }

  Status read(uint64_t offset, std::span<uint8_t> out) override {
    for (;;) {
      size_t index = current_.load();
      if (index >= pools_.size()) {
        std::lock_guard lock(mu_);
        std::string why;
        for (const auto& f : failures_) why += (why.empty() ? "" : "; ") + f;
        return Error(ErrorCode::kUnavailable,
                     "no replica holding volume snapshot " + snapshot_ + " could be read (" + why + ")", snapshot_,
                     "check the replicas (stowage-volume status) and run the " + operation_ + " again");
      }
      ClientPool& pool = *pools_[index];
      auto client = pool.take();
      Status done = client.ok() ? ok_status() : Status(client.error());
      for (uint64_t pos = 0; done.ok() && pos < out.size(); pos += kMaxRequest) {
        auto piece = out.subspan(pos, std::min<uint64_t>(kMaxRequest, out.size() - pos));
        done = (*client)->read_snapshot(seq_, offset + pos, piece);
      }
      if (done.ok()) {
        pool.give_back(std::move(*client));
        return ok_status();
      }
      // A replica that is gone, or does not hold the snapshot: try the next.
      if (!blockvol::replica_lost(done.error()) && done.error().code() != ErrorCode::kNotFound)
        return std::move(done).error().with_context("reading volume snapshot " + snapshot_ + " from replica " +
                                                    pool.address().to_string());
      give_up(index, done.error());
    }
  }

  std::string replica() const {
    size_t index = std::min(current_.load(), pools_.size() - 1);
    return pools_[index]->address().to_string();
  }
  std::vector<std::string> failures() const {
    std::lock_guard lock(mu_);
    return failures_;
  }

 private:
  void give_up(size_t index, const Error& why) {
    std::lock_guard lock(mu_);
    if (current_.load() != index) return;  // another reader moved on already
    failures_.push_back(pools_[index]->address().to_string() + ": " + why.to_string());
    current_.store(index + 1);
  }

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
  ReplicaFillSink(const std::vector<HostPort>& replicas, std::string operation) : operation_(std::move(operation)) {
    for (const auto& r : replicas) pools_.push_back(std::make_unique<ClientPool>(r));
  }
  std::string name() const override { return "the replicas"; }
  Status prepare(uint64_t) override { return ok_status(); }
  Status write_zeroes(uint64_t, uint64_t) override { return ok_status(); }

  Status write(uint64_t offset, std::span<const uint8_t> data) override {
    std::vector<std::unique_ptr<ReplicaClient>> clients(pools_.size());
    for (size_t i = 0; i < pools_.size(); i++) {
      auto client = pools_[i]->take();
      if (!client.ok()) return failed(i, client.error());
      clients[i] = std::move(*client);
    }
    for (uint64_t pos = 0; pos < data.size(); pos += kMaxRequest) {
      auto piece = data.subspan(pos, std::min<uint64_t>(kMaxRequest, data.size() - pos));
      std::vector<char> sent(clients.size(), 0);
      std::optional<std::pair<size_t, Error>> first_error;
      for (size_t i = 0; i < clients.size(); i++) {
        Status s = clients[i]->send(blockvol::wire::Op::kFill, 0, offset + pos, uint32_t(piece.size()), piece);
        if (s.ok()) sent[i] = 1;
        else if (!first_error) first_error.emplace(i, s.error());
      }
      for (size_t i = 0; i < clients.size(); i++) {
        if (!sent[i]) continue;
        auto reply = clients[i]->receive();
        if (!reply.ok() && !first_error) first_error.emplace(i, reply.error());
      }
      if (first_error) return failed(first_error->first, first_error->second);
    }
    for (size_t i = 0; i < clients.size(); i++) pools_[i]->give_back(std::move(clients[i]));
    bytes_written_ += data.size();
    return ok_status();
  }

  // Fencing again makes each replica's data durable (a fenced replica
  // refuses a plain flush) and keeps it fenced.
  Status finish() override {
    for (size_t i = 0; i < pools_.size(); i++) {
      auto client = pools_[i]->take();
      Status s = client.ok() ? (*client)->fence() : Status(client.error());
      if (!s.ok()) return failed(i, s.error());
      pools_[i]->give_back(std::move(*client));
    }
    return ok_status();
  }

  uint64_t bytes_written() const { return bytes_written_; }

 private:
  Error failed(size_t index, const Error& why) const {
    return Error(why.code(),
                 "writing to replica " + pools_[index]->address().to_string() + " failed: " + why.message() +
                     "; every replica stays fenced",
                 pools_[index]->address().to_string(),
                 "check that replica (its process and disk) and run the " + operation_ + " again");
  }

  std::string operation_;
  std::vector<std::unique_ptr<ClientPool>> pools_;
  std::atomic<uint64_t> bytes_written_{0};
};

// The extents changed between volume snapshots from_seq (0: the beginning)
// and to_seq, from the first of `replicas` that answers.
Result<std::vector<Extent>> replica_changed_extents(const std::vector<HostPort>& replicas, uint64_t from_seq,
                                                    uint64_t to_seq, const std::string& operation) {
  std::string why;
  for (const auto& r : replicas) {
    auto listed = [&]() -> Result<std::vector<blockvol::Extent>> {
      auto client = TRY(ReplicaClient::connect(r, kReplicaTimeout));
      return client->changed_extents(from_seq, to_seq);
    }();
    if (listed.ok()) {
      std::vector<Extent> out;
      for (const auto& e : *listed) out.push_back(Extent{e.offset, e.length});
      return out;
    }
    why += (why.empty() ? "" : "; ") + r.to_string() + ": " + listed.error().to_string();
  }
  return Error(ErrorCode::kUnavailable, "no replica listed the changed extents (" + why + ")", "",
               "check the replicas (stowage-volume status) and run the " + operation + " again");
}

Result<nlohmann::json> call(const HostPort& control, const nlohmann::json& request, std::chrono::milliseconds timeout) {
  auto reply = blockvol::control_call(control, request, timeout);
  if (!reply.ok()) {
    Error e = std::move(reply).error().with_context("the volume target's control port " + control.to_string() + " (" +
                                                    request.value("op", "") + ")");
    if (e.hint().empty())
      e.set_hint("check that the target runs with --control " + control.to_string() +
                 " (stowage-volume status --target " + control.to_string() + ")");
    return e;
  }
  return reply;
}

struct TakenSnapshot {
  uint64_t seq = 0;
  double pause_ms = 0;                // how long the target held writes back
  std::vector<std::string> replicas;  // where the snapshot now exists
};

// Takes crash-consistent volume snapshot `name` through the target's control
// port (writes paused and drained, then a snapshot on every healthy replica).
Result<TakenSnapshot> take_volume_snapshot(const HostPort& control, const std::string& name,
                                           std::chrono::milliseconds pause_timeout) {
  auto taken = TRY(call(control,
                        {{"op", "snapshot"}, {"name", name}, {"timeout_ms", int64_t(pause_timeout.count())}},
                        pause_timeout + kControlTimeout));
  TakenSnapshot out;
  out.seq = taken.value("seq", uint64_t(0));
  out.pause_ms = taken.value("pause_ms", 0.0);
  out.replicas = taken.value("replicas", std::vector<std::string>());
  return out;
}

// Reads every block of the snapshot back from one replica (its volume
// snapshot `seq`) and compares it with the repository's block id; holes
// must read as zeros (only allocated holes are read).
Status verify_replica(Repository& repo, const std::vector<ChunkRef>& refs, const HostPort& address, uint64_t seq,
                      std::atomic<uint64_t>& bytes_read, const Progress* progress) {
  auto client = TRY(ReplicaClient::connect(address, kReplicaTimeout));
  auto allocated = TRY(client->changed_extents(0, seq));
  std::vector<Extent> ranges;
  for (const auto& e : allocated) ranges.push_back(Extent{e.offset, e.length});
  size_t next_range = 0;
  Bytes buf;
  uint64_t offset = 0;
  for (size_t b = 0; b < refs.size(); b++) {
    const ChunkRef& ref = refs[b];
    uint64_t at = offset;
    offset += ref.length;
    if (ref.id.is_zero()) {
      while (next_range < ranges.size() && ranges[next_range].offset + ranges[next_range].length <= at) next_range++;
      bool touched = next_range < ranges.size() && ranges[next_range].offset < at + ref.length;
      if (!touched) continue;
    }
    TRY_STATUS(check_cancelled(progress));
    buf.resize(ref.length);
    for (uint64_t pos = 0; pos < ref.length; pos += kMaxRequest) {
      std::span<uint8_t> piece(buf.data() + pos, std::min<uint64_t>(kMaxRequest, ref.length - pos));
      TRY_STATUS(client->read_snapshot(seq, at + pos, piece));
    }
    bytes_read += ref.length;
    bool same = ref.id.is_zero() ? all_zero(buf) : repo.blob_id(buf) == ref.id;
    if (!same)
      return Error(ErrorCode::kCorrupt,
                   "the block at offset " + std::to_string(at) + " (" + std::to_string(ref.length) +
                       " bytes) differs from the backup",
                   address.to_string());
  }
  return ok_status();
}

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
  std::function<Status(const HostPort&, uint64_t seq, std::atomic<uint64_t>& bytes_read)> verify;
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
Result<FilledReplicas> fill_replicas_verified(const std::vector<HostPort>& replicas, const ReplicaFillPlan& plan) {
  auto refuse = [](const HostPort& r, const Error& e, const std::string& doing) {
    return Error(e.code(), "cannot " + doing + " replica " + r.to_string() + ": " + e.message(), r.to_string(),
                 e.hint().empty() ? "check that the replica runs and is reachable" : e.hint());
  };
  for (const auto& r : replicas) {
    auto checked = [&]() -> Status {
      auto client = TRY(ReplicaClient::connect(r, kReplicaTimeout));
      auto info = TRY(client->hello());
      if (info.size < plan.size)
        return Error(ErrorCode::kInvalidArgument,
                     "it holds " + std::to_string(info.size) + " bytes, " + plan.size_owner + " " +
                         std::to_string(plan.size),
                     r.to_string(), "create the replica with --size " + std::to_string(plan.size) + " (or larger)");
      return ok_status();
    }();
    if (!checked.ok()) return refuse(r, checked.error(), plan.operation + " into");
  }
  for (const auto& r : replicas) {
    auto prepared = [&]() -> Status {
      auto client = TRY(ReplicaClient::connect(r, kReplicaTimeout));
      TRY_STATUS(client->fence());
      return client->reset();
    }();
    if (!prepared.ok()) return refuse(r, prepared.error(), "fence and reset");
  }

  FilledReplicas result;
  ReplicaFillSink sink(replicas, plan.operation);
  TRY_STATUS(plan.fill(sink));
  result.bytes_written = sink.bytes_written();

  const uint64_t seq = 1;  // a reset replica has no snapshots
  std::vector<Status> verified(replicas.size());
  std::atomic<uint64_t> bytes_read{0};
  {
    std::vector<std::thread> threads;
    for (size_t i = 0; i < replicas.size(); i++)
      threads.emplace_back([&, i] {
        verified[i] = [&]() -> Status {
          auto client = TRY(ReplicaClient::connect(replicas[i], kReplicaTimeout));
          TRY_STATUS(client->create_snapshot(seq, plan.snapshot_name));
          return plan.verify(replicas[i], seq, bytes_read);
        }();
      });
    for (auto& t : threads) t.join();
  }
  for (size_t i = 0; i < replicas.size(); i++)
    if (!verified[i].ok())
      return Error(verified[i].error().code(),
                   "replica " + replicas[i].to_string() + " did not verify: " + verified[i].error().message() +
                       "; every replica stays fenced",
                   replicas[i].to_string(), "check that replica and run the " + plan.operation + " again");
  result.bytes_verified = bytes_read / replicas.size();

  for (const auto& r : replicas) {
    auto unfenced = [&]() -> Status {
      auto client = TRY(ReplicaClient::connect(r, kReplicaTimeout));
      return client->unfence();
    }();
    if (!unfenced.ok())
      return Error(unfenced.error().code(), "cannot unfence replica " + r.to_string() + ": " + unfenced.error().message(),
                   r.to_string(), "unfence it by hand: stowage-volume unfence --replica " + r.to_string());
  }
  return result;
}

}  // namespace

std::string replicated_source(const HostPort& control) { return "replicated:" + control.to_string(); }

std::string new_volume_snapshot_name() {
  std::random_device random;
  char suffix[9];
  snprintf(suffix, sizeof suffix, "%08x", unsigned(random()));
  return "stowage-" + std::to_string(int64_t(time(nullptr))) + "-" + suffix;
}

std::string tag_value(const std::vector<std::string>& tags, std::string_view prefix) {
  for (const auto& t : tags)
    if (t.size() > prefix.size() && t.compare(0, prefix.size(), prefix) == 0) return t.substr(prefix.size());
  return "";
}

std::vector<std::string> healthy_replicas_holding(const nlohmann::json& status,
                                                  const std::vector<std::string>& holding) {
  std::vector<std::string> out;
  auto replicas = status.find("replicas");
  if (replicas == status.end() || !replicas->is_array()) return out;
  for (const auto& r : *replicas) {
    if (!r.is_object() || r.value("state", "") != "healthy") continue;
    std::string address = r.value("address", "");
    if (address.empty()) continue;
    if (holding.empty() || std::find(holding.begin(), holding.end(), address) != holding.end()) out.push_back(address);
  }
  return out;
}

Result<ReplicatedBackupResult> backup_replicated_volume(Repository& repo, const HostPort& control,
                                                        const ReplicatedBackupOptions& options) {
  ReplicatedBackupResult result;
  std::string parent_name;
  if (options.parent) {
    Snapshot parent = TRY(repo.load_snapshot(*options.parent));
    if (parent.kind == SnapshotKind::kBlock) parent_name = tag_value(parent.tags, kVolumeSnapshotTag);
  }
  auto status = TRY(call(control, {{"op", "status"}}, kControlTimeout));
  if (!status.value("ready", false))
    return Error(ErrorCode::kUnavailable, "the volume target is not serving yet (no quorum of replicas)",
                 control.to_string(), "check its replicas with: stowage-volume status --target " + control.to_string());
  const uint64_t size = status.value("size", uint64_t(0));
  bool parent_exists = false;
  uint64_t parent_seq = 0;
  if (!parent_name.empty()) {
    auto listed = TRY(call(control, {{"op", "snapshots"}}, kControlTimeout));
    for (const auto& s : listed.value("snapshots", nlohmann::json::array()))
      if (s.value("name", "") == parent_name) {
        parent_exists = true;
        parent_seq = s.value("seq", uint64_t(0));
      }
  }

  result.volume_snapshot = new_volume_snapshot_name();
  auto taken = TRY(take_volume_snapshot(control, result.volume_snapshot, options.pause_timeout));
  result.seq = taken.seq;
  result.pause_ms = taken.pause_ms;
  const std::vector<std::string> holding = std::move(taken.replicas);

  // From here on a failure deletes the new volume snapshot again.
  auto read_and_store = [&]() -> Status {
    auto now = TRY(call(control, {{"op", "status"}}, kControlTimeout));
    std::vector<HostPort> candidates;
    for (const auto& address : healthy_replicas_holding(now, holding)) {
      auto parsed = blockvol::parse_host_port(address);
      if (parsed.ok()) candidates.push_back(*parsed);
    }
    if (candidates.empty())
      return Error(ErrorCode::kUnavailable,
                   "no healthy replica holds the new volume snapshot " + result.volume_snapshot, control.to_string(),
                   "check the replicas with: stowage-volume status --target " + control.to_string());
    // The extents come from a replica (binary protocol: no size limit on
    // the list, unlike the control port's one JSON line).
    auto extents = TRY(replica_changed_extents(candidates, parent_exists ? parent_seq : 0, result.seq, "backup"));
    for (const auto& e : extents) result.changed_bytes += e.length;
    ReplicaSnapshotSource source(candidates, result.volume_snapshot, result.seq, size, "backup");

    BlockBackupOptions bo;
    bo.source = replicated_source(control);
    bo.tags = options.tags;
    bo.tags.push_back(std::string(kVolumeSnapshotTag) + result.volume_snapshot);
    bo.tags.push_back(std::string(kVolumeSizeTag) + std::to_string(size));
    bo.changed = std::move(extents);
    result.incremental = parent_exists;
    if (parent_exists) {
      bo.parent = options.parent;
      result.parent_volume_snapshot = parent_name;
    } else {
      bo.changed_lists_allocation = true;  // a full backup: only the allocated extents are read
    }
    bo.workers = options.workers;
    bo.progress = options.progress;
    auto snap = backup_block(repo, source, bo);
    result.replica = source.replica();
    result.replica_failures = source.failures();
    if (!snap.ok()) return std::move(snap).error();
    result.snapshot = std::move(*snap);
    return ok_status();
  };
  Status done = read_and_store();
  if (!done.ok()) {
    (void)call(control, {{"op", "delete-snapshot"}, {"name", result.volume_snapshot}}, kControlTimeout);
    return std::move(done).error().with_context("backing up volume snapshot " + result.volume_snapshot);
  }
  // Only the newest backed-up volume snapshot is kept, as the next base.
  if (parent_exists && parent_name != result.volume_snapshot) {
    auto started = std::chrono::steady_clock::now();
    auto deleted = call(control, {{"op", "delete-snapshot"}, {"name", parent_name}}, kControlTimeout);
    result.delete_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
    if (deleted.ok()) result.deleted_volume_snapshot = parent_name;
    else result.snapshot.warnings.push_back("the previous volume snapshot " + parent_name +
                                            " was not deleted: " + deleted.error().to_string());
  }
  return result;
}

Result<ReplicatedRestoreResult> restore_replicated_volume(Repository& repo, const Snapshot& snapshot,
                                                          const std::vector<HostPort>& replicas,
                                                          const ReplicatedRestoreOptions& options) {
  if (snapshot.kind != SnapshotKind::kBlock)
    return Error(ErrorCode::kInvalidArgument,
                 "repository snapshot " + snapshot.id.short_hex() + " is a " + snapshot_kind_name(snapshot.kind) +
                     " snapshot, not a block volume",
                 snapshot.id.hex(), "restore it with the restore of its own kind");
  if (replicas.empty())
    return Error(ErrorCode::kInvalidArgument, "no replicas to restore into", "", "pass --replicas HOST:PORT,...");
  ReplicatedRestoreResult result;
  result.size = snapshot.size;
  auto refs = TRY(load_chunk_list(repo, snapshot.root));

  ReplicaFillPlan plan;
  plan.operation = "restore";
  plan.size = snapshot.size;
  plan.size_owner = "the backup";
  // The backup's volume snapshot name, so the restored volume can be backed
  // up incrementally against this backup.
  plan.snapshot_name = tag_value(snapshot.tags, kVolumeSnapshotTag);
  if (plan.snapshot_name.empty()) plan.snapshot_name = "stowage-restore-" + snapshot.id.short_hex();
  // One read of the repository, every block sent to every replica.
  plan.fill = [&](ReplicaFillSink& sink) {
    BlockRestoreOptions ro;
    ro.workers = options.workers;
    ro.progress = options.progress;
    return restore_block(repo, snapshot, sink, ro);
  };
  // Compared with the repository's block ids.
  plan.verify = [&](const HostPort& replica, uint64_t seq, std::atomic<uint64_t>& bytes_read) {
    return verify_replica(repo, refs, replica, seq, bytes_read, options.progress);
  };
  auto filled = TRY(fill_replicas_verified(replicas, plan));
  result.bytes_written = filled.bytes_written;
  result.bytes_verified = filled.bytes_verified;
  result.volume_snapshot = plan.snapshot_name;
  return result;
}

// Local snapshots: kept on the replicas, cloned into new replicas, deleted.

namespace {

// The sequence number of snapshot `name` on one replica, or nothing when it
// holds no snapshot of that name.
Result<std::optional<uint64_t>> snapshot_seq(ReplicaClient& client, const std::string& name) {
  auto listed = TRY(client.snapshots());
  for (const auto& s : listed)
    if (s.name == name) return std::optional<uint64_t>(s.seq);
  return std::optional<uint64_t>();
}

// The replicas of a reference that answer and hold its snapshot, in order.
struct LocatedSnapshot {
  std::vector<HostPort> holders;
  uint64_t seq = 0;
  uint64_t size = 0;                  // the volume's size
  std::vector<std::string> failures;  // the other replicas, with why
};

Result<LocatedSnapshot> locate_snapshot(const ReplicatedSnapshotRef& ref, const std::string& reference) {
  LocatedSnapshot out;
  bool unreachable = false;
  for (const auto& r : ref.replicas) {
    uint64_t size = 0;
    std::optional<uint64_t> seq;
    Status asked = [&]() -> Status {
      auto client = TRY(ReplicaClient::connect(r, kReplicaTimeout));
      size = TRY(client->hello()).size;
      seq = TRY(snapshot_seq(*client, ref.name));
      return ok_status();
    }();
    if (!asked.ok()) {
      unreachable = true;
      out.failures.push_back(r.to_string() + ": " + asked.error().to_string());
    } else if (!seq) {
      out.failures.push_back(r.to_string() + ": does not hold it (any more)");
    } else if (!out.holders.empty() && (*seq != out.seq || size != out.size)) {
      out.failures.push_back(r.to_string() + ": holds it as sequence " + std::to_string(*seq) + " of a volume of " +
                             std::to_string(size) + " bytes, not sequence " + std::to_string(out.seq) + " of " +
                             std::to_string(out.size) + " bytes");
    } else {
      if (out.holders.empty()) {
        out.seq = *seq;
        out.size = size;
      }
      out.holders.push_back(r);
    }
  }
  if (out.holders.empty()) {
    std::string why;
    for (const auto& f : out.failures) why += (why.empty() ? "" : "; ") + f;
    return Error(unreachable ? ErrorCode::kUnavailable : ErrorCode::kNotFound,
                 "no replica holds volume snapshot " + ref.name + " (" + why + ")", reference,
                 unreachable ? "start the source volume's replicas and run the clone again"
                             : "the snapshot was deleted: restore from an uploaded backup instead");
  }
  return out;
}

// A piece of the snapshot a clone copied, with the SHA-256 of the bytes read.
struct CopiedPiece {
  uint64_t offset = 0;
  uint64_t length = 0;
  crypto::Digest digest{};
};

// Reads every piece from the source and sends each non-zero one to every
// replica (`workers` pieces in flight), recording the pieces' hashes, then
// finishes the sink (durable, still fenced).
Status copy_pieces(ReplicaSnapshotSource& source, ReplicaFillSink& sink, std::vector<CopiedPiece>& pieces,
                   size_t workers, Progress* progress) {
  {
    WorkQueue queue(std::max<size_t>(workers, 1), 4);
    for (size_t i = 0; i < pieces.size() && !queue.failed(); i++) {
      queue.submit([&, i]() -> Status {
        if (queue.failed()) return ok_status();
        TRY_STATUS(check_cancelled(progress));
        CopiedPiece& piece = pieces[i];
        Bytes buf(piece.length);
        Status read = source.read(piece.offset, buf);
        if (!read.ok())
          return std::move(read).error().with_context("reading the source (every destination replica stays fenced)");
        piece.digest = crypto::sha256(buf);
        if (!all_zero(buf)) TRY_STATUS(sink.write(piece.offset, buf));  // a reset replica reads zeros already
        if (progress) progress->bytes_done += piece.length;
        return ok_status();
      });
    }
    TRY_STATUS(queue.wait());
  }
  return sink.finish();
}

// Reads every copied piece back from one replica (its volume snapshot
// `seq`) and compares its hash with the source's; the replica may hold no
// data outside the pieces (it was reset, and only pieces were written).
Status verify_pieces(const std::vector<CopiedPiece>& pieces, const HostPort& address, uint64_t seq,
                     std::atomic<uint64_t>& bytes_read, const Progress* progress) {
  auto client = TRY(ReplicaClient::connect(address, kReplicaTimeout));
  Bytes buf;
  for (const auto& piece : pieces) {
    TRY_STATUS(check_cancelled(progress));
    buf.resize(piece.length);
    TRY_STATUS(client->read_snapshot(seq, piece.offset, buf));
    bytes_read += piece.length;
    if (crypto::sha256(buf) != piece.digest)
      return Error(ErrorCode::kCorrupt,
                   "the " + std::to_string(piece.length) + " bytes at offset " + std::to_string(piece.offset) +
                       " differ from the source snapshot's",
                   address.to_string());
  }
  // Pieces are in offset order and do not overlap.
  auto allocated = TRY(client->changed_extents(0, seq));
  size_t next = 0;
  for (const auto& e : allocated) {
    uint64_t at = e.offset;
    while (at < e.offset + e.length) {
      while (next < pieces.size() && pieces[next].offset + pieces[next].length <= at) next++;
      if (next == pieces.size() || pieces[next].offset > at)
        return Error(ErrorCode::kCorrupt,
                     "it holds data at offset " + std::to_string(at) + ", where the source snapshot holds none",
                     address.to_string());
      at = pieces[next].offset + pieces[next].length;
    }
  }
  return ok_status();
}

}  // namespace

std::string format_replicated_snapshot(const ReplicatedSnapshotRef& ref) {
  std::string out(kReplicatedSnapshotPrefix);
  for (size_t i = 0; i < ref.replicas.size(); i++) out += (i ? "," : "") + ref.replicas[i].to_string();
  return out + "@" + ref.name;
}

bool is_replicated_snapshot(std::string_view reference) { return reference.starts_with(kReplicatedSnapshotPrefix); }

Result<ReplicatedSnapshotRef> parse_replicated_snapshot(std::string_view reference) {
  auto malformed = [reference](const std::string& why) {
    return Error(ErrorCode::kInvalidArgument,
                 "'" + std::string(reference) + "' is not a replicated volume snapshot reference: " + why,
                 std::string(reference), "expected " + std::string(kReplicatedSnapshotPrefix) + "HOST:PORT,HOST:PORT,...@NAME");
  };
  if (!is_replicated_snapshot(reference)) return malformed("it does not start with " + std::string(kReplicatedSnapshotPrefix));
  std::string_view rest = reference.substr(kReplicatedSnapshotPrefix.size());
  size_t at = rest.rfind('@');
  if (at == std::string_view::npos) return malformed("no @NAME");
  ReplicatedSnapshotRef ref;
  ref.name = std::string(rest.substr(at + 1));
  if (!blockvol::valid_snapshot_name(ref.name)) return malformed("'" + ref.name + "' is not a snapshot name");
  std::string_view list = rest.substr(0, at);
  if (list.empty()) return malformed("no replicas");
  for (;;) {
    size_t comma = list.find(',');
    auto replica = blockvol::parse_host_port(list.substr(0, comma));
    if (!replica.ok()) return malformed("'" + std::string(list.substr(0, comma)) + "' is not HOST:PORT");
    ref.replicas.push_back(std::move(*replica));
    if (comma == std::string_view::npos) break;
    list = list.substr(comma + 1);
  }
  return ref;
}

Result<std::string> keep_replicated_snapshot(const HostPort& control, const std::string& name,
                                             std::chrono::milliseconds pause_timeout) {
  if (!blockvol::valid_snapshot_name(name))
    return Error(ErrorCode::kInvalidArgument, "'" + name + "' is not a valid volume snapshot name", name,
                 "use 1 to 128 letters, digits, '.', '_' or '-', not starting with '.'");
  auto taken = TRY(take_volume_snapshot(control, name, pause_timeout));
  ReplicatedSnapshotRef ref;
  ref.name = name;
  for (const auto& address : taken.replicas) {
    auto parsed = blockvol::parse_host_port(address);
    if (parsed.ok()) ref.replicas.push_back(std::move(*parsed));
  }
  if (ref.replicas.empty()) {
    (void)call(control, {{"op", "delete-snapshot"}, {"name", name}}, kControlTimeout);
    return Error(ErrorCode::kInternal, "the target reported no replica holding the new volume snapshot " + name,
                 control.to_string(), "check its replicas with: stowage-volume status --target " + control.to_string());
  }
  return format_replicated_snapshot(ref);
}

Result<ReplicatedCloneResult> clone_replicated_snapshot(const std::string& reference,
                                                        const std::vector<HostPort>& destinations,
                                                        const ReplicatedCloneOptions& options) {
  ReplicatedSnapshotRef ref = TRY(parse_replicated_snapshot(reference));
  if (destinations.empty())
    return Error(ErrorCode::kInvalidArgument, "no replicas to clone into", reference,
                 "name the new volume's replicas (replicas=HOST:PORT,...)");
  std::string sources;
  for (const auto& s : ref.replicas) sources += (sources.empty() ? "" : ", ") + s.to_string();
  for (const auto& d : destinations)
    for (const auto& s : ref.replicas)
      if (d.to_string() == s.to_string())
        return Error(ErrorCode::kInvalidArgument,
                     "replica " + d.to_string() + " holds volume snapshot " + ref.name +
                         ", the source of the clone; a clone cannot be written over its source",
                     d.to_string(),
                     "clone into new replicas (stowage-volume replica --create --fenced) other than " + sources);

  ReplicatedCloneResult result;
  result.volume_snapshot = ref.name;
  LocatedSnapshot located = TRY(locate_snapshot(ref, reference));
  result.size = located.size;
  auto extents = TRY(replica_changed_extents(located.holders, 0, located.seq, "clone"));
  std::vector<CopiedPiece> pieces;
  for (const auto& e : extents)
    for (uint64_t pos = 0; pos < e.length; pos += kClonePiece)
      pieces.push_back(CopiedPiece{e.offset + pos, std::min<uint64_t>(kClonePiece, e.length - pos), {}});
  for (const auto& p : pieces) result.bytes_copied += p.length;
  if (options.progress) options.progress->bytes_total = result.bytes_copied;
  ReplicaSnapshotSource source(located.holders, ref.name, located.seq, located.size, "clone");

  ReplicaFillPlan plan;
  plan.operation = "clone";
  plan.size = located.size;
  plan.size_owner = "the snapshot's volume";
  plan.snapshot_name = ref.name;
  plan.fill = [&](ReplicaFillSink& sink) {
    return copy_pieces(source, sink, pieces, options.workers ? options.workers : 4, options.progress);
  };
  plan.verify = [&](const HostPort& replica, uint64_t seq, std::atomic<uint64_t>& bytes_read) {
    return verify_pieces(pieces, replica, seq, bytes_read, options.progress);
  };
  auto filled = fill_replicas_verified(destinations, plan);
  result.replica = source.replica();
  result.replica_failures = located.failures;
  for (auto& f : source.failures()) result.replica_failures.push_back(std::move(f));
  if (!filled.ok()) return std::move(filled).error().with_context("cloning volume snapshot " + ref.name);
  result.bytes_written = filled->bytes_written;
  result.bytes_verified = filled->bytes_verified;
  return result;
}

Result<std::vector<std::string>> delete_replicated_snapshot(const std::string& reference) {
  ReplicatedSnapshotRef ref = TRY(parse_replicated_snapshot(reference));
  std::vector<std::string> deleted;
  std::vector<std::string> failures;
  std::optional<ErrorCode> first_code;
  std::string first_failed;
  for (const auto& r : ref.replicas) {
    bool removed = false;
    Status done = [&]() -> Status {
      auto client = TRY(ReplicaClient::connect(r, kReplicaTimeout));
      auto seq = TRY(snapshot_seq(*client, ref.name));
      if (!seq) return ok_status();
      Status s = client->delete_snapshot(*seq);
      if (!s.ok() && s.error().code() == ErrorCode::kNotFound) return ok_status();  // deleted meanwhile
      TRY_STATUS(s);
      removed = true;
      return ok_status();
    }();
    if (!done.ok()) {
      failures.push_back(r.to_string() + ": " + done.error().to_string());
      if (!first_code) {
        first_code = done.error().code();
        first_failed = r.to_string();
      }
    } else if (removed) {
      deleted.push_back(r.to_string());
    }
  }
  if (first_code) {
    std::string why;
    for (const auto& f : failures) why += (why.empty() ? "" : "; ") + f;
    // Never kNotFound: a caller takes that as "already gone".
    ErrorCode code = *first_code == ErrorCode::kNotFound ? ErrorCode::kUnavailable : *first_code;
    return Error(code, "volume snapshot " + ref.name + " could not be deleted on every replica (" + why + ")",
                 first_failed,
                 "start the replica again and repeat the deletion (replicas that no longer hold the snapshot are "
                 "skipped)");
  }
  return deleted;
}

}  // namespace stowage::engine
