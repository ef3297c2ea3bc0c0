#include "util/log.h"

#include <mutex>

#include "util/clock.h"

namespace stowage {

struct Logger::Output {
  LoggerOptions options;
  std::mutex mutex;  // one line at a time on `options.output`
};

struct Logger::Sink {
  LogSink receive;
  std::mutex mutex;
};

namespace {

constexpr const char* kReplacementCharacter = "\xef\xbf\xbd";  // U+FFFD

// The length of the valid UTF-8 sequence at text[i], or 0 when the bytes
// there are not one (stray continuation bytes, overlong forms, surrogates,
// code points above U+10FFFF, truncated sequences).
size_t utf8_sequence_length(std::string_view text, size_t i) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
  unsigned char lead = byte(i);
  if (lead < 0x80) return 1;
  size_t length = 0;
  unsigned char second_min = 0x80, second_max = 0xbf;
  if (lead >= 0xc2 && lead <= 0xdf) {
    length = 2;
  } else if (lead >= 0xe0 && lead <= 0xef) {
    length = 3;
    if (lead == 0xe0) second_min = 0xa0;  // overlong
    if (lead == 0xed) second_max = 0x9f;  // surrogates
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    length = 4;
    if (lead == 0xf0) second_min = 0x90;  // overlong
    if (lead == 0xf4) second_max = 0x8f;  // above U+10FFFF
  } else {
    return 0;
  }
  if (i + length > text.size()) return 0;
  if (byte(i + 1) < second_min || byte(i + 1) > second_max) return 0;
  for (size_t k = 2; k < length; k++)
    if (byte(i + k) < 0x80 || byte(i + k) > 0xbf) return 0;
  return length;
}

void append_unicode_escape(std::string& out, unsigned char c) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += "\\u00";
  out += kHex[c >> 4];
  out += kHex[c & 15];
}

// The inside of a double-quoted string, escaped as JSON and logfmt both read
// it: \" \\ \n \r \t, other control characters as \u00XX, invalid UTF-8 as
// U+FFFD.
void append_escaped(std::string& out, std::string_view text, bool json) {
  for (size_t i = 0; i < text.size();) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c >= 0x80) {
      size_t length = utf8_sequence_length(text, i);
      if (length == 0) {
        out += json ? "\\ufffd" : kReplacementCharacter;
        i++;
      } else {
        out.append(text.substr(i, length));
        i += length;
      }
      continue;
    }
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c == 0x7f) append_unicode_escape(out, c);
        else out += char(c);
    }
    i++;
  }
}

void append_json_string(std::string& out, std::string_view text) {
  out += '"';
  append_escaped(out, text, true);
  out += '"';
}

bool logfmt_needs_quotes(std::string_view value) {
  if (value.empty()) return true;
  for (size_t i = 0; i < value.size(); i++) {
    unsigned char c = static_cast<unsigned char>(value[i]);
    if (c <= ' ' || c == '=' || c == '"' || c == 0x7f) return true;
    if (c >= 0x80) {
      size_t length = utf8_sequence_length(value, i);
      if (length == 0) return true;
      i += length - 1;
    }
  }
  return false;
}

void append_logfmt_value(std::string& out, std::string_view value) {
  if (!logfmt_needs_quotes(value)) {
    out.append(value);
    return;
  }
  out += '"';
  append_escaped(out, value, false);
  out += '"';
}

// logfmt keys cannot be quoted: what a key may not contain becomes '_'.
void append_logfmt_key(std::string& out, std::string_view key) {
  if (key.empty()) {
    out += '_';
    return;
  }
  for (char ch : key) {
    unsigned char c = static_cast<unsigned char>(ch);
    out += (c <= ' ' || c == '=' || c == '"' || c >= 0x7f) ? '_' : ch;
  }
}

void append_field(std::string& out, LogFormat format, std::string_view key, std::string_view value) {
  if (format == LogFormat::kJson) {
    out += ',';
    append_json_string(out, key);
    out += ':';
    append_json_string(out, value);
  } else {
    out += ' ';
    append_logfmt_key(out, key);
    out += '=';
    append_logfmt_value(out, value);
  }
}

