// `stowage install` / `uninstall` (control/install.h) against the testbed's
// real kube-apiserver 1.35: install twice (the second changes nothing), every
// CRD Established and discoverable with its short names and status
// subresource, valid objects of every kind accepted and invalid ones refused
// by the schemas (422), the status subresource, the RBAC of the server and
// the agent (SubjectAccessReviews, and real requests made as them through
// `kubectl --as`), dry runs, and uninstall removing everything.
// Needs `testbed/up kube && source testbed/run/env`; skipped without
// KUBECONFIG. Works in namespace stowage-install-test. The stowage.io CRDs are
// cluster-wide: uninstall removes them only when no stowage object outside
// this namespace uses them.
#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <set>

#include "control/install.h"
#include "kube/api_client.h"
#include "kube/discovery.h"
#include "kube/dynamic_client.h"
#include "kube/kubeconfig.h"

namespace stowage::control {
namespace {

using nlohmann::json;
using kube::ApiResource;

const char* const kNamespace = "stowage-install-test";
const char* const kSetupHint = "run `testbed/up kube && source testbed/run/env` first";
const std::vector<std::string> kPlurals = {"backupstoragelocations", "volumesnapshotlocations", "backups", "restores",
                                           "schedules", "volumebackups", "volumerestores"};

struct Installed {
  std::unique_ptr<kube::ApiClient> api;
  std::unique_ptr<kube::DynamicClient> objects;
  std::unique_ptr<kube::Discovery> discovery;
  bool installed = false;
  bool crds_existed_before = false;  // someone else's: uninstall keeps them
};

Installed* state = nullptr;

class InstallTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    state = new Installed();
    const char* kubeconfig = std::getenv("KUBECONFIG");
    if (kubeconfig == nullptr || *kubeconfig == 0) return;
    Result<kube::ClusterConfig> config = kube::load_kubeconfig(kubeconfig);
    ASSERT_TRUE(config.ok()) << config.error().to_string();
    Result<std::unique_ptr<kube::ApiClient>> api = kube::ApiClient::create(std::move(config).value());
    ASSERT_TRUE(api.ok()) << api.error().to_string();
    state->api = std::move(api).value();
    state->objects = std::make_unique<kube::DynamicClient>(*state->api);
    state->discovery = std::make_unique<kube::Discovery>(*state->api);
  }
  static void TearDownTestSuite() {
    if (state->api && state->installed) {  // a test failed before uninstall: clean up anyway
      UninstallOptions options;
      options.namespace_name = kNamespace;
      options.keep_crds = true;
      Status removed = uninstall(*state->api, options, {});
      if (!removed.ok()) ADD_FAILURE() << "cleanup: " << removed.error().to_string();
    }
    delete state;
    state = nullptr;
  }
  void SetUp() override {
    if (!state->api) GTEST_SKIP() << "KUBECONFIG is not set: " << kSetupHint;
  }
  kube::DynamicClient& objects() { return *state->objects; }
  ApiResource type(const std::string& name, const std::string& group = {}) {
    Result<ApiResource> resolved = state->discovery->resolve(name, group);
    EXPECT_TRUE(resolved.ok()) << resolved.error().to_string();
    return resolved.ok() ? *resolved : ApiResource{};
  }
  ApiResource stowage(const std::string& plural) { return type(plural, "stowage.io"); }
  void require_installed() {
    if (!state->installed) GTEST_FAIL() << "install did not succeed in InstallTest.InstallTwiceChangesNothing";
  }
};

InstallOptions test_install() {
  InstallOptions options;
  options.namespace_name = kNamespace;
  options.image = "registry.example/stowage:e2e";
  return options;
}

// What install created, by "kind/name", with its resourceVersion.
std::map<std::string, std::string> versions_of_everything(kube::Discovery& discovery, kube::DynamicClient& objects) {
  std::map<std::string, std::string> versions;
  RenderOptions options;
  options.namespace_name = kNamespace;
  options.image = test_install().image;
  Result<std::vector<ManifestObject>> rendered = render_manifests(options);
  EXPECT_TRUE(rendered.ok());
  for (const ManifestObject& item : *rendered) {
    Result<ApiResource> type = discovery.resolve_kind(item.object["apiVersion"].get<std::string>(),
                                                      item.object["kind"].get<std::string>());
    EXPECT_TRUE(type.ok());
    Result<json> got = objects.get(*type, item.object["metadata"].value("namespace", ""),
                                   item.object["metadata"]["name"].get<std::string>());
    EXPECT_TRUE(got.ok()) << item.describe() << ": " << got.error().to_string();
    versions[item.describe()] = got.ok() ? kube::object_resource_version(*got) : "missing";
  }
  return versions;
}

