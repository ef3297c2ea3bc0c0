// RestoreRunner: one restore, start to finish. Reads the backup's archive
// through the location (sealed objects authenticated, digests checked
// against the manifest) and validates every item — its path, its agreement
// with the object, its presence in the backup's own item list — spooling the
// accepted items to a temporary file, all before anything is created. Then
// selects, orders (restore_transform.h), transforms and creates the items,
// waiting for restored CRDs to be served, with the existing-object policy,
// owner references remapped or dropped, and objects that a restored
// controller recreates left to it. Pods whose volumes the backup holds get
// the restore-wait init container, and once scheduled a VolumeRestore per
// volume for the agent of their node (volume_work.h). Per-object results go to the log, and the
// log and results to the location. Returns the status to record.
#pragma once

#include <nlohmann/json.hpp>

#include "backupstore/backup_location.h"
#include "control/operation_log.h"
#include "kube/api_client.h"
#include "kube/discovery.h"

namespace stowage::control {

// Annotation on a Restore that accepts a backup without a stowage manifest
// (one Velero wrote): items are still checked one by one, but nobody can
// prove that none was added or changed (docs/security.md).
inline constexpr const char* kAllowUnverifiedAnnotation = "stowage.io/from-velero-backup";

// What a restore needs beyond the objects: volume data goes through work
// items that the server itself creates (not the impersonated identity).
struct RestoreVolumeSettings {
  kube::ApiClient* server_client = nullptr;  // creates VolumeRestores; null: the restore's client
  std::string location_name;                 // the BackupStorageLocation the backup is in
  std::string helper_image = "stowage:0.1.0";  // image of the restore-wait init container
};

class RestoreRunner {
 public:
  RestoreRunner(kube::ApiClient& client, kube::Discovery& discovery, backupstore::BackupLocation& location,
                OperationLog& log, RestoreVolumeSettings volumes = {});

  // `restore` is the Restore object; `backup_name` the backup it restores
  // (resolved from spec.backupName or spec.scheduleName by the caller).
  nlohmann::json run(const nlohmann::json& restore, const std::string& backup_name);

 private:
  kube::ApiClient& client_;
  kube::Discovery& discovery_;
  backupstore::BackupLocation& location_;
  OperationLog& log_;
  RestoreVolumeSettings volumes_;
};

}  // namespace stowage::control
