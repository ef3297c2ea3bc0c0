// DynamicClient::apply: the request server-side apply needs (PATCH of the
// object's path, Content-Type application/apply-patch+yaml, fieldManager and
// force in the query, apiVersion and kind filled in), checked on the wire of
// a scripted server; the real apiserver's answers are exercised in
// tests/e2e/install_test.cpp.
#include <gtest/gtest.h>

#include "kube/api_client.h"
#include "kube/dynamic_client.h"
#include "scripted_server.h"

namespace stowage::kube {
namespace {

using nlohmann::json;

std::unique_ptr<ApiClient> client_for(const std::string& url) {
  ClusterConfig config;
  config.server = url;
  config.token = "t";
  config.user = "tester";
  config.source = "test";
  ClientOptions options;
  options.max_attempts = 1;
  return std::move(ApiClient::create(config, options)).value();
}

const ApiResource kServiceAccounts{"", "v1", "serviceaccounts", "serviceaccount", "ServiceAccount", true,
                                   {"get", "patch"}, {"sa"}, {}, {}, true};

TEST(KubeApply, SendsAnApplyPatchWithManagerAndForce) {
  ScriptedServer server({answer(200, "OK", R"({"kind":"ServiceAccount","metadata":{"name":"agent","resourceVersion":"7"}})")});
  auto client = client_for(server.url());
  DynamicClient objects(*client);
  WriteOptions options;
  options.field_manager = "stowage-install";
  options.force = true;
  Result<json> applied =
      objects.apply(kServiceAccounts, "", json{{"metadata", {{"name", "agent"}, {"namespace", "stowage"}}}}, options);
  ASSERT_TRUE(applied.ok()) << applied.error().to_string();
  EXPECT_EQ((*applied)["metadata"]["resourceVersion"], "7");
  std::vector<ScriptedRequest> requests = server.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].line,
            "PATCH /api/v1/namespaces/stowage/serviceaccounts/agent?fieldManager=stowage-install&force=true HTTP/1.1");
  EXPECT_NE(requests[0].head.find("Content-Type: application/apply-patch+yaml"), std::string::npos)
      << requests[0].head;
  json body = json::parse(requests[0].body);
  EXPECT_EQ(body["apiVersion"], "v1");
  EXPECT_EQ(body["kind"], "ServiceAccount");
  EXPECT_EQ(body["metadata"]["namespace"], "stowage");
}

TEST(KubeImpersonation, EveryRequestCarriesTheImpersonatedIdentity) {
  ScriptedServer server({answer(200, "OK", R"({"kind":"ServiceAccount","metadata":{"name":"agent"}})")});
  ClusterConfig config;
  config.server = server.url();
  config.token = "t";
  config.user = "tester";
  config.source = "test";
  config.impersonate_user = "system:serviceaccount:stowage:restorer";
  config.impersonate_groups = {"system:serviceaccounts", "system:authenticated"};
  ClientOptions options;
  options.max_attempts = 1;
  auto client = std::move(ApiClient::create(config, options)).value();
  EXPECT_NE(client->identity().find("system:serviceaccount:stowage:restorer (impersonated by user tester"),
            std::string::npos) << client->identity();
  DynamicClient objects(*client);
  ASSERT_TRUE(objects.get(kServiceAccounts, "stowage", "agent").ok());
  std::vector<ScriptedRequest> requests = server.requests();
  ASSERT_EQ(requests.size(), 1u);
  const std::string& head = requests[0].head;
  EXPECT_NE(head.find("Authorization: Bearer t"), std::string::npos) << head;
  EXPECT_NE(head.find("Impersonate-User: system:serviceaccount:stowage:restorer"), std::string::npos) << head;
  EXPECT_NE(head.find("Impersonate-Group: system:serviceaccounts\r\n"), std::string::npos) << head;
  EXPECT_NE(head.find("Impersonate-Group: system:authenticated"), std::string::npos) << head;
}

TEST(KubeApply, DryRunAndNoForce) {
  ScriptedServer server({answer(200, "OK", R"({"kind":"ServiceAccount","metadata":{"name":"agent"}})")});
  auto client = client_for(server.url());
  DynamicClient objects(*client);
  WriteOptions options;
  options.field_manager = "m";
  options.dry_run = true;
  ASSERT_TRUE(objects.apply(kServiceAccounts, "shop", json{{"metadata", {{"name", "agent"}}}}, options).ok());
  ASSERT_EQ(server.request_lines().size(), 1u);
  EXPECT_EQ(server.request_lines()[0],
            "PATCH /api/v1/namespaces/shop/serviceaccounts/agent?dryRun=All&fieldManager=m HTTP/1.1");
}

TEST(KubeApply, RefusesWithoutNameOrManagerAndMapsConflicts) {
  ScriptedServer server({answer(409, "Conflict", status_json(409, "Conflict"))});
  auto client = client_for(server.url());
  DynamicClient objects(*client);
  WriteOptions no_manager;
  Result<json> unnamed = objects.apply(kServiceAccounts, "shop", json{{"metadata", json::object()}}, {});
  ASSERT_FALSE(unnamed.ok());
  EXPECT_EQ(unnamed.error().code(), ErrorCode::kInvalidArgument);
  Result<json> unmanaged = objects.apply(kServiceAccounts, "shop", json{{"metadata", {{"name", "a"}}}}, no_manager);
  ASSERT_FALSE(unmanaged.ok());
  EXPECT_NE(unmanaged.error().message().find("field manager"), std::string::npos);
  EXPECT_TRUE(server.request_lines().empty());  // refused before sending
  WriteOptions options;
  options.field_manager = "m";
  Result<json> conflict = objects.apply(kServiceAccounts, "shop", json{{"metadata", {{"name", "a"}}}}, options);
  ASSERT_FALSE(conflict.ok());
  EXPECT_EQ(conflict.error().code(), ErrorCode::kConflict);
  EXPECT_NE(conflict.error().to_string().find("serviceaccounts/a in namespace shop"), std::string::npos)
      << conflict.error().to_string();
}

}  // namespace
}  // namespace stowage::kube
