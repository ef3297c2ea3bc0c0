// PodVolumes: which of a pod's volumes hold data that the node agent moves,
// and how — the method that the storage engine behind each volume supports
// (docs/volumes.md):
//   - a PV with volumeMode Block and a local device path: Block;
//   - a Local PV ZFS volume (CSI driver zfs.csi.openebs.io): ZFS, the dataset
//     <poolname>/<volumeHandle>;
//   - a replicated stowage-volume (driver blockvol.stowage.io): Replicated,
//     its target and replicas;
//   - a Local PV hostpath or any hostPath/local PV: FileSystem, from the PV's
//     directory on the node;
//   - anything else that holds data (other PVCs, emptyDir, ephemeral): FileSystem,
//     from the pod's volume directory under the kubelet root, which the agent
//     finds on its node.
// Volumes that hold no data of the pod's own (configMap, secret, projected,
// downwardAPI, an inline hostPath) are never backed up. Which of the rest are
// taken follows the backup's default (opt-out) or the pod's annotations
// (opt-in): backup.stowage.io/volumes, backup.stowage.io/volumes-excludes,
// and Velero's backup.velero.io/backup-volumes(-excludes).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kube/api_client.h"
#include "util/result.h"

namespace stowage::control {

inline constexpr const char* kVolumesAnnotation = "backup.stowage.io/volumes";
inline constexpr const char* kVolumesExcludesAnnotation = "backup.stowage.io/volumes-excludes";
inline constexpr const char* kZfsDriver = "zfs.csi.openebs.io";
// A replicated stowage-volume (docs/blockvol.md), provisioned without CSI:
// the PV names the target's control port and the replicas in its
// volumeAttributes. Its method is Replicated and its source
// "target=HOST:PORT;replicas=HOST:PORT,HOST:PORT,...".
inline constexpr const char* kReplicatedDriver = "blockvol.stowage.io";
inline constexpr const char* kReplicatedTargetAttribute = "stowage.io/target";
inline constexpr const char* kReplicatedReplicasAttribute = "stowage.io/replicas";

struct PodVolume {
  std::string name;  // the volume's name in the pod spec
  std::string pvc, pvc_uid, pv;
  std::string method;  // FileSystem, Block, ZFS, Replicated
  // A host directory (local/hostPath PV), a device (Block), a dataset (ZFS),
  // the volume's target and replicas (Replicated);
  // empty: the pod's volume directory under the kubelet root.
  std::string source;
};

// The source of a replicated stowage-volume PV (driver kReplicatedDriver),
// "target=HOST:PORT;replicas=HOST:PORT,..."; "" for any other PV; an error
// when its volumeAttributes lack the target or the replicas.
Result<std::string> replicated_volume_source(const nlohmann::json& pv);

// How one pod volume is backed up, given its claim and volume (null when the
// volume is not a claim). An error when it cannot be (an unbound claim).
Result<PodVolume> classify_volume(const nlohmann::json& volume, const nlohmann::json* pvc, const nlohmann::json* pv);

// The names of the pod's volumes to back up: every data-holding volume
// unless excluded (default_all), or only those the pod's annotation names.
// `skipped` receives a line for each volume left out and why.
std::vector<std::string> volumes_to_back_up(const nlohmann::json& pod, bool default_all,
                                            std::vector<std::string>& skipped);

// The volumes of a pod to back up, classified, reading claims and volumes
// through the API. Volumes that cannot be backed up go to `problems`.
std::vector<PodVolume> resolve_pod_volumes(kube::ApiClient& client, const nlohmann::json& pod, bool default_all,
                                           std::vector<std::string>& skipped, std::vector<std::string>& problems);

}  // namespace stowage::control
