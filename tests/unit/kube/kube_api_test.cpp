// The pure parts of the kube layer: object paths and names, query and
// selector building, the mapping of API statuses to Errors, discovery
// documents, watch-stream decoding and exec statuses.
#include <gtest/gtest.h>

#include "kube/api_error.h"
#include "kube/api_resource.h"
#include "kube/discovery.h"
#include "kube/exec.h"
#include "kube/object_ref.h"
#include "kube/query.h"
#include "kube/watch.h"

namespace stowage::kube {
namespace {

using nlohmann::json;

TEST(KubeObjectRef, PathsAndNames) {
  ObjectRef deployment{"apps", "v1", "deployments", "shop", "web", ""};
  EXPECT_EQ(deployment.path(), "/apis/apps/v1/namespaces/shop/deployments/web");
  EXPECT_EQ(deployment.describe(), "deployments.apps/web in namespace shop");
  ObjectRef status{"", "v1", "pods", "shop", "db-0", "status"};
  EXPECT_EQ(status.path(), "/api/v1/namespaces/shop/pods/db-0/status");
  EXPECT_EQ(status.describe(), "pods/db-0 (status) in namespace shop");
  ObjectRef nodes{"", "v1", "nodes", "", "", ""};
  EXPECT_EQ(nodes.path(), "/api/v1/nodes");
  EXPECT_EQ(nodes.describe(), "nodes");
  ObjectRef odd{"stowage.io", "v1", "backups", "a b", "x/y", ""};
  EXPECT_EQ(odd.path(), "/apis/stowage.io/v1/namespaces/a%20b/backups/x%2Fy");

  ApiResource namespaces{"", "v1", "namespaces", "namespace", "Namespace", false, {}, {"ns"}, {}, {"status"}, true};
  EXPECT_EQ(namespaces.ref("ignored", "shop").path(), "/api/v1/namespaces/shop");
  EXPECT_EQ(namespaces.api_version(), "v1");
  EXPECT_TRUE(namespaces.has_subresource("status"));
  std::string group, version;
  split_api_version("apps/v1", group, version);
  EXPECT_EQ(group + "|" + version, "apps|v1");
  split_api_version("v1", group, version);
  EXPECT_EQ(group + "|" + version, "|v1");
}

TEST(KubeQuery, EncodingAndSelectors) {
  Query query;
  query.add("labelSelector", "app=web,tier in (a,b)").add("limit", 2).add("continue", "").add("fieldSelector", "x");
  EXPECT_EQ(query.str(), "labelSelector=app%3Dweb%2Ctier%20in%20%28a%2Cb%29&limit=2&fieldSelector=x");
  EXPECT_EQ(Query().add("command", "", true).str(), "command=");
  EXPECT_EQ(label_selector({{"tier", "db"}, {"app", "web"}}), "app=web,tier=db");
  EXPECT_EQ(url_encode("a-b_c.d~e/f"), "a-b_c.d~e%2Ff");
}

RequestContext context_for(const std::string& verb, ObjectRef target) {
  return RequestContext{verb, std::move(target), "user alice (kubeconfig /k, context c)", "https://127.0.0.1:6443"};
}

std::string status_body(long code, const std::string& reason, const std::string& message,
                        const json& details = json::object()) {
  return json{{"kind", "Status"}, {"apiVersion", "v1"}, {"status", "Failure"}, {"code", code},
              {"reason", reason}, {"message", message}, {"details", details}}
      .dump();
}

TEST(KubeApiError, ForbiddenNamesVerbResourceNamespaceAndRule) {
  ObjectRef target{"apps", "v1", "deployments", "shop", "", ""};
  Error error = api_error(403,
                          status_body(403, "Forbidden",
                                      "deployments.apps is forbidden: User \"alice\" cannot list resource "
                                      "\"deployments\" in API group \"apps\" in the namespace \"shop\""),
                          context_for("list", target));
  EXPECT_EQ(error.code(), ErrorCode::kPermissionDenied);
  EXPECT_EQ(error.object(), "deployments.apps in namespace shop");
  EXPECT_NE(error.message().find("list deployments.apps in namespace shop failed"), std::string::npos);
  EXPECT_NE(error.message().find("HTTP 403 Forbidden"), std::string::npos);
  EXPECT_NE(error.hint().find("user alice"), std::string::npos);
  EXPECT_NE(error.hint().find("apiGroups: [\"apps\"], resources: [\"deployments\"], verbs: [\"list\"]"),
            std::string::npos);
  EXPECT_NE(error.hint().find("Role in namespace shop"), std::string::npos);

  Error exec_error = api_error(403, status_body(403, "Forbidden", "no"),
                               context_for("create", ObjectRef{"", "v1", "pods", "", "p", "exec"}));
  EXPECT_NE(exec_error.hint().find("resources: [\"pods/exec\"]"), std::string::npos);
  EXPECT_NE(exec_error.hint().find("ClusterRole"), std::string::npos);
}

TEST(KubeApiError, StatusCodes) {
  ObjectRef web{"", "v1", "configmaps", "shop", "web", ""};
  auto code_of = [&](long status, const std::string& reason) {
    return api_error(status, status_body(status, reason, "m"), context_for("get", web)).code();
  };
  EXPECT_EQ(code_of(401, "Unauthorized"), ErrorCode::kPermissionDenied);
  EXPECT_EQ(code_of(404, "NotFound"), ErrorCode::kNotFound);
  EXPECT_EQ(code_of(409, "AlreadyExists"), ErrorCode::kAlreadyExists);
  EXPECT_EQ(code_of(409, "Conflict"), ErrorCode::kConflict);
  EXPECT_EQ(code_of(422, "Invalid"), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code_of(429, "TooManyRequests"), ErrorCode::kUnavailable);
  EXPECT_EQ(code_of(500, "InternalError"), ErrorCode::kUnavailable);
  EXPECT_EQ(code_of(503, "ServiceUnavailable"), ErrorCode::kUnavailable);
  EXPECT_EQ(code_of(415, "UnsupportedMediaType"), ErrorCode::kUnsupported);

  Error gone = api_error(410, status_body(410, "Expired", "too old resource version: 1 (300)"), context_for("list", web));
  EXPECT_TRUE(is_gone(gone));
  EXPECT_NE(gone.message().find("HTTP 410 Gone, Expired"), std::string::npos);
  EXPECT_NE(gone.hint().find("list again"), std::string::npos);
  EXPECT_FALSE(is_gone(api_error(409, status_body(409, "Conflict", "m"), context_for("update", web))));

  Error not_found = api_error(404, status_body(404, "NotFound", "configmaps \"web\" not found"), context_for("get", web));
  EXPECT_NE(not_found.message().find("get configmaps/web in namespace shop failed: configmaps \"web\" not found"),
            std::string::npos);
  EXPECT_NE(not_found.hint().find("check the name"), std::string::npos);
  Error unserved = api_error(404, "404 page not found", context_for("list", ObjectRef{"x.io", "v1", "things", "", "", ""}));
  EXPECT_NE(unserved.message().find("404 page not found"), std::string::npos);
  EXPECT_NE(unserved.hint().find("does not serve things.x.io"), std::string::npos);
  Error throttled = api_error(429, status_body(429, "TooManyRequests", "slow down"), context_for("get", web), 7);
  EXPECT_NE(throttled.hint().find("retry after 7 s"), std::string::npos);
}

TEST(KubeApiError, InvalidQuotesCauses) {
  json details = {{"name", "Bad_Name"},
                  {"kind", "ConfigMap"},
                  {"causes",
                   {{{"reason", "FieldValueInvalid"}, {"message", "Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain"}, {"field", "metadata.name"}}}}};
  Error error = api_error(422, status_body(422, "Invalid", "ConfigMap \"Bad_Name\" is invalid", details),
                          context_for("create", ObjectRef{"", "v1", "configmaps", "shop", "Bad_Name", ""}));
  EXPECT_EQ(error.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(error.message().find("causes: [metadata.name: Invalid value: \"Bad_Name\""), std::string::npos)
      << error.message();
  std::optional<ApiStatus> status = parse_api_status(status_body(422, "Invalid", "m", details));
  ASSERT_TRUE(status);
  ASSERT_EQ(status->causes.size(), 1u);
  EXPECT_EQ(status->causes[0].field, "metadata.name");
  EXPECT_FALSE(parse_api_status("{\"kind\":\"ConfigMap\"}"));
  EXPECT_FALSE(parse_api_status("not json"));
}

TEST(KubeDiscoveryParse, LegacyDocuments) {
  Result<ApiGroupInfo> core = parse_core_versions(json{{"kind", "APIVersions"}, {"versions", {"v1"}}});
  ASSERT_TRUE(core.ok());
  EXPECT_EQ(core->preferred_version, "v1");
  json groups = json::parse(R"({"kind":"APIGroupList","groups":[
    {"name":"autoscaling","versions":[{"groupVersion":"autoscaling/v2","version":"v2"},{"groupVersion":"autoscaling/v1","version":"v1"}],
     "preferredVersion":{"groupVersion":"autoscaling/v2","version":"v2"}}]})");
  Result<std::vector<ApiGroupInfo>> parsed = parse_group_list(groups);
  ASSERT_TRUE(parsed.ok());
  ASSERT_EQ(parsed->size(), 1u);
  EXPECT_EQ((*parsed)[0].versions, (std::vector<std::string>{"v2", "v1"}));
  EXPECT_EQ((*parsed)[0].preferred_version, "v2");

