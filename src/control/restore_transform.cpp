#include "control/restore_transform.h"

#include <algorithm>

namespace stowage::control {
namespace {

std::string mapped(const std::map<std::string, std::string>& map, const std::string& name) {
  auto it = map.find(name);
  return it == map.end() ? name : it->second;
}

void erase_path(Json& object, std::initializer_list<const char*> path) {
  Json* at = &object;
  std::vector<const char*> parts(path);
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    if (!at->is_object() || !at->contains(parts[i])) return;
    at = &(*at)[parts[i]];
  }
  if (at->is_object()) at->erase(parts.back());
}

void map_storage_class(Json& holder, const char* field, const Mappings& m) {
  if (holder.is_object() && holder.contains(field) && holder[field].is_string())
    holder[field] = m.storage_class_of(holder[field].get<std::string>());
}

// kubernetes.io/hostname terms of a node affinity (PVs of local volumes).
void map_node_affinity(Json& spec, const Mappings& m) {
  auto pointer = "/nodeAffinity/required/nodeSelectorTerms"_json_pointer;
  if (!spec.contains(pointer) || !spec[pointer].is_array()) return;
  for (auto& term : spec[pointer]) {
    if (!term.contains("matchExpressions")) continue;
    for (auto& expression : term["matchExpressions"]) {
      if (expression.value("key", std::string()) != "kubernetes.io/hostname" || !expression.contains("values"))
        continue;
      for (auto& value : expression["values"])
        if (value.is_string()) value = m.node_of(value.get<std::string>());
    }
  }
}

}  // namespace

std::string Mappings::namespace_of(const std::string& ns) const { return mapped(namespaces, ns); }
std::string Mappings::storage_class_of(const std::string& name) const { return mapped(storage_classes, name); }
std::string Mappings::node_of(const std::string& name) const { return mapped(nodes, name); }

Result<std::vector<ModifierRule>> parse_modifier_rules(const Json& modifiers) {
  std::vector<ModifierRule> rules;
  if (modifiers.is_null()) return rules;
  auto bad = [](size_t i, const std::string& why) {
    return Error(ErrorCode::kInvalidArgument, "spec.resourceModifiers.rules[" + std::to_string(i) + "] " + why, "",
                 "see docs/crds.md, Restore.spec.resourceModifiers");
  };
  if (!modifiers.is_object() || !modifiers.contains("rules") || !modifiers["rules"].is_array())
    return Error(ErrorCode::kInvalidArgument, "spec.resourceModifiers has no rules list", "",
                 "write resourceModifiers: {rules: [{conditions: {groupResource: ...}, patches: [...]}]}");
  for (size_t i = 0; i < modifiers["rules"].size(); ++i) {
    const Json& r = modifiers["rules"][i];
    ModifierRule rule;
    Json conditions = r.value("conditions", Json::object());
    rule.group_resource = conditions.value("groupResource", std::string());
    if (rule.group_resource.empty()) return bad(i, "has no conditions.groupResource");
    rule.name_regex_text = conditions.value("resourceNameRegex", std::string());
    if (!rule.name_regex_text.empty()) {
      try {
        rule.name_regex = std::regex(rule.name_regex_text, std::regex::ECMAScript);
      } catch (const std::regex_error& e) {
        return bad(i, "has an invalid resourceNameRegex: " + std::string(e.what()));
      }
    }
    for (const auto& ns : conditions.value("namespaces", Json::array()))
      if (ns.is_string()) rule.namespaces.push_back(ns.get<std::string>());
    if (conditions.contains("labelSelector"))
      rule.labels = TRY(LabelSelector::parse(conditions["labelSelector"], "conditions.labelSelector"));
    for (const auto& p : r.value("patches", Json::array())) {
      Json op = p;
      if (!op.is_object() || !op.contains("operation") || !op.contains("path")) return bad(i, "has a patch without operation or path");
      op["op"] = op["operation"];
      op.erase("operation");
      rule.json_patches.push_back(op);
    }
    for (const auto& p : r.value("mergePatches", Json::array())) {
      Json doc = Json::parse(p.value("patchData", std::string()), nullptr, false);
      if (doc.is_discarded() || !doc.is_object()) return bad(i, "has a mergePatch whose patchData is not a JSON object");
      rule.merge_patches.push_back(doc);
    }
    rules.push_back(std::move(rule));
  }
  return rules;
}

