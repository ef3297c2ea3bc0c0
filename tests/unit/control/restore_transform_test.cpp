// Restore transformations, selections and the other pure pieces of the
// controllers: mappings, modifiers, priorities, label selectors, location URLs.
#include <gtest/gtest.h>

#include "control/backup_runner.h"
#include "control/location_access.h"
#include "control/operation_log.h"
#include "control/restore_transform.h"
#include "control/schedule_controller.h"
#include "control/selection.h"

namespace stowage::control {
namespace {

Json parse(const char* text) { return Json::parse(text); }

Mappings sample_mappings() {
  Mappings m;
  m.namespaces = {{"shop", "shop-copy"}};
  m.storage_classes = {{"fast", "slow"}};
  m.nodes = {{"node-a", "node-b"}};
  return m;
}

TEST(RestoreTransform, PvcMapsSelectedNodeAndStorageClassAndDropsUnrestoredVolume) {
  Json pvc = parse(R"({"apiVersion":"v1","kind":"PersistentVolumeClaim",
    "metadata":{"name":"data","namespace":"shop","uid":"u1","resourceVersion":"9",
      "annotations":{"volume.kubernetes.io/selected-node":"node-a","pv.kubernetes.io/bind-completed":"yes"}},
    "spec":{"storageClassName":"fast","volumeName":"pv-1"},"status":{"phase":"Bound"}})");
  Json out = prepare_for_restore(pvc, "persistentvolumeclaims", sample_mappings(), {});
  EXPECT_EQ(out["metadata"]["namespace"], "shop-copy");
  EXPECT_EQ(out["metadata"]["annotations"]["volume.kubernetes.io/selected-node"], "node-b");
  EXPECT_FALSE(out["metadata"]["annotations"].contains("pv.kubernetes.io/bind-completed"));
  EXPECT_EQ(out["spec"]["storageClassName"], "slow");
  EXPECT_FALSE(out["spec"].contains("volumeName")) << "the PV was not restored with it";
  EXPECT_FALSE(out.contains("status"));
  EXPECT_FALSE(out["metadata"].contains("uid"));
  EXPECT_FALSE(out["metadata"].contains("resourceVersion"));
  Json kept = prepare_for_restore(pvc, "persistentvolumeclaims", sample_mappings(), {"pv-1"});
  EXPECT_EQ(kept["spec"]["volumeName"], "pv-1");
}

TEST(RestoreTransform, PvMapsClaimNamespaceAffinityAndClass) {
  Json pv = parse(R"({"apiVersion":"v1","kind":"PersistentVolume","metadata":{"name":"pv-1"},
    "spec":{"storageClassName":"fast","claimRef":{"namespace":"shop","name":"data","uid":"u1","resourceVersion":"3"},
      "nodeAffinity":{"required":{"nodeSelectorTerms":[{"matchExpressions":[
        {"key":"kubernetes.io/hostname","operator":"In","values":["node-a","node-c"]},
        {"key":"zone","operator":"In","values":["node-a"]}]}]}}}})");
  Json out = prepare_for_restore(pv, "persistentvolumes", sample_mappings(), {});
  EXPECT_EQ(out["spec"]["claimRef"], parse(R"({"namespace":"shop-copy","name":"data"})"));
  auto& expressions = out["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0]["matchExpressions"];
  EXPECT_EQ(expressions[0]["values"], parse(R"(["node-b","node-c"])"));
  EXPECT_EQ(expressions[1]["values"], parse(R"(["node-a"])")) << "only hostname terms are node names";
  EXPECT_EQ(out["spec"]["storageClassName"], "slow");
}

TEST(RestoreTransform, ServiceLosesClusterIpAndNodePortsButHeadlessStays) {
  Json svc = parse(R"({"apiVersion":"v1","kind":"Service","metadata":{"name":"web","namespace":"shop"},
    "spec":{"clusterIP":"10.0.0.7","clusterIPs":["10.0.0.7"],"type":"NodePort","ports":[{"port":80,"nodePort":30080}]}})");
  Json out = prepare_for_restore(svc, "services", sample_mappings(), {});
  EXPECT_FALSE(out["spec"].contains("clusterIP"));
  EXPECT_FALSE(out["spec"]["ports"][0].contains("nodePort"));
  Mappings preserve = sample_mappings();
  preserve.preserve_node_ports = true;
  EXPECT_EQ(prepare_for_restore(svc, "services", preserve, {})["spec"]["ports"][0]["nodePort"], 30080);
  svc["spec"]["clusterIP"] = "None";
  EXPECT_EQ(prepare_for_restore(svc, "services", sample_mappings(), {})["spec"]["clusterIP"], "None");
}

