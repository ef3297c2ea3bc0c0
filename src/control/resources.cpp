#include "control/resources.h"

namespace stowage::control::resources {
namespace {

kube::ApiResource stowage_kind(const char* plural, const char* singular, const char* kind) {
  kube::ApiResource type;
  type.group = kGroup;
  type.version = "v1";
  type.resource = plural;
  type.singular = singular;
  type.kind = kind;
  type.namespaced = true;
  type.verbs = {"get", "list", "watch", "create", "update", "patch", "delete"};
  type.subresources = {"status"};
  type.preferred = true;
  return type;
}

kube::ApiResource core_kind(const char* plural, const char* singular, const char* kind, bool namespaced = true) {
  kube::ApiResource type;
  type.version = "v1";
  type.resource = plural;
  type.singular = singular;
  type.kind = kind;
  type.namespaced = namespaced;
  type.verbs = {"get", "list", "watch", "create", "update", "patch", "delete"};
  type.preferred = true;
  return type;
}

}  // namespace

kube::ApiResource backup_storage_location() {
  return stowage_kind("backupstoragelocations", "backupstoragelocation", "BackupStorageLocation");
}
kube::ApiResource volume_snapshot_location() {
  return stowage_kind("volumesnapshotlocations", "volumesnapshotlocation", "VolumeSnapshotLocation");
}
kube::ApiResource backup() { return stowage_kind("backups", "backup", "Backup"); }
kube::ApiResource restore() { return stowage_kind("restores", "restore", "Restore"); }
kube::ApiResource schedule() { return stowage_kind("schedules", "schedule", "Schedule"); }
kube::ApiResource volume_backup() { return stowage_kind("volumebackups", "volumebackup", "VolumeBackup"); }
kube::ApiResource volume_restore() { return stowage_kind("volumerestores", "volumerestore", "VolumeRestore"); }
kube::ApiResource secret() { return core_kind("secrets", "secret", "Secret"); }
kube::ApiResource event() { return core_kind("events", "event", "Event"); }
kube::ApiResource pod() { return core_kind("pods", "pod", "Pod"); }
kube::ApiResource persistent_volume_claim() {
  return core_kind("persistentvolumeclaims", "persistentvolumeclaim", "PersistentVolumeClaim");
}
kube::ApiResource persistent_volume() { return core_kind("persistentvolumes", "persistentvolume", "PersistentVolume", false); }
kube::ApiResource lease() {
  kube::ApiResource type = core_kind("leases", "lease", "Lease");
  type.group = "coordination.k8s.io";
  return type;
}
std::string agent_lease_name(const std::string& node) { return ("stowage-agent-" + node).substr(0, 253); }
kube::ApiResource namespace_type() { return core_kind("namespaces", "namespace", "Namespace", false); }

}  // namespace stowage::control::resources
