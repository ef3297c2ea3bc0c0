// HttpEndpoint: the small HTTP server a stowage process exposes for
// Prometheus and for Kubernetes probes:
//   GET /metrics  the registry in the text exposition format 0.0.4
//   GET /healthz  200 "ok", or 503 with the reason when the liveness check fails
//   GET /readyz   200 "ok", or 503 with the reason when the readiness check fails
// It serves on a thread of its own between start() and stop(). cpp-httplib
// stays inside the .cpp, so including this header does not compile it.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "util/log.h"
#include "util/metrics.h"
#include "util/result.h"

namespace stowage {

struct HttpEndpointOptions {
  std::string address = "127.0.0.1";  // "0.0.0.0" to serve on every interface (in a pod)
  int port = 8085;                     // 0: any free port; port() tells which
  // Each returns ok, or an error whose to_string() is the 503 body. Empty: always ok.
  std::function<Status()> liveness;
  std::function<Status()> readiness;
};

class HttpEndpoint {
 public:
  // `registry` must outlive the endpoint.
  HttpEndpoint(const MetricsRegistry& registry, HttpEndpointOptions options);
  ~HttpEndpoint();  // stops
  HttpEndpoint(const HttpEndpoint&) = delete;
  HttpEndpoint& operator=(const HttpEndpoint&) = delete;

  // Binds address:port and starts serving; returns once requests are
  // accepted. kUnavailable naming the address when it cannot be bound (the
  // port is in use, or the address is not local); kConflict when started
  // already.
  Status start();
  // Stops serving and joins the thread; does nothing when not started.
  void stop();

  // The bound port (the chosen one when options.port was 0); 0 before start().
  int port() const;
  // "127.0.0.1:8085": where it serves, once started.
  std::string address() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The endpoint of a long-running process (server, agent) on `address`
// ("HOST:PORT"; "" = none: returns null), started, its address logged.
Result<std::unique_ptr<HttpEndpoint>> start_http_endpoint(MetricsRegistry& registry, const std::string& address,
                                                           std::function<Status()> readiness, const Logger& log);

// "HOST:PORT" of a listen flag (--metrics-address), split.
Result<std::pair<std::string, int>> parse_listen_address(const std::string& address);

}  // namespace stowage
