#include "control/watch_loop.h"

#include "kube/watch.h"

namespace stowage::control {

WatchLoop::WatchLoop(kube::ApiClient& client, const std::vector<kube::ApiResource>& types,
                     const std::string& namespace_name, const std::string& label_selector, const Logger& log) {
  for (const auto& type : types) {
    watchers_.emplace_back([this, &client, type, namespace_name, label_selector, log](std::stop_token stop) {
      while (!stop.stop_requested()) {
        kube::WatchOptions options;
        options.label_selector = label_selector;
        auto ended = kube::watch(client, type, namespace_name, options,
                                 [&](const kube::WatchEvent& event) {
                                   if (event.type != kube::WatchEventType::kBookmark) notify();
                                   return ok_status();
                                 },
                                 stop);
        if (!ended.ok()) {
          log.warning("watch of " + type.resource + " ended: " + ended.error().message() + "; watching again in 5 s");
          std::mutex m;
          std::unique_lock lock(m);
          std::condition_variable_any().wait_for(lock, stop, std::chrono::seconds(5), [] { return false; });
        }
      }
    });
  }
}

WatchLoop::~WatchLoop() {
  for (auto& w : watchers_) w.request_stop();
}

void WatchLoop::notify() {
  std::lock_guard lock(mutex_);
  pending_ = true;
  cv_.notify_all();
}

void WatchLoop::wait_for(std::chrono::milliseconds timeout, std::stop_token stop) {
  std::unique_lock lock(mutex_);
  cv_.wait_for(lock, stop, timeout, [&] { return pending_; });
  pending_ = false;
}

}  // namespace stowage::control
