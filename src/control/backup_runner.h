// BackupRunner: one resource backup, start to finish. Selects the objects of
// a Backup's spec through discovery (every group, preferred versions, CRDs
// included), adds what they depend on (the namespaces, the PVs of selected
// PVCs, the PVCs of selected pods, the CRDs of custom resources), runs the
// pods' pre and post exec hooks around each pod, strips server-populated
// fields, and stores the Velero-layout archive, item list, log and results
// in the backup location — the metadata object last, which marks the backup
// complete. Returns the status to record on the Backup object.
#pragma once

#include <nlohmann/json.hpp>

#include "backupstore/backup_location.h"
#include "control/operation_log.h"
#include "kube/api_client.h"
#include "kube/discovery.h"
#include "util/result.h"

namespace stowage::control {

// Resource types never backed up: they are recreated by the cluster, are
// transient, or are stowage's own bookkeeping (docs/backup.md).
bool excluded_by_default(const kube::ApiResource& type);

// Removes what the API server sets on its own (managedFields,
// resourceVersion, selfLink) from an object about to be archived.
nlohmann::json strip_for_archive(nlohmann::json object);

class BackupRunner {
 public:
  // `default_all_volumes`: spec.defaultVolumesToFsBackup when the Backup leaves it unset.
  BackupRunner(kube::ApiClient& client, kube::Discovery& discovery, backupstore::BackupLocation& location,
               OperationLog& log, bool default_all_volumes = true);

  // `backup` is the Backup object (metadata and spec; status as it stands).
  // Returns its final status (phase Completed, PartiallyFailed or Failed).
  // Errors are reserved for failures to store the backup at all.
  nlohmann::json run(const nlohmann::json& backup);

 private:
  kube::ApiClient& client_;
  kube::Discovery& discovery_;
  backupstore::BackupLocation& location_;
  OperationLog& log_;
  bool default_all_volumes_;
};

}  // namespace stowage::control
