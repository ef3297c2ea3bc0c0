// Logger: structured log lines for the server and the agent. Each line has a
// time, a level, a message and the logger's fields (backup=nightly-1, …), as
// logfmt or as JSON lines:
//   time=2026-11-25T21:35:05.123Z level=info msg="backup started" backup=nightly-1
//   {"time":"2026-11-25T21:35:05.123Z","level":"info","msg":"backup started","backup":"nightly-1"}
// A child logger (with()) carries one more field; a sink (with_sink()) also
// receives a child's lines, e.g. to collect the log of one backup. Loggers
// are cheap to copy and safe to use from many threads.
#pragma once

#include <chrono>
#include <cstdio>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.h"

namespace stowage {

enum class LogLevel { kDebug, kInfo, kWarning, kError };
enum class LogFormat { kLogfmt, kJson };

const char* log_level_name(LogLevel level);  // "debug", "info", "warning", "error"
// "debug", "info", "warning" (or "warn"), "error", in any case.
Result<LogLevel> parse_log_level(std::string_view text);
// "logfmt" (or "text"), "json".
Result<LogFormat> parse_log_format(std::string_view text);

struct LogField {
  std::string key;
  std::string value;
};

// Receives each line, ending in '\n'. Calls to one sink never overlap.
using LogSink = std::function<void(std::string_view line)>;

struct LoggerOptions {
  LogLevel level = LogLevel::kInfo;  // lines below it are dropped
  LogFormat format = LogFormat::kLogfmt;
  FILE* output = stderr;  // flushed after every line; nullptr: sinks only
  // The time each line carries; empty: the system clock. Tests fix it.
  std::function<std::chrono::system_clock::time_point()> clock;
};

class Logger {
 public:
  Logger();  // info and above, logfmt, to stderr
  explicit Logger(LoggerOptions options);

  // A child logger whose lines also carry key=value (replacing the value when
  // the key is already a field). The child shares the output and the sinks.
  Logger with(std::string key, std::string value) const;
  // A child logger whose lines also go to `sink` (and still to everything
  // this logger writes to).
  Logger with_sink(LogSink sink) const;

  bool enabled(LogLevel level) const;
  // One line: time, level, message, this logger's fields, then `fields`.
  void log(LogLevel level, std::string_view message, std::initializer_list<LogField> fields = {}) const;
  void debug(std::string_view message, std::initializer_list<LogField> fields = {}) const;
  void info(std::string_view message, std::initializer_list<LogField> fields = {}) const;
  void warning(std::string_view message, std::initializer_list<LogField> fields = {}) const;
  void error(std::string_view message, std::initializer_list<LogField> fields = {}) const;

  const std::vector<LogField>& fields() const { return fields_; }

 private:
  struct Output;
  struct Sink;
  std::shared_ptr<Output> output_;
  std::vector<std::shared_ptr<Sink>> sinks_;
  std::vector<LogField> fields_;
};

// One line as Logger writes it, ending in '\n'. Keys and values are quoted
// and escaped as the format needs (logfmt: quoted when empty or containing a
// space, '=', '"' or a control character; invalid UTF-8 becomes U+FFFD).
std::string format_log_line(LogFormat format, std::chrono::system_clock::time_point time, LogLevel level,
                            std::string_view message, const std::vector<LogField>& fields,
                            std::initializer_list<LogField> extra_fields = {});

}  // namespace stowage