  json resources = json::parse(R"({"kind":"APIResourceList","groupVersion":"v1","resources":[
    {"name":"pods","singularName":"pod","namespaced":true,"kind":"Pod","verbs":["get","list","watch","create"],"shortNames":["po"],"categories":["all"]},
    {"name":"pods/exec","singularName":"","namespaced":true,"kind":"PodExecOptions","verbs":["create","get"]},
    {"name":"pods/status","singularName":"","namespaced":true,"kind":"Pod","verbs":["get","patch","update"]},
    {"name":"nodes","singularName":"node","namespaced":false,"kind":"Node","verbs":["get","list"],"shortNames":["no"]}]})");
  Result<std::vector<ApiResource>> list = parse_resource_list(resources, "", "v1");
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].kind, "Pod");
  EXPECT_TRUE((*list)[0].namespaced);
  EXPECT_EQ((*list)[0].subresources, (std::vector<std::string>{"exec", "status"}));
  EXPECT_EQ((*list)[0].short_names, (std::vector<std::string>{"po"}));
  EXPECT_FALSE((*list)[1].namespaced);
  EXPECT_FALSE(parse_resource_list(json::array(), "", "v1").ok());
}

TEST(KubeDiscoveryParse, AggregatedDocument) {
  json document = json::parse(R"({"kind":"APIGroupDiscoveryList","apiVersion":"apidiscovery.k8s.io/v2","items":[
    {"metadata":{"name":"apps"},"versions":[{"version":"v1","resources":[
      {"resource":"deployments","responseKind":{"group":"","version":"","kind":"Deployment"},"scope":"Namespaced",
       "singularResource":"deployment","verbs":["get","list"],"shortNames":["deploy"],
       "subresources":[{"subresource":"scale","verbs":["get"]},{"subresource":"status","verbs":["get"]}]}]}]},
    {"metadata":{"name":"example.com"},"versions":[
      {"version":"v2","resources":[{"resource":"widgets","responseKind":{"kind":"Widget"},"scope":"Cluster","verbs":["get"]}]},
      {"version":"v1","resources":[{"resource":"widgets","responseKind":{"kind":"Widget"},"scope":"Cluster","verbs":["get"]}]}]},
    {"metadata":{"name":"metrics.k8s.io"},"versions":[{"version":"v1beta1","freshness":"Stale"}]}]})");
  DiscoveryView view;
  ASSERT_TRUE(parse_aggregated_discovery(document, view).ok());
  ASSERT_EQ(view.groups.size(), 3u);
  EXPECT_EQ(view.groups[1].preferred_version, "v2");
  ASSERT_EQ(view.resources.size(), 3u);
  EXPECT_EQ(view.resources[0].kind, "Deployment");
  EXPECT_EQ(view.resources[0].subresources, (std::vector<std::string>{"scale", "status"}));
  EXPECT_TRUE(view.resources[0].preferred);
  EXPECT_TRUE(view.resources[1].preferred);
  EXPECT_FALSE(view.resources[2].preferred);
  EXPECT_FALSE(view.resources[1].namespaced);
  ASSERT_EQ(view.failures.size(), 1u);
  EXPECT_NE(view.failures[0].find("metrics.k8s.io/v1beta1"), std::string::npos);
  EXPECT_FALSE(parse_aggregated_discovery(json{{"kind", "APIGroupList"}}, view).ok());
}

