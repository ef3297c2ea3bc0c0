#include "util/clock.h"

#include <pwd.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <string>

namespace stowage {

int64_t now_unix() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}
int64_t now_unix_nanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

namespace {

// "2026-11-25T21:35:05" plus ".123" for `fraction_digits` 3, and "Z". Takes
// whole seconds and the nanoseconds within the second apart, so that
// format_time_utc covers every year, not only system_clock's 1678-2262.
std::string format_utc(std::chrono::sys_seconds time, int64_t nanoseconds_in_second, int fraction_digits) {
  using namespace std::chrono;
  auto day = floor<days>(time);
  year_month_day date(day);
  hh_mm_ss<seconds> clock(time - day);
  char buffer[48];
  int length = snprintf(buffer, sizeof buffer, "%04d-%02u-%02uT%02d:%02d:%02d", int(date.year()),
                        unsigned(date.month()), unsigned(date.day()), int(clock.hours().count()),
                        int(clock.minutes().count()), int(clock.seconds().count()));
  std::string text(buffer, size_t(length));
  if (fraction_digits > 0) {
    if (fraction_digits > 9) fraction_digits = 9;
    long long fraction = nanoseconds_in_second;
    for (int i = fraction_digits; i < 9; i++) fraction /= 10;
    snprintf(buffer, sizeof buffer, ".%0*lld", fraction_digits, fraction);
    text += buffer;
  }
  text += 'Z';
  return text;
}

}  // namespace

std::string format_time_utc(int64_t unix_seconds) {
  return format_utc(std::chrono::sys_seconds(std::chrono::seconds(unix_seconds)), 0, 0);
}

bool parse_time_utc(const std::string& text, int64_t& unix_seconds) {
  auto time = parse_rfc3339(text);
  if (!time.ok()) return false;
  unix_seconds = std::chrono::floor<std::chrono::seconds>(time->time_since_epoch()).count();
  return true;
}

std::string format_rfc3339(std::chrono::system_clock::time_point time, int fraction_digits) {
  using namespace std::chrono;
  auto whole_seconds = floor<seconds>(time);
  return format_utc(whole_seconds, duration_cast<nanoseconds>(time - whole_seconds).count(), fraction_digits);
}

namespace {

// Reads exactly `count` decimal digits at `position`.
bool read_digits(std::string_view text, size_t& position, size_t count, int& value) {
  if (position + count > text.size()) return false;
  value = 0;
  for (size_t i = 0; i < count; i++) {
    char c = text[position + i];
    if (c < '0' || c > '9') return false;
    value = value * 10 + (c - '0');
  }
  position += count;
  return true;
}

bool read_char(std::string_view text, size_t& position, char expected) {
  if (position >= text.size() || text[position] != expected) return false;
  position++;
  return true;
}

}  // namespace

Result<std::chrono::system_clock::time_point> parse_rfc3339(std::string_view text) {
  using namespace std::chrono;
  auto invalid = [&](const std::string& reason) {
    return Error(ErrorCode::kInvalidArgument, "'" + std::string(text) + "' is not an RFC 3339 time: " + reason,
                 std::string(text), "write a time like 2026-11-25T21:35:05Z or 2026-11-25T22:35:05.5+01:00");
  };
  size_t position = 0;
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!read_digits(text, position, 4, year) || !read_char(text, position, '-') ||
      !read_digits(text, position, 2, month) || !read_char(text, position, '-') ||
      !read_digits(text, position, 2, day))
    return invalid("expected a date YYYY-MM-DD");
  if (position >= text.size() || (text[position] != 'T' && text[position] != 't'))
    return invalid("expected 'T' between date and time");
  position++;
  if (!read_digits(text, position, 2, hour) || !read_char(text, position, ':') ||
      !read_digits(text, position, 2, minute) || !read_char(text, position, ':') ||
      !read_digits(text, position, 2, second))
    return invalid("expected a time of day hh:mm:ss");
  long long fraction_nanos = 0;
  if (position < text.size() && text[position] == '.') {
    position++;
    size_t digits = 0;
    long long scale = 100000000;
    while (position < text.size() && text[position] >= '0' && text[position] <= '9') {
      fraction_nanos += (text[position] - '0') * scale;
      scale /= 10;
      position++;
      digits++;
    }
    if (digits == 0) return invalid("expected digits after the decimal point");
  }
  int offset_minutes = 0;
  if (position < text.size() && (text[position] == 'Z' || text[position] == 'z')) {
    position++;
  } else if (position < text.size() && (text[position] == '+' || text[position] == '-')) {
    int sign = text[position] == '-' ? -1 : 1;
    position++;
    int offset_hours = 0, offset_rest = 0;
    if (!read_digits(text, position, 2, offset_hours) || !read_char(text, position, ':') ||
        !read_digits(text, position, 2, offset_rest) || offset_hours > 23 || offset_rest > 59)
      return invalid("expected a UTC offset +hh:mm or -hh:mm");
    offset_minutes = sign * (offset_hours * 60 + offset_rest);
  } else {
    return invalid("expected 'Z' or a UTC offset like +01:00 after the time");
  }
  if (position != text.size()) return invalid("unexpected text after the time");
  year_month_day date{std::chrono::year(year), std::chrono::month(unsigned(month)), std::chrono::day(unsigned(day))};
  if (!date.ok()) return invalid("no such date");
  if (hour > 23 || minute > 59 || second > 59) return invalid("no such time of day");
  // system_clock counts nanoseconds in 64 bits: about 1677-09-21 to 2262-04-11.
  if (year < 1678 || year > 2261) return invalid("the year is outside 1678-2261");
  auto time = sys_days(date) + hours(hour) + minutes(minute) + seconds(second) + nanoseconds(fraction_nanos) -
              minutes(offset_minutes);
  return time_point_cast<system_clock::duration>(time);
}

std::string host_name() {
  char buf[256] = {};
  gethostname(buf, sizeof buf - 1);
  return buf;
}

std::string user_name() {
  struct passwd* pw = getpwuid(geteuid());
  return pw ? pw->pw_name : std::to_string(geteuid());
}

}  // namespace stowage
