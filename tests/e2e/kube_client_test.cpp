// The kube layer against the testbed's real kube-apiserver 1.35 (and kwok for
// pods): discovery with a CRD created here, CRUD and patches on ConfigMaps and
// a custom resource, pagination, conflicts, watch and resume, 410, RBAC and
// other errors, TLS verification, and exec over WebSocket.
// Needs `testbed/up kube && source testbed/run/env` (KUBECONFIG,
// STOWAGE_TEST_LIMITED_KUBECONFIG). Every run works in its own namespace and
// CRD group and deletes them at the end.
#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <thread>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

#include "kube/api_client.h"
#include "kube/discovery.h"
#include "kube/dynamic_client.h"
#include "kube/exec.h"
#include "kube/kubeconfig.h"
#include "kube/watch.h"

namespace stowage::kube {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

const char* kSetupHint = "run `testbed/up kube && source testbed/run/env` first";

// Polls `done` every 200 ms for up to `limit`; true once it holds.
bool wait_until(const std::function<bool()>& done, std::chrono::seconds limit) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (done()) return true;
    std::this_thread::sleep_for(200ms);
  }
  return done();
}

DeleteOptions with_propagation(Propagation propagation) {
  DeleteOptions options;
  options.propagation = propagation;
  return options;
}

// Shared by every test: clients, the run's namespace and CRD.
struct Cluster {
  std::string setup_error;  // why the suite cannot run
  std::unique_ptr<ApiClient> api;
  std::unique_ptr<DynamicClient> objects;
  std::unique_ptr<Discovery> discovery;
  std::string namespace_name;
  std::string crd_group;
  ApiResource namespaces, configmaps, pods, crds;
};

Cluster* cluster = nullptr;

Result<ApiResource> must_resolve(const std::string& name, const std::string& group = {}) {
  return cluster->discovery->resolve(name, group);
}

json widget_crd(const std::string& group) {
  json schema = {{"type", "object"},
                 {"properties",
                  {{"spec", {{"type", "object"}, {"x-kubernetes-preserve-unknown-fields", true}}},
                   {"status", {{"type", "object"}, {"x-kubernetes-preserve-unknown-fields", true}}}}}};
  auto version = [&](const char* name, bool storage) {
    return json{{"name", name},
                {"served", true},
                {"storage", storage},
                {"schema", {{"openAPIV3Schema", schema}}},
                {"subresources", {{"status", json::object()}}}};
  };
  return json{{"apiVersion", "apiextensions.k8s.io/v1"},
              {"kind", "CustomResourceDefinition"},
              {"metadata", {{"name", "widgets." + group}}},
              {"spec",
               {{"group", group},
                {"scope", "Namespaced"},
                {"names", {{"plural", "widgets"}, {"singular", "widget"}, {"kind", "Widget"}, {"shortNames", {"wdg"}}}},
                {"versions", {version("v1beta1", false), version("v1", true)}}}}};
}

std::string set_up_cluster() {
  const char* kubeconfig = std::getenv("KUBECONFIG");
  if (kubeconfig == nullptr || *kubeconfig == 0) return std::string("KUBECONFIG is not set: ") + kSetupHint;
  if (std::getenv("STOWAGE_TEST_LIMITED_KUBECONFIG") == nullptr) {
    return std::string("STOWAGE_TEST_LIMITED_KUBECONFIG is not set: ") + kSetupHint;
  }
  Result<ClusterConfig> config = load_kubeconfig(kubeconfig);
  if (!config.ok()) return "loading KUBECONFIG: " + config.error().to_string();
  Result<std::unique_ptr<ApiClient>> api = ApiClient::create(std::move(config).value());
  if (!api.ok()) return api.error().to_string();
  cluster->api = std::move(api).value();
  cluster->objects = std::make_unique<DynamicClient>(*cluster->api);
  cluster->discovery = std::make_unique<Discovery>(*cluster->api);
  for (auto [name, slot] : {std::pair{"namespaces", &cluster->namespaces}, std::pair{"configmaps", &cluster->configmaps},
                            std::pair{"pods", &cluster->pods},
                            std::pair{"customresourcedefinitions", &cluster->crds}}) {
    Result<ApiResource> resource = must_resolve(name);
    if (!resource.ok()) return "discovery of " + std::string(name) + ": " + resource.error().to_string() + "; " + kSetupHint;
    *slot = *resource;
  }
  std::random_device random;
  std::string id = std::to_string(getpid()) + "-" + std::to_string(random() % 100000);
  cluster->namespace_name = "stowage-kube-e2e-" + id;
  cluster->crd_group = "e2e-" + id + ".test.stowage.io";
  Result<json> created = cluster->objects->create(
      cluster->namespaces, "", json{{"metadata", {{"name", cluster->namespace_name}}}});
  if (!created.ok()) return "creating namespace: " + created.error().to_string();
  Result<json> crd = cluster->objects->create(cluster->crds, "", widget_crd(cluster->crd_group));
  if (!crd.ok()) return "creating the CRD: " + crd.error().to_string();
  bool established = wait_until(
      [] {
        Result<json> got = cluster->objects->get(cluster->crds, "", "widgets." + cluster->crd_group);
        if (!got.ok()) return false;
        for (const json& condition : (*got)["status"].value("conditions", json::array())) {
          if (condition.value("type", "") == "Established" && condition.value("status", "") == "True") return true;
        }
        return false;
      },
      60s);
  if (!established) return "CRD widgets." + cluster->crd_group + " not Established within 60 s";
  return "";
}

class KubeEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    cluster = new Cluster();
    cluster->setup_error = set_up_cluster();
  }
  void TearDown() override {
    if (cluster->api && !cluster->namespace_name.empty()) {
      (void)cluster->objects->remove(cluster->namespaces, "", cluster->namespace_name);
      (void)cluster->objects->remove(cluster->crds, "", "widgets." + cluster->crd_group);
    }
    delete cluster;
    cluster = nullptr;
  }
};

const auto* const kEnvironment = ::testing::AddGlobalTestEnvironment(new KubeEnvironment);

class KubeClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(cluster != nullptr);
    ASSERT_EQ(cluster->setup_error, "") << "the kube e2e tests cannot run";
  }
  DynamicClient& objects() { return *cluster->objects; }
  const std::string& ns() { return cluster->namespace_name; }
  ApiResource widgets() {
    Result<ApiResource> resource = must_resolve("widgets", cluster->crd_group);
    EXPECT_TRUE(resource.ok()) << resource.error().to_string();
    return resource.ok() ? *resource : ApiResource{};
  }
  json config_map(const std::string& name, json data = {{"k", "v"}}, json labels = json::object()) {
    return json{{"apiVersion", "v1"}, {"kind", "ConfigMap"},
                {"metadata", {{"name", name}, {"labels", labels}}}, {"data", data}};
  }
};