TEST(RestoreTransform, PodDropsTokenVolumeAndMapsNode) {
  Json pod = parse(R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"shop"},
    "spec":{"nodeName":"node-a","volumes":[{"name":"data"},{"name":"kube-api-access-x1"}],
      "containers":[{"name":"c","volumeMounts":[{"name":"data"},{"name":"kube-api-access-x1"}]}]}})");
  Json out = prepare_for_restore(pod, "pods", sample_mappings(), {});
  EXPECT_EQ(out["spec"]["nodeName"], "node-b");
  EXPECT_EQ(out["spec"]["volumes"], parse(R"([{"name":"data"}])"));
  EXPECT_EQ(out["spec"]["containers"][0]["volumeMounts"], parse(R"([{"name":"data"}])"));
}

TEST(RestoreTransform, NamespaceObjectIsRenamedAndBindingSubjectsFollow) {
  Json ns = parse(R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"shop"},"spec":{"finalizers":["kubernetes"]}})");
  EXPECT_EQ(prepare_for_restore(ns, "namespaces", sample_mappings(), {})["metadata"]["name"], "shop-copy");
  Json binding = parse(R"({"kind":"RoleBinding","metadata":{"name":"b","namespace":"shop"},
    "subjects":[{"kind":"ServiceAccount","name":"app","namespace":"shop"},{"kind":"User","name":"ann"}]})");
  Json out = prepare_for_restore(binding, "rolebindings.rbac.authorization.k8s.io", sample_mappings(), {});
  EXPECT_EQ(out["subjects"][0]["namespace"], "shop-copy");
  EXPECT_FALSE(out["subjects"][1].contains("namespace"));
}

TEST(ResourceModifiers, JsonAndMergePatchesApplyOnlyWhereConditionsHold) {
  auto rules = parse_modifier_rules(parse(R"({"rules":[
    {"conditions":{"groupResource":"deployments.apps","resourceNameRegex":"^web-.*","namespaces":["shop"]},
     "patches":[{"operation":"replace","path":"/spec/replicas","value":1}]},
    {"conditions":{"groupResource":"*","labelSelector":{"matchLabels":{"tier":"db"}}},
     "mergePatches":[{"patchData":"{\"metadata\":{\"labels\":{\"restored\":\"yes\"}}}"}]}]})"));
  ASSERT_TRUE(rules.ok()) << rules.error().to_string();
  Json web = parse(R"({"metadata":{"name":"web-1","namespace":"shop","labels":{"tier":"db"}},"spec":{"replicas":5}})");
  auto out = apply_modifiers(rules.value(), "deployments.apps", web);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out.value()["spec"]["replicas"], 1);
  EXPECT_EQ(out.value()["metadata"]["labels"]["restored"], "yes");
  Json other = web;
  other["metadata"]["name"] = "api";
  EXPECT_EQ(apply_modifiers(rules.value(), "deployments.apps", other).value()["spec"]["replicas"], 5);
  other["metadata"]["name"] = "web-2";
  other["metadata"]["namespace"] = "elsewhere";
  EXPECT_EQ(apply_modifiers(rules.value(), "deployments.apps", other).value()["spec"]["replicas"], 5);
  // A patch that does not apply names the rule and the object.
  Json missing = parse(R"({"metadata":{"name":"web-3","namespace":"shop"},"spec":{}})");
  auto bad = apply_modifiers({rules.value()[0]}, "deployments.apps", parse(R"({"metadata":{"name":"web-3","namespace":"shop"}})"));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message().find("shop/web-3"), std::string::npos) << bad.error().message();
}

