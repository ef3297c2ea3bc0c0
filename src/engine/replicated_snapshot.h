// Local snapshots of replicated block volumes (stowage-volume,
// docs/blockvol.md): a crash-consistent volume snapshot kept on the replicas
// instead of uploaded, referred to by the replicas that hold it and its name;
// cloned into new replicas (one read of the source, every destination
// filled, verified against hashes of what was read) and deleted when no
// longer wanted.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "blockvol/net.h"
#include "util/progress.h"
#include "util/result.h"

namespace stowage::engine {

// A volume snapshot kept on the replicas instead of uploaded (a local
// snapshot), referred to as "replicated:HOST:PORT,HOST:PORT,...@NAME": the
// replicas the snapshot was taken on, and its name.
inline constexpr std::string_view kReplicatedSnapshotPrefix = "replicated:";

struct ReplicatedSnapshotRef {
  std::vector<blockvol::HostPort> replicas;
  std::string name;
};

std::string format_replicated_snapshot(const ReplicatedSnapshotRef& ref);
// kInvalidArgument unless `reference` has the prefix, at least one HOST:PORT,
// and a valid snapshot name after the last '@'.
Result<ReplicatedSnapshotRef> parse_replicated_snapshot(std::string_view reference);
bool is_replicated_snapshot(std::string_view reference);  // has the prefix

// Takes a crash-consistent volume snapshot `name` through the target's
// control port (as a backup does) and returns its reference.
Result<std::string> keep_replicated_snapshot(const blockvol::HostPort& control, const std::string& name,
                                             std::chrono::milliseconds pause_timeout = std::chrono::milliseconds(10000));

struct ReplicatedCloneOptions {
  size_t workers = 0;  // reads from the source in flight (0: 4)
  Progress* progress = nullptr;
};

struct ReplicatedCloneResult {
  uint64_t size = 0;            // the source volume's size
  uint64_t bytes_copied = 0;    // the snapshot's allocated bytes, read once from the source
  uint64_t bytes_written = 0;   // of those, the non-zero ones sent to each destination
  uint64_t bytes_verified = 0;  // bytes read back from each destination
  std::string volume_snapshot;  // the snapshot left on every destination (the source's name)
  std::string replica;          // the source replica read (the last one tried)
  std::vector<std::string> replica_failures;  // source replicas given up on, with why
};

// Copies the referenced snapshot into `destinations` (their previous
// contents are dropped), which must not be any of the source replicas and
// must be at least the source's size: fence, reset, fill from one read of
// the source (another source replica when one is lost), verify every
// destination against hashes of what was read, unfence. On any failure the
// destinations stay fenced and the error names the replica.
Result<ReplicatedCloneResult> clone_replicated_snapshot(const std::string& reference,
                                                        const std::vector<blockvol::HostPort>& destinations,
                                                        const ReplicatedCloneOptions& options);

// Deletes the referenced snapshot on every listed replica that still holds
// it; a replica that no longer holds it is fine (so it can be repeated), a
// replica that cannot be reached is an error naming it (retry later).
// Returns the replicas it was deleted on.
Result<std::vector<std::string>> delete_replicated_snapshot(const std::string& reference);

}  // namespace stowage::engine
