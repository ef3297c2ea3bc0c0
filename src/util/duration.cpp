#include "util/duration.h"

#include <cstdint>

namespace stowage {

namespace {

constexpr uint64_t kNanosecond = 1;
constexpr uint64_t kMicrosecond = 1000 * kNanosecond;
constexpr uint64_t kMillisecond = 1000 * kMicrosecond;
constexpr uint64_t kSecond = 1000 * kMillisecond;
constexpr uint64_t kMinute = 60 * kSecond;
constexpr uint64_t kHour = 60 * kMinute;
// The magnitude of the most negative duration; positive ones stop one below.
constexpr uint64_t kMagnitudeLimit = uint64_t(1) << 63;

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// The nanoseconds in one `unit`, or 0 when it is not a unit.
uint64_t unit_nanoseconds(std::string_view unit) {
  if (unit == "ns") return kNanosecond;
  if (unit == "us" || unit == "\u00b5s" || unit == "\u03bcs") return kMicrosecond;  // micro sign, Greek mu
  if (unit == "ms") return kMillisecond;
  if (unit == "s") return kSecond;
  if (unit == "m") return kMinute;
  if (unit == "h") return kHour;
  return 0;
}

Error invalid_duration(std::string_view text, const std::string& reason) {
  return Error(ErrorCode::kInvalidArgument, "duration '" + std::string(text) + "' is not valid: " + reason,
               std::string(text), "write a duration like 30s, 1h30m or 720h0m0s (units: ns, us, ms, s, m, h)");
}

// Writes the fraction of `value` / 10^precision, without trailing zeros (and
// without the point when they are all zero), and returns value / 10^precision.
uint64_t append_fraction(std::string& reversed, uint64_t value, int precision) {
  bool printing = false;
  for (int i = 0; i < precision; i++) {
    uint64_t digit = value % 10;
    printing = printing || digit != 0;
    if (printing) reversed += char('0' + digit);
    value /= 10;
  }
  if (printing) reversed += '.';
  return value;
}

void append_integer(std::string& reversed, uint64_t value) {
  do {
    reversed += char('0' + value % 10);
    value /= 10;
  } while (value > 0);
}

}  // namespace

Result<std::chrono::nanoseconds> parse_duration(std::string_view text) {
  std::string_view rest = text;
  bool negative = false;
  if (!rest.empty() && (rest[0] == '-' || rest[0] == '+')) {
    negative = rest[0] == '-';
    rest.remove_prefix(1);
  }
  if (rest == "0") return std::chrono::nanoseconds(0);
  if (rest.empty()) return invalid_duration(text, "it is empty");

  uint64_t total = 0;
  while (!rest.empty()) {
    if (!(rest[0] == '.' || is_digit(rest[0])))
      return invalid_duration(text, "expected a number at '" + std::string(rest) + "'");
    // The whole part.
    uint64_t whole = 0;
    size_t whole_digits = 0;
    while (whole_digits < rest.size() && is_digit(rest[whole_digits])) {
      uint64_t digit = uint64_t(rest[whole_digits] - '0');
      if (whole > (kMagnitudeLimit - digit) / 10) return invalid_duration(text, "it is too large");
      whole = whole * 10 + digit;
      whole_digits++;
    }
    rest.remove_prefix(whole_digits);
    // The fraction, as Go reads it: digits count while they fit in 63 bits,
    // finer ones are dropped.
    uint64_t fraction = 0;
    double fraction_scale = 1;
    size_t fraction_digits = 0;
    if (!rest.empty() && rest[0] == '.') {
      rest.remove_prefix(1);
      bool overflow = false;
      for (; fraction_digits < rest.size() && is_digit(rest[fraction_digits]); fraction_digits++) {
        if (overflow) continue;
        uint64_t digit = uint64_t(rest[fraction_digits] - '0');
        if (fraction > (kMagnitudeLimit - 1) / 10 || fraction * 10 + digit > kMagnitudeLimit) {
          overflow = true;
          continue;
        }
        fraction = fraction * 10 + digit;
        fraction_scale *= 10;
      }
      rest.remove_prefix(fraction_digits);
    }
    if (whole_digits == 0 && fraction_digits == 0) return invalid_duration(text, "a number has no digits");
    // The unit: everything up to the next number.
    size_t unit_length = 0;
    while (unit_length < rest.size() && rest[unit_length] != '.' && !is_digit(rest[unit_length])) unit_length++;
    if (unit_length == 0) return invalid_duration(text, "a number has no unit");
    std::string_view unit_text = rest.substr(0, unit_length);
    rest.remove_prefix(unit_length);
    uint64_t unit = unit_nanoseconds(unit_text);
    if (unit == 0) return invalid_duration(text, "unknown unit '" + std::string(unit_text) + "'");

    if (whole > kMagnitudeLimit / unit) return invalid_duration(text, "it is too large");
    uint64_t value = whole * unit;
    if (fraction > 0) {
      // Go computes this part in floating point; doing the same gives the
      // same nanosecond in the rare cases where rounding differs from exact
      // truncation ("0.3333333333333333333h" is 20m0s in Go).
      value += uint64_t(double(fraction) * (double(unit) / fraction_scale));
      if (value > kMagnitudeLimit) return invalid_duration(text, "it is too large");
    }
    total += value;
    if (total > kMagnitudeLimit) return invalid_duration(text, "it is too large");
  }
  if (negative) return std::chrono::nanoseconds(int64_t(0 - total));
  if (total > kMagnitudeLimit - 1) return invalid_duration(text, "it is too large");
  return std::chrono::nanoseconds(int64_t(total));
}

std::string format_duration(std::chrono::nanoseconds duration) {
  int64_t count = duration.count();
  if (count == 0) return "0s";
  bool negative = count < 0;
  uint64_t magnitude = negative ? 0 - uint64_t(count) : uint64_t(count);

  std::string reversed;  // built from the end, as Go does
  if (magnitude < kSecond) {
    int precision = 0;
    reversed += 's';
    if (magnitude < kMicrosecond) {
      reversed += 'n';
    } else if (magnitude < kMillisecond) {
      precision = 3;
      reversed += "\xb5\xc2";  // "µ" (U+00B5) reversed
    } else {
      precision = 6;
      reversed += 'm';
    }
    magnitude = append_fraction(reversed, magnitude, precision);
    append_integer(reversed, magnitude);
  } else {
    reversed += 's';
    magnitude = append_fraction(reversed, magnitude, 9);
    append_integer(reversed, magnitude % 60);
    magnitude /= 60;
    if (magnitude > 0) {
      reversed += 'm';
      append_integer(reversed, magnitude % 60);
      magnitude /= 60;
      if (magnitude > 0) {
        reversed += 'h';
        append_integer(reversed, magnitude);
      }
    }
  }
  if (negative) reversed += '-';
  return std::string(reversed.rbegin(), reversed.rend());
}

}  // namespace stowage
