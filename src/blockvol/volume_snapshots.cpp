// ReplicatedVolume's snapshot operations: crash-consistent snapshots (pause,
// drain, one sequence number on every healthy replica, rollback below the
// quorum), listing, deletion and changed extents (docs/blockvol.md).
#include "blockvol/replicated_volume.h"

#include <algorithm>

namespace stowage::blockvol {

using wire::Op;
using Clock = std::chrono::steady_clock;

Result<SnapshotOutcome> ReplicatedVolume::snapshot(const std::string& name, std::chrono::milliseconds drain_timeout) {
  if (!valid_snapshot_name(name))
    return Error(ErrorCode::kInvalidArgument, "bad snapshot name", name, "use 1-128 of A-Z a-z 0-9 . _ -");
  std::unique_lock snapshot_lock(snapshot_mu_, std::defer_lock);
  if (!snapshot_lock.try_lock_for(drain_timeout))
    return Error(ErrorCode::kConflict, "a replica rebuild or another snapshot operation is running", name,
                 "try again when `stowage-volume status` shows every replica healthy");
  if (!ready_) return Error(ErrorCode::kUnavailable, "the volume is not ready");
  auto existing = TRY(snapshots());
  for (const auto& s : existing)
    if (s.name == name) return Error(ErrorCode::kAlreadyExists, "a snapshot with this name exists", name);

  auto paused_at = Clock::now();
  Status drained = gate_.close(drain_timeout);
  if (!drained.ok()) return std::move(drained).error().with_context("pausing IO for the snapshot");
  // No write is in flight on the target, so none is in flight on a replica
  // either (each replica answers a request before the next is sent).
  auto flushed = broadcast(healthy_links(), Op::kFlush, 0, 0, 0, {});
  std::vector<Link*> ready_links;
  for (auto& reply : flushed)
    if (reply.result.ok()) ready_links.push_back(reply.link);
  uint64_t seq;
  {
    std::lock_guard lock(state_mu_);
    seq = next_seq_++;
  }
  SnapshotOutcome outcome{seq, name, 0, {}};
  std::string failures;
  if (ready_links.size() >= options_.quorum) {
    auto payload = wire::encode_snapshot_create(seq, name);
    auto created = broadcast(ready_links, Op::kSnapshotCreate, 0, 0, 0, payload);
    std::vector<Link*> holders;
    for (auto& reply : created) {
      if (reply.result.ok()) {
        holders.push_back(reply.link);
      } else {
        failures += " " + reply.link->address.to_string() + ": " + reply.result.error().message() + ";";
      }
    }
    if (holders.size() >= options_.quorum) {
      for (Link* l : holders) outcome.replicas.push_back(l->address.to_string());
    } else {
      auto drop = wire::encode_u64(seq);
      auto rolled = broadcast(holders, Op::kSnapshotDelete, 0, 0, 0, drop);
      gate_.open();
      std::string where;
      for (auto& reply : rolled) where += " " + reply.link->address.to_string() + (reply.result.ok() ? "" : " (failed)");
      return Error(ErrorCode::kUnavailable,
                   "snapshot reached " + std::to_string(holders.size()) + " replicas, fewer than the quorum of " +
                       std::to_string(options_.quorum) + "; rolled back on:" + (where.empty() ? " none" : where) +
                       (failures.empty() ? "" : "; failures:" + failures),
                   name);
    }
  }
  gate_.open();
  outcome.pause_ms = std::chrono::duration<double, std::milli>(Clock::now() - paused_at).count();
  if (outcome.replicas.empty())
    return Error(ErrorCode::kUnavailable,
                 "only " + std::to_string(ready_links.size()) + " healthy replicas; the quorum is " +
                     std::to_string(options_.quorum) + "; no snapshot was taken",
                 name);
  log_.info("snapshot taken", {{"name", name}, {"seq", std::to_string(seq)},
                               {"pause_ms", std::to_string(outcome.pause_ms)},
                               {"replicas", std::to_string(outcome.replicas.size())}});
  return outcome;
}

Result<std::vector<SnapshotInfo>> ReplicatedVolume::snapshots() {
  for (size_t attempt = 0; attempt <= links_.size(); ++attempt) {
    Link* link = first_healthy();
    if (!link) return Error(ErrorCode::kUnavailable, "no healthy replica");
    std::unique_lock io(link->io);
    if (!link->client) continue;
    auto list = link->client->snapshots();
    if (list.ok() || !replica_lost(list.error())) return list;
    lose(*link, list.error());
  }
  return Error(ErrorCode::kUnavailable, "no healthy replica answered");
}

Result<uint64_t> ReplicatedVolume::resolve_snapshot(const std::string& name) {
  auto list = TRY(snapshots());
  for (const auto& s : list)
    if (s.name == name) return s.seq;
  return Error(ErrorCode::kNotFound, "no such snapshot", name);
}

Result<std::vector<std::string>> ReplicatedVolume::delete_snapshot(const std::string& name,
                                                                    std::chrono::milliseconds timeout) {
  std::unique_lock snapshot_lock(snapshot_mu_, std::defer_lock);
  if (!snapshot_lock.try_lock_for(timeout))
    return Error(ErrorCode::kConflict, "a replica rebuild or another snapshot operation is running", name);
  uint64_t seq = TRY(resolve_snapshot(name));
  auto payload = wire::encode_u64(seq);
  auto replies = broadcast(healthy_links(), Op::kSnapshotDelete, 0, 0, 0, payload);
  std::vector<std::string> deleted;
  for (auto& reply : replies)
    if (reply.result.ok()) deleted.push_back(reply.link->address.to_string());
  if (deleted.empty()) return Error(ErrorCode::kUnavailable, "no replica deleted the snapshot", name);
  return deleted;
}

Result<std::vector<Extent>> ReplicatedVolume::changed_extents(const std::string& from, const std::string& to) {
  uint64_t from_seq = from.empty() ? 0 : TRY(resolve_snapshot(from));
  uint64_t to_seq = to.empty() ? 0 : TRY(resolve_snapshot(to));
  for (size_t attempt = 0; attempt <= links_.size(); ++attempt) {
    Link* link = first_healthy();
    if (!link) return Error(ErrorCode::kUnavailable, "no healthy replica");
    std::unique_lock io(link->io);
    if (!link->client) continue;
    auto extents = link->client->changed_extents(from_seq, to_seq);
    if (extents.ok() || !replica_lost(extents.error())) return extents;
    lose(*link, extents.error());
  }
  return Error(ErrorCode::kUnavailable, "no healthy replica answered");
}

}  // namespace stowage::blockvol
