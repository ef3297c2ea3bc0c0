// VolumeEngines: one entry point per direction that moves a volume's data
// with the method of its storage engine — FileSystem (file tree), Block
// (the device's blocks), ZFS (zfs send/receive, or local snapshots and
// their clones), Replicated (a stowage-volume's replicas) — so that the agent's work
// item handling does not care which engine is behind a volume.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "repo/repository.h"
#include "util/progress.h"

namespace stowage::agent {

struct VolumeBackupRequest {
  std::string method;  // FileSystem, Block, ZFS, Replicated
  std::string source;  // a directory, a device or image, a dataset, "target=…;replicas=…"
  std::vector<std::string> tags;
  std::optional<ObjectId> parent;
  std::string snapshot_name;  // ZFS: the local snapshot taken for the backup (after '@')
  size_t workers = 2;
  Progress* progress = nullptr;
};

struct VolumeBackupResult {
  Snapshot snapshot;
  std::string note;  // what the user should know (how consistency was obtained)
};

Result<VolumeBackupResult> back_up_volume(Repository& repo, const VolumeBackupRequest& request);

struct VolumeRestoreRequest {
  std::string method;
  std::string target;  // a directory, a device, a dataset, "target=…;replicas=…"
  size_t workers = 2;
  Progress* progress = nullptr;
};

// Writes the snapshot into the target; returns a note for the status.
Result<std::string> restore_volume(Repository& repo, const Snapshot& snapshot, const VolumeRestoreRequest& request);

// Local snapshots, kept next to the volume instead of uploaded (ZFS and
// Replicated): takes one named `name` and returns its reference
// ("pool/ds@name", or "replicated:HOST:PORT,...@name" for a Replicated
// `source`); clones one into a new volume (a dataset, or the replicas of a
// Replicated `target`); destroys one (ZFS: kConflict while clones use it;
// Replicated: an error while a listed replica cannot be reached).
Result<std::string> keep_local_snapshot(const std::string& method, const std::string& source, const std::string& name);
Status clone_local_snapshot(const std::string& method, const std::string& snapshot, const std::string& target);
Status destroy_local_snapshot(const std::string& snapshot);

}  // namespace stowage::agent
