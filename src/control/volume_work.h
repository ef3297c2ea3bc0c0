// VolumeWork: the server's side of the node agents' work items. A backup
// creates the VolumeBackups of one pod at once (its volumes are taken
// together, between the pod's pre and post hooks) and waits for them; a
// restore creates a VolumeRestore per volume once the restored pod is
// scheduled (a replicated volume's before its PV exists), and waits for
// them. Items are owned by their Backup or Restore (deleting it deletes
// them) and labelled with the node whose agent runs them. The record of what each volume's backup produced is stored with the
// backup (<name>-volumeinfo.json.gz) so that a restore needs nothing else.
#pragma once

#include <chrono>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "backupstore/backup_location.h"
#include "control/operation_log.h"
#include "control/pod_volumes.h"
#include "kube/api_client.h"
#include "kube/api_resource.h"

namespace stowage::control {

// One pod volume of a backup: what was backed up and what came of it.
struct VolumeRecord {
  std::string namespace_name, pod, pod_uid, volume, pvc, pv, method, node;
  std::string snapshot_id;  // set when Completed (uploaded)
  std::string local_snapshot;  // set when Completed as a local snapshot ("pool/ds@name")
  std::string phase, message;
  uint64_t bytes = 0;
  // For a VolumeRestore: the restore-wait signal of the pod's init container.
  nlohmann::json to_json() const;
  static VolumeRecord from_json(const nlohmann::json& j);
};

// The init container and signal volume a restored pod gets so that its
// application starts only once the agent has written every volume.
inline constexpr const char* kRestoreWaitContainer = "stowage-restore-wait";
inline constexpr const char* kRestoreSignalVolume = "stowage-restore-signal";
inline constexpr const char* kRestoreSignalMount = "/stowage-restore";

// Adds the restore-wait init container (first) and its emptyDir signal
// volume to a pod about to be restored, waiting for `volumes`.
void add_restore_wait(nlohmann::json& pod, const std::vector<std::string>& volumes, const std::string& image);

struct VolumeOutcome {
  int total = 0, completed = 0, failed = 0;
  nlohmann::json to_json() const;
};

// The VolumeSnapshotLocation provider that turns local ZFS snapshots on for
// backups that leave spec.snapshotVolumes unset (kReplicatedDriver does the
// same for replicated volumes).
inline constexpr const char* kZfsSnapshotProvider = "zfs.openebs.io";

class VolumeWork {
 public:
  VolumeWork(kube::ApiClient& client, std::string namespace_name, OperationLog& log);

  // Backs up the given volumes of a Running pod for `backup` (the Backup
  // object; spec.storageLocation resolved) and waits until each is final or
  // the deadline passes. Appends a record per volume. ZFS and Replicated
  // volumes keep a local snapshot instead when the backup asks for it
  // (local_snapshot_methods).
  void back_up_pod(const nlohmann::json& backup, const nlohmann::json& pod, const std::vector<PodVolume>& volumes,
                   std::chrono::steady_clock::time_point deadline, std::vector<VolumeRecord>& records,
                   VolumeOutcome& outcome);

  // Restores the recorded volumes into the restored pod `ns/name` (waits
  // for it to be scheduled), from `location` or, for a local snapshot, as
  // its clone, and waits for them.
  void restore_pod(const nlohmann::json& restore, const std::string& backup_name, const std::string& location,
                   const std::string& ns, const std::string& pod_name, const std::vector<VolumeRecord>& records,
                   std::chrono::steady_clock::time_point deadline, VolumeOutcome& outcome);

  // Restores one replicated volume (method Replicated) before its PV is
  // created: the agent writes `target` (the restored PV's
  // "target=...;replicas=...") without waiting for a pod, so that the claim
  // binds, and the pod can start, only once every replica holds the data.
  // Run by the agent of `node` (the backup's node, mapped) when it is alive,
  // else by any live agent: the replicas are reached over the network.
  // True when the VolumeRestore Completed.
  bool restore_before_binding(const nlohmann::json& restore, const std::string& backup_name,
                              const std::string& location, const VolumeRecord& record, const std::string& node,
                              const std::string& target, const std::string& ns,
                              std::chrono::steady_clock::time_point deadline, VolumeOutcome& outcome);

 private:
  // A VolumeRestore of `record` for the agent of `node` (no pod or target yet).
  nlohmann::json restore_item(const nlohmann::json& restore, const std::string& backup_name,
                              const std::string& location, const std::string& node, const VolumeRecord& record);
  // Creates the items, waits for them, logs each result (`what` names each
  // volume); true for each that Completed.
  std::vector<bool> run_restores(const std::vector<nlohmann::json>& items, const std::vector<std::string>& what,
                                 const std::string& ns, std::chrono::steady_clock::time_point deadline,
                                 VolumeOutcome& outcome);
  // `preferred` when its agent is alive, else the node of the agent that
  // renewed its Lease last ("" when none is alive).
  std::string live_agent_node(const std::string& preferred);
  // Polls the items until final or the deadline (then cancels them).
  std::vector<nlohmann::json> wait_for(const kube::ApiResource& type, const std::vector<std::string>& names,
                                       std::chrono::steady_clock::time_point deadline);
  // Why the agent of `node` cannot take work ("" when it is alive).
  std::string agent_missing(const std::string& node);
  std::string parent_snapshot(const std::string& pvc_uid, const std::string& location, const std::string& method);
  // The methods whose volumes the backup keeps as local snapshots instead of
  // uploading them: ZFS and Replicated when spec.snapshotVolumes is true;
  // when it is unset, those with a VolumeSnapshotLocation of their provider
  // (kZfsSnapshotProvider, kReplicatedDriver).
  std::set<std::string> local_snapshot_methods(const nlohmann::json& backup);

  kube::ApiClient& client_;
  std::string namespace_;
  OperationLog& log_;
};

// The volume records a backup stored (none for backups without them: older
// ones, Velero's). Read through the manifest like every backup object.
Result<std::vector<VolumeRecord>> read_volume_records(backupstore::BackupLocation& location,
                                                      const backupstore::StoredBackup& backup);

// spec.itemOperationTimeout, a Go duration (4h when unset).
std::chrono::steady_clock::duration item_timeout(const nlohmann::json& spec, std::vector<std::string>& problems);

}  // namespace stowage::control