TEST_F(InstallTest, InstallTwiceChangesNothing) {
  // A crashed earlier run may have left the namespace behind.
  UninstallOptions leftovers;
  leftovers.namespace_name = kNamespace;
  leftovers.keep_crds = true;
  ASSERT_TRUE(uninstall(*state->api, leftovers, {}).ok());
  Result<json> crd_before = objects().get(type("customresourcedefinitions"), "", "backups.stowage.io");
  state->crds_existed_before = crd_before.ok();

  std::vector<std::string> first;
  Status installed = install(*state->api, test_install(), [&](std::string_view line) { first.emplace_back(line); });
  ASSERT_TRUE(installed.ok()) << installed.error().to_string();
  state->installed = true;
  std::string all = "";
  for (const std::string& line : first) all += line + "\n";
  std::cout << "first install reported:\n" << all;
  EXPECT_NE(all.find("namespace/stowage-install-test: created"), std::string::npos) << all;
  EXPECT_NE(all.find("deployment/stowage in namespace stowage-install-test: created"), std::string::npos) << all;
  EXPECT_NE(all.find("clusterrole/stowage-agent-stowage-install-test: created"), std::string::npos) << all;
  EXPECT_NE(all.find("waiting up to 120 s for 7 CustomResourceDefinitions to be Established"), std::string::npos)
      << all;

  ASSERT_TRUE(state->discovery->refresh().ok());
  std::map<std::string, std::string> before = versions_of_everything(*state->discovery, objects());
  std::vector<std::string> second;
  installed = install(*state->api, test_install(), [&](std::string_view line) { second.emplace_back(line); });
  ASSERT_TRUE(installed.ok()) << installed.error().to_string();
  size_t unchanged = 0;
  for (const std::string& line : second) {
    if (line.ends_with(": unchanged")) unchanged++;
    EXPECT_EQ(line.find(": created"), std::string::npos) << line;
    EXPECT_EQ(line.find(": configured"), std::string::npos) << line;
  }
  EXPECT_EQ(unchanged, before.size());
  EXPECT_EQ(versions_of_everything(*state->discovery, objects()), before);  // not one object written again

  json server = *objects().get(type("deployments", "apps"), kNamespace, "stowage");
  EXPECT_EQ(server["spec"]["template"]["spec"]["containers"][0]["image"], "registry.example/stowage:e2e");
  json binding = *objects().get(type("clusterrolebindings"), "", "stowage-agent-stowage-install-test");
  EXPECT_EQ(binding["subjects"][0]["namespace"], kNamespace);
}

TEST_F(InstallTest, DryRunValidatesAndWritesNothing) {
  require_installed();
  std::map<std::string, std::string> before = versions_of_everything(*state->discovery, objects());
  InstallOptions options = test_install();
  options.dry_run = true;
  options.image = "registry.example/stowage:other";
  std::vector<std::string> lines;
  Status checked = install(*state->api, options, [&](std::string_view line) { lines.emplace_back(line); });
  ASSERT_TRUE(checked.ok()) << checked.error().to_string();
  std::set<std::string> configured;
  for (const std::string& line : lines) {
    if (line.ends_with(": configured (dry run)")) configured.insert(line);
  }
  EXPECT_EQ(configured, (std::set<std::string>{
                            "deployment/stowage in namespace stowage-install-test: configured (dry run)",
                            "daemonset/stowage-agent in namespace stowage-install-test: configured (dry run)"}));
  EXPECT_EQ(versions_of_everything(*state->discovery, objects()), before);

  // A namespace that does not exist: what lives in it cannot be validated.
  options.namespace_name = "stowage-install-test-absent";
  lines.clear();
  checked = install(*state->api, options, [&](std::string_view line) { lines.emplace_back(line); });
  ASSERT_TRUE(checked.ok()) << checked.error().to_string();
  EXPECT_EQ(lines.front(), "namespace/stowage-install-test-absent: created (dry run)");
  EXPECT_EQ(lines.back(), "daemonset/stowage-agent in namespace stowage-install-test-absent: not validated (dry run; "
                          "namespace stowage-install-test-absent does not exist yet)");
  EXPECT_FALSE(objects().get(type("namespaces"), "", "stowage-install-test-absent").ok());
}

TEST_F(InstallTest, CrdsEstablishedAndDiscoverable) {
  require_installed();
  const std::map<std::string, std::string> short_names = {
      {"backupstoragelocations", "bsl"}, {"volumesnapshotlocations", "vsl"}, {"backups", "bkp"},
      {"restores", "rst"}, {"schedules", "sched"}, {"volumebackups", "vb"}, {"volumerestores", "vr"}};
  kube::Discovery fresh(*state->api);
  for (const auto& [plural, short_name] : short_names) {
    json crd = *objects().get(type("customresourcedefinitions"), "", plural + ".stowage.io");
    bool established = false;
    for (const json& condition : crd["status"]["conditions"]) {
      if (condition["type"] == "Established") established = condition["status"] == "True";
    }
    EXPECT_TRUE(established) << plural;
    Result<ApiResource> by_short = fresh.resolve(short_name);
    ASSERT_TRUE(by_short.ok()) << short_name << ": " << by_short.error().to_string();
    EXPECT_EQ(by_short->resource, plural);
    EXPECT_EQ(by_short->group, "stowage.io");
    EXPECT_EQ(by_short->version, "v1");
    EXPECT_TRUE(by_short->namespaced);
    EXPECT_TRUE(by_short->has_subresource("status")) << plural;
    EXPECT_EQ(by_short->short_names, std::vector<std::string>{short_name});
    EXPECT_EQ(by_short->categories, std::vector<std::string>{"stowage"});
    EXPECT_TRUE(by_short->supports("watch") && by_short->supports("patch"));
  }
  Result<ApiResource> by_kind = fresh.resolve_kind("stowage.io/v1", "VolumeRestore");
  ASSERT_TRUE(by_kind.ok()) << by_kind.error().to_string();
  EXPECT_EQ(by_kind->resource, "volumerestores");
}

