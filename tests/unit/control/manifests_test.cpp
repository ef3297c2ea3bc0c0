// The manifests compiled into the binary (deploy/, control/manifests.h):
// they parse, the CRDs are complete and share what must stay shared (the
// Backup spec is the Schedule template, one label selector), the RBAC rules
// grant no deletes where none are meant, and rendering substitutes the
// namespace and image and orders objects for applying.
#include <gtest/gtest.h>

#include <functional>
#include <set>

#include "control/manifests.h"
#include "kube/yaml_json.h"

namespace stowage::control {
namespace {

using nlohmann::json;

std::vector<ManifestObject> rendered(const RenderOptions& options = {}) {
  Result<std::vector<ManifestObject>> objects = render_manifests(options);
  EXPECT_TRUE(objects.ok()) << objects.error().to_string();
  return objects.ok() ? *objects : std::vector<ManifestObject>{};
}

const json* find(const std::vector<ManifestObject>& objects, const std::string& kind, const std::string& name) {
  for (const ManifestObject& item : objects) {
    if (item.object["kind"] == kind && item.object["metadata"]["name"] == name) return &item.object;
  }
  return nullptr;
}

json crd_schema(const std::vector<ManifestObject>& objects, const std::string& plural) {
  const json* crd = find(objects, "CustomResourceDefinition", plural + ".stowage.io");
  EXPECT_NE(crd, nullptr) << plural;
  return crd ? (*crd)["spec"]["versions"][0]["schema"]["openAPIV3Schema"] : json();
}

TEST(Manifests, EveryEmbeddedFileParses) {
  std::set<std::string> paths;
  for (const EmbeddedFile& file : embedded_manifests()) {
    paths.insert(std::string(file.path));
    Result<std::vector<json>> documents = kube::yaml_to_json_documents(file.text, std::string(file.path));
    ASSERT_TRUE(documents.ok()) << documents.error().to_string();
    EXPECT_FALSE(documents->empty()) << file.path;
  }
  for (const char* expected : {"namespace.yaml", "rbac.yaml", "server.yaml", "agent.yaml",
                               "crds/backupstoragelocations.stowage.io.yaml", "crds/volumesnapshotlocations.stowage.io.yaml",
                               "crds/backups.stowage.io.yaml", "crds/restores.stowage.io.yaml",
                               "crds/schedules.stowage.io.yaml", "crds/volumebackups.stowage.io.yaml",
                               "crds/volumerestores.stowage.io.yaml"}) {
    EXPECT_TRUE(paths.count(expected)) << expected;
  }
}

TEST(Manifests, CrdsAreCompleteAndConsistent) {
  std::vector<ManifestObject> objects = rendered();
  const std::map<std::string, std::string> short_names = {
      {"backupstoragelocations", "bsl"}, {"volumesnapshotlocations", "vsl"}, {"backups", "bkp"},
      {"restores", "rst"}, {"schedules", "sched"}, {"volumebackups", "vb"}, {"volumerestores", "vr"}};
  for (const auto& [plural, short_name] : short_names) {
    const json* crd = find(objects, "CustomResourceDefinition", plural + ".stowage.io");
    ASSERT_NE(crd, nullptr) << plural;
    const json& spec = (*crd)["spec"];
    EXPECT_EQ(spec["group"], "stowage.io");
    EXPECT_EQ(spec["scope"], "Namespaced");
    EXPECT_EQ(spec["names"]["shortNames"], json::array({short_name}));
    EXPECT_EQ(spec["names"]["categories"], json::array({"stowage"}));
    ASSERT_EQ(spec["versions"].size(), 1u);
    const json& version = spec["versions"][0];
    EXPECT_EQ(version["name"], "v1");
    EXPECT_EQ(version["served"], true);
    EXPECT_EQ(version["storage"], true);
    EXPECT_EQ(version["subresources"], (json{{"status", json::object()}}));
    std::set<std::string> columns;
    for (const json& column : version["additionalPrinterColumns"]) columns.insert(column["name"]);
    EXPECT_TRUE(columns.count("Phase")) << plural;
    EXPECT_TRUE(columns.count("Age")) << plural;
    EXPECT_GE(columns.size(), 3u) << plural;
    // Structural and documented: every property has a type (or is declared
    // free-form) and a description.
    std::function<void(const json&, const std::string&)> walk = [&](const json& node, const std::string& path) {
      EXPECT_TRUE(node.contains("type") || node.value("x-kubernetes-preserve-unknown-fields", false)) << path;
      if (path.find('.') != std::string::npos && path.find(".metadata") == std::string::npos) {
        EXPECT_TRUE(node.contains("description") || path.ends_with("[]") || path.ends_with("{}")) << path;
      }
      if (node.contains("properties")) {
        for (auto& [name, child] : node["properties"].items()) walk(child, path + "." + name);
      }
      if (node.contains("items")) walk(node["items"], path + "[]");
      if (node.contains("additionalProperties")) walk(node["additionalProperties"], path + "{}");
    };
    walk(version["schema"]["openAPIV3Schema"], plural);
  }
}

TEST(Manifests, SharedSchemasStayShared) {
  std::vector<ManifestObject> objects = rendered();
  json backup = crd_schema(objects, "backups");
  json schedule = crd_schema(objects, "schedules");
  // The template is a Backup's spec, except copyOf (a Schedule never copies a backup).
  json backup_spec = backup["properties"]["spec"];
  ASSERT_TRUE(backup_spec["properties"].contains("copyOf"));
  backup_spec["properties"].erase("copyOf");
  EXPECT_EQ(schedule["properties"]["spec"]["properties"]["template"], backup_spec);
  // Every label selector of every kind is the same schema.
  std::vector<json> selectors;
  std::function<void(const json&)> collect = [&](const json& node) {
    if (!node.is_object()) return;
    if (node.contains("properties")) {
      for (auto& [name, child] : node["properties"].items()) {
        if (name == "labelSelector") selectors.push_back(child);
        if (name == "orLabelSelectors") selectors.push_back(child["items"]);
        collect(child);
      }
    }
    if (node.contains("items")) collect(node["items"]);
  };
  for (const char* plural : {"backups", "restores", "schedules"}) collect(crd_schema(objects, plural));
  ASSERT_GE(selectors.size(), 10u);
  for (const json& selector : selectors) EXPECT_EQ(selector, selectors.front());
  EXPECT_EQ(selectors.front()["properties"]["matchExpressions"]["items"]["properties"]["operator"]["enum"],
            json::parse(R"(["In", "NotIn", "Exists", "DoesNotExist"])"));
}

TEST(Manifests, RenderedInApplyOrderWithDefaults) {
  std::vector<ManifestObject> objects = rendered();
  std::vector<std::string> kinds;
  for (const ManifestObject& item : objects) {
    if (kinds.empty() || kinds.back() != item.object["kind"]) kinds.push_back(item.object["kind"]);
  }
  EXPECT_EQ(kinds, (std::vector<std::string>{"Namespace", "CustomResourceDefinition", "ServiceAccount", "ClusterRole",
                                              "ClusterRoleBinding", "Role", "RoleBinding", "Deployment", "DaemonSet"}));
  // Namespace, CRDs, ServiceAccounts, ClusterRoles, ClusterRoleBindings, Roles and RoleBindings (server's
  // and agent's), Deployment, DaemonSet.
  EXPECT_EQ(objects.size(), 1u + 7 + 2 + 2 + 2 + 2 + 2 + 1 + 1);
  EXPECT_NE(find(objects, "Role", "stowage-agent"), nullptr);
  const json* server = find(objects, "Deployment", "stowage");
  ASSERT_NE(server, nullptr);
  const json& container = (*server)["spec"]["template"]["spec"]["containers"][0];
  EXPECT_EQ(container["image"], kManifestImage);
  EXPECT_EQ(container["command"], json::parse(R"(["stowage", "server", "--metrics-address=0.0.0.0:8085"])"));
  EXPECT_EQ(container["securityContext"]["readOnlyRootFilesystem"], true);
  EXPECT_EQ((*server)["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"], true);
  const json* agent = find(objects, "DaemonSet", "stowage-agent");
  ASSERT_NE(agent, nullptr);
  const json& pod = (*agent)["spec"]["template"]["spec"];
  EXPECT_EQ(pod["containers"][0]["command"][2], "--node-name=$(NODE_NAME)");
  EXPECT_EQ(pod["containers"][0]["env"][0]["valueFrom"]["fieldRef"]["fieldPath"], "spec.nodeName");
  EXPECT_EQ(pod["containers"][0]["volumeMounts"][0]["mountPropagation"], "HostToContainer");
  EXPECT_EQ(pod["tolerations"], json::parse(R"([{"operator": "Exists"}])"));
  EXPECT_EQ(objects[8].describe(), "serviceaccount/stowage in namespace stowage");
}

TEST(Manifests, NamespaceAndImageSubstituted) {
  RenderOptions options;
  options.namespace_name = "team-a";
  options.image = "registry.example/stowage:1.2";
  std::vector<ManifestObject> objects = rendered(options);
  ASSERT_NE(find(objects, "Namespace", "team-a"), nullptr);
  for (const ManifestObject& item : objects) {
    const json& object = item.object;
    if (!is_cluster_scoped_kind(object["kind"])) {
      EXPECT_EQ(object["metadata"]["namespace"], "team-a") << item.describe();
    }
    for (const json& subject : object.value("subjects", json::array())) EXPECT_EQ(subject["namespace"], "team-a");
    if (object["kind"] == "Deployment" || object["kind"] == "DaemonSet") {
      EXPECT_EQ(object["spec"]["template"]["spec"]["containers"][0]["image"], "registry.example/stowage:1.2");
    }
  }
  const json* binding = find(objects, "ClusterRoleBinding", "stowage-server-team-a");
  ASSERT_NE(binding, nullptr);
  EXPECT_EQ((*binding)["roleRef"]["name"], "stowage-server-team-a");
  EXPECT_NE(find(objects, "ClusterRole", "stowage-agent-team-a"), nullptr);
  EXPECT_NE(find(objects, "CustomResourceDefinition", "backups.stowage.io"), nullptr);  // CRDs are cluster-wide
  EXPECT_NE(find(objects, "RoleBinding", "stowage-server"), nullptr);  // namespaced: no suffix needed
}

TEST(Manifests, SubsetsAndRefusals) {
  RenderOptions crds_only;
  crds_only.crds_only = true;
  std::vector<ManifestObject> crds = rendered(crds_only);
  EXPECT_EQ(crds.size(), 7u);
  for (const ManifestObject& item : crds) EXPECT_EQ(item.object["kind"], "CustomResourceDefinition");

  RenderOptions no_agent;
  no_agent.with_agent = false;
  std::vector<ManifestObject> objects = rendered(no_agent);
  EXPECT_EQ(find(objects, "DaemonSet", "stowage-agent"), nullptr);
  EXPECT_EQ(find(objects, "ServiceAccount", "stowage-agent"), nullptr);
  EXPECT_EQ(find(objects, "ClusterRole", "stowage-agent"), nullptr);
  EXPECT_EQ(find(objects, "Role", "stowage-agent"), nullptr);
  EXPECT_NE(find(objects, "Deployment", "stowage"), nullptr);

  RenderOptions bad;
  bad.namespace_name = "Not_Valid";
  Result<std::vector<ManifestObject>> refused = render_manifests(bad);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code(), ErrorCode::kInvalidArgument);

