// The target's control port: one JSON request line in, one JSON reply line
// out, per connection. Operations: status, snapshot, snapshots,
// delete-snapshot, changed-extents (docs/blockvol.md). Replies carry
// "ok": true and the result, or "ok": false with "error" and "code".
#pragma once

#include <atomic>
#include <chrono>
#include <nlohmann/json.hpp>

#include "blockvol/net.h"
#include "blockvol/replicated_volume.h"
#include "util/log.h"

namespace stowage::blockvol {

class ControlServer {
 public:
  ControlServer(ReplicatedVolume& volume, Logger log) : volume_(volume), log_(std::move(log)) {}
  void serve(Socket listener);
  void stop() { stopping_ = true; }
  // Answers one request (also used by tests).
  nlohmann::json handle(const nlohmann::json& request);

 private:
  void serve_connection(Socket socket);

  ReplicatedVolume& volume_;
  Logger log_;
  std::atomic<bool> stopping_{false};
};

// Sends one request to a target's control port and returns its reply; an
// "ok": false reply becomes an error carrying its message.
Result<nlohmann::json> control_call(const HostPort& target, const nlohmann::json& request,
                                    std::chrono::milliseconds timeout);

}  // namespace stowage::blockvol
