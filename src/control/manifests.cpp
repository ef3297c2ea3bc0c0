#include "control/manifests.h"

#include <algorithm>
#include <regex>

#include "kube/yaml_json.h"

namespace stowage::control {
namespace {

using nlohmann::json;

// Apply order by kind: what others refer to first.
const char* const kKindOrder[] = {"Namespace", "CustomResourceDefinition", "ServiceAccount", "ClusterRole",
                                  "ClusterRoleBinding", "Role", "RoleBinding", "Deployment", "DaemonSet"};

int kind_rank(const std::string& kind) {
  for (size_t i = 0; i < std::size(kKindOrder); i++) {
    if (kind == kKindOrder[i]) return int(i);
  }
  return -1;
}

bool is_valid_namespace(const std::string& name) {
  static const std::regex label("[a-z0-9]([-a-z0-9]*[a-z0-9])?");
  return name.size() <= 63 && std::regex_match(name, label);
}

// The cluster-wide RBAC objects of an install outside the default namespace
// carry the namespace, as Velero names its ClusterRoleBinding velero-NAMESPACE.
std::string cluster_scoped_name(const std::string& name, const std::string& namespace_name) {
  return namespace_name == kManifestNamespace ? name : name + "-" + namespace_name;
}

// The app.kubernetes.io/component label: "server", "agent" or "".
std::string component_of(const json& object) {
  const json& metadata = object["metadata"];
  if (!metadata.contains("labels") || !metadata["labels"].is_object()) return "";
  return metadata["labels"].value("app.kubernetes.io/component", "");
}

void set_images(json& object, const std::string& image) {
  json& pod = object["spec"]["template"]["spec"];
  for (const char* list : {"initContainers", "containers"}) {
    if (!pod.contains(list)) continue;
    for (json& container : pod[list]) container["image"] = image;
  }
}

Status substitute(ManifestObject& item, const RenderOptions& options) {
  json& object = item.object;
  const std::string kind = object.value("kind", "");
  json& metadata = object["metadata"];
  const std::string& ns = options.namespace_name;
  if (kind == "Namespace") {
    metadata["name"] = ns;
  } else if (!is_cluster_scoped_kind(kind)) {
    if (metadata.value("namespace", "") != kManifestNamespace) {
      return Error(ErrorCode::kCorrupt,
                   "embedded manifest " + item.file + ": " + kind + " " + metadata.value("name", "") +
                       " is not in namespace " + kManifestNamespace,
                   item.file, "write every namespaced object of deploy/ with namespace: stowage");
    }
    metadata["namespace"] = ns;
  }
  if (kind == "ClusterRole" || kind == "ClusterRoleBinding") {
    metadata["name"] = cluster_scoped_name(metadata.value("name", ""), ns);
  }
  if (kind == "ClusterRoleBinding" || kind == "RoleBinding") {
    json& role = object["roleRef"];
    if (role.value("kind", "") == "ClusterRole") role["name"] = cluster_scoped_name(role.value("name", ""), ns);
    if (object.contains("subjects")) {
      for (json& subject : object["subjects"]) {
        if (subject.value("kind", "") == "ServiceAccount") subject["namespace"] = ns;
      }
    }
  }
  if ((kind == "Deployment" || kind == "DaemonSet") && !options.image.empty()) set_images(object, options.image);
  return ok_status();
}

}  // namespace

bool is_cluster_scoped_kind(const std::string& kind) {
  return kind == "Namespace" || kind == "CustomResourceDefinition" || kind == "ClusterRole" ||
         kind == "ClusterRoleBinding";
}

std::string ManifestObject::describe() const {
  std::string kind = object.value("kind", "");
  std::transform(kind.begin(), kind.end(), kind.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  std::string out = kind + "/" + object["metadata"].value("name", "");
  std::string ns = object["metadata"].value("namespace", "");
  if (!ns.empty()) out += " in namespace " + ns;
  return out;
}

Result<std::vector<ManifestObject>> render_manifests(std::span<const EmbeddedFile> files,
                                                     const RenderOptions& options) {
  if (!is_valid_namespace(options.namespace_name)) {
    return Error(ErrorCode::kInvalidArgument, "\"" + options.namespace_name + "\" is not a valid namespace name",
                 options.namespace_name,
                 "use at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit");
  }
  std::vector<ManifestObject> objects;
  for (const EmbeddedFile& file : files) {
    const std::string path(file.path);
    std::vector<json> documents = TRY(kube::yaml_to_json_documents(file.text, "embedded manifest " + path));
    for (json& document : documents) {
      if (!document.is_object() || !document.contains("apiVersion") || !document.contains("kind") ||
          !document.contains("metadata") || !document["metadata"].contains("name")) {
        return Error(ErrorCode::kCorrupt, "embedded manifest " + path + " holds a document without apiVersion, "
                     "kind and metadata.name", path, "fix deploy/" + path + " and rebuild");
      }
      const std::string kind = document["kind"].get<std::string>();
      if (kind_rank(kind) < 0) {
        return Error(ErrorCode::kCorrupt, "embedded manifest " + path + " holds a " + kind +
                     ", which install does not know where to apply", path,
                     "add the kind to kKindOrder in src/control/manifests.cpp");
      }
      if (options.crds_only && kind != "CustomResourceDefinition") continue;
      if (!options.with_agent && component_of(document) == "agent") continue;
      ManifestObject item{path, std::move(document)};
      TRY_STATUS(substitute(item, options));
      objects.push_back(std::move(item));
    }
  }
  std::stable_sort(objects.begin(), objects.end(), [](const ManifestObject& a, const ManifestObject& b) {
    return kind_rank(a.object["kind"].get<std::string>()) < kind_rank(b.object["kind"].get<std::string>());
  });
  return objects;
}

Result<std::vector<ManifestObject>> render_manifests(const RenderOptions& options) {
  return render_manifests(embedded_manifests(), options);
}

}  // namespace stowage::control