Result<Json> apply_modifiers(const std::vector<ModifierRule>& rules, const std::string& qualified, Json object) {
  std::string ns = object["metadata"].value("namespace", std::string());
  std::string name = object["metadata"].value("name", std::string());
  for (size_t i = 0; i < rules.size(); ++i) {
    const auto& rule = rules[i];
    if (rule.group_resource != "*" && rule.group_resource != qualified) continue;
    if (rule.name_regex && !std::regex_match(name, *rule.name_regex)) continue;
    if (!rule.namespaces.empty() && std::find(rule.namespaces.begin(), rule.namespaces.end(), ns) == rule.namespaces.end())
      continue;
    if (rule.labels && !rule.labels->matches(object["metadata"].value("labels", Json::object()))) continue;
    try {
      if (!rule.json_patches.empty()) object = object.patch(rule.json_patches);
    } catch (const Json::exception& e) {
      return Error(ErrorCode::kInvalidArgument,
                   "resource modifier rule " + std::to_string(i) + " does not apply to " + qualified + " " +
                       (ns.empty() ? name : ns + "/" + name) + ": " + e.what(),
                   name, "fix the patch path or add a condition so that the rule skips this object");
    }
    for (const auto& doc : rule.merge_patches) object.merge_patch(doc);
  }
  return object;
}

Json prepare_for_restore(Json object, const std::string& qualified, const Mappings& m,
                         const std::vector<std::string>& restored_pvs) {
  auto& metadata = object["metadata"];
  for (const char* field : {"uid", "resourceVersion", "creationTimestamp", "generation", "managedFields", "selfLink",
                            "deletionTimestamp", "deletionGracePeriodSeconds"})
    metadata.erase(field);
  object.erase("status");
  if (metadata.contains("namespace") && metadata["namespace"].is_string())
    metadata["namespace"] = m.namespace_of(metadata["namespace"].get<std::string>());
  Json& spec = object["spec"];
  if (qualified == "namespaces") {
    metadata["name"] = m.namespace_of(metadata.value("name", std::string()));
    object.erase("spec");  // finalizers "kubernetes" are set by the server
  } else if (qualified == "services") {
    std::string cluster_ip = spec.value("clusterIP", std::string());
    if (cluster_ip != "None") {
      spec.erase("clusterIP");
      spec.erase("clusterIPs");
    }
    if (!m.preserve_node_ports) {
      spec.erase("healthCheckNodePort");
      if (spec.contains("ports") && spec["ports"].is_array())
        for (auto& port : spec["ports"]) port.erase("nodePort");
    }
  } else if (qualified == "persistentvolumeclaims") {
    if (metadata.contains("annotations")) {
      auto& annotations = metadata["annotations"];
      annotations.erase("pv.kubernetes.io/bind-completed");
      annotations.erase("pv.kubernetes.io/bound-by-controller");
      for (const char* key : {"volume.kubernetes.io/selected-node", "volume.beta.kubernetes.io/selected-node"})
        if (annotations.contains(key) && annotations[key].is_string())
          annotations[key] = m.node_of(annotations[key].get<std::string>());
    }
    map_storage_class(spec, "storageClassName", m);
    std::string volume = spec.value("volumeName", std::string());
    if (!volume.empty() && std::find(restored_pvs.begin(), restored_pvs.end(), volume) == restored_pvs.end())
      spec.erase("volumeName");
    else if (m.cloned_volumes.count(volume))
      spec["volumeName"] = m.cloned_volumes.at(volume);
  } else if (qualified == "persistentvolumes") {
    if (auto clone = m.cloned_volumes.find(metadata.value("name", std::string())); clone != m.cloned_volumes.end()) {
      metadata["name"] = clone->second;
      if (spec.contains("csi") && spec["csi"].is_object()) spec["csi"]["volumeHandle"] = clone->second;
    }
    map_storage_class(spec, "storageClassName", m);
    map_node_affinity(spec, m);
    if (spec.contains("claimRef") && spec["claimRef"].is_object()) {
      Json& claim = spec["claimRef"];
      claim.erase("uid");
      claim.erase("resourceVersion");
      if (claim.contains("namespace") && claim["namespace"].is_string())
        claim["namespace"] = m.namespace_of(claim["namespace"].get<std::string>());
    }
  } else if (qualified == "pods") {
    if (spec.contains("nodeName") && spec["nodeName"].is_string())
      spec["nodeName"] = m.node_of(spec["nodeName"].get<std::string>());
    // The service-account token volume is injected again by admission.
    std::vector<std::string> token_volumes;
    if (spec.contains("volumes") && spec["volumes"].is_array()) {
      Json kept = Json::array();
      for (auto& volume : spec["volumes"]) {
        std::string name = volume.value("name", std::string());
        if (name.rfind("kube-api-access-", 0) == 0) token_volumes.push_back(name);
        else kept.push_back(volume);
      }
      spec["volumes"] = kept;
    }
    for (const char* list : {"containers", "initContainers"}) {
      if (!spec.contains(list)) continue;
      for (auto& container : spec[list]) {
        if (!container.contains("volumeMounts")) continue;
        Json kept = Json::array();
        for (auto& mount : container["volumeMounts"])
          if (std::find(token_volumes.begin(), token_volumes.end(), mount.value("name", std::string())) ==
              token_volumes.end())
            kept.push_back(mount);
        container["volumeMounts"] = kept;
      }
    }
  } else if (qualified == "statefulsets.apps") {
    if (spec.contains("volumeClaimTemplates"))
      for (auto& claim : spec["volumeClaimTemplates"])
        if (claim.contains("spec")) map_storage_class(claim["spec"], "storageClassName", m);
  } else if (qualified == "storageclasses.storage.k8s.io") {
    // A storage class is restored under its own name; mappings apply to its users.
  } else if (qualified == "rolebindings.rbac.authorization.k8s.io" ||
             qualified == "clusterrolebindings.rbac.authorization.k8s.io") {
    if (object.contains("subjects") && object["subjects"].is_array())
      for (auto& subject : object["subjects"])
        if (subject.contains("namespace") && subject["namespace"].is_string())
          subject["namespace"] = m.namespace_of(subject["namespace"].get<std::string>());
  } else if (qualified == "jobs.batch") {
    // The job controller labels the pod template with the old job's uid.
    for (const char* label : {"controller-uid", "batch.kubernetes.io/controller-uid"}) {
      erase_path(spec, {"selector", "matchLabels", label});
      erase_path(spec, {"template", "metadata", "labels", label});
    }
    if (spec.contains("selector") && spec["selector"].value("matchLabels", Json::object()).empty()) spec.erase("selector");
    spec.erase("manualSelector");
  }
  if (object.contains("spec") && object["spec"].is_null()) object.erase("spec");
  return object;
}