std::string lower(std::string_view text) {
  std::string result(text);
  for (char& c : result)
    if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
  return result;
}

}  // namespace

const char* log_level_name(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarning: return "warning";
    case LogLevel::kError: return "error";
  }
  return "info";
}

Result<LogLevel> parse_log_level(std::string_view text) {
  std::string name = lower(text);
  if (name == "debug") return LogLevel::kDebug;
  if (name == "info") return LogLevel::kInfo;
  if (name == "warning" || name == "warn") return LogLevel::kWarning;
  if (name == "error") return LogLevel::kError;
  return Error(ErrorCode::kInvalidArgument, "log level '" + std::string(text) + "' is not known", std::string(text),
               "use debug, info, warning or error");
}

Result<LogFormat> parse_log_format(std::string_view text) {
  std::string name = lower(text);
  if (name == "logfmt" || name == "text") return LogFormat::kLogfmt;
  if (name == "json") return LogFormat::kJson;
  return Error(ErrorCode::kInvalidArgument, "log format '" + std::string(text) + "' is not known", std::string(text),
               "use logfmt or json");
}

std::string format_log_line(LogFormat format, std::chrono::system_clock::time_point time, LogLevel level,
                            std::string_view message, const std::vector<LogField>& fields,
                            std::initializer_list<LogField> extra_fields) {
  std::string line;
  line.reserve(128);
  std::string time_text = format_rfc3339(time, 3);
  if (format == LogFormat::kJson) {
    line += "{\"time\":";
    append_json_string(line, time_text);
    line += ",\"level\":";
    append_json_string(line, log_level_name(level));
    line += ",\"msg\":";
    append_json_string(line, message);
  } else {
    line += "time=" + time_text + " level=" + log_level_name(level) + " msg=";
    append_logfmt_value(line, message);
  }
  for (const LogField& field : fields) append_field(line, format, field.key, field.value);
  for (const LogField& field : extra_fields) append_field(line, format, field.key, field.value);
  if (format == LogFormat::kJson) line += '}';
  line += '\n';
  return line;
}

Logger::Logger() : Logger(LoggerOptions{}) {}

Logger::Logger(LoggerOptions options) : output_(std::make_shared<Output>()) { output_->options = std::move(options); }

Logger Logger::with(std::string key, std::string value) const {
  Logger child = *this;
  for (LogField& field : child.fields_) {
    if (field.key == key) {
      field.value = std::move(value);
      return child;
    }
  }
  child.fields_.push_back({std::move(key), std::move(value)});
  return child;
}

Logger Logger::with_sink(LogSink sink) const {
  Logger child = *this;
  auto entry = std::make_shared<Sink>();
  entry->receive = std::move(sink);
  child.sinks_.push_back(std::move(entry));
  return child;
}

bool Logger::enabled(LogLevel level) const { return level >= output_->options.level; }

void Logger::log(LogLevel level, std::string_view message, std::initializer_list<LogField> fields) const {
  if (!enabled(level)) return;
  const LoggerOptions& options = output_->options;
  auto time = options.clock ? options.clock() : std::chrono::system_clock::now();
  std::string line = format_log_line(options.format, time, level, message, fields_, fields);
  if (options.output) {
    std::lock_guard lock(output_->mutex);
    fwrite(line.data(), 1, line.size(), options.output);
    fflush(options.output);
  }
  for (const auto& sink : sinks_) {
    std::lock_guard lock(sink->mutex);
    if (sink->receive) sink->receive(line);
  }
}

void Logger::debug(std::string_view message, std::initializer_list<LogField> fields) const {
  log(LogLevel::kDebug, message, fields);
}
void Logger::info(std::string_view message, std::initializer_list<LogField> fields) const {
  log(LogLevel::kInfo, message, fields);
}
void Logger::warning(std::string_view message, std::initializer_list<LogField> fields) const {
  log(LogLevel::kWarning, message, fields);
}
void Logger::error(std::string_view message, std::initializer_list<LogField> fields) const {
  log(LogLevel::kError, message, fields);
}

}  // namespace stowage