TEST_F(KubeClientTest, DiscoveryListsCoreAppsRbacAndTheNewCrd) {
  ASSERT_TRUE(cluster->discovery->refresh().ok());
  Result<std::vector<ApiGroupInfo>> groups = cluster->discovery->groups();
  ASSERT_TRUE(groups.ok()) << groups.error().to_string();
  std::map<std::string, ApiGroupInfo> by_name;
  for (const ApiGroupInfo& group : *groups) by_name[group.name] = group;
  for (const char* name : {"", "apps", "rbac.authorization.k8s.io", "apiextensions.k8s.io"}) {
    EXPECT_TRUE(by_name.count(name)) << "group " << name;
  }
  ASSERT_TRUE(by_name.count(cluster->crd_group));
  EXPECT_EQ(by_name[cluster->crd_group].preferred_version, "v1");
  EXPECT_EQ(by_name[cluster->crd_group].versions, (std::vector<std::string>{"v1", "v1beta1"}));

  Result<ApiResource> pods = cluster->discovery->resolve("po");
  ASSERT_TRUE(pods.ok());
  EXPECT_EQ(pods->kind, "Pod");
  EXPECT_EQ(pods->api_version(), "v1");
  EXPECT_TRUE(pods->namespaced);
  EXPECT_TRUE(pods->has_subresource("exec"));
  EXPECT_TRUE(pods->has_subresource("status"));
  Result<ApiResource> deployments = cluster->discovery->resolve("Deployment");
  ASSERT_TRUE(deployments.ok());
  EXPECT_EQ(deployments->qualified_name(), "deployments.apps");
  EXPECT_TRUE(deployments->supports("watch"));
  EXPECT_TRUE(deployments->has_subresource("scale"));
  Result<ApiResource> roles = cluster->discovery->resolve("roles.rbac.authorization.k8s.io");
  ASSERT_TRUE(roles.ok());
  EXPECT_EQ(roles->api_version(), "rbac.authorization.k8s.io/v1");
  Result<ApiResource> cluster_roles = cluster->discovery->resolve("clusterroles");
  ASSERT_TRUE(cluster_roles.ok());
  EXPECT_FALSE(cluster_roles->namespaced);

  Result<ApiResource> widget = cluster->discovery->resolve("wdg", cluster->crd_group);
  ASSERT_TRUE(widget.ok()) << widget.error().to_string();
  EXPECT_EQ(widget->kind, "Widget");
  EXPECT_EQ(widget->version, "v1");  // the preferred version
  EXPECT_TRUE(widget->preferred);
  EXPECT_TRUE(widget->has_subresource("status"));
  Result<ApiResource> old = cluster->discovery->resolve("widgets.v1beta1." + cluster->crd_group);
  ASSERT_TRUE(old.ok());
  EXPECT_EQ(old->version, "v1beta1");
  Result<ApiResource> by_kind = cluster->discovery->resolve_kind(cluster->crd_group + "/v1beta1", "Widget");
  ASSERT_TRUE(by_kind.ok());
  EXPECT_EQ(by_kind->resource, "widgets");

  Result<std::vector<ApiResource>> preferred = cluster->discovery->preferred_resources();
  ASSERT_TRUE(preferred.ok());
  int widget_versions = 0;
  for (const ApiResource& resource : *preferred) widget_versions += resource.group == cluster->crd_group;
  EXPECT_EQ(widget_versions, 1);

  Discovery legacy(*cluster->api, /*use_aggregated=*/false);
  Result<ApiResource> legacy_widget = legacy.resolve("Widget", cluster->crd_group);
  ASSERT_TRUE(legacy_widget.ok()) << legacy_widget.error().to_string();
  EXPECT_EQ(legacy_widget->version, "v1");
  EXPECT_EQ(legacy_widget->subresources, (std::vector<std::string>{"status"}));
  Result<ApiResource> legacy_pods = legacy.resolve("pods");
  ASSERT_TRUE(legacy_pods.ok());
  EXPECT_TRUE(legacy_pods->has_subresource("exec"));

  Result<ApiResource> missing = cluster->discovery->resolve("nosuchthings");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
  EXPECT_NE(missing.error().message().find("no resource type nosuchthings"), std::string::npos);
}

TEST_F(KubeClientTest, ConfigMapCrudMergePatchJsonPatch) {
  const ApiResource& cm = cluster->configmaps;
  Result<json> created = objects().create(cm, ns(), config_map("crud", {{"a", "1"}}));
  ASSERT_TRUE(created.ok()) << created.error().to_string();
  EXPECT_EQ(object_namespace(*created), ns());
  const std::string first_version = object_resource_version(*created);

  Result<json> got = objects().get(cm, ns(), "crud");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ((*got)["data"]["a"], "1");

  json changed = *got;
  changed["data"]["a"] = "2";
  Result<json> updated = objects().update(cm, ns(), changed);
  ASSERT_TRUE(updated.ok()) << updated.error().to_string();
  EXPECT_NE(object_resource_version(*updated), first_version);

  // The stale copy (old resourceVersion) is refused: conflict.
  Result<json> stale = objects().update(cm, ns(), changed);
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.error().code(), ErrorCode::kConflict);
  EXPECT_NE(stale.error().message().find("configmaps/crud in namespace " + ns()), std::string::npos);

  Result<json> merged = objects().patch(cm, ns(), "crud", PatchType::kMerge,
                                        json{{"data", {{"b", "3"}, {"a", nullptr}}}});
  ASSERT_TRUE(merged.ok()) << merged.error().to_string();
  EXPECT_EQ((*merged)["data"], (json{{"b", "3"}}));

  Result<json> json_patched = objects().patch(
      cm, ns(), "crud", PatchType::kJson,
      json::array({{{"op", "add"}, {"path", "/data/c"}, {"value", "4"}},
                   {{"op", "replace"}, {"path", "/data/b"}, {"value", "5"}}}));
  ASSERT_TRUE(json_patched.ok()) << json_patched.error().to_string();
  EXPECT_EQ((*json_patched)["data"], (json{{"b", "5"}, {"c", "4"}}));

  Result<json> strategic = objects().patch(cm, ns(), "crud", PatchType::kStrategicMerge,
                                           json{{"metadata", {{"labels", {{"tier", "db"}}}}}});
  ASSERT_TRUE(strategic.ok()) << strategic.error().to_string();
  EXPECT_EQ((*strategic)["metadata"]["labels"]["tier"], "db");

  Result<json> failed_test = objects().patch(cm, ns(), "crud", PatchType::kJson,
                                             json::array({{{"op", "test"}, {"path", "/data/c"}, {"value", "x"}}}));
  EXPECT_FALSE(failed_test.ok());

  Result<json> again = objects().create(cm, ns(), config_map("crud"));
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code(), ErrorCode::kAlreadyExists);

  ASSERT_TRUE(objects().remove(cm, ns(), "crud", with_propagation(Propagation::kForeground)).ok());
  EXPECT_TRUE(wait_until([&] { return !objects().get(cm, ns(), "crud").ok(); }, 60s));
  Result<json> gone = objects().get(cm, ns(), "crud");
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(gone.error().object(), "configmaps/crud in namespace " + ns());
  EXPECT_NE(gone.error().message().find("get configmaps/crud in namespace " + ns() + " failed: configmaps \"crud\" not found"),
            std::string::npos)
      << gone.error().message();
  EXPECT_FALSE(gone.error().hint().empty());

  Status removed_again = objects().remove(cm, ns(), "crud");
  ASSERT_FALSE(removed_again.ok());
  EXPECT_EQ(removed_again.error().code(), ErrorCode::kNotFound);
}

