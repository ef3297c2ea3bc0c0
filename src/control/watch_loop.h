// WatchLoop: what the server's and the agent's reconcile loops share. It
// watches some resource types (one thread each, watching again after a
// failure) and wakes the loop at once when any object changes; otherwise the
// loop sleeps until its next resync, so a missed event only delays work.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "kube/api_client.h"
#include "kube/api_resource.h"
#include "util/log.h"

namespace stowage::control {

class WatchLoop {
 public:
  WatchLoop(kube::ApiClient& client, const std::vector<kube::ApiResource>& types, const std::string& namespace_name,
            const std::string& label_selector, const Logger& log);
  ~WatchLoop();  // stops and joins the watches

  // Returns when an object changed since the last call, after `timeout`, or
  // when `stop` is requested.
  void wait_for(std::chrono::milliseconds timeout, std::stop_token stop);

 private:
  void notify();

  std::mutex mutex_;
  std::condition_variable_any cv_;
  bool pending_ = false;
  std::vector<std::jthread> watchers_;
};

}  // namespace stowage::control