json meta(const std::string& name) { return json{{"name", name}, {"namespace", kNamespace}}; }

json label_selector() {
  return json::parse(R"({"matchLabels": {"app": "shop"},
                         "matchExpressions": [{"key": "tier", "operator": "In", "values": ["db", "cache"]},
                                              {"key": "skip", "operator": "DoesNotExist"}]})");
}

json backup_spec() {
  return json{{"includedNamespaces", {"shop", "shop-*"}},
              {"excludedNamespaces", {"kube-system"}},
              {"includedResources", {"*"}},
              {"excludedResources", {"events", "events.events.k8s.io"}},
              {"includeClusterResources", nullptr},
              {"labelSelector", label_selector()},
              {"ttl", "720h0m0s"},
              {"storageLocation", "default"},
              {"volumeSnapshotLocations", {"zfs"}},
              {"snapshotVolumes", false},
              {"defaultVolumesToFsBackup", true},
              {"hooks", json::parse(R"({"resources": [{"name": "freeze", "includedNamespaces": ["shop"],
                   "labelSelector": {"matchLabels": {"app": "db"}},
                   "pre": [{"exec": {"container": "db", "command": ["fsfreeze", "--freeze", "/data"],
                                     "onError": "Fail", "timeout": "1m30s"}}],
                   "post": [{"exec": {"command": ["fsfreeze", "--unfreeze", "/data"]}}]}]})")}};
}

