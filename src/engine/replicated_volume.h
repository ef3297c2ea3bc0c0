// Replicated block volumes (stowage-volume, docs/blockvol.md): backups read
// a crash-consistent snapshot taken through the target's control port from
// one healthy replica, only the extents changed since the last backed-up
// volume snapshot (or only the allocated ones for a full backup); restores
// fence the replicas, stream the backup once and fill every replica in
// parallel, verify every replica against the repository's block ids, and
// unfence only when all of them verified. Local snapshots (kept on the
// replicas, not uploaded) are in engine/replicated_snapshot.h.
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

}  // namespace stowage::engine