TEST_F(KubeClientTest, CustomResourceCrudAndStatusSubresource) {
  ApiResource widget = widgets();
  json object = {{"metadata", {{"name", "w1"}}}, {"spec", {{"size", 3}}}};
  Result<json> created = objects().create(widget, ns(), object);
  ASSERT_TRUE(created.ok()) << created.error().to_string();
  EXPECT_EQ((*created)["apiVersion"], cluster->crd_group + "/v1");
  EXPECT_EQ((*created)["kind"], "Widget");

  // With the status subresource, a main-resource update ignores status...
  json with_status = *created;
  with_status["status"] = {{"phase", "Ignored"}};
  with_status["spec"]["size"] = 4;
  Result<json> updated = objects().update(widget, ns(), with_status);
  ASSERT_TRUE(updated.ok()) << updated.error().to_string();
  EXPECT_EQ((*updated)["spec"]["size"], 4);
  EXPECT_FALSE(updated->contains("status"));

  // ...and the status subresource sets only status.
  json status_update = *updated;
  status_update["status"] = {{"phase", "Ready"}, {"replicas", 4}};
  status_update["spec"]["size"] = 99;
  Result<json> status_written = objects().update_status(widget, ns(), status_update);
  ASSERT_TRUE(status_written.ok()) << status_written.error().to_string();
  EXPECT_EQ((*status_written)["status"]["phase"], "Ready");
  EXPECT_EQ((*status_written)["spec"]["size"], 4);

  Result<json> status_patched = objects().patch(widget, ns(), "w1", PatchType::kMerge,
                                                json{{"status", {{"phase", "Degraded"}}}}, "status");
  ASSERT_TRUE(status_patched.ok()) << status_patched.error().to_string();
  Result<json> status = objects().get_status(widget, ns(), "w1");
  ASSERT_TRUE(status.ok());
  EXPECT_EQ((*status)["status"]["phase"], "Degraded");
  EXPECT_EQ((*status)["status"]["replicas"], 4);

  Result<json> json_patched = objects().patch(widget, ns(), "w1", PatchType::kJson,
                                              json::array({{{"op", "replace"}, {"path", "/spec/size"}, {"value", 5}}}));
  ASSERT_TRUE(json_patched.ok()) << json_patched.error().to_string();
  EXPECT_EQ((*json_patched)["spec"]["size"], 5);

  // A strategic merge patch is for built-in kinds only: 415, explained.
  Result<json> strategic = objects().patch(widget, ns(), "w1", PatchType::kStrategicMerge, json{{"spec", {{"a", 1}}}});
  ASSERT_FALSE(strategic.ok());
  EXPECT_EQ(strategic.error().code(), ErrorCode::kUnsupported);
  EXPECT_NE(strategic.error().hint().find("merge or JSON patch"), std::string::npos);

  // The same object read through the other served version.
  Result<ApiResource> v1beta1 = cluster->discovery->resolve("widgets.v1beta1." + cluster->crd_group);
  ASSERT_TRUE(v1beta1.ok());
  Result<json> old_view = objects().get(*v1beta1, ns(), "w1");
  ASSERT_TRUE(old_view.ok());
  EXPECT_EQ((*old_view)["apiVersion"], cluster->crd_group + "/v1beta1");

  ASSERT_TRUE(objects().remove(widget, ns(), "w1", with_propagation(Propagation::kBackground)).ok());
  EXPECT_TRUE(wait_until([&] { return !objects().get(widget, ns(), "w1").ok(); }, 30s));
}