std::vector<std::pair<std::string, json>> valid_samples() {
  const json password = {{"name", "stowage-repository"}, {"key", "password"}};
  return {
      {"backupstoragelocations",
       {{"metadata", meta("minio")},
        {"spec",
         {{"url", "s3://stowage-test/install-e2e?endpoint=http://127.0.0.1:9000&region=us-east-1&path-style=true"},
          {"credential", {{"name", "cloud-credentials"}, {"key", "cloud"}}},
          {"repositoryPassword", password},
          {"accessMode", "ReadWrite"},
          {"archiveFormat", "Plain"},
          {"default", true},
          {"objectLock", {{"mode", "GOVERNANCE"}, {"retentionMargin", "24h"}}},
          {"validationFrequency", "1m"}}}}},
      {"backupstoragelocations",
       {{"metadata", meta("velero-style")},
        {"spec",
         {{"objectStorage", {{"bucket", "velero-backups"}, {"prefix", "cluster-a"}}},
          {"config", {{"region", "us-east-1"}, {"s3ForcePathStyle", "true"}, {"endpoint", "http://127.0.0.1:9000"}}},
          {"repositoryPassword", password}}}}},
      {"backupstoragelocations",
       {{"metadata", meta("local")}, {"spec", {{"url", "file:///var/backups/stowage"}, {"repositoryPassword", password}}}}},
      {"volumesnapshotlocations",
       {{"metadata", meta("zfs")},
        {"spec", {{"provider", "zfs.openebs.io"}, {"config", {{"pool", "tank"}, {"send", {{"compressed", true}}}}}}}}},
      {"backups", {{"metadata", meta("nightly")}, {"spec", backup_spec()}}},
      {"backups", {{"metadata", meta("everything")}, {"spec", json::object()}}},
      {"backups",
       {{"metadata", meta("either-or")},
        {"spec", {{"orLabelSelectors", json::array({label_selector(), json::parse(R"({"matchLabels": {"app": "web"}})")})},
                  {"ttl", "0"}}}}},
      {"restores",
       {{"metadata", meta("to-staging")},
        {"spec",
         {{"backupName", "nightly"},
          {"includedNamespaces", {"shop"}},
          {"includeClusterResources", true},
          {"labelSelector", label_selector()},
          {"namespaceMapping", {{"shop", "shop-staging"}}},
          {"storageClassMapping", {{"fast", "standard"}}},
          {"nodeNameMapping", {{"node-a", "node-b"}}},
          {"resourceModifiers", json::parse(R"({"rules": [{
               "conditions": {"groupResource": "deployments.apps", "resourceNameRegex": "^web-.*$",
                              "namespaces": ["shop-staging"], "labelSelector": {"matchLabels": {"app": "web"}}},
               "patches": [{"operation": "replace", "path": "/spec/replicas", "value": 1},
                           {"operation": "add", "path": "/metadata/labels/restored", "value": {"by": "stowage"}},
                           {"operation": "copy", "from": "/metadata/name", "path": "/metadata/labels/origin"},
                           {"operation": "remove", "path": "/spec/template/spec/nodeSelector"}],
               "mergePatches": [{"patchData": "{\"metadata\": {\"annotations\": {\"restored\": \"yes\"}}}"}]}]})")},
          {"existingResourcePolicy", "update"},
          {"restorePVs", true},
          {"preserveNodePorts", true},
          {"hooks", json::parse(R"({"resources": [{"name": "wait-for-data", "includedNamespaces": ["shop-staging"],
               "includedResources": ["pods"],
               "postHooks": [
                 {"init": {"initContainers": [{"name": "restore-wait", "image": "stowage:0.1.0",
                                               "command": ["stowage", "restore-wait"],
                                               "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
                           "timeout": "10m"}},
                 {"exec": {"container": "db", "command": ["sh", "-c", "db-check"], "onError": "Continue",
                           "execTimeout": "30s", "waitTimeout": "5m"}}]}]})")},
          {"itemOperationTimeout", "4h"},
          {"serviceAccountName", "restorer"}}}}},
      {"schedules",
       {{"metadata", meta("nightly")},
        {"spec",
         {{"schedule", "CRON_TZ=Europe/Berlin 0 3 * * *"},
          {"timeZone", "Europe/Berlin"},
          {"paused", false},
          {"template", backup_spec()},
          {"useOwnerReferencesInBackup", true},
          {"skipImmediately", true}}}}},
      {"schedules", {{"metadata", meta("often")}, {"spec", {{"schedule", "@every 1m"}, {"template", json::object()}}}}},
      {"volumebackups",
       {{"metadata", meta("nightly-db-data")},
        {"spec",
         {{"node", "node-a"},
          {"backupName", "nightly"},
          {"pod", {{"namespace", "shop"}, {"name", "db-0"}, {"uid", "6f1c3c1e-4a9e-4c55-9d3a-2b7f5f0e8a11"}}},
          {"volume", "data"},
          {"pvc", "data-db-0"},
          {"pv", "pvc-6f1c3c1e"},
          {"method", "FileSystem"},
          {"sourcePath", "/var/lib/kubelet/pods/6f1c3c1e/volumes/kubernetes.io~local-volume/pvc-6f1c3c1e"},
          {"storageLocation", "minio"},
          {"tags", {{"backup", "nightly"}, {"namespace", "shop"}}},
          {"parentSnapshot", "3f2a"}}}}},
      {"volumerestores",
       {{"metadata", meta("to-staging-db-data")},
        {"spec",
         {{"node", "node-b"},
          {"restoreName", "to-staging"},
          {"backupName", "nightly"},
          {"snapshotID", "9c1e"},
          {"pod", {{"namespace", "shop-staging"}, {"name", "db-0"}}},
          {"volume", "data"},
          {"pvc", "data-db-0"},
          {"method", "ZFS"},
          {"targetPath", "tank/shop-staging/data-db-0"},
          {"storageLocation", "minio"}}}}},
  };
}

TEST_F(InstallTest, ValidObjectsOfEveryKindAreAccepted) {
  require_installed();
  std::set<std::string> kinds_seen;
  for (auto& [plural, object] : valid_samples()) {
    ApiResource resource = stowage(plural);
    Result<json> created = objects().create(resource, kNamespace, object);
    ASSERT_TRUE(created.ok()) << plural << "/" << object["metadata"]["name"] << ": " << created.error().to_string();
    kinds_seen.insert(plural);
    // Nothing the sample set was pruned (every field is in the schema).
    for (auto& [field, value] : object["spec"].items()) {
      EXPECT_EQ((*created)["spec"][field], value) << plural << " spec." << field;
    }
    if (object["metadata"]["name"] == "velero-style") {  // defaults
      EXPECT_EQ((*created)["spec"]["accessMode"], "ReadWrite");
      EXPECT_EQ((*created)["spec"]["archiveFormat"], "Encrypted");
      EXPECT_EQ((*created)["spec"]["default"], false);
    }
    if (plural == "restores") {
      EXPECT_EQ((*created)["spec"]["existingResourcePolicy"], "update");
    }
    if (object["metadata"]["name"] == "often") {
      EXPECT_EQ((*created)["spec"]["paused"], false);
    }
    EXPECT_TRUE(objects().remove(resource, kNamespace, object["metadata"]["name"]).ok());
  }
  EXPECT_EQ(kinds_seen.size(), kPlurals.size());
  json restore = {{"metadata", meta("defaults")}, {"spec", {{"scheduleName", "nightly"}}}};
  Result<json> created = objects().create(stowage("restores"), kNamespace, restore);
  ASSERT_TRUE(created.ok()) << created.error().to_string();
  EXPECT_EQ((*created)["spec"]["existingResourcePolicy"], "none");
  EXPECT_TRUE(objects().remove(stowage("restores"), kNamespace, "defaults").ok());
}

