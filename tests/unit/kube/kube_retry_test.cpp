// ApiClient's retries and watch's reconnects, driven by a scripted HTTP server
// on loopback: answers a real apiserver cannot be made to give on demand
// (429 with Retry-After, repeated 503, a watch connection cut mid-stream).
#include <gtest/gtest.h>

#include <deque>

#include "kube/api_client.h"
#include "kube/watch.h"
#include "scripted_server.h"

namespace stowage::kube {
namespace {

using namespace std::chrono_literals;

struct Sleeps {
  std::vector<std::chrono::milliseconds> delays;
  std::function<void(std::chrono::milliseconds)> hook() {
    return [this](std::chrono::milliseconds delay) { delays.push_back(delay); };
  }
};

std::unique_ptr<ApiClient> client_for(const std::string& url, Sleeps& sleeps, int attempts = 4) {
  ClusterConfig config;
  config.server = url;
  config.token = "t";
  config.user = "tester";
  config.source = "test";
  ClientOptions options;
  options.max_attempts = attempts;
  options.sleep = sleeps.hook();
  return std::move(ApiClient::create(config, options)).value();
}

ApiRequest get_configmap() {
  ApiRequest request;
  request.target = ObjectRef{"", "v1", "configmaps", "shop", "web", ""};
  return request;
}

TEST(KubeRetry, ThrottledThenServedHonoursRetryAfter) {
  ScriptedServer server({answer(429, "Too Many Requests", status_json(429, "TooManyRequests"), "Retry-After: 2\r\n"),
                         answer(503, "Service Unavailable", status_json(503, "ServiceUnavailable")),
                         answer(200, "OK", R"({"kind":"ConfigMap","metadata":{"name":"web"}})")});
  Sleeps sleeps;
  auto client = client_for(server.url(), sleeps);
  Result<nlohmann::json> got = client->send_json(get_configmap());
  ASSERT_TRUE(got.ok()) << got.error().to_string();
  EXPECT_EQ((*got)["metadata"]["name"], "web");
  ASSERT_EQ(sleeps.delays.size(), 2u);
  EXPECT_GE(sleeps.delays[0], 2000ms);  // Retry-After: 2
  EXPECT_EQ(server.request_lines().size(), 3u);
  EXPECT_EQ(server.request_lines()[0], "GET /api/v1/namespaces/shop/configmaps/web HTTP/1.1");
}

TEST(KubeRetry, GivesUpAfterMaxAttempts) {
  std::deque<std::string> failures(5, answer(503, "Service Unavailable", status_json(503, "ServiceUnavailable")));
  ScriptedServer server(failures);
  Sleeps sleeps;
  auto client = client_for(server.url(), sleeps, 3);
  Result<ApiResponse> got = client->send(get_configmap());
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().code(), ErrorCode::kUnavailable);
  EXPECT_NE(got.error().message().find("after 3 attempts"), std::string::npos) << got.error().to_string();
  EXPECT_NE(got.error().message().find("configmaps/web in namespace shop"), std::string::npos);
  EXPECT_EQ(server.request_lines().size(), 3u);
}

TEST(KubeRetry, NoRetryOfConflictsOrOfAFailedCreate) {
  ScriptedServer server({answer(409, "Conflict", status_json(409, "Conflict")),
                         answer(500, "Internal Server Error", status_json(500, "InternalError"))});
  Sleeps sleeps;
  auto client = client_for(server.url(), sleeps);
  Result<ApiResponse> conflict = client->send(get_configmap());
  ASSERT_FALSE(conflict.ok());
  EXPECT_EQ(conflict.error().code(), ErrorCode::kConflict);
  ApiRequest create = get_configmap();
  create.method = "POST";
  create.body = "{}";
  Result<ApiResponse> failed = client->send(create);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().code(), ErrorCode::kUnavailable);  // 500 on a POST may have applied: not retried
  EXPECT_TRUE(sleeps.delays.empty());
  EXPECT_EQ(server.request_lines().size(), 2u);
}

TEST(KubeRetry, ConnectionRefusedIsRetriedThenUnavailable) {
  int port;
  {
    ScriptedServer probe({});
    port = std::stoi(probe.url().substr(probe.url().rfind(':') + 1));
  }  // closed: nothing listens on the port any more
  Sleeps sleeps;
  auto client = client_for("http://127.0.0.1:" + std::to_string(port), sleeps, 3);
  Result<ApiResponse> got = client->send(get_configmap());
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().code(), ErrorCode::kUnavailable);
  EXPECT_EQ(sleeps.delays.size(), 2u);
  EXPECT_NE(got.error().hint().find("is running and reachable"), std::string::npos) << got.error().to_string();
}

std::string watch_stream(const std::vector<std::string>& lines) {
  std::string response = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n";
  for (const std::string& line : lines) response += line + "\n";
  return response;
}

std::string event(const std::string& type, const std::string& name, int version) {
  return R"({"type":")" + type + R"(","object":{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":")" + name +
         R"(","resourceVersion":")" + std::to_string(version) + R"("}}})";
}

TEST(KubeRetry, WatchResumesFromLastVersionThenReportsExpiry) {
  ScriptedServer server({watch_stream({event("ADDED", "a", 11), event("MODIFIED", "a", 12)}),
                         watch_stream({event("DELETED", "a", 13)}),
                         watch_stream({R"({"type":"ERROR","object":{"kind":"Status","status":"Failure",)"
                                       R"("reason":"Expired","code":410,"message":"too old resource version"}})"})});
  Sleeps sleeps;
  auto client = client_for(server.url(), sleeps);
  ApiResource configmaps{"", "v1", "configmaps", "configmap", "ConfigMap", true, {}, {}, {}, {}, true};
  std::vector<std::string> seen;
  WatchOptions options;
  options.resource_version = "10";
  std::stop_source stop;
  Result<WatchResult> result = watch(*client, configmaps, "shop", options,
                                     [&](const WatchEvent& event) {
                                       seen.push_back(watch_event_type_name(event.type));
                                       return ok_status();
                                     },
                                     stop.get_token());
  ASSERT_TRUE(result.ok()) << result.error().to_string();
  EXPECT_EQ(result->end, WatchEnd::kExpired);
  EXPECT_EQ(result->resource_version, "13");
  EXPECT_EQ(seen, (std::vector<std::string>{"ADDED", "MODIFIED", "DELETED"}));
  std::vector<std::string> requests = server.request_lines();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_NE(requests[0].find("watch=1&resourceVersion=10&"), std::string::npos) << requests[0];
  EXPECT_NE(requests[1].find("resourceVersion=12&"), std::string::npos) << requests[1];
  EXPECT_NE(requests[2].find("resourceVersion=13&"), std::string::npos) << requests[2];
}

TEST(KubeRetry, WatchStopsOnRequestWhileIdle) {
  ScriptedServer server({"HOLD"});
  Sleeps sleeps;
  auto client = client_for(server.url(), sleeps);
  ApiResource configmaps{"", "v1", "configmaps", "configmap", "ConfigMap", true, {}, {}, {}, {}, true};
  std::stop_source stop;
  std::thread stopper([&] {
    std::this_thread::sleep_for(300ms);
    stop.request_stop();
  });
  Result<WatchResult> result =
      watch(*client, configmaps, "", WatchOptions{}, [](const WatchEvent&) { return ok_status(); }, stop.get_token());
  stopper.join();
  ASSERT_TRUE(result.ok()) << result.error().to_string();
  EXPECT_EQ(result->end, WatchEnd::kStopped);
}

}  // namespace
}  // namespace stowage::kube