TEST_F(KubeClientTest, ListPaginatesSevenObjectsTwoAtATime) {
  const ApiResource& cm = cluster->configmaps;
  for (int i = 0; i < 7; i++) {
    ASSERT_TRUE(objects().create(cm, ns(), config_map("page-" + std::to_string(i), {{"i", std::to_string(i)}},
                                                      {{"set", ns()}})).ok());
  }
  // The server really pages: limit=2 leaves a continue token.
  ApiRequest request;
  request.verb = "list";
  request.target = cm.ref(ns());
  request.query = "labelSelector=set%3D" + ns() + "&limit=2";
  Result<json> first_page = cluster->api->send_json(request);
  ASSERT_TRUE(first_page.ok());
  EXPECT_EQ((*first_page)["items"].size(), 2u);
  EXPECT_FALSE((*first_page)["metadata"].value("continue", "").empty());

  ListOptions options;
  options.label_selector = "set=" + ns();
  options.page_size = 2;
  Result<ObjectList> all = objects().list(cm, ns(), options);
  ASSERT_TRUE(all.ok()) << all.error().to_string();
  ASSERT_EQ(all->items.size(), 7u);
  std::set<std::string> names;
  for (const json& item : all->items) {
    names.insert(object_name(item));
    EXPECT_EQ(item["kind"], "ConfigMap");
    EXPECT_EQ(item["apiVersion"], "v1");
  }
  EXPECT_EQ(names.size(), 7u);
  EXPECT_FALSE(all->resource_version.empty());

  options.field_selector = "metadata.name=page-3";
  Result<ObjectList> one = objects().list(cm, ns(), options);
  ASSERT_TRUE(one.ok());
  ASSERT_EQ(one->items.size(), 1u);
  EXPECT_EQ(one->items[0]["data"]["i"], "3");

  Result<ObjectList> everywhere = objects().list(cm, "", ListOptions{"set=" + ns(), "", 3, ""});
  ASSERT_TRUE(everywhere.ok());
  EXPECT_EQ(everywhere->items.size(), 7u);
}

TEST_F(KubeClientTest, UpdateWithRetryReappliesAfterConflicts) {
  const ApiResource& cm = cluster->configmaps;
  ASSERT_TRUE(objects().create(cm, ns(), config_map("counter", {{"n", "0"}})).ok());
  // A rival writer changes the object between our read and our write, once.
  int calls = 0;
  Result<json> result = objects().update_with_retry(cm, ns(), "counter", [&](json& object) -> Status {
    if (calls++ == 0) {
      json rival = object;
      rival["data"]["rival"] = "yes";
      Result<json> written = objects().update(cm, ns(), rival);
      if (!written.ok()) return std::move(written).error();
    }
    object["data"]["n"] = "1";
    return ok_status();
  });
  ASSERT_TRUE(result.ok()) << result.error().to_string();
  EXPECT_EQ(calls, 2);
  EXPECT_EQ((*result)["data"]["n"], "1");
  EXPECT_EQ((*result)["data"]["rival"], "yes");

  // Four threads, ten increments each, on one object through one client.
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; t++) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10; i++) {
        Result<json> incremented = objects().update_with_retry(
            cm, ns(), "counter",
            [](json& object) -> Status {
              object["data"]["n"] = std::to_string(std::stoi(object["data"]["n"].get<std::string>()) + 1);
              return ok_status();
            },
            false, 50);
        if (!incremented.ok()) failures++;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  Result<json> final = objects().get(cm, ns(), "counter");
  ASSERT_TRUE(final.ok());
  EXPECT_EQ((*final)["data"]["n"], "41");
}

// Collects watch events on a thread until stopped.
struct WatchRecorder {
  std::mutex mutex;
  std::vector<std::pair<WatchEventType, std::string>> events;  // type, name
  std::string last_version_of_added;
  std::stop_source stop;
  Result<WatchResult> result = Error(ErrorCode::kInternal, "watch did not end");
  std::thread thread;

