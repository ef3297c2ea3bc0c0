// ReplicatedVolume's rebuild of a replica that came back: reset it, replay
// the healthy source's snapshots, then copy the live head while new writes
// also reach it (docs/blockvol.md, "The target").
#include "blockvol/replicated_volume.h"

#include <algorithm>

namespace stowage::blockvol {

using wire::Op;
using Clock = std::chrono::steady_clock;

Status ReplicatedVolume::copy_extents(Link& source, Link& target, uint64_t seq, const std::vector<Extent>& extents,
                                      bool gated) {
  const uint64_t chunk = gated ? (1u << 20) : (4u << 20);
  std::vector<uint8_t> buf(chunk);
  for (const Extent& extent : extents) {
    for (uint64_t pos = extent.offset; pos < extent.offset + extent.length; pos += chunk) {
      if (stopping_) return Error(ErrorCode::kCancelled, "stopping");
      uint64_t n = std::min<uint64_t>(chunk, extent.offset + extent.length - pos);
      std::span<uint8_t> data(buf.data(), n);
      if (gated) TRY_STATUS(gate_.close(options_.rebuild_pause_limit));
      Status s;
      {
        std::unique_lock io(source.io);
        s = seq ? source.client->read_snapshot(seq, pos, data) : source.client->read(pos, data);
        if (!s.ok() && replica_lost(s.error())) lose(source, s.error());
      }
      if (s.ok()) {
        std::unique_lock io(target.io);
        s = target.client->write(pos, data, false);
      }
      if (gated) gate_.open();
      TRY_STATUS(s);
      std::lock_guard lock(state_mu_);
      target.rebuilt_bytes += n;
    }
  }
  return ok_status();
}

Status ReplicatedVolume::rebuild(Link& link) {
  std::unique_lock snapshot_lock(snapshot_mu_);
  Link* source = first_healthy();
  if (!source) return Error(ErrorCode::kUnavailable, "no healthy replica to rebuild from");
  {
    std::lock_guard lock(state_mu_);
    if (link.state != ReplicaState::kStandby) return ok_status();
    link.state = ReplicaState::kRebuilding;
    link.rebuilt_bytes = 0;
  }
  log_.info("rebuild started", {{"replica", link.address.to_string()}, {"source", source->address.to_string()}});
  auto from_source = [&](auto&& call) {
    std::unique_lock io(source->io);
    auto result = call(*source->client);
    if (!result.ok() && replica_lost(result.error())) lose(*source, result.error());
    return result;
  };
  auto on_target = [&](auto&& call) {
    std::unique_lock io(link.io);
    return call(*link.client);
  };
  auto snapshots = TRY(from_source([](ReplicaClient& c) { return c.snapshots(); }));
  TRY_STATUS(on_target([](ReplicaClient& c) { return c.reset(); }));
  // Snapshots first, oldest to newest, each as the blocks it changed.
  uint64_t previous = 0;
  for (const SnapshotInfo& snapshot : snapshots) {
    uint64_t seq = snapshot.seq;
    auto extents = TRY(from_source([&](ReplicaClient& c) { return c.changed_extents(previous, seq); }));
    TRY_STATUS(copy_extents(*source, link, seq, extents, false));
    TRY_STATUS(on_target([&](ReplicaClient& c) { return c.create_snapshot(seq, snapshot.name); }));
    previous = seq;
  }
  // Then the live head: from here on the replica receives every new write,
  // and each copied chunk is read and written while writes are held back,
  // so a copy never overwrites a newer write.
  TRY_STATUS(gate_.close(options_.rebuild_pause_limit));
  auto head = from_source([&](ReplicaClient& c) { return c.changed_extents(previous, 0); });
  if (head.ok()) {
    std::lock_guard lock(state_mu_);
    link.takes_writes = true;
  }
  gate_.open();
  if (!head.ok()) return std::move(head).error();
  TRY_STATUS(copy_extents(*source, link, 0, *head, true));
  TRY_STATUS(on_target([](ReplicaClient& c) { return c.flush(); }));
  TRY_STATUS(gate_.close(options_.rebuild_pause_limit));
  uint64_t epoch;
  {
    std::lock_guard lock(state_mu_);
    epoch = epoch_;
  }
  Status joined = on_target([&](ReplicaClient& c) { return c.set_epoch(epoch); });
  if (joined.ok()) {
    std::lock_guard lock(state_mu_);
    if (link.state == ReplicaState::kRebuilding) {
      link.state = ReplicaState::kHealthy;
      link.last_error.clear();
    } else {
      joined = Error(ErrorCode::kUnavailable, "lost during the rebuild");
    }
  }
  gate_.open();
  TRY_STATUS(joined);
  log_.info("rebuild finished", {{"replica", link.address.to_string()}, {"snapshots", std::to_string(snapshots.size())}});
  return ok_status();
}

}  // namespace stowage::blockvol
