// Local PV ZFS: one dataset per volume, backed up with the `zfs` command.
//
// Every stored backup is a FULL `zfs send` stream of a snapshot taken for the
// backup, stored as a stream snapshot (mover/stream.h), so each backup
// restores on its own with one `zfs receive`, whatever older backups have
// expired (no incremental chains to keep alive).
// The stream is cut along its records (engine/zfs_stream.h): every block a
// DRR_WRITE record carries becomes a chunk of its own, apart from the record
// headers (which carry the snapshot's guid and so differ in every stream), so
// unchanged blocks deduplicate across successive full streams
// (docs/engines.md, "Record-aligned chunks").
//
// The dataset's locally set properties (quota, recordsize, compression, …)
// are recorded as snapshot tags "zfs.prop.<name>=<value>" next to
// "zfs.dataset=<dataset>" and "zfs.snapshot=<dataset>@<name>", and set again
// on the received dataset at restore.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "engine/zfs_stream.h"
#include "repo/repository.h"
#include "util/progress.h"

namespace stowage::engine {

// Tags every ZFS backup carries.
inline constexpr const char* kZfsDatasetTag = "zfs.dataset=";
inline constexpr const char* kZfsSnapshotTag = "zfs.snapshot=";
inline constexpr const char* kZfsPropertyTagPrefix = "zfs.prop.";

// Checks a dataset name ("pool/a/b"): non-empty components of letters, digits
// and _-:. ; no '@' or '#', no leading '-', no "." or ".." component.
Status validate_dataset_name(const std::string& dataset);
// Checks the part after '@' of a snapshot name.
Status validate_snapshot_short_name(const std::string& name);
// Checks "dataset@name".
Status validate_snapshot_name(const std::string& snapshot);

// Whether a dataset or snapshot exists (an error when `zfs` cannot be run or
// fails for another reason).
Result<bool> zfs_exists(const std::string& name);
// The properties set locally on dataset (`zfs get -s local`), name → value
// in parseable (-p) form.
Result<std::map<std::string, std::string>> zfs_local_properties(const std::string& dataset);
// The mountpoint property of a dataset.
Result<std::string> zfs_mountpoint(const std::string& dataset);

struct ZfsBackupOptions {
  // The name after '@' of the snapshot taken for the backup, e.g.
  // "stowage-<backup>". Empty: "stowage-<unix seconds>". It must not exist.
  std::string snapshot_name;
  std::vector<std::string> tags;  // added to the zfs.* tags
  bool keep_local_snapshot = false;
  Progress* progress = nullptr;
};

struct ZfsBackupResult {
  Snapshot snapshot;          // the repository snapshot of the full send stream
  std::string local_snapshot; // "pool/ds@name" if kept, else ""
  std::map<std::string, std::string> properties;  // the locally set properties recorded
  // What the send stream held: records, block bytes, and whether (why) the
  // parser fell back to plain content-defined chunks for part of it.
  ZfsStreamStats stream;
};

// zfs snapshot DATASET@NAME; zfs send DATASET@NAME into a stream snapshot
// cut along the stream's records (StreamWriter + ZfsStreamParser); the local
// snapshot is destroyed afterwards (also on failure) unless kept.
Result<ZfsBackupResult> backup_zfs_dataset(Repository& repo, const std::string& dataset,
                                           const ZfsBackupOptions& options);

// Whether snapshot is a ZFS backup (a stream snapshot with a zfs.dataset tag).
bool is_zfs_backup(const Snapshot& snapshot);
// The recorded properties of a ZFS backup (from its zfs.prop.* tags).
std::map<std::string, std::string> zfs_backup_properties(const Snapshot& snapshot);

// restore_stream | zfs receive TARGET. The target must not exist; its parent
// must. Then the recorded properties are set on it (except mountpoint and
// creation-time-only ones, see docs/engines.md), and the snapshot the stream
// carried is destroyed, leaving a plain dataset. A failed receive leaves no
// target behind.
Status restore_zfs_dataset(Repository& repo, const Snapshot& snapshot, const std::string& target_dataset,
                           Progress* progress);

// Local snapshots. Takes DATASET@NAME ("stowage-<unix seconds>" when name
// is empty; it must not exist) and returns its full name.
Result<std::string> snapshot_zfs_dataset(const std::string& dataset, const std::string& snapshot_name);
// Clones a kept snapshot ("pool/ds@name") into a new
// dataset (restore "as a clone": instant, shares blocks with the snapshot).
Status clone_zfs_snapshot(const std::string& snapshot, const std::string& target_dataset);
// Destroys a local snapshot (expiry). Refuses a name without '@', so a
// dataset is never destroyed; kNotFound when it does not exist; kConflict
// when clones depend on it.
Status destroy_zfs_snapshot(const std::string& snapshot);

}  // namespace stowage::engine