// Creates `object` and expects 422 with every one of `expected` in the message.
void expect_refused(kube::DynamicClient& objects, const ApiResource& resource, const json& object,
                    const std::vector<std::string>& expected) {
  Result<json> created = objects.create(resource, kNamespace, object);
  if (created.ok()) {
    ADD_FAILURE() << resource.resource << "/" << object["metadata"]["name"] << " was accepted: " << object.dump();
    (void)objects.remove(resource, kNamespace, object["metadata"]["name"]);
    return;
  }
  EXPECT_EQ(created.error().code(), ErrorCode::kInvalidArgument) << created.error().to_string();
  EXPECT_NE(created.error().to_string().find("422"), std::string::npos) << created.error().to_string();
  for (const std::string& text : expected) {
    EXPECT_NE(created.error().message().find(text), std::string::npos)
        << "expected \"" << text << "\" in: " << created.error().to_string();
  }
}

TEST_F(InstallTest, InvalidObjectsAreRefusedByTheSchemas) {
  require_installed();
  const json password = {{"name", "stowage-repository"}, {"key", "password"}};
  ApiResource locations = stowage("backupstoragelocations");
  expect_refused(objects(), locations,
                 {{"metadata", meta("bad-enum")},
                  {"spec", {{"url", "file:///x"}, {"repositoryPassword", password}, {"accessMode", "Sometimes"}}}},
                 {"spec.accessMode", "Unsupported value: \"Sometimes\""});
  expect_refused(objects(), locations,
                 {{"metadata", meta("both")},
                  {"spec", {{"url", "file:///x"}, {"objectStorage", {{"bucket", "abc"}}}, {"repositoryPassword", password}}}},
                 {"set exactly one of url and objectStorage"});
  expect_refused(objects(), locations, {{"metadata", meta("neither")}, {"spec", {{"repositoryPassword", password}}}},
                 {"set exactly one of url and objectStorage"});
  expect_refused(objects(), locations, {{"metadata", meta("no-password")}, {"spec", {{"url", "file:///x"}}}},
                 {"spec.repositoryPassword: Required value"});
  expect_refused(objects(), locations,
                 {{"metadata", meta("bad-url")}, {"spec", {{"url", "ftp://host/x"}, {"repositoryPassword", password}}}},
                 {"spec.url"});
  ApiResource backups = stowage("backups");
  expect_refused(objects(), backups, {{"metadata", meta("bad-ttl")}, {"spec", {{"ttl", "30 days"}}}},
                 {"spec.ttl", "should match"});
  expect_refused(objects(), backups, {{"metadata", meta("negative-ttl")}, {"spec", {{"ttl", "-1h"}}}}, {"spec.ttl"});
  json empty_command = backup_spec();
  empty_command["hooks"]["resources"][0]["pre"][0]["exec"]["command"] = json::array();
  expect_refused(objects(), backups, {{"metadata", meta("empty-command")}, {"spec", empty_command}},
                 {"spec.hooks.resources[0].pre[0].exec.command"});
  json bad_operator = backup_spec();
  bad_operator["labelSelector"]["matchExpressions"][0]["operator"] = "Like";
  expect_refused(objects(), backups, {{"metadata", meta("bad-operator")}, {"spec", bad_operator}},
                 {"spec.labelSelector.matchExpressions[0].operator", "Unsupported value: \"Like\""});
  expect_refused(objects(), backups,
                 {{"metadata", meta("two-selectors")},
                  {"spec", {{"labelSelector", label_selector()}, {"orLabelSelectors", {label_selector()}}}}},
                 {"labelSelector and orLabelSelectors cannot both be set"});
  expect_refused(objects(), stowage("volumebackups"),
                 {{"metadata", meta("no-node")}, {"spec", {{"method", "FileSystem"}, {"storageLocation", "minio"}}}},
                 {"spec.node: Required value"});
  expect_refused(objects(), stowage("volumerestores"),
                 {{"metadata", meta("bad-method")},
                  {"spec", {{"node", "node-a"}, {"snapshotID", "x"}, {"storageLocation", "m"}, {"method", "Tape"}}}},
                 {"spec.method", "Unsupported value: \"Tape\""});
  expect_refused(objects(), stowage("restores"),
                 {{"metadata", meta("two-sources")}, {"spec", {{"backupName", "a"}, {"scheduleName", "b"}}}},
                 {"set exactly one of backupName and scheduleName"});
  expect_refused(objects(), stowage("restores"), {{"metadata", meta("no-source")}, {"spec", json::object()}},
                 {"set exactly one of backupName and scheduleName"});
  expect_refused(objects(), stowage("restores"),
                 {{"metadata", meta("bad-policy")}, {"spec", {{"backupName", "a"}, {"existingResourcePolicy", "merge"}}}},
                 {"spec.existingResourcePolicy"});
  expect_refused(objects(), stowage("restores"),
                 {{"metadata", meta("init-and-exec")},
                  {"spec", json::parse(R"({"backupName": "a", "hooks": {"resources": [{"name": "h", "postHooks": [
                       {"init": {"initContainers": [{"name": "x"}]}, "exec": {"command": ["true"]}}]}]}})")}},
                 {"set exactly one of init and exec"});
  expect_refused(objects(), stowage("schedules"),
                 {{"metadata", meta("bad-cron")}, {"spec", {{"schedule", "every day"}, {"template", json::object()}}}},
                 {"spec.schedule"});
  expect_refused(objects(), stowage("schedules"),
                 {{"metadata", meta("bad-template")},
                  {"spec", {{"schedule", "0 1 * * *"}, {"template", {{"ttl", "forever"}}}}}},
                 {"spec.template.ttl"});
}