int restore_priority(const std::string& qualified) {
  static const std::vector<std::string> kOrder = {
      "customresourcedefinitions.apiextensions.k8s.io", "namespaces", "storageclasses.storage.k8s.io",
      "volumesnapshotclasses.snapshot.storage.k8s.io", "volumesnapshotcontents.snapshot.storage.k8s.io",
      "volumesnapshots.snapshot.storage.k8s.io", "persistentvolumes", "persistentvolumeclaims", "secrets",
      "configmaps", "serviceaccounts", "limitranges", "pods", "replicasets.apps", "clusterclasses.cluster.x-k8s.io",
      "endpoints", "services"};
  auto it = std::find(kOrder.begin(), kOrder.end(), qualified);
  return it == kOrder.end() ? static_cast<int>(kOrder.size()) : static_cast<int>(it - kOrder.begin());
}

bool grants_access(const std::string& qualified) {
  static const std::vector<std::string> kGranting = {
      "clusterroles.rbac.authorization.k8s.io", "clusterrolebindings.rbac.authorization.k8s.io",
      "mutatingwebhookconfigurations.admissionregistration.k8s.io",
      "validatingwebhookconfigurations.admissionregistration.k8s.io",
      "validatingadmissionpolicies.admissionregistration.k8s.io",
      "validatingadmissionpolicybindings.admissionregistration.k8s.io", "apiservices.apiregistration.k8s.io",
      "certificatesigningrequests.certificates.k8s.io", "priorityclasses.scheduling.k8s.io"};
  return std::find(kGranting.begin(), kGranting.end(), qualified) != kGranting.end();
}

}  // namespace stowage::control
