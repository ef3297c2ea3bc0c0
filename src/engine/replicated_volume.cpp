#include "engine/replicated_volume.h"

#include <algorithm>
#include <atomic>
#include <ctime>
#include <random>

#include "blockvol/replica_client.h"
#include "engine/replica_io.h"
#include "mover/chunk_list.h"

namespace stowage::engine {

namespace {

using blockvol::HostPort;
using blockvol::ReplicaClient;

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
  auto status = TRY(call_target(control, {{"op", "status"}}));
  if (!status.value("ready", false))
    return Error(ErrorCode::kUnavailable, "the volume target is not serving yet (no quorum of replicas)",
                 control.to_string(), "check its replicas with: stowage-volume status --target " + control.to_string());
  const uint64_t size = status.value("size", uint64_t(0));
  bool parent_exists = false;
  uint64_t parent_seq = 0;
  if (!parent_name.empty()) {
    auto listed = TRY(call_target(control, {{"op", "snapshots"}}));
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
    auto now = TRY(call_target(control, {{"op", "status"}}));
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
    (void)call_target(control, {{"op", "delete-snapshot"}, {"name", result.volume_snapshot}});
    return std::move(done).error().with_context("backing up volume snapshot " + result.volume_snapshot);
  }
  // Only the newest backed-up volume snapshot is kept, as the next base.
  if (parent_exists && parent_name != result.volume_snapshot) {
    auto started = std::chrono::steady_clock::now();
    auto deleted = call_target(control, {{"op", "delete-snapshot"}, {"name", parent_name}});
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

}  // namespace stowage::engine