  const EmbeddedFile unknown[] = {{"x.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: stowage}\n"}};
  Result<std::vector<ManifestObject>> unknown_kind = render_manifests(unknown, RenderOptions{});
  ASSERT_FALSE(unknown_kind.ok());
  EXPECT_EQ(unknown_kind.error().code(), ErrorCode::kCorrupt);
  EXPECT_NE(unknown_kind.error().message().find("ConfigMap"), std::string::npos);
  const EmbeddedFile elsewhere[] = {{"y.yaml", "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: a, namespace: other}\n"}};
  Result<std::vector<ManifestObject>> wrong_namespace = render_manifests(elsewhere, RenderOptions{});
  ASSERT_FALSE(wrong_namespace.ok());
  EXPECT_EQ(wrong_namespace.error().code(), ErrorCode::kCorrupt);
}

// Static checks of the RBAC rules (their effect is checked against the real
// apiserver in tests/e2e/install_test.cpp).
TEST(Manifests, RbacGrantsNoStrayDeletes) {
  std::vector<ManifestObject> objects = rendered();
  const json* server = find(objects, "ClusterRole", "stowage-server");
  ASSERT_NE(server, nullptr);
  for (const json& rule : (*server)["rules"]) {
    bool own = rule["apiGroups"] == json::array({"stowage.io"});
    for (const json& verb : rule["verbs"]) {
      if (!own) {
        EXPECT_TRUE(verb != "delete" && verb != "deletecollection" && verb != "*") << rule.dump();
      }
    }
  }
  const json* agent = find(objects, "ClusterRole", "stowage-agent");
  ASSERT_NE(agent, nullptr);
  std::set<std::string> resources;
  for (const json& rule : (*agent)["rules"]) {
    bool events = rule["resources"] == json::array({"events"});
    for (const json& verb : rule["verbs"]) {
      EXPECT_TRUE(verb != "delete" && verb != "*" && (verb != "create" || events)) << rule.dump();
    }
    for (const json& resource : rule["resources"]) resources.insert(resource);
  }
  EXPECT_EQ(resources, (std::set<std::string>{"volumebackups", "volumerestores", "volumebackups/status",
                                              "volumerestores/status", "pods", "persistentvolumeclaims",
                                              "persistentvolumes", "events"}));
}

}  // namespace
}  // namespace stowage::control