TEST(ResourceModifiers, InvalidRulesAreRejected) {
  EXPECT_FALSE(parse_modifier_rules(parse(R"({"rules":[{"conditions":{}}]})")).ok());
  EXPECT_FALSE(parse_modifier_rules(parse(R"({"rules":[{"conditions":{"groupResource":"x","resourceNameRegex":"("}}]})")).ok());
  EXPECT_FALSE(parse_modifier_rules(parse(R"({"rules":[{"conditions":{"groupResource":"x"},"mergePatches":[{"patchData":"[1]"}]}]})")).ok());
  EXPECT_FALSE(parse_modifier_rules(parse(R"({"nope":1})")).ok());
}

TEST(RestoreOrder, CrdsNamespacesStorageFirstWorkloadsLater) {
  EXPECT_LT(restore_priority("customresourcedefinitions.apiextensions.k8s.io"), restore_priority("namespaces"));
  EXPECT_LT(restore_priority("namespaces"), restore_priority("persistentvolumes"));
  EXPECT_LT(restore_priority("persistentvolumes"), restore_priority("persistentvolumeclaims"));
  EXPECT_LT(restore_priority("persistentvolumeclaims"), restore_priority("secrets"));
  EXPECT_LT(restore_priority("configmaps"), restore_priority("pods"));
  EXPECT_LT(restore_priority("pods"), restore_priority("deployments.apps"));
  EXPECT_EQ(restore_priority("deployments.apps"), restore_priority("caches.example.com"));
  EXPECT_TRUE(grants_access("clusterrolebindings.rbac.authorization.k8s.io"));
  EXPECT_TRUE(grants_access("mutatingwebhookconfigurations.admissionregistration.k8s.io"));
  EXPECT_FALSE(grants_access("rolebindings.rbac.authorization.k8s.io"));
}

TEST(Selection, LabelSelectorsAndNameFilters) {
  std::vector<std::string> problems;
  auto s = Selection::parse(parse(R"({"includedNamespaces":["a","b"],"excludedNamespaces":["b"],
    "labelSelector":{"matchLabels":{"app":"web"},"matchExpressions":[{"key":"tier","operator":"NotIn","values":["db"]}]}})"),
                            problems);
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE(problems.empty());
  EXPECT_TRUE(s.value().namespaces.matches("a"));
  EXPECT_FALSE(s.value().namespaces.matches("b"));
  EXPECT_FALSE(s.value().namespaces.matches("c"));
  EXPECT_FALSE(s.value().cluster_scoped_included());
  EXPECT_EQ(s.value().selectors[0].to_query(), "app in (web),tier notin (db)");
  EXPECT_TRUE(s.value().labels_match(parse(R"({"metadata":{"labels":{"app":"web","tier":"fe"}}})")));
  EXPECT_FALSE(s.value().labels_match(parse(R"({"metadata":{"labels":{"app":"web","tier":"db"}}})")));
  EXPECT_FALSE(s.value().labels_match(parse(R"({"metadata":{}})")));
  (void)Selection::parse(parse(R"({"labelSelector":{"matchExpressions":[{"key":"x","operator":"Near"}]}})"), problems);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].find("Near"), std::string::npos);
}

