// ObjectRef: names what a request acts on — a resource type, a collection in a
// namespace, or one object (optionally a subresource of it) — and builds its
// API path and the human-readable name that every error message carries.
#pragma once

#include <string>

namespace stowage::kube {

struct ObjectRef {
  std::string group;        // "" for the core group
  std::string version;      // "v1"
  std::string resource;     // plural, lower case: "deployments"
  std::string namespace_;   // empty: cluster-scoped, or every namespace for a list
  std::string name;         // empty: the collection
  std::string subresource;  // "status", "exec", "scale"; empty: the object itself

  // "deployments.apps/web in namespace shop", "configmaps in namespace shop",
  // "namespaces/shop", "pods/web (exec) in namespace shop", "nodes".
  std::string describe() const;
  // "deployments.apps" or "pods": the resource qualified by its group.
  std::string qualified_resource() const;
  // "/apis/apps/v1/namespaces/shop/deployments/web/status", path segments
  // percent-encoded.
  std::string path() const;
};

// The API path prefix of a group version: "/api/v1" or "/apis/apps/v1".
std::string group_version_path(const std::string& group, const std::string& version);

// Splits an apiVersion ("apps/v1", "v1") into group and version.
void split_api_version(const std::string& api_version, std::string& group, std::string& version);

}  // namespace stowage::kube