TEST_F(InstallTest, StatusSubresourceAndImmutableNode) {
  require_installed();
  ApiResource volume_backups = stowage("volumebackups");
  json object = valid_samples()[10].second;
  ASSERT_EQ(object["metadata"]["name"], "nightly-db-data");
  object["status"] = {{"phase", "Completed"}};  // ignored on create: status is a subresource
  Result<json> created = objects().create(volume_backups, kNamespace, object);
  ASSERT_TRUE(created.ok()) << created.error().to_string();
  EXPECT_FALSE(created->contains("status"));

  Result<json> updated = objects().update_with_retry(
      volume_backups, kNamespace, "nightly-db-data",
      [](json& current) {
        current["status"] = {{"phase", "InProgress"},
                             {"node", "node-a"},
                             {"startTimestamp", "2026-01-02T03:04:05Z"},
                             {"progress", {{"bytesDone", 1024}, {"totalBytes", 4096}, {"bytesPerSecond", 512}}}};
        return ok_status();
      },
      /*status=*/true);
  ASSERT_TRUE(updated.ok()) << updated.error().to_string();
  EXPECT_EQ((*updated)["status"]["phase"], "InProgress");
  EXPECT_EQ((*updated)["status"]["progress"]["bytesDone"], 1024);

  // A spec update through the main resource does not touch status.
  Result<json> relabelled = objects().patch(volume_backups, kNamespace, "nightly-db-data", kube::PatchType::kMerge,
                                            json{{"metadata", {{"labels", {{"x", "y"}}}}}, {"status", {{"phase", "Failed"}}}});
  ASSERT_TRUE(relabelled.ok()) << relabelled.error().to_string();
  EXPECT_EQ((*relabelled)["status"]["phase"], "InProgress");

  Result<json> bad_phase = objects().patch(volume_backups, kNamespace, "nightly-db-data", kube::PatchType::kMerge,
                                           json{{"status", {{"phase", "Sleeping"}}}}, "status");
  ASSERT_FALSE(bad_phase.ok());
  EXPECT_NE(bad_phase.error().message().find("status.phase"), std::string::npos) << bad_phase.error().to_string();

  Result<json> moved = objects().patch(volume_backups, kNamespace, "nightly-db-data", kube::PatchType::kMerge,
                                       json{{"spec", {{"node", "node-b"}}}});
  ASSERT_FALSE(moved.ok());
  EXPECT_NE(moved.error().message().find("node is immutable"), std::string::npos) << moved.error().to_string();
  EXPECT_TRUE(objects().remove(volume_backups, kNamespace, "nightly-db-data").ok());
}

// Whether `user` may `verb` the resource, by a SubjectAccessReview.
bool allowed(kube::DynamicClient& objects, const ApiResource& reviews, const std::string& account,
             const std::string& verb, const std::string& group, const std::string& resource,
             const std::string& subresource = "", const std::string& namespace_name = kNamespace) {
  json review = {{"apiVersion", "authorization.k8s.io/v1"},
                 {"kind", "SubjectAccessReview"},
                 {"spec",
                  {{"user", "system:serviceaccount:" + std::string(kNamespace) + ":" + account},
                   {"groups", {"system:serviceaccounts", "system:serviceaccounts:" + std::string(kNamespace),
                               "system:authenticated"}},
                   {"resourceAttributes",
                    {{"namespace", namespace_name}, {"verb", verb}, {"group", group}, {"resource", resource},
                     {"subresource", subresource}}}}}};
  // A review has no name (its metadata must be empty), which DynamicClient's
  // create insists on: a plain POST.
  kube::ApiRequest request;
  request.method = "POST";
  request.verb = "create";
  request.target = reviews.ref();
  request.body = review.dump();
  Result<json> answer = objects.api().send_json(request);
  EXPECT_TRUE(answer.ok()) << answer.error().to_string();
  return answer.ok() && (*answer)["status"].value("allowed", false);
}

// Runs `$STOWAGE_TEST_KUBECTL ARGS` and returns its exit status and output.
std::pair<int, std::string> kubectl(const std::string& args) {
  std::string command = std::string(std::getenv("STOWAGE_TEST_KUBECTL")) + " " + args + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return {-1, "popen failed"};
  std::string output;
  std::array<char, 4096> buffer;
  size_t n;
  while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0) output.append(buffer.data(), n);
  int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