  void start(const ApiResource& type, const std::string& namespace_name, WatchOptions options) {
    thread = std::thread([this, type, namespace_name, options] {
      result = watch(*cluster->api, type, namespace_name, options,
                     [this](const WatchEvent& event) {
                       std::lock_guard lock(mutex);
                       if (event.type == WatchEventType::kBookmark) return ok_status();
                       events.emplace_back(event.type, object_name(event.object));
                       if (event.type == WatchEventType::kAdded) last_version_of_added = event.resource_version();
                       return ok_status();
                     },
                     stop.get_token());
    });
  }
  size_t count() {
    std::lock_guard lock(mutex);
    return events.size();
  }
  void finish() {
    stop.request_stop();
    thread.join();
  }
};

TEST_F(KubeClientTest, WatchSeesAddModifyDeleteAndResumes) {
  const ApiResource& cm = cluster->configmaps;
  Result<ObjectList> before = objects().list(cm, ns(), ListOptions{"watched=yes", "", 500, ""});
  ASSERT_TRUE(before.ok());
  WatchOptions options;
  options.resource_version = before->resource_version;
  options.label_selector = "watched=yes";
  WatchRecorder recorder;
  recorder.start(cm, ns(), options);

  ASSERT_TRUE(objects().create(cm, ns(), config_map("watched", {{"v", "1"}}, {{"watched", "yes"}})).ok());
  ASSERT_TRUE(objects().patch(cm, ns(), "watched", PatchType::kMerge, json{{"data", {{"v", "2"}}}}).ok());
  ASSERT_TRUE(objects().remove(cm, ns(), "watched").ok());
  EXPECT_TRUE(wait_until([&] { return recorder.count() >= 3; }, 30s));
  recorder.finish();  // returns within about a second of the stop request
  ASSERT_TRUE(recorder.result.ok()) << recorder.result.error().to_string();
  EXPECT_EQ(recorder.result->end, WatchEnd::kStopped);
  ASSERT_EQ(recorder.events.size(), 3u);
  EXPECT_EQ(recorder.events[0], std::make_pair(WatchEventType::kAdded, std::string("watched")));
  EXPECT_EQ(recorder.events[1], std::make_pair(WatchEventType::kModified, std::string("watched")));
  EXPECT_EQ(recorder.events[2], std::make_pair(WatchEventType::kDeleted, std::string("watched")));

  // Resuming from the ADDED event's version replays only what came after it.
  WatchRecorder resumed;
  options.resource_version = recorder.last_version_of_added;
  resumed.start(cm, ns(), options);
  EXPECT_TRUE(wait_until([&] { return resumed.count() >= 2; }, 30s));
  resumed.finish();
  ASSERT_TRUE(resumed.result.ok()) << resumed.result.error().to_string();
  ASSERT_EQ(resumed.events.size(), 2u);
  EXPECT_EQ(resumed.events[0].first, WatchEventType::kModified);
  EXPECT_EQ(resumed.events[1].first, WatchEventType::kDeleted);
}

TEST_F(KubeClientTest, WatchFromAnExpiredVersionAsksForARelist) {
  // resourceVersion 1 predates the apiserver's watch cache once etcd has been
  // compacted (every 5 minutes): 410 Gone. A fresh cluster may still serve
  // it, so the watch is bounded and the test skips, saying so, in that case.
  WatchOptions options;
  options.resource_version = "1";
  std::stop_source stop;
  std::jthread stopper([&stop](std::stop_token own) {
    std::mutex m;
    std::condition_variable_any cv;
    std::unique_lock lock(m);
    cv.wait_for(lock, own, std::chrono::seconds(15), [] { return false; });
    stop.request_stop();
  });
  int events = 0;
  Result<WatchResult> result = watch(*cluster->api, cluster->configmaps, ns(), options,
                                     [&](const WatchEvent&) { events++; return ok_status(); }, stop.get_token());
  ASSERT_TRUE(result.ok()) << result.error().to_string();
  if (result->end == WatchEnd::kStopped)
    GTEST_SKIP() << "the apiserver still serves resourceVersion 1 (etcd not compacted yet on this fresh cluster)";
  EXPECT_EQ(result->end, WatchEnd::kExpired);
  EXPECT_EQ(events, 0);
}

