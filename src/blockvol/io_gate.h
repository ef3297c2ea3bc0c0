// IoGate: admits writes to the volume and can stop admitting them and wait
// for the ones in flight to finish (drain), for a crash-consistent snapshot
// or for one step of a replica rebuild.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "util/result.h"

namespace stowage::blockvol {

class IoGate {
 public:
  // Waits while the gate is closed, then counts one operation in flight.
  void enter() {
    std::unique_lock lock(mu_);
    changed_.wait(lock, [&] { return !closed_; });
    ++in_flight_;
  }
  void leave() {
    std::lock_guard lock(mu_);
    --in_flight_;
    changed_.notify_all();
  }
  // Stops admitting and waits up to `timeout` for the operations in flight.
  // Only one closer at a time (others wait their turn). On timeout the gate
  // is open again and kUnavailable says how many were still running.
  Status close(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    if (!changed_.wait_for(lock, timeout, [&] { return !closed_; }))
      return Error(ErrorCode::kUnavailable, "the volume is paused by another operation");
    closed_ = true;
    if (!changed_.wait_for(lock, timeout, [&] { return in_flight_ == 0; })) {
      size_t running = in_flight_;
      closed_ = false;
      changed_.notify_all();
      return Error(ErrorCode::kUnavailable, std::to_string(running) + " IO requests still in flight after " +
                                                std::to_string(timeout.count()) + " ms");
    }
    return ok_status();
  }
  void open() {
    std::lock_guard lock(mu_);
    closed_ = false;
    changed_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable changed_;
  size_t in_flight_ = 0;
  bool closed_ = false;
};

// Enters on construction, leaves on destruction.
class GateEntry {
 public:
  explicit GateEntry(IoGate& gate) : gate_(gate) { gate_.enter(); }
  ~GateEntry() { gate_.leave(); }
  GateEntry(const GateEntry&) = delete;
  GateEntry& operator=(const GateEntry&) = delete;

 private:
  IoGate& gate_;
};

}  // namespace stowage::blockvol