TEST_F(InstallTest, RbacGivesEachIdentityOnlyWhatItUses) {
  require_installed();
  ApiResource reviews = type("subjectaccessreviews", "authorization.k8s.io");
  auto agent = [&](const std::string& verb, const std::string& group, const std::string& resource,
                   const std::string& subresource = "", const std::string& namespace_name = kNamespace) {
    return allowed(objects(), reviews, "stowage-agent", verb, group, resource, subresource, namespace_name);
  };
  auto server = [&](const std::string& verb, const std::string& group, const std::string& resource,
                    const std::string& subresource = "", const std::string& namespace_name = kNamespace) {
    return allowed(objects(), reviews, "stowage", verb, group, resource, subresource, namespace_name);
  };
  for (const char* verb : {"get", "list", "watch", "patch", "update"}) {
    EXPECT_TRUE(agent(verb, "stowage.io", "volumebackups")) << verb;
    EXPECT_TRUE(agent(verb, "stowage.io", "volumerestores", "status")) << verb;
  }
  EXPECT_TRUE(agent("patch", "stowage.io", "volumebackups", "status"));
  EXPECT_TRUE(agent("get", "", "pods"));
  EXPECT_TRUE(agent("list", "", "persistentvolumes"));
  EXPECT_TRUE(agent("create", "", "events"));
  EXPECT_FALSE(agent("create", "stowage.io", "volumebackups"));
  EXPECT_FALSE(agent("delete", "stowage.io", "volumebackups"));
  EXPECT_FALSE(agent("list", "", "secrets"));
  EXPECT_TRUE(agent("get", "", "secrets"));  // the location's, in its own namespace only
  EXPECT_FALSE(agent("get", "", "secrets", "", "default"));
  EXPECT_TRUE(agent("get", "stowage.io", "backupstoragelocations"));
  EXPECT_TRUE(agent("update", "coordination.k8s.io", "leases"));
  EXPECT_FALSE(agent("update", "coordination.k8s.io", "leases", "", "default"));
  EXPECT_FALSE(agent("delete", "", "pods"));
  EXPECT_FALSE(agent("create", "", "pods", "exec"));
  EXPECT_FALSE(agent("get", "stowage.io", "backups"));

  EXPECT_TRUE(server("list", "apps", "deployments", "", "default"));
  EXPECT_TRUE(server("watch", "example.com", "widgets", "", "default"));
  EXPECT_TRUE(server("create", "", "persistentvolumeclaims", "", "default"));
  EXPECT_TRUE(server("patch", "apps", "deployments", "", "default"));
  EXPECT_TRUE(server("create", "", "pods", "exec", "default"));
  EXPECT_TRUE(server("delete", "stowage.io", "backups"));
  EXPECT_TRUE(server("update", "stowage.io", "restores", "status"));
  EXPECT_TRUE(server("get", "", "secrets"));
  EXPECT_TRUE(server("impersonate", "", "serviceaccounts", "", "default"));
  EXPECT_TRUE(server("patch", "events.k8s.io", "events"));
  EXPECT_FALSE(server("delete", "", "pods", "", "default"));
  EXPECT_FALSE(server("delete", "", "namespaces", "", ""));
  EXPECT_FALSE(server("deletecollection", "apps", "deployments", "", "default"));
  EXPECT_FALSE(server("impersonate", "", "users", "", ""));

  // Real requests made as the agent, through kubectl's impersonation.
  if (std::getenv("STOWAGE_TEST_KUBECTL") == nullptr) {
    GTEST_SKIP() << "STOWAGE_TEST_KUBECTL is not set: " << kSetupHint;
  }
  json work = valid_samples()[10].second;
  ASSERT_TRUE(objects().create(stowage("volumebackups"), kNamespace, work).ok());
  const std::string as_agent = "--as=system:serviceaccount:" + std::string(kNamespace) + ":stowage-agent -n " +
                               kNamespace + " ";
  auto [patched, patch_output] =
      kubectl(as_agent + "patch volumebackups.stowage.io nightly-db-data --subresource=status --type=merge "
                         "-p '{\"status\":{\"phase\":\"Accepted\",\"node\":\"node-a\"}}'");
  EXPECT_EQ(patched, 0) << patch_output;
  EXPECT_EQ((*objects().get(stowage("volumebackups"), kNamespace, "nightly-db-data"))["status"]["phase"], "Accepted");
  auto [listed, list_output] = kubectl(as_agent + "get secrets");
  EXPECT_NE(listed, 0);
  EXPECT_NE(list_output.find("Forbidden"), std::string::npos) << list_output;
  EXPECT_NE(list_output.find("cannot list resource \"secrets\""), std::string::npos) << list_output;
  auto [deleted, delete_output] = kubectl(as_agent + "delete pod some-pod");
  EXPECT_NE(deleted, 0);
  EXPECT_NE(delete_output.find("cannot delete resource \"pods\""), std::string::npos) << delete_output;
  auto [removed, remove_output] = kubectl(as_agent + "delete volumebackups.stowage.io nightly-db-data");
  EXPECT_NE(removed, 0);
  EXPECT_NE(remove_output.find("Forbidden"), std::string::npos) << remove_output;
  auto [server_deleted, server_output] =
      kubectl("--as=system:serviceaccount:" + std::string(kNamespace) + ":stowage -n default delete pod some-pod");
  EXPECT_NE(server_deleted, 0);
  EXPECT_NE(server_output.find("cannot delete resource \"pods\""), std::string::npos) << server_output;
  EXPECT_TRUE(objects().remove(stowage("volumebackups"), kNamespace, "nightly-db-data").ok());
}