TEST_F(KubeClientTest, ForbiddenUnauthorizedAndUntrustedServer) {
  Result<ClusterConfig> limited_config = load_kubeconfig(std::getenv("STOWAGE_TEST_LIMITED_KUBECONFIG"));
  ASSERT_TRUE(limited_config.ok()) << limited_config.error().to_string();
  Result<std::unique_ptr<ApiClient>> limited = ApiClient::create(*limited_config);
  ASSERT_TRUE(limited.ok());
  DynamicClient limited_objects(**limited);
  Result<ObjectList> listed = limited_objects.list(cluster->configmaps, ns());
  ASSERT_FALSE(listed.ok());
  const Error& error = listed.error();
  EXPECT_EQ(error.code(), ErrorCode::kPermissionDenied);
  EXPECT_NE(error.message().find("list configmaps in namespace " + ns()), std::string::npos) << error.message();
  EXPECT_NE(error.message().find("cannot list resource \"configmaps\""), std::string::npos) << error.message();
  EXPECT_NE(error.hint().find("user stowage-limited"), std::string::npos) << error.hint();
  EXPECT_NE(error.hint().find("verbs: [\"list\"]"), std::string::npos) << error.hint();
  EXPECT_NE(error.hint().find("namespace " + ns()), std::string::npos) << error.hint();

  Result<ExecResult> exec_forbidden = exec(**limited, ns(), "nopod", "", {"true"}, 10s);
  ASSERT_FALSE(exec_forbidden.ok());
  EXPECT_EQ(exec_forbidden.error().code(), ErrorCode::kPermissionDenied);
  EXPECT_NE(exec_forbidden.error().hint().find("pods/exec"), std::string::npos) << exec_forbidden.error().hint();

  ClusterConfig wrong_token = cluster->api->config();
  wrong_token.token = "not-a-valid-token";
  Result<std::unique_ptr<ApiClient>> unauthorized = ApiClient::create(wrong_token);
  ASSERT_TRUE(unauthorized.ok());
  Result<json> got = DynamicClient(**unauthorized).get(cluster->namespaces, "", ns());
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().code(), ErrorCode::kPermissionDenied);
  EXPECT_NE(got.error().message().find("HTTP 401"), std::string::npos);
  EXPECT_NE(got.error().hint().find("rejected the credentials"), std::string::npos);

  // Another CA (the system bundle) must not verify the testbed's server:
  // neither for requests nor for exec's WebSocket.
  std::ifstream bundle("/etc/ssl/certs/ca-certificates.crt");
  std::stringstream system_cas;
  system_cas << bundle.rdbuf();
  ASSERT_FALSE(system_cas.str().empty());
  ClusterConfig wrong_ca = cluster->api->config();
  wrong_ca.ca_pem = system_cas.str();
  ClientOptions quick;
  quick.max_attempts = 1;
  Result<std::unique_ptr<ApiClient>> untrusted = ApiClient::create(wrong_ca, quick);
  ASSERT_TRUE(untrusted.ok());
  Result<json> refused = DynamicClient(**untrusted).get(cluster->namespaces, "", ns());
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code(), ErrorCode::kPermissionDenied) << refused.error().to_string();
  EXPECT_NE(refused.error().hint().find("certificate authority"), std::string::npos) << refused.error().to_string();
  Result<ExecResult> exec_refused = exec(**untrusted, ns(), "nopod", "", {"true"}, 10s);
  ASSERT_FALSE(exec_refused.ok());
  EXPECT_EQ(exec_refused.error().code(), ErrorCode::kPermissionDenied) << exec_refused.error().to_string();
}

