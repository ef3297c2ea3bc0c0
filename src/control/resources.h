// The resource types the controllers read and write themselves — stowage's
// own kinds (stowage.io/v1) and the few core types they touch — described
// statically, so that the server needs no discovery pass to find them.
#pragma once

#include "kube/api_resource.h"

namespace stowage::control::resources {

inline constexpr const char* kGroup = "stowage.io";
inline constexpr const char* kApiVersion = "stowage.io/v1";

kube::ApiResource backup_storage_location();
kube::ApiResource volume_snapshot_location();
kube::ApiResource backup();
kube::ApiResource restore();
kube::ApiResource schedule();
kube::ApiResource volume_backup();
kube::ApiResource volume_restore();
kube::ApiResource secret();
kube::ApiResource event();
kube::ApiResource pod();
kube::ApiResource persistent_volume_claim();
kube::ApiResource persistent_volume();
kube::ApiResource namespace_type();
kube::ApiResource lease();

// The Lease an agent renews while it runs (the server checks it before
// giving the agent of a node work), and how fresh it must be.
std::string agent_lease_name(const std::string& node);
inline constexpr int kAgentLeaseSeconds = 40;

// Labels and annotations stowage sets on its objects.
inline constexpr const char* kScheduleLabel = "stowage.io/schedule-name";
inline constexpr const char* kLocationLabel = "stowage.io/storage-location";
// On a Backup synced from a location: it is not started (its status, the
// stored one, is written right after it is created).
inline constexpr const char* kSyncedAnnotation = "stowage.io/synced-from";
// On a Backup that is a copy (spec.copyOf): the name of the backup it copies.
inline constexpr const char* kCopyOfLabel = "stowage.io/copy-of";
inline constexpr const char* kBackupLabel = "stowage.io/backup-name";
inline constexpr const char* kNodeLabel = "stowage.io/node";          // on work items: the agent's node
inline constexpr const char* kRestoreLabel = "stowage.io/restore-name";
inline constexpr const char* kPvcUidLabel = "stowage.io/pvc-uid";      // on VolumeBackups: finds the parent
inline constexpr const char* kDataFinalizer = "stowage.io/backup-data";
// On a VolumeBackup that kept a local snapshot: the agent of its node
// destroys the snapshot before the VolumeBackup goes.
inline constexpr const char* kLocalSnapshotFinalizer = "stowage.io/local-snapshot";

}  // namespace stowage::control::resources
