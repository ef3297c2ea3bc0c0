#include "control/cron.h"

#include <date/date.h>
#include <date/tz.h>

#include <array>
#include <exception>

#include "util/duration.h"

namespace stowage::control {

namespace {

constexpr const char* kSyntaxHint =
    "a cron expression has 5 fields: minute (0-59) hour (0-23) day-of-month (1-31) month (1-12 or JAN-DEC) "
    "day-of-week (0-7 or SUN-SAT, 0 and 7 are Sunday), e.g. '30 2 * * *' for 02:30 every day; or use "
    "@yearly, @monthly, @weekly, @daily, @hourly or '@every 6h'";

constexpr std::array<const char*, 12> kMonthNames = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                                     "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
constexpr std::array<const char*, 7> kDayNames = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};

// One of the five fields: its name, its values, what * covers, and the names
// its values may be written as (names[i] is value first_named + i).
struct FieldSpec {
  const char* name;
  int min;
  int max;
  int star_max;
  const char* const* names;
  int name_count;
  int first_named;
};

constexpr FieldSpec kMinuteField{"minute", 0, 59, 59, nullptr, 0, 0};
constexpr FieldSpec kHourField{"hour", 0, 23, 23, nullptr, 0, 0};
constexpr FieldSpec kDayOfMonthField{"day-of-month", 1, 31, 31, nullptr, 0, 0};
constexpr FieldSpec kMonthField{"month", 1, 12, 12, kMonthNames.data(), 12, 1};
constexpr FieldSpec kDayOfWeekField{"day-of-week", 0, 7, 6, kDayNames.data(), 7, 0};  // 7 is Sunday again

// A field's values as bits, and whether it was written as * or ? (with no
// step other than 1): only then is it "unrestricted" for day matching.
struct ParsedField {
  std::bitset<64> values;
  bool star = false;
};

std::string upper(std::string_view text) {
  std::string result(text);
  for (char& c : result)
    if (c >= 'a' && c <= 'z') c = char(c - 'a' + 'A');
  return result;
}

std::string lower(std::string_view text) {
  std::string result(text);
  for (char& c : result)
    if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
  return result;
}

bool all_digits(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text)
    if (c < '0' || c > '9') return false;
  return true;
}

std::vector<std::string_view> split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  for (;;) {
    size_t end = text.find(separator, start);
    if (end == std::string_view::npos) {
      parts.push_back(text.substr(start));
      return parts;
    }
    parts.push_back(text.substr(start, end - start));
    start = end + 1;
  }
}

std::vector<std::string_view> split_whitespace(std::string_view text) {
  std::vector<std::string_view> words;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) i++;
    size_t start = i;
    while (i < text.size() && text[i] != ' ' && text[i] != '\t') i++;
    if (i > start) words.push_back(text.substr(start, i - start));
  }
  return words;
}

Error invalid(std::string_view expression, std::string message) {
  return Error(ErrorCode::kInvalidArgument, "cron expression '" + std::string(expression) + "': " + message,
               std::string(expression), kSyntaxHint);
}

Result<int> parse_value(std::string_view expression, std::string_view token, const FieldSpec& spec) {
  if (all_digits(token)) {
    if (token.size() > 4) return invalid(expression, std::string(spec.name) + " field '" + std::string(token) +
                                                         "' is out of range " + std::to_string(spec.min) + "-" +
                                                         std::to_string(spec.max));
    int value = std::stoi(std::string(token));
    if (value < spec.min || value > spec.max)
      return invalid(expression, std::string(spec.name) + " field '" + std::string(token) + "' is out of range " +
                                     std::to_string(spec.min) + "-" + std::to_string(spec.max));
    return value;
  }
  std::string name = upper(token);
  for (int i = 0; i < spec.name_count; i++)
    if (name == spec.names[i]) return spec.first_named + i;
  std::string what = spec.names ? std::string(" is not a number or a name (") + spec.names[0] + "-" +
                                      spec.names[spec.name_count - 1] + ")"
                                : " is not a number";
  return invalid(expression, std::string(spec.name) + " field '" + std::string(token) + "'" + what);
}