TEST_F(KubeClientTest, NotFoundAndInvalidSayWhatAndWhere) {
  Result<json> missing = objects().get(cluster->configmaps, ns(), "does-not-exist");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
  EXPECT_NE(missing.error().to_string().find("configmaps/does-not-exist in namespace " + ns()), std::string::npos);

  Result<json> no_namespace = objects().create(cluster->configmaps, "no-such-namespace-here", config_map("x"));
  ASSERT_FALSE(no_namespace.ok());
  EXPECT_EQ(no_namespace.error().code(), ErrorCode::kNotFound);
  EXPECT_NE(no_namespace.error().hint().find("create it first"), std::string::npos) << no_namespace.error().to_string();

  Result<json> invalid = objects().create(cluster->configmaps, ns(), config_map("Bad_Name"));
  ASSERT_FALSE(invalid.ok());
  EXPECT_EQ(invalid.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(invalid.error().message().find("HTTP 422 Invalid"), std::string::npos) << invalid.error().message();
  EXPECT_NE(invalid.error().message().find("causes: [metadata.name: Invalid value: \"Bad_Name\""), std::string::npos)
      << invalid.error().message();

  ApiResource unserved = cluster->configmaps;
  unserved.version = "v7";
  Result<ObjectList> wrong_version = objects().list(unserved, ns());
  ASSERT_FALSE(wrong_version.ok());
  EXPECT_EQ(wrong_version.error().code(), ErrorCode::kNotFound);
  EXPECT_NE(wrong_version.error().hint().find("does not serve configmaps in version v7"), std::string::npos)
      << wrong_version.error().to_string();
}

// A pod on kwok's node-a, Running; exec runs locally through kwok's ClusterExec.
void create_running_pod(const std::string& name) {
  json pod = {{"metadata", {{"name", name}}},
              {"spec", {{"nodeName", "node-a"}, {"containers", {{{"name", "main"}, {"image", "busybox"}}}}}}};
  Result<json> created = cluster->objects->create(cluster->pods, cluster->namespace_name, pod);
  if (!created.ok() && created.error().code() != ErrorCode::kAlreadyExists) {
    // The namespace's default ServiceAccount may not exist yet: try again.
    ASSERT_TRUE(wait_until([&] { return cluster->objects->create(cluster->pods, cluster->namespace_name, pod).ok(); }, 30s))
        << created.error().to_string();
  }
  ASSERT_TRUE(wait_until(
      [&] {
        Result<json> got = cluster->objects->get(cluster->pods, cluster->namespace_name, name);
        return got.ok() && (*got)["status"].value("phase", "") == "Running";
      },
      60s))
      << "pod " << name << " not Running on node-a within 60 s";
}

TEST_F(KubeClientTest, ExecReturnsStdoutStderrAndExitCode) {
  create_running_pod("exec-target");
  Result<ExecResult> result =
      exec(*cluster->api, ns(), "exec-target", "main", {"sh", "-c", "echo out; echo err >&2; exit 3"}, 30s);
  ASSERT_TRUE(result.ok()) << result.error().to_string();
  EXPECT_EQ(result->stdout_text, "out\n");
  EXPECT_EQ(result->stderr_text, "err\n");
  EXPECT_EQ(result->exit_code, 3);

  Result<ExecResult> success = exec(*cluster->api, ns(), "exec-target", "", {"sh", "-c", "head -c 200000 /dev/zero | tr '\\0' x"}, 30s);
  ASSERT_TRUE(success.ok()) << success.error().to_string();
  EXPECT_EQ(success->exit_code, 0);
  EXPECT_EQ(success->stdout_text, std::string(200000, 'x'));

  // kwok's local exec never closes the command's stdin (`kubectl exec -i ... cat`
  // hangs there too), so the command reads one line rather than to the end.
  Result<ExecResult> with_stdin = exec(*cluster->api, ns(), "exec-target", "main",
                                       {"sh", "-c", "read line; echo \"got $line\""}, 30s,
                                       ExecOptions{"piped through\n", 1 << 20});
  ASSERT_TRUE(with_stdin.ok()) << with_stdin.error().to_string();
  EXPECT_EQ(with_stdin->stdout_text, "got piped through\n");

  Result<ExecResult> no_pod = exec(*cluster->api, ns(), "no-such-pod", "", {"true"}, 10s);
  ASSERT_FALSE(no_pod.ok());
  EXPECT_EQ(no_pod.error().code(), ErrorCode::kNotFound);
  EXPECT_NE(no_pod.error().message().find("no-such-pod"), std::string::npos);
}

TEST_F(KubeClientTest, ExecTimeoutNamesCommandAndPod) {
  create_running_pod("exec-sleeper");
  Result<ExecResult> result = exec(*cluster->api, ns(), "exec-sleeper", "main", {"sleep", "30"}, 2s);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code(), ErrorCode::kUnavailable);
  EXPECT_NE(result.error().message().find("command `sleep 30` in pod " + ns() + "/exec-sleeper"), std::string::npos)
      << result.error().message();
  EXPECT_NE(result.error().message().find("did not finish within 2"), std::string::npos) << result.error().message();
}

}  // namespace
}  // namespace stowage::kube
