// ReplicaServer: serves one LayerStore over the replication protocol
// (wire.h) to the target and to tools (snapshot reads, fence, fill). Each
// connection has a thread; requests on a connection are answered in order.
#pragma once

#include <atomic>
#include <span>

#include "blockvol/layer_store.h"
#include "blockvol/net.h"
#include "blockvol/wire.h"
#include "util/log.h"

namespace stowage::blockvol {

class ReplicaServer {
 public:
  ReplicaServer(LayerStore& store, Logger log) : store_(store), log_(std::move(log)) {}

  // Accepts connections on `listener` until stop() is called.
  void serve(Socket listener);
  void stop() { stopping_ = true; }

  // Answers one request (exposed for tests): the reply's status and payload.
  std::pair<wire::Status, std::vector<uint8_t>> handle(const wire::RequestHeader& request,
                                                       std::span<const uint8_t> payload);

 private:
  void serve_connection(Socket connection);

  LayerStore& store_;
  Logger log_;
  std::atomic<bool> stopping_{false};
};

}  // namespace stowage::blockvol
