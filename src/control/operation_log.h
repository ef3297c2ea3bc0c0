// OperationLog: everything that happened during one backup or restore —
// the log lines stored with it (`stowage backup logs`), the warnings and
// errors by namespace in Velero's results format, and their counts. Each line
// also goes to the server's log (the Logger given, which names the backup or
// restore on every line); the stored log is logfmt. Thread-safe.
#pragma once

#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "util/log.h"

namespace stowage::control {

class OperationLog {
 public:
  enum class Level { kInfo, kWarning, kError };

  // kind: "backup" or "restore"; name: the object's name (on every stored line).
  OperationLog(std::string kind, std::string name, Logger echo = Logger(LoggerOptions{LogLevel::kError, LogFormat::kLogfmt, nullptr, {}}));

  void info(const std::string& message, const std::string& namespace_name = {});
  void warning(const std::string& message, const std::string& namespace_name = {});
  void error(const std::string& message, const std::string& namespace_name = {});

  int warnings() const;
  int errors() const;
  std::string text() const;  // every line, '\n'-terminated
  // {"errors": {"velero": [], "cluster": [], "namespaces": {ns: [...]}}, "warnings": {...}}
  nlohmann::json results() const;
  std::vector<std::string> messages(Level level) const;

 private:
  void add(Level level, const std::string& message, const std::string& namespace_name);

  std::string kind_;
  std::string name_;
  mutable std::mutex mutex_;
  std::vector<std::string> lines_;
  struct Entry {
    Level level;
    std::string message;
    std::string namespace_name;
  };
  std::vector<Entry> entries_;
  Logger echo_;
};

// `status` ended in `phase` (Failed, FailedValidation) for `reason`, which is
// also logged as an error; completion time and the log's counts filled in.
nlohmann::json failed_status(nlohmann::json status, OperationLog& log, const std::string& phase,
                             const std::string& reason);

}  // namespace stowage::control
