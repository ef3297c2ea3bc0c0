// The manifests of deploy/ (namespace, CRDs, RBAC, server Deployment, agent
// DaemonSet) as compiled into the binary at build time
// (cmake/embed_manifests.cmake), and their rendering for one install:
// parsed, checked, namespace and image substituted, in apply order.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "util/result.h"

namespace stowage::control {

// One file under deploy/, its path relative to deploy/ ("rbac.yaml",
// "crds/backups.stowage.io.yaml").
struct EmbeddedFile {
  std::string_view path;
  std::string_view text;
};

// Every deploy/*.yaml and deploy/crds/*.yaml, sorted by path.
std::span<const EmbeddedFile> embedded_manifests();

// The namespace and image the manifests are written with.
inline constexpr const char* kManifestNamespace = "stowage";
inline constexpr const char* kManifestImage = "stowage:0.1.0";

// What to render.
struct RenderOptions {
  std::string namespace_name = kManifestNamespace;
  std::string image;        // empty: the manifests' image (kManifestImage)
  bool crds_only = false;   // only the CustomResourceDefinitions
  bool with_agent = true;   // false: leave out the objects of component "agent"
};

// One object to apply, and the file it came from.
struct ManifestObject {
  std::string file;
  nlohmann::json object;
  // "clusterroles.rbac.authorization.k8s.io/stowage-server" style, for messages.
  std::string describe() const;
};

// The embedded objects in apply order — Namespace, CustomResourceDefinitions,
// ServiceAccounts, ClusterRoles, ClusterRoleBindings, Roles, RoleBindings,
// Deployments, DaemonSets (file order within a kind) — with the namespace
// substituted (metadata.namespace, the Namespace's name, ServiceAccount
// subjects) and, outside the default namespace, the cluster-scoped RBAC
// objects named "<name>-<namespace>" so that installs in two namespaces do
// not overwrite each other. kInvalidArgument for a namespace that is not a
// DNS-1123 label; kCorrupt for an embedded object of a kind this code does
// not know how to place.
Result<std::vector<ManifestObject>> render_manifests(const RenderOptions& options);

// The same from other manifest files (tests): `files` as embedded_manifests().
Result<std::vector<ManifestObject>> render_manifests(std::span<const EmbeddedFile> files, const RenderOptions& options);

// True for the kinds render_manifests treats as cluster-scoped.
bool is_cluster_scoped_kind(const std::string& kind);

}  // namespace stowage::control
