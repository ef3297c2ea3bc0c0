#include "engine/replicated_volume.h"

#include <algorithm>
#include <atomic>
#include <ctime>
#include <memory>
#include <mutex>
#include <random>
#include <thread>

#include "blockvol/control.h"
#include "blockvol/replica_client.h"
#include "mover/chunk_list.h"

namespace stowage::engine {

namespace {

using blockvol::HostPort;
using blockvol::ReplicaClient;

constexpr auto kReplicaTimeout = std::chrono::milliseconds(60000);
constexpr auto kControlTimeout = std::chrono::milliseconds(60000);
constexpr uint64_t kMaxRequest = 16u << 20;  // bytes per replica request (the protocol allows 32 MiB)

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
class ReplicaSnapshotSource : public BlockSource {
 public:
  ReplicaSnapshotSource(const std::vector<HostPort>& replicas, std::string snapshot, uint64_t seq, uint64_t size)
      : snapshot_(std::move(snapshot)), seq_(seq), size_(size) {
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
                     "check the replicas (stowage-volume status) and run the backup again");
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
  std::vector<std::unique_ptr<ClientPool>> pools_;
  std::atomic<size_t> current_{0};
  mutable std::mutex mu_;
  std::vector<std::string> failures_;
};

// Writes every block to every replica: each write is sent to all replicas
// before any reply is awaited (fill requests; the replicas are fenced).
// Holes are not written: the replicas were reset, so they read as zeros.
class ReplicaFillSink : public BlockSink {
 public:
  explicit ReplicaFillSink(const std::vector<HostPort>& replicas) {
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
                 "check that replica (its process and disk) and run the restore again");
  }

  std::vector<std::unique_ptr<ClientPool>> pools_;
  std::atomic<uint64_t> bytes_written_{0};
};

// The extents changed between volume snapshots from_seq (0: the beginning)
// and to_seq, from the first of `replicas` that answers.
Result<std::vector<Extent>> replica_changed_extents(const std::vector<HostPort>& replicas, uint64_t from_seq,
                                                    uint64_t to_seq) {
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
               "check the replicas (stowage-volume status) and run the backup again");
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
  auto taken = TRY(call(control,
                        {{"op", "snapshot"}, {"name", result.volume_snapshot},
                         {"timeout_ms", int64_t(options.pause_timeout.count())}},
                        options.pause_timeout + kControlTimeout));
  result.seq = taken.value("seq", uint64_t(0));
  result.pause_ms = taken.value("pause_ms", 0.0);
  std::vector<std::string> holding = taken.value("replicas", std::vector<std::string>());

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
    auto extents = TRY(replica_changed_extents(candidates, parent_exists ? parent_seq : 0, result.seq));
    for (const auto& e : extents) result.changed_bytes += e.length;
    ReplicaSnapshotSource source(candidates, result.volume_snapshot, result.seq, size);

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

  // Every replica must answer and be large enough before any is touched.
  auto refuse = [](const HostPort& r, const Error& e, const char* doing) {
    return Error(e.code(), std::string("cannot ") + doing + " replica " + r.to_string() + ": " + e.message(), r.to_string(),
                 e.hint().empty() ? "check that the replica runs and is reachable" : e.hint());
  };
  for (const auto& r : replicas) {
    auto checked = [&]() -> Status {
      auto client = TRY(ReplicaClient::connect(r, kReplicaTimeout));
      auto info = TRY(client->hello());
      if (info.size < snapshot.size)
        return Error(ErrorCode::kInvalidArgument,
                     "it holds " + std::to_string(info.size) + " bytes, the backup " + std::to_string(snapshot.size),
                     r.to_string(), "create the replica with --size " + std::to_string(snapshot.size) + " (or larger)");
      return ok_status();
    }();
    if (!checked.ok()) return refuse(r, checked.error(), "restore into");
  }
  // Fence (cuts every target off: no application can use the volume until
  // the end) and drop the replicas' old data and snapshots.
  for (const auto& r : replicas) {
    auto prepared = [&]() -> Status {
      auto client = TRY(ReplicaClient::connect(r, kReplicaTimeout));
      TRY_STATUS(client->fence());
      return client->reset();
    }();
    if (!prepared.ok()) return refuse(r, prepared.error(), "fence and reset");
  }

  // One read of the repository, every block sent to every replica.
  ReplicaFillSink sink(replicas);
  BlockRestoreOptions ro;
  ro.workers = options.workers;
  ro.progress = options.progress;
  TRY_STATUS(restore_block(repo, snapshot, sink, ro));
  result.bytes_written = sink.bytes_written();

  // A snapshot at the restored point on every replica (the backup's volume
  // snapshot name, so the restored volume can be backed up incrementally
  // against this backup), read back and compared with the repository.
  result.volume_snapshot = tag_value(snapshot.tags, kVolumeSnapshotTag);
  if (result.volume_snapshot.empty()) result.volume_snapshot = "stowage-restore-" + snapshot.id.short_hex();
  const uint64_t seq = 1;  // a reset replica has no snapshots
  auto refs = TRY(load_chunk_list(repo, snapshot.root));
  std::vector<Status> verified(replicas.size());
  std::atomic<uint64_t> bytes_read{0};
  {
    std::vector<std::thread> threads;
    for (size_t i = 0; i < replicas.size(); i++)
      threads.emplace_back([&, i] {
        verified[i] = [&]() -> Status {
          auto client = TRY(ReplicaClient::connect(replicas[i], kReplicaTimeout));
          TRY_STATUS(client->create_snapshot(seq, result.volume_snapshot));
          return verify_replica(repo, refs, replicas[i], seq, bytes_read, options.progress);
        }();
      });
    for (auto& t : threads) t.join();
  }
  for (size_t i = 0; i < replicas.size(); i++)
    if (!verified[i].ok())
      return Error(verified[i].error().code(),
                   "replica " + replicas[i].to_string() + " did not verify: " + verified[i].error().message() +
                       "; every replica stays fenced",
                   replicas[i].to_string(), "check that replica and run the restore again");
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

}  // namespace stowage::engine
