// ApiClient: the HTTP connection to one Kubernetes API server as one identity.
// Thread-safe; pooled curl handles (keep-alive, TLS verified with the
// kubeconfig's CA), timeouts, retries of throttled (429) and unavailable (5xx)
// answers with backoff that honours Retry-After, and every other non-2xx
// answer turned into an Error naming the object (api_error.h).
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "kube/api_error.h"
#include "kube/kubeconfig.h"
#include "kube/object_ref.h"
#include "util/result.h"

namespace stowage {
class CurlHandlePool;  // util/curl.h
}  // namespace stowage

namespace stowage::kube {

struct ApiRequest {
  std::string method = "GET";  // GET, POST, PUT, PATCH, DELETE
  std::string path;            // "/api/v1/namespaces/shop/configmaps"; empty: target.path()
  std::string query;           // encoded, without '?' (query.h)
  std::string body;
  std::string content_type = "application/json";
  std::string accept = "application/json";
  std::string verb;            // RBAC verb for messages; empty: derived from the method
  ObjectRef target;            // what the request acts on, for messages
  std::chrono::milliseconds timeout{0};  // whole request; 0: ClientOptions::request_timeout (streams: none)
};

struct ApiResponse {
  long status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string header(const std::string& name) const;
};

struct ClientOptions {
  std::chrono::milliseconds connect_timeout{10'000};
  std::chrono::milliseconds request_timeout{60'000};
  int max_attempts = 5;                           // tries of a retryable request, the first included
  std::chrono::milliseconds base_delay{250};      // first backoff; doubles per retry
  std::chrono::milliseconds max_delay{8'000};     // cap of one backoff (and of a honoured Retry-After: 30 s)
  std::function<void(std::chrono::milliseconds)> sleep;  // how to wait; tests replace it
  std::string user_agent = "stowage/0.1";
};

class ApiClient {
 public:
  static Result<std::unique_ptr<ApiClient>> create(ClusterConfig config, ClientOptions options = {});
  ~ApiClient();
  ApiClient(const ApiClient&) = delete;
  ApiClient& operator=(const ApiClient&) = delete;

  const ClusterConfig& config() const { return config_; }
  const ClientOptions& options() const { return options_; }
  // "user admin (kubeconfig /x, context y)": who the requests run as.
  std::string identity() const;

  // One request; 429/503/504 (and 500/502 for GET) and connection failures
  // are retried; any other non-2xx answer is returned as an Error.
  Result<ApiResponse> send(const ApiRequest& request);
  // send() and parse the body as JSON.
  Result<nlohmann::json> send_json(const ApiRequest& request);
  // Exactly one attempt; non-2xx answers are returned, not mapped.
  Result<ApiResponse> send_once(const ApiRequest& request);

  // Streams a response body (a watch) to on_data as it arrives, without
  // retries. Ends with the HTTP status when the server ends the body;
  // kCancelled when `stop` is requested (checked at least once a second) or
  // on_data returns false; kUnavailable when the connection drops; a mapped
  // Error for a non-2xx answer.
  Result<long> stream(const ApiRequest& request, const std::function<bool(std::string_view)>& on_data,
                      std::stop_token stop);

  // Headers that authenticate a request ("Authorization: Bearer ...");
  // re-reads a token file at most once a minute.
  Result<std::vector<std::string>> auth_headers();
  // Sets TLS trust, client certificate, proxy and connect timeout on a handle
  // exactly as for every request (also for exec's raw WebSocket connection).
  void apply_connection_options(void* curl_handle) const;

  RequestContext context_of(const ApiRequest& request) const;
  // The Error for a failed connection (a CURLcode and curl's message).
  Error connection_error(int curl_code, const std::string& detail, const ApiRequest& request) const;
  // The backoff before retry number `retry` (0 for the first).
  std::chrono::milliseconds backoff_delay(int retry) const;

 private:
  ApiClient(ClusterConfig config, ClientOptions options);
  Result<ApiResponse> perform(const ApiRequest& request, bool& retryable_failure);

  ClusterConfig config_;
  ClientOptions options_;
  std::unique_ptr<CurlHandlePool> handles_;
  std::mutex token_mutex_;
  std::string token_;
  std::chrono::steady_clock::time_point token_read_;
};

}  // namespace stowage::kube
