#include "util/http_endpoint.h"

#include <httplib.h>
#include <sys/socket.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>
#include <thread>

namespace stowage {

struct HttpEndpoint::Impl {
  Impl(const MetricsRegistry& registry, HttpEndpointOptions options)
      : registry(registry), options(std::move(options)) {}

  const MetricsRegistry& registry;
  const HttpEndpointOptions options;
  std::mutex mutex;  // start/stop
  std::unique_ptr<httplib::Server> server;
  std::thread thread;
  std::atomic<bool> listen_returned{false};
  std::atomic<int> port{0};
};

namespace {

// "127.0.0.1:8085", "[::1]:8085".
std::string host_port(const std::string& address, int port) {
  bool ipv6 = address.find(':') != std::string::npos;
  return (ipv6 ? "[" + address + "]" : address) + ":" + std::to_string(port);
}

httplib::Server::Handler probe_handler(std::function<Status()> check) {
  return [check = std::move(check)](const httplib::Request&, httplib::Response& response) {
    Status status = check ? check() : ok_status();
    if (status.ok()) {
      response.set_content("ok", "text/plain; charset=utf-8");
    } else {
      response.status = 503;
      response.set_content(status.error().to_string(), "text/plain; charset=utf-8");
    }
  };
}

}  // namespace

HttpEndpoint::HttpEndpoint(const MetricsRegistry& registry, HttpEndpointOptions options)
    : impl_(std::make_unique<Impl>(registry, std::move(options))) {}

HttpEndpoint::~HttpEndpoint() { stop(); }

Status HttpEndpoint::start() {
  std::lock_guard lock(impl_->mutex);
  const HttpEndpointOptions& options = impl_->options;
  if (impl_->thread.joinable())
    return Error(ErrorCode::kConflict, "the HTTP endpoint is already serving on " + address(), address(),
                 "stop it before starting it again");

  auto server = std::make_unique<httplib::Server>();
  server->new_task_queue = [] { return new httplib::ThreadPool(4); };
  // httplib's default sets SO_REUSEPORT, which lets a second process bind a
  // port that is already serving; SO_REUSEADDR only reuses a port whose old
  // connections linger in TIME_WAIT.
  server->set_socket_options([](socket_t socket) {
    int yes = 1;
    setsockopt(socket, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  const MetricsRegistry& registry = impl_->registry;
  server->Get("/metrics", [&registry](const httplib::Request&, httplib::Response& response) {
    response.set_content(registry.render(), kMetricsContentType);
  });
  server->Get("/healthz", probe_handler(options.liveness));
  server->Get("/readyz", probe_handler(options.readiness));

  errno = 0;
  int port = options.port;
  bool bound = false;
  if (port == 0) {
    port = server->bind_to_any_port(options.address);
    bound = port > 0;
  } else {
    bound = server->bind_to_port(options.address, port);
  }
  if (!bound) {
    int bind_errno = errno;
    std::string where = host_port(options.address, options.port);
    return Error(ErrorCode::kUnavailable,
                 "serving metrics and health checks on " + where + " failed: cannot bind the address" +
                     (bind_errno ? std::string(" (") + strerror(bind_errno) + ")" : std::string()),
                 where,
                 "if another process uses the port, choose another one (or stop that process); the address must "
                 "be one of this host's, e.g. 127.0.0.1 or 0.0.0.0");
  }

  httplib::Server* serving = server.get();
  impl_->listen_returned = false;
  impl_->thread = std::thread([serving, impl = impl_.get()] {
    serving->listen_after_bind();
    impl->listen_returned = true;
  });
  // Wait until the accept loop runs, so that a stop() right after start()
  // cannot come before it (httplib's stop() ignores a server not yet running).
  // The socket listens already: requests made meanwhile wait in its backlog.
  while (!serving->is_running() && !impl_->listen_returned)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  impl_->server = std::move(server);
  impl_->port = port;
  return ok_status();
}

void HttpEndpoint::stop() {
  std::lock_guard lock(impl_->mutex);
  if (!impl_->thread.joinable()) return;
  impl_->server->stop();
  impl_->thread.join();
  impl_->server.reset();
  impl_->port = 0;
}

int HttpEndpoint::port() const { return impl_->port; }

std::string HttpEndpoint::address() const { return host_port(impl_->options.address, impl_->port); }

Result<std::pair<std::string, int>> parse_listen_address(const std::string& address) {
  size_t colon = address.rfind(':');
  if (colon == std::string::npos)
    return Error(ErrorCode::kInvalidArgument, "metrics address \"" + address + "\" has no port", address,
                 "write it as HOST:PORT, e.g. 0.0.0.0:8085");
  return std::make_pair(address.substr(0, colon), std::atoi(address.c_str() + colon + 1));
}


Result<std::unique_ptr<HttpEndpoint>> start_http_endpoint(MetricsRegistry& registry, const std::string& address,
                                                           std::function<Status()> readiness, const Logger& log) {
  if (address.empty()) return std::unique_ptr<HttpEndpoint>();
  auto [host, port] = TRY(parse_listen_address(address));
  HttpEndpointOptions options;
  options.address = host;
  options.port = port;
  options.readiness = std::move(readiness);
  auto endpoint = std::make_unique<HttpEndpoint>(registry, options);
  TRY_STATUS(endpoint->start());
  log.info("metrics and health endpoint listening", {{"address", endpoint->address()}});
  return endpoint;
}

}  // namespace stowage
