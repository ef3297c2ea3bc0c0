#include "control/pod_volumes.h"

#include <set>
#include <sstream>

#include "control/resources.h"
#include "kube/dynamic_client.h"

namespace stowage::control {

using Json = nlohmann::json;

namespace {

std::set<std::string> name_list(const Json& annotations, const char* ours, const char* velero) {
  std::set<std::string> out;
  for (const char* key : {ours, velero}) {
    std::stringstream in(annotations.value(key, std::string()));
    std::string item;
    while (std::getline(in, item, ',')) {
      size_t b = item.find_first_not_of(" \t"), e = item.find_last_not_of(" \t");
      if (b != std::string::npos) out.insert(item.substr(b, e - b + 1));
    }
  }
  return out;
}

// Volume sources that hold nothing of the pod's own.
const char* no_data_kind(const Json& volume) {
  for (const char* kind : {"configMap", "secret", "projected", "downwardAPI", "hostPath"})
    if (volume.contains(kind)) return kind;
  return nullptr;
}

}  // namespace

Result<std::string> replicated_volume_source(const Json& pv) {
  const Json csi = pv.value("spec", Json::object()).value("csi", Json::object());
  if (csi.value("driver", std::string()) != kReplicatedDriver) return std::string();
  const std::string name = pv.value("metadata", Json::object()).value("name", std::string());
  const Json attributes = csi.value("volumeAttributes", Json::object());
  std::string target = attributes.value(kReplicatedTargetAttribute, std::string());
  std::string replicas = attributes.value(kReplicatedReplicasAttribute, std::string());
  if (target.empty() || replicas.empty())
    return Error(ErrorCode::kInvalidArgument, "replicated volume " + name + " names no target or replicas", name,
                 "its spec.csi.volumeAttributes need " + std::string(kReplicatedTargetAttribute) + " (the target's "
                 "control port) and " + kReplicatedReplicasAttribute + " (HOST:PORT,...)");
  return "target=" + target + ";replicas=" + replicas;
}

Result<PodVolume> classify_volume(const Json& volume, const Json* pvc, const Json* pv) {
  PodVolume out;
  out.name = volume.value("name", std::string());
  out.method = "FileSystem";
  if (!pvc) return out;  // emptyDir, ephemeral, inline CSI: the kubelet's directory
  out.pvc = (*pvc)["metadata"].value("name", std::string());
  out.pvc_uid = (*pvc)["metadata"].value("uid", std::string());
  out.pv = pvc->value("spec", Json::object()).value("volumeName", std::string());
  if (out.pv.empty() || !pv)
    return Error(ErrorCode::kInvalidArgument, "claim " + out.pvc + " of volume " + out.name + " is not bound",
                 out.pvc, "a claim without a volume holds no data yet; bind it or exclude the volume");
  const Json spec = pv->value("spec", Json::object());
  std::string local_path;
  if (spec.contains("local")) local_path = spec["local"].value("path", std::string());
  else if (spec.contains("hostPath")) local_path = spec["hostPath"].value("path", std::string());
  std::string replicated = TRY(replicated_volume_source(*pv));
  if (!replicated.empty()) {
    out.method = "Replicated";
    out.source = replicated;
    return out;
  }
  if (spec.value("volumeMode", std::string("Filesystem")) == "Block") {
    if (local_path.empty())
      return Error(ErrorCode::kUnsupported,
                   "volume " + out.pv + " is a raw block volume of a driver stowage cannot read", out.pv,
                   "exclude the volume (annotation " + std::string(kVolumesExcludesAnnotation) + ")");
    out.method = "Block";
    out.source = local_path;
    return out;
  }
  if (spec.contains("csi") && spec["csi"].value("driver", std::string()) == kZfsDriver) {
    const Json& csi = spec["csi"];
    std::string pool = csi.value("volumeAttributes", Json::object()).value("openebs.io/poolname", std::string());
    std::string handle = csi.value("volumeHandle", std::string());
    if (pool.empty() || handle.empty())
      return Error(ErrorCode::kInvalidArgument, "ZFS volume " + out.pv + " names no pool or volume handle", out.pv,
                   "its spec.csi needs volumeHandle and volumeAttributes[openebs.io/poolname]");
    out.method = "ZFS";
    out.source = pool + "/" + handle;
    return out;
  }
  out.source = local_path;  // "" for everything else: the kubelet's mount
  return out;
}

std::vector<std::string> volumes_to_back_up(const Json& pod, bool default_all, std::vector<std::string>& skipped) {
  const Json annotations = pod["metadata"].value("annotations", Json::object());
  auto included = name_list(annotations, kVolumesAnnotation, "backup.velero.io/backup-volumes");
  auto excluded = name_list(annotations, kVolumesExcludesAnnotation, "backup.velero.io/backup-volumes-excludes");
  std::vector<std::string> out;
  for (const auto& volume : pod.value("spec", Json::object()).value("volumes", Json::array())) {
    std::string name = volume.value("name", std::string());
    if (const char* kind = no_data_kind(volume)) {
      if (included.count(name)) skipped.push_back("volume " + name + " is a " + kind + " volume; its content is not pod data");
      continue;
    }
    if (excluded.count(name)) {
      skipped.push_back("volume " + name + " is excluded by the pod's annotation");
      continue;
    }
    if (!default_all && !included.count(name)) {
      skipped.push_back("volume " + name + " is not named in the pod's annotation " + kVolumesAnnotation +
                        " (the backup backs up only named volumes: defaultVolumesToFsBackup is false)");
      continue;
    }
    out.push_back(name);
  }
  return out;
}

std::vector<PodVolume> resolve_pod_volumes(kube::ApiClient& client, const Json& pod, bool default_all,
                                           std::vector<std::string>& skipped, std::vector<std::string>& problems) {
  kube::DynamicClient dynamic(client);
  std::string ns = pod["metadata"].value("namespace", std::string());
  std::vector<PodVolume> out;
  auto names = volumes_to_back_up(pod, default_all, skipped);
  for (const auto& volume : pod.value("spec", Json::object()).value("volumes", Json::array())) {
    std::string name = volume.value("name", std::string());
    if (std::find(names.begin(), names.end(), name) == names.end()) continue;
    std::optional<Json> pvc, pv;
    if (volume.contains("persistentVolumeClaim")) {
      std::string claim = volume["persistentVolumeClaim"].value("claimName", std::string());
      auto got = dynamic.get(resources::persistent_volume_claim(), ns, claim);
      if (!got.ok()) {
        problems.push_back("volume " + name + ": " + got.error().to_string());
        continue;
      }
      pvc = std::move(got).value();
      std::string bound = pvc->value("spec", Json::object()).value("volumeName", std::string());
      if (!bound.empty()) {
        auto volume_object = dynamic.get(resources::persistent_volume(), "", bound);
        if (!volume_object.ok()) {
          problems.push_back("volume " + name + ": " + volume_object.error().to_string());
          continue;
        }
        pv = std::move(volume_object).value();
      }
    }
    auto classified = classify_volume(volume, pvc ? &*pvc : nullptr, pv ? &*pv : nullptr);
    if (!classified.ok()) problems.push_back(classified.error().to_string());
    else out.push_back(std::move(classified).value());
  }
  return out;
}

}  // namespace stowage::control
