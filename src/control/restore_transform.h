// Restore transformations: what happens to an object between the archive and
// the API server — the server-populated fields removed, the namespace,
// storage-class and node-name mappings applied wherever those names appear
// (PVC selected-node annotations, PV claim references and node affinity,
// binding subjects, pod node names), the resource modifiers (JSON and merge
// patches with conditions) applied, and the restore order.
#pragma once

#include <map>
#include <regex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "control/selection.h"
#include "util/result.h"

namespace stowage::control {

using Json = nlohmann::json;

struct Mappings {
  std::map<std::string, std::string> namespaces;
  std::map<std::string, std::string> storage_classes;
  std::map<std::string, std::string> nodes;
  bool preserve_node_ports = false;
  // PVs restored as clones of local snapshots: old name → the new PV's name
  // (also its CSI volume handle, so that the clone is a new volume).
  std::map<std::string, std::string> cloned_volumes;

  std::string namespace_of(const std::string& ns) const;
  std::string storage_class_of(const std::string& name) const;
  std::string node_of(const std::string& name) const;
};

// One resource-modifier rule of a Restore's spec.resourceModifiers.
struct ModifierRule {
  std::string group_resource;            // "deployments.apps", "pods", "*"
  std::optional<std::regex> name_regex;  // resourceNameRegex
  std::string name_regex_text;
  std::vector<std::string> namespaces;   // empty: any
  std::optional<LabelSelector> labels;
  Json json_patches = Json::array();     // RFC 6902 operations
  std::vector<Json> merge_patches;       // RFC 7386 documents
};

Result<std::vector<ModifierRule>> parse_modifier_rules(const Json& resource_modifiers);

// Applies the rules that match (qualified resource, object); a patch that does
// not apply is an error naming the rule and the object.
Result<Json> apply_modifiers(const std::vector<ModifierRule>& rules, const std::string& qualified_resource,
                             Json object);

// The object as it is to be created: server-set fields removed, mappings
// applied. `qualified_resource` is the archive's ("persistentvolumes").
// `restored_pvs` lists the PV names restored with it (a PVC keeps its
// volumeName only when its PV comes back too).
Json prepare_for_restore(Json object, const std::string& qualified_resource, const Mappings& mappings,
                         const std::vector<std::string>& restored_pvs);

// Restore order (lower first): CRDs, namespaces, storage classes, PVs, PVCs,
// secrets, config maps, service accounts, limit ranges, pods, replica sets,
// then everything else (Velero's order, docs/restore.md).
int restore_priority(const std::string& qualified_resource);

// Cluster-scoped types that grant access or change the API: restored only
// when the Restore asks for cluster-scoped resources explicitly.
bool grants_access(const std::string& qualified_resource);

}  // namespace stowage::control