Result<ParsedField> parse_field(std::string_view expression, std::string_view field, const FieldSpec& spec) {
  ParsedField parsed;
  for (std::string_view item : split(field, ',')) {
    if (item.empty())
      return invalid(expression, std::string(spec.name) + " field '" + std::string(field) + "' has an empty list entry");
    std::vector<std::string_view> range_and_step = split(item, '/');
    if (range_and_step.size() > 2)
      return invalid(expression, std::string(spec.name) + " field '" + std::string(item) + "' has more than one '/'");
    std::string_view range = range_and_step[0];
    int step = 1;
    bool has_step = range_and_step.size() == 2;
    if (has_step) {
      std::string_view step_text = range_and_step[1];
      if (!all_digits(step_text) || step_text.size() > 4 || std::stoi(std::string(step_text)) == 0)
        return invalid(expression, std::string(spec.name) + " field '" + std::string(item) + "' has step '" +
                                       std::string(step_text) + "'; a step must be a number of at least 1");
      step = std::stoi(std::string(step_text));
    }
    int first = 0, last = 0;
    if (range == "*" || range == "?") {
      first = spec.min;
      last = spec.star_max;
      if (step == 1) parsed.star = true;
    } else if (size_t dash = range.find('-'); dash != std::string_view::npos) {
      if (dash == 0 || dash + 1 == range.size())
        return invalid(expression, std::string(spec.name) + " field '" + std::string(range) +
                                       "' is a range without a start or an end");
      first = TRY(parse_value(expression, range.substr(0, dash), spec));
      last = TRY(parse_value(expression, range.substr(dash + 1), spec));
      if (first > last)
        return invalid(expression, std::string(spec.name) + " field '" + std::string(range) +
                                       "' is a range that starts after it ends");
    } else {
      first = TRY(parse_value(expression, range, spec));
      last = has_step ? spec.max : first;
    }
    for (int value = first; value <= last; value += step) parsed.values.set(size_t(value));
  }
  if (&spec == &kDayOfWeekField && parsed.values.test(7)) {  // 7 is Sunday
    parsed.values.reset(7);
    parsed.values.set(0);
  }
  return parsed;
}

// The five fields a descriptor stands for, or nullptr.
const char* descriptor_fields(std::string_view descriptor) {
  if (descriptor == "@yearly" || descriptor == "@annually") return "0 0 1 1 *";
  if (descriptor == "@monthly") return "0 0 1 * *";
  if (descriptor == "@weekly") return "0 0 * * 0";
  if (descriptor == "@daily" || descriptor == "@midnight") return "0 0 * * *";
  if (descriptor == "@hourly") return "0 * * * *";
  return nullptr;
}

template <size_t N>
std::bitset<N> take_bits(const std::bitset<64>& bits) {
  std::bitset<N> result;
  for (size_t i = 0; i < N; i++) result[i] = bits[i];
  return result;
}

// The first set bit at or after `from`, or -1.
template <size_t N>
int first_set_from(const std::bitset<N>& bits, int from) {
  for (size_t i = size_t(from); i < N; i++)
    if (bits[i]) return int(i);
  return -1;
}

constexpr int kLastSearchedYear = 2261;  // system_clock's nanoseconds end in April 2262

}  // namespace

