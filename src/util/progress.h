// Progress: counters that long operations update from many threads (and a
// flag that asks them to stop), and a
// reporter thread that shows them every second, as a status line on a
// terminal or as JSON lines (--json) for machines.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

#include "util/result.h"

namespace stowage {

struct Progress {
  std::atomic<uint64_t> files_done{0};
  std::atomic<uint64_t> bytes_done{0};
  std::atomic<uint64_t> bytes_total{0};  // 0 when unknown
  std::atomic<uint64_t> files_total{0};
  std::atomic<uint64_t> errors{0};
  // Set by whoever wants the work stopped (the agent, on a work item's
  // spec.cancel); long operations check it between units of work.
  std::atomic<bool> cancel_requested{false};
};

// kCancelled once `progress` asks the work to stop; ok otherwise (and for null).
Status check_cancelled(const Progress* progress);

enum class ProgressStyle { kNone, kTerminal, kJson };

class ProgressReporter {
 public:
  ProgressReporter(const Progress& progress, ProgressStyle style, std::string action);
  ~ProgressReporter();  // stops and clears the status line
  void stop();

 private:
  void run();
  void print(bool final);

  const Progress& progress_;
  ProgressStyle style_;
  std::string action_;
  int64_t start_ns_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

std::string format_bytes(double bytes);
std::string format_duration(double seconds);

}  // namespace stowage