TEST(Selection, ResourceNamesResolveLikeKubectl) {
  kube::ApiResource deploy;
  deploy.group = "apps";
  deploy.version = "v1";
  deploy.resource = "deployments";
  deploy.singular = "deployment";
  deploy.kind = "Deployment";
  deploy.short_names = {"deploy"};
  kube::ApiResource events;
  events.version = "v1";
  events.resource = "events";
  events.kind = "Event";
  kube::ApiResource new_events = events;
  new_events.group = "events.k8s.io";
  std::vector<std::string> problems;
  NameFilter filter{{"deploy", "events"}, {}};
  ResourceMatcher matcher(filter, {deploy, events, new_events}, problems);
  EXPECT_TRUE(problems.empty());
  EXPECT_TRUE(matcher.matches(deploy));
  EXPECT_TRUE(matcher.matches(events));
  EXPECT_FALSE(matcher.matches(new_events)) << "a bare plural means the core type";
  ResourceMatcher everything_but(NameFilter{{}, {"Deployment"}}, {deploy, events}, problems);
  EXPECT_FALSE(everything_but.matches(deploy));
  EXPECT_TRUE(everything_but.matches(events));
}

TEST(BackupRunner, DefaultExclusionsAndStripping) {
  kube::ApiResource event;
  event.version = "v1";
  event.resource = "events";
  event.verbs = {"get", "list", "create"};
  EXPECT_TRUE(excluded_by_default(event));
  kube::ApiResource backups = event;
  backups.group = "stowage.io";
  backups.resource = "backups";
  EXPECT_TRUE(excluded_by_default(backups));
  kube::ApiResource configmaps = event;
  configmaps.resource = "configmaps";
  EXPECT_FALSE(excluded_by_default(configmaps));
  configmaps.verbs = {"get", "list"};
  EXPECT_TRUE(excluded_by_default(configmaps)) << "a type that cannot be created cannot be restored";
  Json stripped = strip_for_archive(parse(R"({"metadata":{"name":"x","resourceVersion":"5","managedFields":[],"uid":"u"}})"));
  EXPECT_EQ(stripped, parse(R"({"metadata":{"name":"x","uid":"u"}})"));
}

TEST(LocationUrl, FromUrlOrVeleroStyleObjectStorage) {
  EXPECT_EQ(location_url(parse(R"({"url":"s3://b/p?endpoint=http://x"})"), "l").value(), "s3://b/p?endpoint=http://x");
  auto url = location_url(parse(R"({"objectStorage":{"bucket":"velero","prefix":"cluster-1/"},
    "config":{"region":"eu-west-1","s3Url":"http://127.0.0.1:9000","s3ForcePathStyle":"true"}})"), "l");
  ASSERT_TRUE(url.ok());
  EXPECT_EQ(url.value(), "s3://velero/cluster-1?endpoint=http%3A%2F%2F127.0.0.1%3A9000&region=eu-west-1&path-style=true");
  auto missing = location_url(parse(R"({"config":{}})"), "loc-1");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message().find("loc-1"), std::string::npos);
}

TEST(Schedules, BackupNamesCarryTheUtcTime) {
  auto when = std::chrono::system_clock::from_time_t(1795564800);  // 2026-11-25T00:00:00Z
  EXPECT_EQ(timestamped_name("nightly", when + std::chrono::seconds(3723)), "nightly-20261125010203");
}

TEST(OperationLog, ResultsByNamespaceInVeleroFormat) {
  OperationLog log("restore", "r1");
  log.info("started");
  log.warning("exists already", "shop");
  log.error("could not create", "shop");
  log.error("cluster-wide failure");
  EXPECT_EQ(log.warnings(), 1);
  EXPECT_EQ(log.errors(), 2);
  Json results = log.results();
  EXPECT_EQ(results["errors"]["namespaces"]["shop"], parse(R"(["could not create"])"));
  EXPECT_EQ(results["errors"]["velero"], parse(R"(["cluster-wide failure"])"));
  EXPECT_EQ(results["warnings"]["namespaces"]["shop"], parse(R"(["exists already"])"));
  std::string text = log.text();
  EXPECT_NE(text.find("restore=r1"), std::string::npos) << text;
  EXPECT_NE(text.find("namespace=shop"), std::string::npos) << text;
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 4);
}

}  // namespace
}  // namespace stowage::control