Result<CronSchedule> CronSchedule::parse(std::string_view expression, std::string_view time_zone) {
  std::vector<std::string_view> words = split_whitespace(expression);
  std::string zone_name(time_zone);
  std::string zone_prefix;
  if (!words.empty() && (words[0].substr(0, 8) == "CRON_TZ=" || words[0].substr(0, 3) == "TZ=")) {
    std::string_view prefixed = words[0].substr(words[0].find('=') + 1);
    if (prefixed.empty()) return invalid(expression, "the time zone after '" + std::string(words[0]) + "' is empty");
    if (!zone_name.empty() && zone_name != prefixed)
      return Error(ErrorCode::kInvalidArgument,
                   "cron expression '" + std::string(expression) + "' names time zone '" + std::string(prefixed) +
                       "' but the schedule's time zone is '" + zone_name + "'",
                   std::string(expression), "give the time zone once, either in the expression or as the time zone");
    zone_name = std::string(prefixed);
    words.erase(words.begin());
  }
  if (words.empty()) return invalid(expression, "it is empty");

  CronSchedule schedule;
  if (!zone_name.empty()) {
    try {
      schedule.zone_ = date::locate_zone(zone_name);
    } catch (const std::exception&) {
      return Error(ErrorCode::kInvalidArgument,
                   "time zone '" + zone_name + "' of cron expression '" + std::string(expression) + "' is not known",
                   zone_name,
                   "use an IANA time zone name such as Europe/Berlin, America/New_York or UTC (read from "
                   "/usr/share/zoneinfo: install the tzdata package if it is missing)");
    }
    schedule.zone_name_ = zone_name;
    zone_prefix = "CRON_TZ=" + zone_name + " ";
  }

  std::string fields_text;
  if (words[0][0] == '@') {
    std::string descriptor = lower(words[0]);
    if (descriptor == "@every") {
      if (words.size() != 2)
        return invalid(expression, "@every takes exactly one duration, e.g. '@every 6h'");
      auto interval = parse_duration(words[1]);
      if (!interval.ok()) return std::move(interval).error().with_context("cron expression '" + std::string(expression) + "'");
      if (*interval < std::chrono::seconds(1) || *interval % std::chrono::seconds(1) != std::chrono::nanoseconds(0))
        return invalid(expression, "@every interval '" + std::string(words[1]) +
                                       "' is not a whole number of seconds of at least 1s");
      schedule.interval_ = *interval;
      schedule.normalized_ = zone_prefix + "@every " + format_duration(*interval);
      return schedule;
    }
    const char* fields = descriptor_fields(descriptor);
    if (!fields) return invalid(expression, "unknown descriptor '" + std::string(words[0]) + "'");
    if (words.size() != 1) return invalid(expression, "descriptor '" + std::string(words[0]) + "' takes no fields");
    schedule.normalized_ = zone_prefix + descriptor;
    words = split_whitespace(fields);
  } else {
    if (words.size() != 5)
      return invalid(expression, "expected 5 fields (minute hour day-of-month month day-of-week), found " +
                                     std::to_string(words.size()));
    schedule.normalized_ = zone_prefix;
    for (size_t i = 0; i < words.size(); i++) schedule.normalized_ += (i ? " " : "") + upper(words[i]);
  }

  ParsedField minutes = TRY(parse_field(expression, words[0], kMinuteField));
  ParsedField hours = TRY(parse_field(expression, words[1], kHourField));
  ParsedField days_of_month = TRY(parse_field(expression, words[2], kDayOfMonthField));
  ParsedField months = TRY(parse_field(expression, words[3], kMonthField));
  ParsedField days_of_week = TRY(parse_field(expression, words[4], kDayOfWeekField));
  schedule.minutes_ = take_bits<60>(minutes.values);
  schedule.hours_ = take_bits<24>(hours.values);
  schedule.days_of_month_ = take_bits<32>(days_of_month.values);
  schedule.months_ = take_bits<13>(months.values);
  schedule.days_of_week_ = take_bits<7>(days_of_week.values);
  schedule.day_of_month_restricted_ = !days_of_month.star;
  schedule.day_of_week_restricted_ = !days_of_week.star;

  // A day of the month that no chosen month has ("0 0 30 2 *") would never run.
  if (schedule.day_of_month_restricted_ && !schedule.day_of_week_restricted_) {
    static constexpr int kLongestMonth[13] = {0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool possible = false;
    for (int month = 1; month <= 12 && !possible; month++)
      for (int day = 1; day <= kLongestMonth[month] && !possible; day++)
        possible = schedule.months_[size_t(month)] && schedule.days_of_month_[size_t(day)];
    if (!possible)
      return invalid(expression, "day-of-month field '" + std::string(words[2]) + "' never occurs in month field '" +
                                     std::string(words[3]) + "', so the schedule would never run");
  }
  return schedule;
}

bool CronSchedule::day_matches(unsigned day_of_month, unsigned day_of_week) const {
  bool month_day = days_of_month_[day_of_month];
  bool week_day = days_of_week_[day_of_week];
  if (day_of_month_restricted_ && day_of_week_restricted_) return month_day || week_day;
  return month_day && week_day;
}

CronSchedule::TimePoint CronSchedule::next_after(TimePoint after) const {
  if (interval_ > std::chrono::nanoseconds(0)) {
    auto start = std::chrono::floor<std::chrono::seconds>(after);
    if (start > std::chrono::floor<std::chrono::seconds>(TimePoint::max()) - interval_) return TimePoint::max();
    return std::chrono::time_point_cast<TimePoint::duration>(start + interval_);
  }
  return next_field_match(after);
}

CronSchedule::TimePoint CronSchedule::next_field_match(TimePoint after) const {
  using namespace std::chrono;
  const date::sys_seconds after_seconds = floor<seconds>(after);
  const seconds offset = zone_ ? zone_->get_info(after_seconds).offset : seconds(0);
  // The first whole local minute after `after`.
  date::local_time<minutes> local =
      floor<minutes>(date::local_seconds(after_seconds.time_since_epoch() + offset)) + minutes(1);

  for (;;) {
    const date::local_days day = floor<date::days>(local);
    const date::year_month_day calendar_day(day);
    if (int(calendar_day.year()) > kLastSearchedYear) return TimePoint::max();
    if (!months_[unsigned(calendar_day.month())]) {
      local = date::local_days((calendar_day.year() / calendar_day.month() + date::months(1)) / 1);
      continue;
    }
    if (!day_matches(unsigned(calendar_day.day()), date::weekday(day).c_encoding())) {
      local = day + date::days(1);
      continue;
    }
    const int hour = int(floor<hours>(local - day).count());
    const int minute = int((local - day).count() % 60);
    const int next_hour = first_set_from(hours_, hour);
    if (next_hour < 0) {
      local = day + date::days(1);
      continue;
    }
    if (next_hour != hour) {
      local = day + hours(next_hour);
      continue;
    }
    const int next_minute = first_set_from(minutes_, minute);
    if (next_minute < 0) {
      local = day + hours(hour + 1);
      continue;
    }
    if (next_minute != minute) {
      local = day + hours(hour) + minutes(next_minute);
      continue;
    }
    // A matching local time: find the instant it names.
    date::sys_seconds instant{local.time_since_epoch()};
    if (zone_) {
      const date::local_info info = zone_->get_info(date::local_seconds(local));
      if (info.result == date::local_info::nonexistent) {  // skipped by a change to daylight saving time
        local += minutes(1);
        continue;
      }
      instant -= info.first.offset;  // for a repeated local time, `first` is the earlier occurrence
    }
    if (instant <= after) {  // a repeated local time whose first occurrence has passed
      local += minutes(1);
      continue;
    }
    return time_point_cast<TimePoint::duration>(instant);
  }
}

std::vector<CronSchedule::TimePoint> CronSchedule::next_n(TimePoint after, int count) const {
  std::vector<TimePoint> times;
  for (int i = 0; i < count; i++) {
    after = next_after(after);
    if (after == TimePoint::max()) break;
    times.push_back(after);
  }
  return times;
}

std::string CronSchedule::describe() const { return normalized_; }

}  // namespace stowage::control
