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
kube::ApiResource namespace_type();

// Labels and annotations stowage sets on its objects.
inline constexpr const char* kScheduleLabel = "stowage.io/schedule-name";
inline constexpr const char* kLocationLabel = "stowage.io/storage-location";
inline constexpr const char* kBackupLabel = "stowage.io/backup-name";
inline constexpr const char* kDataFinalizer = "stowage.io/backup-data";

}  // namespace stowage::control::resources
