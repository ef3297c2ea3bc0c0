#include "util/progress.h"

#include <cstdio>

#include <nlohmann/json.hpp>

#include "util/clock.h"

namespace stowage {

Status check_cancelled(const Progress* progress) {
  if (progress && progress->cancel_requested.load())
    return Error(ErrorCode::kCancelled, "stopped on request (canceled)", "", "");
  return ok_status();
}

std::string format_bytes(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  int u = 0;
  while (bytes >= 1024 && u < 5) {
    bytes /= 1024;
    u++;
  }
  char buf[32];
  snprintf(buf, sizeof buf, u ? "%.2f %s" : "%.0f %s", bytes, units[u]);
  return buf;
}

std::string format_duration(double seconds) {
  long s = long(seconds + 0.5);
  char buf[32];
  if (s >= 3600) snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
  else snprintf(buf, sizeof buf, "%ld:%02ld", s / 60, s % 60);
  return buf;
}

ProgressReporter::ProgressReporter(const Progress& progress, ProgressStyle style, std::string action)
    : progress_(progress), style_(style), action_(std::move(action)), start_ns_(now_unix_nanos()) {
  if (style_ != ProgressStyle::kNone) thread_ = std::thread([this] { run(); });
}

ProgressReporter::~ProgressReporter() { stop(); }

void ProgressReporter::stop() {
  {
    std::lock_guard lock(mu_);
    if (stop_) return;
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (style_ != ProgressStyle::kNone) print(true);
}

void ProgressReporter::run() {
  std::unique_lock lock(mu_);
  while (!cv_.wait_for(lock, std::chrono::seconds(1), [&] { return stop_; })) {
    lock.unlock();
    print(false);
    lock.lock();
  }
}

void ProgressReporter::print(bool final) {
  double elapsed = double(now_unix_nanos() - start_ns_) / 1e9;
  uint64_t done = progress_.bytes_done, total = progress_.bytes_total;
  double rate = elapsed > 0 ? double(done) / elapsed : 0;
  double eta = (total > done && rate > 0) ? double(total - done) / rate : 0;
  if (style_ == ProgressStyle::kJson) {
    nlohmann::json j = {{"message_type", final ? "summary" : "status"}, {"action", action_},
                        {"seconds_elapsed", elapsed}, {"files_done", progress_.files_done.load()},
                        {"files_total", progress_.files_total.load()}, {"bytes_done", done},
                        {"bytes_total", total}, {"bytes_per_second", rate}, {"errors", progress_.errors.load()}};
    if (total) j["percent_done"] = total ? double(done) / double(total) : 0.0;
    if (eta > 0) j["seconds_remaining"] = eta;
    fprintf(stderr, "%s\n", j.dump().c_str());
    return;
  }
  std::string line = "[" + format_duration(elapsed) + "] " + action_ + " " +
                     std::to_string(progress_.files_done.load()) + " files, " + format_bytes(double(done));
  if (total) {
    char pct[16];
    snprintf(pct, sizeof pct, " %.1f%%", 100.0 * double(done) / double(total));
    line += " / " + format_bytes(double(total)) + pct;
  }
  line += ", " + format_bytes(rate) + "/s";
  if (eta > 0 && !final) line += ", ETA " + format_duration(eta);
  if (progress_.errors) line += ", " + std::to_string(progress_.errors.load()) + " errors";
  fprintf(stderr, "\r\033[K%s%s", line.c_str(), final ? "\n" : "");
  fflush(stderr);
}

}  // namespace stowage
