// RestoreRunner: one restore, start to finish. Reads the backup's archive
// through the location (sealed objects authenticated, digests checked
// against the manifest) and validates every item — its path, its agreement
// with the object, its presence in the backup's own item list — spooling the
// accepted items to a temporary file, all before anything is created. Then
// selects, orders (restore_transform.h), transforms and creates the items,
// waiting for restored CRDs to be served, with the existing-object policy,
// owner references remapped or dropped, and objects that a restored
// controller recreates left to it. Per-object results go to the log, and the
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

class RestoreRunner {
 public:
  RestoreRunner(kube::ApiClient& client, kube::Discovery& discovery, backupstore::BackupLocation& location,
                OperationLog& log);

  // `restore` is the Restore object; `backup_name` the backup it restores
  // (resolved from spec.backupName or spec.scheduleName by the caller).
  nlohmann::json run(const nlohmann::json& restore, const std::string& backup_name);

 private:
  kube::ApiClient& client_;
  kube::Discovery& discovery_;
  backupstore::BackupLocation& location_;
  OperationLog& log_;
};

}  // namespace stowage::control