TEST(KubeWatchDecoder, SplitsLinesAcrossPieces) {
  std::string body =
      R"({"type":"ADDED","object":{"kind":"ConfigMap","metadata":{"name":"a","resourceVersion":"10"}}})" "\n"
      R"({"type":"MODIFIED","object":{"kind":"ConfigMap","metadata":{"name":"a","resourceVersion":"11"}}})" "\n"
      R"({"type":"BOOKMARK","object":{"kind":"ConfigMap","metadata":{"resourceVersion":"12"}}})" "\n"
      R"({"type":"DELETED","object":{"kind":"ConfigMap","metadata":{"name":"a","resourceVersion":"13"}}})" "\n";
  WatchDecoder decoder;
  std::vector<std::string> seen;
  for (size_t i = 0; i < body.size(); i += 7) {
    Status fed = decoder.feed(std::string_view(body).substr(i, 7), [&](WatchEvent event) {
      seen.push_back(std::string(watch_event_type_name(event.type)) + "@" + event.resource_version());
      return ok_status();
    });
    ASSERT_TRUE(fed.ok()) << fed.error().to_string();
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"ADDED@10", "MODIFIED@11", "BOOKMARK@12", "DELETED@13"}));
  EXPECT_EQ(decoder.buffered(), 0u);
  Status bad = decoder.feed("{\"type\":\"SURPRISE\",\"object\":{}}\n", [](WatchEvent) { return ok_status(); });
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code(), ErrorCode::kCorrupt);
}

