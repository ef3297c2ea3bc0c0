// Replicated block volumes (stowage-volume, docs/blockvol.md): backups read
// a crash-consistent snapshot taken through the target's control port from
// one healthy replica, only the extents changed since the last backed-up
// volume snapshot (or only the allocated ones for a full backup); restores
// fence the replicas, stream the backup once and fill every replica in
// parallel, verify every replica against the repository's block ids, and
// unfence only when all of them verified. Local snapshots: a snapshot kept
// on the replicas instead of uploaded, cloned into other replicas (one read,
// every destination filled, verified against hashes of what was read) and
// deleted when no longer wanted.
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "blockvol/net.h"
#include "mover/block.h"
#include "repo/repository.h"
#include "util/progress.h"

namespace stowage::engine {

// Snapshot tags written by a replicated-volume backup.
inline constexpr std::string_view kVolumeSnapshotTag = "blockvol.snapshot=";  // the volume snapshot read
inline constexpr std::string_view kVolumeSizeTag = "blockvol.size=";          // the volume's size in bytes

// "replicated:HOST:PORT": the source recorded for a volume behind this
// target control port.
std::string replicated_source(const blockvol::HostPort& control);
// A new, unique volume snapshot name: "stowage-<unix seconds>-<8 hex>".
std::string new_volume_snapshot_name();
// The value of tag `prefix` ("key=") in tags, or "".
std::string tag_value(const std::vector<std::string>& tags, std::string_view prefix);
// Replicas, in order, that are healthy in a target's status reply and hold
// the snapshot (`holding`: the addresses the snapshot was taken on).
std::vector<std::string> healthy_replicas_holding(const nlohmann::json& status, const std::vector<std::string>& holding);

struct ReplicatedBackupOptions {
  std::vector<std::string> tags;  // the blockvol.* tags are added
  // The previous backup of this volume: when it names a volume snapshot that
  // still exists, only the extents changed since then are read.
  std::optional<ObjectId> parent;
  std::chrono::milliseconds pause_timeout{10000};  // longest wait for in-flight writes to drain
  size_t workers = 0;
  Progress* progress = nullptr;
};

struct ReplicatedBackupResult {
  Snapshot snapshot;
  std::string volume_snapshot;       // the volume snapshot read (kept as the next base)
  uint64_t seq = 0;
  double pause_ms = 0;               // how long the target held writes back
  bool incremental = false;          // only changed extents were read
  std::string parent_volume_snapshot;  // the base of an incremental backup ("" for a full one)
  uint64_t changed_bytes = 0;        // the extents listed as changed (or allocated)
  std::string replica;               // the replica the data came from (the last one tried)
  std::vector<std::string> replica_failures;  // replicas given up on during the read, with why
  std::string deleted_volume_snapshot;        // the previous base, deleted after success ("" if none)
  double delete_ms = 0;                       // how long that deletion took (the replicas merge its layer)
};

// Backs up the volume behind `control` (the target's control port).
Result<ReplicatedBackupResult> backup_replicated_volume(Repository& repo, const blockvol::HostPort& control,
                                                        const ReplicatedBackupOptions& options);

struct ReplicatedRestoreOptions {
  size_t workers = 0;
  Progress* progress = nullptr;
};

struct ReplicatedRestoreResult {
  uint64_t size = 0;
  uint64_t bytes_written = 0;   // stored (non-hole) bytes sent to each replica
  uint64_t bytes_verified = 0;  // bytes read back from each replica
  std::string volume_snapshot;  // the snapshot left on every replica at the restored point
};

// Restores a block snapshot into `replicas` (their previous contents are
// dropped): fence, reset, fill from one read of the repository, verify every
// replica, unfence. On any failure the replicas stay fenced (no target can
// serve them) and the error names the replica and why.
Result<ReplicatedRestoreResult> restore_replicated_volume(Repository& repo, const Snapshot& snapshot,
                                                          const std::vector<blockvol::HostPort>& replicas,
                                                          const ReplicatedRestoreOptions& options);

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