TEST_F(InstallTest, UninstallRemovesEverything) {
  require_installed();
  // A stowage object with the server's finalizer: uninstall must not hang on it.
  json backup = {{"metadata", {{"name", "held"}, {"namespace", kNamespace}, {"finalizers", {"stowage.io/gc"}}}},
                 {"spec", json::object()}};
  ASSERT_TRUE(objects().create(stowage("backups"), kNamespace, backup).ok());
  // Someone else's finalizer, which uninstall leaves alone: the namespace
  // cannot go, and the bounded wait says what it waited for.
  json held = {{"metadata", {{"name", "held"}, {"namespace", kNamespace}, {"finalizers", {"example.com/hold"}}}}};
  ASSERT_TRUE(objects().create(type("configmaps"), kNamespace, held).ok());

  // The CRDs are cluster-wide: keep them when they were there before this
  // test or other namespaces hold stowage objects.
  std::vector<std::string> elsewhere;
  for (const std::string& plural : kPlurals) {
    Result<kube::ObjectList> all = objects().list(stowage(plural), "");
    ASSERT_TRUE(all.ok()) << all.error().to_string();
    for (const json& item : all->items) {
      if (kube::object_namespace(item) != kNamespace) elsewhere.push_back(plural + "/" + kube::object_name(item));
    }
  }
  UninstallOptions options;
  options.namespace_name = kNamespace;
  options.keep_crds = state->crds_existed_before || !elsewhere.empty();
  options.wait_timeout = std::chrono::seconds(8);
  std::vector<std::string> lines;
  Status stuck = uninstall(*state->api, options, [&](std::string_view line) { lines.emplace_back(line); });
  ASSERT_FALSE(stuck.ok());
  EXPECT_EQ(stuck.error().code(), ErrorCode::kUnavailable);
  EXPECT_NE(stuck.error().message().find("timed out after 8 s waiting for namespace/stowage-install-test to be "
                                         "deleted: it still exists"),
            std::string::npos)
      << stuck.error().to_string();
  EXPECT_NE(stuck.error().hint().find("kubectl get namespaces stowage-install-test -o yaml"), std::string::npos)
      << stuck.error().to_string();
  std::cout << "uninstall with a foreign finalizer: " << stuck.error().to_string() << "\n";
  ASSERT_TRUE(objects()
                  .patch(type("configmaps"), kNamespace, "held", kube::PatchType::kMerge,
                         json{{"metadata", {{"finalizers", nullptr}}}})
                  .ok());

  options.wait_timeout = UninstallOptions{}.wait_timeout;
  Status removed = uninstall(*state->api, options, [&](std::string_view line) { lines.emplace_back(line); });
  ASSERT_TRUE(removed.ok()) << removed.error().to_string();
  state->installed = false;
  std::string all;
  for (const std::string& line : lines) all += line + "\n";
  std::cout << "uninstall reported:\n" << all;
  EXPECT_NE(all.find("backups.stowage.io/held in namespace stowage-install-test: stowage.io finalizers removed"),
            std::string::npos) << all;
  EXPECT_NE(all.find("namespace/stowage-install-test: deleted"), std::string::npos) << all;

  EXPECT_EQ(objects().get(type("namespaces"), "", kNamespace).error().code(), ErrorCode::kNotFound);
  for (const char* name : {"stowage-server-stowage-install-test", "stowage-agent-stowage-install-test"}) {
    EXPECT_EQ(objects().get(type("clusterroles"), "", name).error().code(), ErrorCode::kNotFound) << name;
    EXPECT_EQ(objects().get(type("clusterrolebindings"), "", name).error().code(), ErrorCode::kNotFound) << name;
  }
  for (const std::string& plural : kPlurals) {
    Result<json> crd = objects().get(type("customresourcedefinitions"), "", plural + ".stowage.io");
    if (options.keep_crds) {
      EXPECT_TRUE(crd.ok()) << plural;
    } else {
      EXPECT_EQ(crd.error().code(), ErrorCode::kNotFound) << plural;
    }
  }
  if (options.keep_crds) {
    std::cerr << "note: CRDs kept (they existed before this test: " << state->crds_existed_before
              << "; stowage objects in other namespaces: " << elsewhere.size() << ")\n";
  }

  // Again: everything is already gone, and that is fine.
  lines.clear();
  removed = uninstall(*state->api, options, [&](std::string_view line) { lines.emplace_back(line); });
  ASSERT_TRUE(removed.ok()) << removed.error().to_string();
  for (const std::string& line : lines) {
    EXPECT_EQ(line.find(": deleted"), std::string::npos) << line;
  }
}

}  // namespace
}  // namespace stowage::control
