// Runs the endpoint for real on loopback and fetches from it with libcurl.
#include "util/http_endpoint.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>

namespace stowage {
namespace {

struct Reply {
  CURLcode code = CURLE_OK;
  long status = 0;
  std::string body;
  std::string content_type;
};

size_t append_body(char* data, size_t size, size_t count, void* body) {
  static_cast<std::string*>(body)->append(data, size * count);
  return size * count;
}

Reply fetch(const std::string& url) {
  Reply reply;
  CURL* curl = curl_easy_init();
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, append_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &reply.body);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 10L);
  curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
  reply.code = curl_easy_perform(curl);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply.status);
  char* content_type = nullptr;
  curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &content_type);
  if (content_type) reply.content_type = content_type;
  curl_easy_cleanup(curl);
  return reply;
}

std::string url(const HttpEndpoint& endpoint, const std::string& path) {
  return "http://" + endpoint.address() + path;
}

TEST(HttpEndpoint, ServesMetricsAndProbesOverLoopback) {
  MetricsRegistry registry;
  auto requests = registry.counter("stowage_test_requests_total", "Requests.", {"path"});
  ASSERT_TRUE(requests.ok());
  (*(*requests)->with({"/x"}))->increment(7);

  std::atomic<bool> ready{false};
  HttpEndpointOptions options;
  options.port = 0;
  options.readiness = [&]() -> Status {
    if (ready) return ok_status();
    return Error(ErrorCode::kUnavailable, "the informer cache has not synced", "backups", "wait");
  };
  HttpEndpoint endpoint(registry, options);
  EXPECT_EQ(endpoint.port(), 0);
  ASSERT_TRUE(endpoint.start().ok());
  ASSERT_GT(endpoint.port(), 0);
  EXPECT_EQ(endpoint.address(), "127.0.0.1:" + std::to_string(endpoint.port()));

  Reply metrics = fetch(url(endpoint, "/metrics"));
  ASSERT_EQ(metrics.code, CURLE_OK) << curl_easy_strerror(metrics.code);
  EXPECT_EQ(metrics.status, 200);
  EXPECT_EQ(metrics.content_type, "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(metrics.body,
            "# HELP stowage_test_requests_total Requests.\n"
            "# TYPE stowage_test_requests_total counter\n"
            "stowage_test_requests_total{path=\"/x\"} 7\n");

  Reply health = fetch(url(endpoint, "/healthz"));
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.body, "ok");

  Reply not_ready = fetch(url(endpoint, "/readyz"));
  EXPECT_EQ(not_ready.status, 503);
  EXPECT_EQ(not_ready.body, "the informer cache has not synced (object: backups); wait");
  ready = true;
  Reply now_ready = fetch(url(endpoint, "/readyz"));
  EXPECT_EQ(now_ready.status, 200);
  EXPECT_EQ(now_ready.body, "ok");

  EXPECT_EQ(fetch(url(endpoint, "/nothing")).status, 404);

  // The registry is rendered per request.
  (*(*requests)->with({"/x"}))->increment();
  EXPECT_NE(fetch(url(endpoint, "/metrics")).body.find("stowage_test_requests_total{path=\"/x\"} 8\n"),
            std::string::npos);

  std::string stopped_url = url(endpoint, "/healthz");
  endpoint.stop();
  EXPECT_EQ(endpoint.port(), 0);
  EXPECT_EQ(fetch(stopped_url).code, CURLE_COULDNT_CONNECT);
  endpoint.stop();  // twice is fine
}

TEST(HttpEndpoint, LivenessFailureIs503) {
  MetricsRegistry registry;
  HttpEndpointOptions options;
  options.port = 0;
  options.liveness = [] { return Status(Error(ErrorCode::kInternal, "the watch loop is stuck")); };
  HttpEndpoint endpoint(registry, options);
  ASSERT_TRUE(endpoint.start().ok());
  Reply health = fetch(url(endpoint, "/healthz"));
  EXPECT_EQ(health.status, 503);
  EXPECT_EQ(health.body, "the watch loop is stuck");
  EXPECT_EQ(fetch(url(endpoint, "/readyz")).status, 200);
}

TEST(HttpEndpoint, PortInUseIsUnavailableNamingTheAddress) {
  // A plain listening socket (no SO_REUSEPORT) holds a port.
  int holder = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(holder, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  ASSERT_EQ(bind(holder, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  ASSERT_EQ(listen(holder, 1), 0);
  socklen_t length = sizeof address;
  ASSERT_EQ(getsockname(holder, reinterpret_cast<sockaddr*>(&address), &length), 0);
  int taken = ntohs(address.sin_port);

  MetricsRegistry registry;
  HttpEndpointOptions options;
  options.port = taken;
  HttpEndpoint endpoint(registry, options);
  Status started = endpoint.start();
  ASSERT_FALSE(started.ok());
  std::string where = "127.0.0.1:" + std::to_string(taken);
  EXPECT_EQ(started.error().code(), ErrorCode::kUnavailable);
  EXPECT_EQ(started.error().object(), where);
  EXPECT_EQ(started.error().message(), "serving metrics and health checks on " + where +
                                           " failed: cannot bind the address (Address already in use)");
  EXPECT_NE(started.error().hint().find("choose another"), std::string::npos);
  close(holder);
}

TEST(HttpEndpoint, ASecondEndpointCannotShareTheServingPort) {
  MetricsRegistry registry;
  HttpEndpointOptions options;
  options.port = 0;
  HttpEndpoint first(registry, options);
  ASSERT_TRUE(first.start().ok());
  options.port = first.port();
  HttpEndpoint second(registry, options);
  Status started = second.start();
  ASSERT_FALSE(started.ok());
  EXPECT_EQ(started.error().code(), ErrorCode::kUnavailable);
  EXPECT_EQ(first.start().error().code(), ErrorCode::kConflict);
  // After the first stops, the port can be bound again at once.
  first.stop();
  ASSERT_TRUE(second.start().ok());
  EXPECT_EQ(fetch(url(second, "/healthz")).body, "ok");
}

TEST(HttpEndpoint, UnknownAddressIsUnavailable) {
  MetricsRegistry registry;
  HttpEndpointOptions options;
  options.address = "192.0.2.1";  // TEST-NET-1: not an address of this host
  options.port = 0;
  HttpEndpoint endpoint(registry, options);
  Status started = endpoint.start();
  ASSERT_FALSE(started.ok());
  EXPECT_EQ(started.error().code(), ErrorCode::kUnavailable);
  EXPECT_EQ(started.error().object(), "192.0.2.1:0");
}

}  // namespace
}  // namespace stowage
