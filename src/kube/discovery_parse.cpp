// Parsers of the API server's discovery documents, legacy and aggregated.
#include <map>

#include "kube/discovery.h"

namespace stowage::kube {
namespace {

using nlohmann::json;

std::string text(const json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : "";
}

std::vector<std::string> strings(const json& object, const char* key) {
  std::vector<std::string> out;
  auto it = object.find(key);
  if (it == object.end() || !it->is_array()) return out;
  for (const json& item : *it) {
    if (item.is_string()) out.push_back(item.get<std::string>());
  }
  return out;
}

Error malformed(const std::string& what) {
  return Error(ErrorCode::kCorrupt, "the API server's discovery document " + what + " is malformed", what,
               "is the server a Kubernetes API server of a supported version?");
}

}  // namespace

Result<ApiGroupInfo> parse_core_versions(const json& api_versions) {
  if (!api_versions.is_object()) return malformed("/api");
  ApiGroupInfo core;
  core.versions = strings(api_versions, "versions");
  if (core.versions.empty()) return malformed("/api");
  core.preferred_version = core.versions.front();
  return core;
}

Result<std::vector<ApiGroupInfo>> parse_group_list(const json& group_list) {
  if (!group_list.is_object() || !group_list.contains("groups") || !group_list["groups"].is_array()) {
    return malformed("/apis");
  }
  std::vector<ApiGroupInfo> groups;
  for (const json& item : group_list["groups"]) {
    if (!item.is_object()) continue;
    ApiGroupInfo group;
    group.name = text(item, "name");
    if (auto versions = item.find("versions"); versions != item.end() && versions->is_array()) {
      for (const json& version : *versions) {
        if (version.is_object() && !text(version, "version").empty()) group.versions.push_back(text(version, "version"));
      }
    }
    if (auto preferred = item.find("preferredVersion"); preferred != item.end() && preferred->is_object()) {
      group.preferred_version = text(*preferred, "version");
    }
    if (group.preferred_version.empty() && !group.versions.empty()) group.preferred_version = group.versions.front();
    if (!group.name.empty() && !group.versions.empty()) groups.push_back(std::move(group));
  }
  return groups;
}

Result<std::vector<ApiResource>> parse_resource_list(const json& resource_list, const std::string& group,
                                                     const std::string& version) {
  const std::string where = group.empty() ? "/api/" + version : "/apis/" + group + "/" + version;
  if (!resource_list.is_object() || !resource_list.contains("resources") || !resource_list["resources"].is_array()) {
    return malformed(where);
  }
  std::vector<ApiResource> resources;
  std::map<std::string, std::vector<std::string>> subresources;  // "pods" -> {"exec", "status"}
  for (const json& item : resource_list["resources"]) {
    if (!item.is_object()) continue;
    std::string name = text(item, "name");
    if (name.empty()) continue;
    size_t slash = name.find('/');
    if (slash != std::string::npos) {
      subresources[name.substr(0, slash)].push_back(name.substr(slash + 1));
      continue;
    }
    ApiResource resource;
    // A resource may live in another group version than the list (rare).
    resource.group = item.contains("group") && !text(item, "group").empty() ? text(item, "group") : group;
    resource.version = item.contains("version") && !text(item, "version").empty() ? text(item, "version") : version;
    resource.resource = name;
    resource.singular = text(item, "singularName");
    resource.kind = text(item, "kind");
    resource.namespaced = item.value("namespaced", false);
    resource.verbs = strings(item, "verbs");
    resource.short_names = strings(item, "shortNames");
    resource.categories = strings(item, "categories");
    resources.push_back(std::move(resource));
  }
  for (ApiResource& resource : resources) {
    auto it = subresources.find(resource.resource);
    if (it != subresources.end()) resource.subresources = it->second;
  }
  return resources;
}

Status parse_aggregated_discovery(const json& discovery_list, DiscoveryView& view) {
  if (!discovery_list.is_object() || text(discovery_list, "kind") != "APIGroupDiscoveryList" ||
      !discovery_list.contains("items") || !discovery_list["items"].is_array()) {
    return malformed("(aggregated)");
  }
  for (const json& item : discovery_list["items"]) {
    if (!item.is_object()) continue;
    ApiGroupInfo group;
    if (auto metadata = item.find("metadata"); metadata != item.end() && metadata->is_object()) {
      group.name = text(*metadata, "name");
    }
    auto versions = item.find("versions");
    if (versions == item.end() || !versions->is_array()) continue;
    for (const json& version_entry : *versions) {
      if (!version_entry.is_object()) continue;
      std::string version = text(version_entry, "version");
      if (version.empty()) continue;
      group.versions.push_back(version);
      const bool preferred = group.versions.size() == 1;  // versions come in order of preference
      std::string group_version = group.name.empty() ? version : group.name + "/" + version;
      if (text(version_entry, "freshness") == "Stale") {
        view.failures.push_back(group_version + ": the server's discovery data for it is stale");
        continue;
      }
      auto resources = version_entry.find("resources");
      if (resources == version_entry.end() || !resources->is_array()) continue;
      for (const json& entry : *resources) {
        if (!entry.is_object() || text(entry, "resource").empty()) continue;
        ApiResource resource;
        resource.group = group.name;
        resource.version = version;
        resource.resource = text(entry, "resource");
        resource.singular = text(entry, "singularResource");
        if (auto kind = entry.find("responseKind"); kind != entry.end() && kind->is_object()) {
          resource.kind = text(*kind, "kind");
        }
        resource.namespaced = text(entry, "scope") == "Namespaced";
        resource.verbs = strings(entry, "verbs");
        resource.short_names = strings(entry, "shortNames");
        resource.categories = strings(entry, "categories");
        resource.preferred = preferred;
        if (auto subresources = entry.find("subresources"); subresources != entry.end() && subresources->is_array()) {
          for (const json& subresource : *subresources) {
            if (subresource.is_object() && !text(subresource, "subresource").empty()) {
              resource.subresources.push_back(text(subresource, "subresource"));
            }
          }
        }
        view.resources.push_back(std::move(resource));
      }
    }
    if (group.versions.empty()) continue;
    group.preferred_version = group.versions.front();
    view.groups.push_back(std::move(group));
  }
  return ok_status();
}

}  // namespace stowage::kube
