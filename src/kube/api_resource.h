// ApiResource: one resource type the API server serves in one group version,
// as discovery reports it — kind, plural and short names, scope, verbs and
// subresources — and the ObjectRef of an object or collection of that type.
#pragma once

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include "kube/object_ref.h"

namespace stowage::kube {

struct ApiResource {
  std::string group;          // "" for the core group
  std::string version;        // "v1"
  std::string resource;       // plural: "deployments"
  std::string singular;       // "deployment"
  std::string kind;           // "Deployment"
  bool namespaced = false;
  std::vector<std::string> verbs;         // "get", "list", "watch", "create", ...
  std::vector<std::string> short_names;   // "deploy"
  std::vector<std::string> categories;    // "all"
  std::vector<std::string> subresources;  // "status", "scale", "exec", ...
  bool preferred = false;     // the version is its group's preferred version

  // "apps/v1" or "v1", as in an object's apiVersion.
  std::string api_version() const { return group.empty() ? version : group + "/" + version; }
  // "deployments.apps" or "pods".
  std::string qualified_name() const { return group.empty() ? resource : resource + "." + group; }
  bool supports(std::string_view verb) const {
    return std::find(verbs.begin(), verbs.end(), verb) != verbs.end();
  }
  bool has_subresource(std::string_view name) const {
    return std::find(subresources.begin(), subresources.end(), name) != subresources.end();
  }
  // The ObjectRef of an object (or, without a name, the collection); the
  // namespace is dropped for cluster-scoped resources.
  ObjectRef ref(const std::string& namespace_name = {}, const std::string& name = {},
                const std::string& subresource = {}) const {
    return ObjectRef{group, version, resource, namespaced ? namespace_name : std::string(), name, subresource};
  }
};

}  // namespace stowage::kube