TEST(KubeWatchDecoder, GoneEventIsExpired) {
  Result<WatchEvent> event = parse_watch_event(
      R"({"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",)"
      R"json("message":"too old resource version: 1 (5000)","reason":"Expired","code":410}})json");
  ASSERT_TRUE(event.ok());
  EXPECT_EQ(event->type, WatchEventType::kError);
  EXPECT_TRUE(event->is_expired());
  Result<WatchEvent> other = parse_watch_event(
      R"({"type":"ERROR","object":{"kind":"Status","status":"Failure","reason":"InternalError","code":500}})");
  ASSERT_TRUE(other.ok());
  EXPECT_FALSE(other->is_expired());
  EXPECT_FALSE(parse_watch_event("[1,2]").ok());
}

TEST(KubeExecStatus, ExitCodes) {
  EXPECT_EQ(*exit_code_from_status(R"({"kind":"Status","metadata":{},"status":"Success"})", "cmd"), 0);
  EXPECT_EQ(*exit_code_from_status(
                R"({"kind":"Status","status":"Failure","message":"command terminated with non-zero exit code: error executing command [sh -c exit 3], exit code 3","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"3"}]}})",
                "cmd"),
            3);
  // kwok's local exec loses the cause; Go's exit status text remains.
  EXPECT_EQ(*exit_code_from_status(
                R"({"kind":"Status","status":"Failure","message":"Internal error occurred: error executing command in container: cmd wait: sh -c exit 7: exit status 7","reason":"InternalError","code":500})",
                "cmd"),
            7);
  Result<int> failed = exit_code_from_status(
      R"json({"kind":"Status","status":"Failure","message":"container not found (\"x\")","reason":"InternalError"})json",
      "command `x` in pod a/b");
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.error().message().find("command `x` in pod a/b failed: container not found"), std::string::npos);
  EXPECT_FALSE(exit_code_from_status("garbage", "cmd").ok());
}

}  // namespace
}  // namespace stowage::kube
