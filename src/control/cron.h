// CronSchedule: when a Schedule's backups are due. Parses the cron
// expressions Velero schedules use (robfig/cron's standard syntax) and
// computes the next times they name, in a chosen time zone.
//
// Syntax. Five fields, "minute hour day-of-month month day-of-week":
//   *  or  ?              every value
//   5   1,15   1-5        values, lists, ranges
//   */15  1-30/2  5/10    steps: from the start (5/10 = 5-max/10) to the end
//   JAN-DEC, SUN-SAT      names in the month and day-of-week fields, any case
//   0 or 7                Sunday
// or a descriptor: @yearly (@annually) "0 0 1 1 *", @monthly "0 0 1 * *",
// @weekly "0 0 * * 0", @daily (@midnight) "0 0 * * *", @hourly "0 * * * *",
// or "@every <duration>" (Go duration syntax, whole seconds, at least 1s).
//
// Day matching follows classic cron: when both day-of-month and day-of-week
// are restricted (neither is * or ?), a day matches if either matches;
// otherwise both must ("0 0 13 * 5" is every 13th and every Friday,
// "0 0 * * 5" every Friday).
//
// Time zones. The fields are evaluated in UTC, or in the IANA zone of a
// "CRON_TZ=Europe/Berlin " (or "TZ=…") prefix or of the `time_zone` argument.
// Every local wall-clock time that matches fires exactly once:
//   - a local time that does not exist (skipped by a change to daylight
//     saving time, e.g. 02:30 on the last Sunday of March in Berlin) does not
//     fire; the schedule continues with the next matching time that exists;
//   - a local time that occurs twice (the hour repeated when daylight saving
//     time ends) fires at its first occurrence only.
// So in Berlin "30 2 * * *" does not run on the spring-forward day and runs
// once on the fall-back day; "0 * * * *" runs every hour across the spring
// change (01:00 CET, then 03:00 CEST, one hour later) but not at the repeated
// 02:00 CET in autumn, leaving two hours between 02:00 CEST and 03:00 CET.
//
// @every schedules ignore the zone: the next time is `after`, truncated to
// whole seconds, plus the interval.
#pragma once

#include <bitset>
#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.h"

namespace date {
class time_zone;
}

namespace stowage::control {

class CronSchedule {
 public:
  using TimePoint = std::chrono::system_clock::time_point;

  // kInvalidArgument names the field and its value ("day-of-week field '8'
  // is out of range 0-7") or the unknown time zone, with a hint.
  static Result<CronSchedule> parse(std::string_view expression, std::string_view time_zone = "");

  // The first scheduled time strictly after `after`. TimePoint::max() when
  // there is none before the year 2262 (the end of system_clock's range),
  // which only a schedule whose times never exist in its zone can reach.
  TimePoint next_after(TimePoint after) const;
  // The next `count` times after `after`, for previews (fewer if they run out).
  std::vector<TimePoint> next_n(TimePoint after, int count) const;

  // The normalized expression: single spaces, names and the zone prefix in
  // canonical case ("CRON_TZ=Europe/Berlin 0 3 * * MON-FRI", "@daily",
  // "@every 1h30m0s"). Parsing it gives the same schedule.
  std::string describe() const;
  // The IANA zone the fields are evaluated in; "UTC" unless one was given.
  const std::string& time_zone_name() const { return zone_name_; }

 private:
  CronSchedule() = default;
  bool day_matches(unsigned day_of_month, unsigned day_of_week) const;
  TimePoint next_field_match(TimePoint after) const;

  std::bitset<60> minutes_;
  std::bitset<24> hours_;
  std::bitset<32> days_of_month_;  // bit 0 unused
  std::bitset<13> months_;         // bit 0 unused
  std::bitset<7> days_of_week_;    // 0 = Sunday
  bool day_of_month_restricted_ = false;
  bool day_of_week_restricted_ = false;
  std::chrono::nanoseconds interval_{0};  // @every; zero for field schedules
  const date::time_zone* zone_ = nullptr;  // nullptr: UTC
  std::string zone_name_ = "UTC";
  std::string normalized_;
};

}  // namespace stowage::control
