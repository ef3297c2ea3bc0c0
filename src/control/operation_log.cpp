#include "control/operation_log.h"

#include "util/clock.h"


namespace stowage::control {
OperationLog::OperationLog(std::string kind, std::string name, Logger echo)
    : kind_(std::move(kind)), name_(std::move(name)), echo_(std::move(echo)) {}

namespace {
LogLevel log_level(OperationLog::Level level) {
  switch (level) {
    case OperationLog::Level::kInfo: return LogLevel::kInfo;
    case OperationLog::Level::kWarning: return LogLevel::kWarning;
    case OperationLog::Level::kError: return LogLevel::kError;
  }
  return LogLevel::kInfo;
}
}  // namespace

void OperationLog::add(Level level, const std::string& message, const std::string& namespace_name) {
  std::vector<LogField> fields{{kind_, name_}};
  if (!namespace_name.empty()) fields.push_back({"namespace", namespace_name});
  std::string line =
      format_log_line(LogFormat::kLogfmt, std::chrono::system_clock::now(), log_level(level), message, fields);
  if (namespace_name.empty()) echo_.log(log_level(level), message);
  else echo_.log(log_level(level), message, {{"namespace", namespace_name}});
  std::lock_guard lock(mutex_);
  lines_.push_back(std::move(line));
  entries_.push_back({level, message, namespace_name});
}

void OperationLog::info(const std::string& m, const std::string& ns) { add(Level::kInfo, m, ns); }
void OperationLog::warning(const std::string& m, const std::string& ns) { add(Level::kWarning, m, ns); }
void OperationLog::error(const std::string& m, const std::string& ns) { add(Level::kError, m, ns); }

int OperationLog::warnings() const { return static_cast<int>(messages(Level::kWarning).size()); }
int OperationLog::errors() const { return static_cast<int>(messages(Level::kError).size()); }

std::vector<std::string> OperationLog::messages(Level level) const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> out;
  for (const auto& e : entries_)
    if (e.level == level) out.push_back(e.namespace_name.empty() ? e.message : e.namespace_name + ": " + e.message);
  return out;
}

std::string OperationLog::text() const {
  std::lock_guard lock(mutex_);
  std::string out;
  for (const auto& line : lines_) out += line;  // each ends in '\n'
  return out;
}

nlohmann::json OperationLog::results() const {
  auto empty = [] {
    return nlohmann::json{{"velero", nlohmann::json::array()},
                          {"cluster", nlohmann::json::array()},
                          {"namespaces", nlohmann::json::object()}};
  };
  nlohmann::json out{{"errors", empty()}, {"warnings", empty()}};
  std::lock_guard lock(mutex_);
  for (const auto& e : entries_) {
    if (e.level == Level::kInfo) continue;
    auto& bucket = out[e.level == Level::kError ? "errors" : "warnings"];
    if (e.namespace_name.empty()) bucket["velero"].push_back(e.message);
    else bucket["namespaces"][e.namespace_name].push_back(e.message);
  }
  return out;
}

nlohmann::json failed_status(nlohmann::json status, OperationLog& log, const std::string& phase,
                             const std::string& reason) {
  log.error(reason);
  status["phase"] = phase;
  status["failureReason"] = reason;
  status["completionTimestamp"] = format_time_utc(now_unix());
  status["errors"] = log.errors();
  status["warnings"] = log.warnings();
  return status;
}

}  // namespace stowage::control
