#include "control/cron.h"

#include <gtest/gtest.h>

#include "util/clock.h"

namespace stowage::control {
namespace {

using Strings = std::vector<std::string>;

CronSchedule::TimePoint at(std::string_view rfc3339) {
  auto time = parse_rfc3339(rfc3339);
  EXPECT_TRUE(time.ok()) << rfc3339;
  return time.ok() ? *time : CronSchedule::TimePoint();
}

// The next `count` times after `after`, in UTC, as RFC 3339.
Strings next_times(std::string_view expression, std::string_view after, int count, std::string_view zone = "") {
  auto schedule = CronSchedule::parse(expression, zone);
  if (!schedule.ok()) {
    ADD_FAILURE() << expression << ": " << schedule.error().to_string();
    return {};
  }
  Strings times;
  for (auto time : schedule->next_n(at(after), count)) times.push_back(format_rfc3339(time, 3));
  return times;
}

std::string next_time(std::string_view expression, std::string_view after) {
  Strings times = next_times(expression, after, 1);
  return times.empty() ? "" : times[0];
}

// The message of the error parsing `expression` gives, checking its code,
// object and hint.
std::string parse_error(std::string_view expression, std::string_view zone = "") {
  auto schedule = CronSchedule::parse(expression, zone);
  if (schedule.ok()) return "parsed as " + schedule->describe();
  EXPECT_EQ(schedule.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_FALSE(schedule.error().hint().empty());
  return schedule.error().message();
}

TEST(Cron, StepsFromTheStartOfTheHour) {
  EXPECT_EQ(next_times("*/15 * * * *", "2026-11-25T21:35:05Z", 3),
            (Strings{"2026-11-25T21:45:00.000Z", "2026-11-25T22:00:00.000Z", "2026-11-25T22:15:00.000Z"}));
  EXPECT_EQ(next_times("5/10 * * * *", "2026-11-25T21:35:05Z", 3),
            (Strings{"2026-11-25T21:45:00.000Z", "2026-11-25T21:55:00.000Z", "2026-11-25T22:05:00.000Z"}));
}

TEST(Cron, NextIsStrictlyAfter) {
  EXPECT_EQ(next_time("0 * * * *", "2026-11-25T10:00:00Z"), "2026-11-25T11:00:00.000Z");
  EXPECT_EQ(next_time("0 * * * *", "2026-11-25T09:59:59.999Z"), "2026-11-25T10:00:00.000Z");
  EXPECT_EQ(next_time("0 * * * *", "2026-11-25T10:00:00.001Z"), "2026-11-25T11:00:00.000Z");
  EXPECT_EQ(next_time("* * * * *", "2026-11-25T10:00:59.999Z"), "2026-11-25T10:01:00.000Z");
}

TEST(Cron, ListsRangesStepsAndNames) {
  // 2026-11-28 is a Saturday.
  EXPECT_EQ(next_times("0 9-17/4 * * MON-FRI", "2026-11-28T00:00:00Z", 4),
            (Strings{"2026-11-30T09:00:00.000Z", "2026-11-30T13:00:00.000Z", "2026-11-30T17:00:00.000Z",
                     "2026-12-01T09:00:00.000Z"}));
  EXPECT_EQ(next_times("0 6 1-30/2 * *", "2026-11-28T00:00:00Z", 3),
            (Strings{"2026-11-29T06:00:00.000Z", "2026-12-01T06:00:00.000Z", "2026-12-03T06:00:00.000Z"}));
  EXPECT_EQ(next_times("0 0 1 jan,Jul *", "2026-11-25T00:00:00Z", 2),
            (Strings{"2027-01-01T00:00:00.000Z", "2027-07-01T00:00:00.000Z"}));
  EXPECT_EQ(next_times("15,45 3 * * *", "2026-11-25T03:20:00Z", 3),
            (Strings{"2026-11-25T03:45:00.000Z", "2026-11-26T03:15:00.000Z", "2026-11-26T03:45:00.000Z"}));
  EXPECT_EQ(next_times("0 0 * jan-mar/2 *", "2026-11-25T00:00:00Z", 1), (Strings{"2027-01-01T00:00:00.000Z"}));
  EXPECT_EQ(next_time("0 0 1 * ?", "2026-11-25T00:00:00Z"), "2026-12-01T00:00:00.000Z");
  EXPECT_EQ(next_time("0 0 ? * Wed", "2026-11-25T00:00:00Z"), "2026-12-02T00:00:00.000Z");
}

TEST(Cron, SundayIsZeroOrSeven) {
  Strings sundays{"2026-11-29T12:00:00.000Z", "2026-12-06T12:00:00.000Z"};
  EXPECT_EQ(next_times("0 12 * * 0", "2026-11-25T00:00:00Z", 2), sundays);
  EXPECT_EQ(next_times("0 12 * * 7", "2026-11-25T00:00:00Z", 2), sundays);
  EXPECT_EQ(next_times("0 12 * * sun", "2026-11-25T00:00:00Z", 2), sundays);
  // Friday to Sunday as 5-7.
  EXPECT_EQ(next_times("0 12 * * 5-7", "2026-11-25T00:00:00Z", 4),
            (Strings{"2026-11-27T12:00:00.000Z", "2026-11-28T12:00:00.000Z", "2026-11-29T12:00:00.000Z",
                     "2026-12-04T12:00:00.000Z"}));
}

TEST(Cron, EitherDayFieldMatchesWhenBothAreRestricted) {
  // The 13th or any Friday.
  EXPECT_EQ(next_times("0 0 13 * FRI", "2026-11-01T00:00:00Z", 8),
            (Strings{"2026-11-06T00:00:00.000Z", "2026-11-13T00:00:00.000Z", "2026-11-20T00:00:00.000Z",
                     "2026-11-27T00:00:00.000Z", "2026-12-04T00:00:00.000Z", "2026-12-11T00:00:00.000Z",
                     "2026-12-13T00:00:00.000Z", "2026-12-18T00:00:00.000Z"}));
  // Only Fridays when the day of the month is *.
  EXPECT_EQ(next_times("0 0 * * FRI", "2026-11-01T00:00:00Z", 2),
            (Strings{"2026-11-06T00:00:00.000Z", "2026-11-13T00:00:00.000Z"}));
  // A step makes a field restricted: odd days or Mondays.
  EXPECT_EQ(next_times("0 0 */2 * MON", "2026-11-29T12:00:00Z", 3),
            (Strings{"2026-11-30T00:00:00.000Z", "2026-12-01T00:00:00.000Z", "2026-12-03T00:00:00.000Z"}));
}

TEST(Cron, CrossesMonthAndYearEnds) {
  EXPECT_EQ(next_times("0 0 31 * *", "2026-11-01T00:00:00Z", 3),
            (Strings{"2026-12-31T00:00:00.000Z", "2027-01-31T00:00:00.000Z", "2027-03-31T00:00:00.000Z"}));
  EXPECT_EQ(next_times("59 23 31 12 *", "2026-11-01T00:00:00Z", 2),
            (Strings{"2026-12-31T23:59:00.000Z", "2027-12-31T23:59:00.000Z"}));
  EXPECT_EQ(next_time("30 2 * * *", "2026-12-31T03:00:00Z"), "2027-01-01T02:30:00.000Z");
  EXPECT_EQ(next_time("0 0 1 * *", "2026-12-31T23:59:59Z"), "2027-01-01T00:00:00.000Z");
}

TEST(Cron, FebruaryTheTwentyNinth) {
  EXPECT_EQ(next_times("0 0 29 2 *", "2026-03-01T00:00:00Z", 2),
            (Strings{"2028-02-29T00:00:00.000Z", "2032-02-29T00:00:00.000Z"}));
  // 2100 is not a leap year.
  EXPECT_EQ(next_time("0 0 29 2 *", "2096-03-01T00:00:00Z"), "2104-02-29T00:00:00.000Z");
}

TEST(Cron, Descriptors) {
  const char* after = "2026-11-25T21:35:05Z";  // a Wednesday
  EXPECT_EQ(next_time("@yearly", after), "2027-01-01T00:00:00.000Z");
  EXPECT_EQ(next_time("@annually", after), "2027-01-01T00:00:00.000Z");
  EXPECT_EQ(next_time("@monthly", after), "2026-12-01T00:00:00.000Z");
  EXPECT_EQ(next_time("@weekly", after), "2026-11-29T00:00:00.000Z");
  EXPECT_EQ(next_time("@daily", after), "2026-11-26T00:00:00.000Z");
  EXPECT_EQ(next_time("@midnight", after), "2026-11-26T00:00:00.000Z");
  EXPECT_EQ(next_time("@hourly", after), "2026-11-25T22:00:00.000Z");
  EXPECT_EQ(next_time("@DAILY", after), "2026-11-26T00:00:00.000Z");
}

TEST(Cron, EveryIntervalAlignedToWholeSeconds) {
  EXPECT_EQ(next_times("@every 90m", "2026-11-25T21:35:05.750Z", 3),
            (Strings{"2026-11-25T23:05:05.000Z", "2026-11-26T00:35:05.000Z", "2026-11-26T02:05:05.000Z"}));
  EXPECT_EQ(next_time("@every 1s", "2026-11-25T21:35:05Z"), "2026-11-25T21:35:06.000Z");
  EXPECT_EQ(next_time("@every 1s", "2026-11-25T21:35:05.999Z"), "2026-11-25T21:35:06.000Z");
  EXPECT_EQ(next_time("@every 720h", "2026-11-25T21:35:05Z"), "2026-12-25T21:35:05.000Z");
}

TEST(Cron, DescribeNormalizes) {
  auto describe = [](std::string_view expression, std::string_view zone = "") {
    auto schedule = CronSchedule::parse(expression, zone);
    EXPECT_TRUE(schedule.ok()) << expression;
    return schedule.ok() ? schedule->describe() : "";
  };
  EXPECT_EQ(describe("  */15  *\t* jan-mar mon-fri "), "*/15 * * JAN-MAR MON-FRI");
  EXPECT_EQ(describe("@Daily"), "@daily");
  EXPECT_EQ(describe("@every 90m"), "@every 1h30m0s");
  EXPECT_EQ(describe("TZ=Europe/Berlin 0 3 * * *"), "CRON_TZ=Europe/Berlin 0 3 * * *");
  EXPECT_EQ(describe("0 3 * * *", "America/New_York"), "CRON_TZ=America/New_York 0 3 * * *");
  EXPECT_EQ(describe("CRON_TZ=Europe/Berlin @weekly", "Europe/Berlin"), "CRON_TZ=Europe/Berlin @weekly");
  // Parsing the description gives the same schedule.
  for (std::string_view expression : {"*/15 9-17 * JAN-MAR mon-fri", "CRON_TZ=Europe/Berlin 30 2 * * *",
                                      "@every 36h", "0 0 13 * fri"}) {
    auto first = CronSchedule::parse(expression);
    ASSERT_TRUE(first.ok());
    auto second = CronSchedule::parse(first->describe());
    ASSERT_TRUE(second.ok()) << first->describe();
    EXPECT_EQ(first->next_n(at("2026-01-01T00:00:00Z"), 50), second->next_n(at("2026-01-01T00:00:00Z"), 50));
  }
}

TEST(Cron, TimeZoneChoosesWhereTheFieldsAreEvaluated) {
  // 03:00 in Berlin (CET, UTC+1, in November) on weekdays; 2026-11-28/29 is a weekend.
  EXPECT_EQ(next_times("CRON_TZ=Europe/Berlin 0 3 * * MON-FRI", "2026-11-25T21:35:05Z", 3),
            (Strings{"2026-11-26T02:00:00.000Z", "2026-11-27T02:00:00.000Z", "2026-11-30T02:00:00.000Z"}));
  EXPECT_EQ(next_times("0 3 * * MON-FRI", "2026-11-25T21:35:05Z", 3, "Europe/Berlin"),
            (Strings{"2026-11-26T02:00:00.000Z", "2026-11-27T02:00:00.000Z", "2026-11-30T02:00:00.000Z"}));
  // The day is the zone's: 23:30 in New York on Wednesday is Thursday in UTC.
  EXPECT_EQ(next_time("CRON_TZ=America/New_York 30 23 * * WED", "2026-11-25T00:00:00Z"),
            "2026-11-26T04:30:00.000Z");
  auto schedule = CronSchedule::parse("0 3 * * *", "Europe/Berlin");
  ASSERT_TRUE(schedule.ok());
  EXPECT_EQ(schedule->time_zone_name(), "Europe/Berlin");
  EXPECT_EQ(CronSchedule::parse("0 3 * * *")->time_zone_name(), "UTC");
}

// Berlin: 2026-03-29 02:00 CET becomes 03:00 CEST (01:00Z); 2026-10-25 03:00
// CEST becomes 02:00 CET (01:00Z), so 02:00-02:59 happens twice.
TEST(Cron, DaylightSavingTimeInBerlin) {
  // 02:30 does not exist on March 29: that day is skipped.
  EXPECT_EQ(next_times("CRON_TZ=Europe/Berlin 30 2 * * *", "2026-03-27T12:00:00Z", 3),
            (Strings{"2026-03-28T01:30:00.000Z", "2026-03-30T00:30:00.000Z", "2026-03-31T00:30:00.000Z"}));
  // 02:30 happens twice on October 25: it runs once, at the first (CEST).
  EXPECT_EQ(next_times("CRON_TZ=Europe/Berlin 30 2 * * *", "2026-10-23T12:00:00Z", 3),
            (Strings{"2026-10-24T00:30:00.000Z", "2026-10-25T00:30:00.000Z", "2026-10-26T01:30:00.000Z"}));
  // Hourly across the spring gap: 01:00 CET (00:00Z), then 03:00 CEST (01:00Z).
  EXPECT_EQ(next_times("CRON_TZ=Europe/Berlin 0 * * * *", "2026-03-29T00:00:00Z", 2),
            (Strings{"2026-03-29T01:00:00.000Z", "2026-03-29T02:00:00.000Z"}));
  // Hourly across the autumn overlap: 02:00 CEST (00:00Z), not 02:00 CET (01:00Z), then 03:00 CET.
  EXPECT_EQ(next_times("CRON_TZ=Europe/Berlin 0 * * * *", "2026-10-24T23:30:00Z", 3),
            (Strings{"2026-10-25T00:00:00.000Z", "2026-10-25T02:00:00.000Z", "2026-10-25T03:00:00.000Z"}));
  // From inside the repeated hour (02:10 CET): its times ran in the first pass.
  EXPECT_EQ(next_times("CRON_TZ=Europe/Berlin */15 * * * *", "2026-10-25T01:10:00Z", 2),
            (Strings{"2026-10-25T02:00:00.000Z", "2026-10-25T02:15:00.000Z"}));
  // From inside the first pass (02:10 CEST) the rest of it still runs.
  EXPECT_EQ(next_times("CRON_TZ=Europe/Berlin */15 * * * *", "2026-10-25T00:10:00Z", 4),
            (Strings{"2026-10-25T00:15:00.000Z", "2026-10-25T00:30:00.000Z", "2026-10-25T00:45:00.000Z",
                     "2026-10-25T02:00:00.000Z"}));
}

// New York: 2026-03-08 02:00 EST becomes 03:00 EDT (07:00Z); 2026-11-01 02:00
// EDT becomes 01:00 EST (06:00Z), so 01:00-01:59 happens twice.
TEST(Cron, DaylightSavingTimeInNewYork) {
  EXPECT_EQ(next_times("30 2 * * *", "2026-03-07T12:00:00Z", 2, "America/New_York"),
            (Strings{"2026-03-09T06:30:00.000Z", "2026-03-10T06:30:00.000Z"}));
  EXPECT_EQ(next_times("30 1 * * *", "2026-10-31T12:00:00Z", 2, "America/New_York"),
            (Strings{"2026-11-01T05:30:00.000Z", "2026-11-02T06:30:00.000Z"}));
  EXPECT_EQ(next_times("0 * * * *", "2026-11-01T04:30:00Z", 4, "America/New_York"),
            (Strings{"2026-11-01T05:00:00.000Z", "2026-11-01T07:00:00.000Z", "2026-11-01T08:00:00.000Z",
                     "2026-11-01T09:00:00.000Z"}));
  // @every ignores the zone.
  EXPECT_EQ(next_times("@every 1h", "2026-11-01T05:30:00Z", 2, "America/New_York"),
            (Strings{"2026-11-01T06:30:00.000Z", "2026-11-01T07:30:00.000Z"}));
}

TEST(Cron, NextNStopsAtTheEndOfTheClock) {
  auto schedule = CronSchedule::parse("0 0 1 1 *");
  ASSERT_TRUE(schedule.ok());
  auto times = schedule->next_n(at("2259-06-01T00:00:00Z"), 10);
  ASSERT_EQ(times.size(), 2u);
  EXPECT_EQ(format_rfc3339(times[1]), "2261-01-01T00:00:00Z");
  EXPECT_EQ(schedule->next_after(CronSchedule::TimePoint::max()), CronSchedule::TimePoint::max());
  EXPECT_TRUE(schedule->next_n(at("2026-01-01T00:00:00Z"), 0).empty());
}

TEST(Cron, InvalidExpressionsNameTheFieldAndValue) {
  EXPECT_EQ(parse_error("0 0 * * 8"), "cron expression '0 0 * * 8': day-of-week field '8' is out of range 0-7");
  EXPECT_EQ(parse_error("60 * * * *"), "cron expression '60 * * * *': minute field '60' is out of range 0-59");
  EXPECT_EQ(parse_error("0 24 * * *"), "cron expression '0 24 * * *': hour field '24' is out of range 0-23");
  EXPECT_EQ(parse_error("0 0 0 * *"), "cron expression '0 0 0 * *': day-of-month field '0' is out of range 1-31");
  EXPECT_EQ(parse_error("0 0 * 13 *"), "cron expression '0 0 * 13 *': month field '13' is out of range 1-12");
  EXPECT_EQ(parse_error("0 0 * 1-13 *"), "cron expression '0 0 * 1-13 *': month field '13' is out of range 1-12");
  EXPECT_EQ(parse_error("0 0 * 99999 *"),
            "cron expression '0 0 * 99999 *': month field '99999' is out of range 1-12");
  EXPECT_EQ(parse_error("0 0 * FOO *"),
            "cron expression '0 0 * FOO *': month field 'FOO' is not a number or a name (JAN-DEC)");
  EXPECT_EQ(parse_error("0 0 * * MONDAY"),
            "cron expression '0 0 * * MONDAY': day-of-week field 'MONDAY' is not a number or a name (SUN-SAT)");
  EXPECT_EQ(parse_error("x * * * *"), "cron expression 'x * * * *': minute field 'x' is not a number");
  EXPECT_EQ(parse_error("-5 * * * *"),
            "cron expression '-5 * * * *': minute field '-5' is a range without a start or an end");
  EXPECT_EQ(parse_error("0 1- * * *"),
            "cron expression '0 1- * * *': hour field '1-' is a range without a start or an end");
  EXPECT_EQ(parse_error("*/0 * * * *"),
            "cron expression '*/0 * * * *': minute field '*/0' has step '0'; a step must be a number of at least 1");
  EXPECT_EQ(parse_error("*/ * * * *"),
            "cron expression '*/ * * * *': minute field '*/' has step ''; a step must be a number of at least 1");
  EXPECT_EQ(parse_error("1/2/3 * * * *"), "cron expression '1/2/3 * * * *': minute field '1/2/3' has more than one '/'");
  EXPECT_EQ(parse_error("5-2 * * * *"),
            "cron expression '5-2 * * * *': minute field '5-2' is a range that starts after it ends");
  EXPECT_EQ(parse_error("0 0 * * SAT-SUN"),
            "cron expression '0 0 * * SAT-SUN': day-of-week field 'SAT-SUN' is a range that starts after it ends");
  EXPECT_EQ(parse_error("1,,2 * * * *"), "cron expression '1,,2 * * * *': minute field '1,,2' has an empty list entry");
  EXPECT_EQ(parse_error("* * * *"),
            "cron expression '* * * *': expected 5 fields (minute hour day-of-month month day-of-week), found 4");
  EXPECT_EQ(parse_error("0 * * * * *"),
            "cron expression '0 * * * * *': expected 5 fields (minute hour day-of-month month day-of-week), found 6");
  EXPECT_EQ(parse_error(""), "cron expression '': it is empty");
  EXPECT_EQ(parse_error("   "), "cron expression '   ': it is empty");
  EXPECT_EQ(parse_error("0 0 30 2 *"),
            "cron expression '0 0 30 2 *': day-of-month field '30' never occurs in month field '2', so the "
            "schedule would never run");
  EXPECT_EQ(parse_error("0 0 31 APR,JUN *"),
            "cron expression '0 0 31 APR,JUN *': day-of-month field '31' never occurs in month field 'APR,JUN', so "
            "the schedule would never run");
  EXPECT_EQ(parse_error("0 0 L 2 *"), "cron expression '0 0 L 2 *': day-of-month field 'L' is not a number");
  EXPECT_EQ(parse_error("@weekdays"), "cron expression '@weekdays': unknown descriptor '@weekdays'");
  EXPECT_EQ(parse_error("@daily 5"), "cron expression '@daily 5': descriptor '@daily' takes no fields");
  EXPECT_EQ(parse_error("@every"), "cron expression '@every': @every takes exactly one duration, e.g. '@every 6h'");
  EXPECT_EQ(parse_error("@every 500ms"),
            "cron expression '@every 500ms': @every interval '500ms' is not a whole number of seconds of at least 1s");
  EXPECT_EQ(parse_error("@every 1.5s"),
            "cron expression '@every 1.5s': @every interval '1.5s' is not a whole number of seconds of at least 1s");
  EXPECT_EQ(parse_error("@every -1h"),
            "cron expression '@every -1h': @every interval '-1h' is not a whole number of seconds of at least 1s");
  EXPECT_EQ(parse_error("@every 1d"), "cron expression '@every 1d': duration '1d' is not valid: unknown unit 'd'");
}

TEST(Cron, InvalidTimeZones) {
  EXPECT_EQ(parse_error("CRON_TZ=Mars/Olympus 0 * * * *"),
            "time zone 'Mars/Olympus' of cron expression 'CRON_TZ=Mars/Olympus 0 * * * *' is not known");
  EXPECT_EQ(parse_error("0 * * * *", "Europe/Berln"),
            "time zone 'Europe/Berln' of cron expression '0 * * * *' is not known");
  EXPECT_EQ(parse_error("CRON_TZ= 0 * * * *"), "cron expression 'CRON_TZ= 0 * * * *': the time zone after 'CRON_TZ=' is empty");
  EXPECT_EQ(parse_error("CRON_TZ=Europe/Berlin 0 * * * *", "UTC"),
            "cron expression 'CRON_TZ=Europe/Berlin 0 * * * *' names time zone 'Europe/Berlin' but the schedule's "
            "time zone is 'UTC'");
  EXPECT_EQ(parse_error("CRON_TZ=Europe/Berlin"), "cron expression 'CRON_TZ=Europe/Berlin': it is empty");
  auto error = CronSchedule::parse("0 0 * * 8").error();
  EXPECT_EQ(error.object(), "0 0 * * 8");
  EXPECT_NE(error.hint().find("day-of-week (0-7 or SUN-SAT"), std::string::npos) << error.hint();
}

}  // namespace
}  // namespace stowage::control
