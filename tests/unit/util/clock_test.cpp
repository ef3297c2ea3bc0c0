#include "util/clock.h"

#include <gtest/gtest.h>

namespace stowage {
namespace {

TEST(Rfc3339, FormatsUtcWithOptionalFraction) {
  using namespace std::chrono;
  auto time = sys_days(year(2026) / 11 / 25) + hours(21) + minutes(35) + seconds(5) + nanoseconds(123456789);
  EXPECT_EQ(format_rfc3339(time), "2026-11-25T21:35:05Z");
  EXPECT_EQ(format_rfc3339(time, 3), "2026-11-25T21:35:05.123Z");
  EXPECT_EQ(format_rfc3339(time, 9), "2026-11-25T21:35:05.123456789Z");
  EXPECT_EQ(format_rfc3339(system_clock::time_point(milliseconds(-500)), 3), "1969-12-31T23:59:59.500Z");
  EXPECT_EQ(format_rfc3339(system_clock::time_point()), "1970-01-01T00:00:00Z");
  EXPECT_EQ(format_time_utc(1795642505), "2026-11-25T21:35:05Z");
  EXPECT_EQ(format_time_utc(-1), "1969-12-31T23:59:59Z");
  EXPECT_EQ(format_time_utc(253402300799), "9999-12-31T23:59:59Z");  // beyond system_clock's range
}

TEST(Rfc3339, ParsesFractionsAndOffsets) {
  using namespace std::chrono;
  auto base = sys_days(year(2026) / 11 / 25) + hours(21) + minutes(35) + seconds(5);
  auto parse = [](std::string_view text) {
    auto time = parse_rfc3339(text);
    EXPECT_TRUE(time.ok()) << text << ": " << (time.ok() ? "" : time.error().to_string());
    return time.ok() ? *time : system_clock::time_point();
  };
  EXPECT_EQ(parse("2026-11-25T21:35:05Z"), base);
  EXPECT_EQ(parse("2026-11-25t21:35:05z"), base);
  EXPECT_EQ(parse("2026-11-25T22:35:05+01:00"), base);
  EXPECT_EQ(parse("2026-11-25T16:35:05-05:00"), base);
  EXPECT_EQ(parse("2026-11-26T03:05:05+05:30"), base);
  EXPECT_EQ(parse("2026-11-25T22:35:05.5+01:00"), base + milliseconds(500));
  EXPECT_EQ(parse("2026-11-25T21:35:05.123456789Z"), base + nanoseconds(123456789));
  EXPECT_EQ(parse("2026-11-25T21:35:05.1234567891234Z"), base + nanoseconds(123456789));
  EXPECT_EQ(parse("1969-12-31T23:59:59Z"), system_clock::time_point(seconds(-1)));
  EXPECT_EQ(parse("2028-02-29T00:00:00Z"), sys_days(year(2028) / 2 / 29));
  int64_t unix_seconds = 0;
  EXPECT_TRUE(parse_time_utc("2026-11-25T21:35:05.9Z", unix_seconds));
  EXPECT_EQ(unix_seconds, 1795642505);
}

TEST(Rfc3339, RejectsMalformedTimesNamingThem) {
  for (std::string_view text :
       {"", "2026-11-25", "2026-11-25T21:35:05", "2026-11-25 21:35:05Z", "2026-11-25T21:35Z", "2026-02-30T00:00:00Z",
        "2027-02-29T00:00:00Z", "2026-13-01T00:00:00Z", "2026-11-25T24:00:00Z", "2026-11-25T21:60:00Z",
        "2026-11-25T21:35:60Z", "2026-11-25T21:35:05.Z", "2026-11-25T21:35:05+0100", "2026-11-25T21:35:05+24:00",
        "2026-11-25T21:35:05Z ", "26-11-25T21:35:05Z", "2026-1-25T21:35:05Z", "9999-01-01T00:00:00Z"}) {
    auto time = parse_rfc3339(text);
    ASSERT_FALSE(time.ok()) << text;
    EXPECT_EQ(time.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(time.error().object(), std::string(text));
    EXPECT_EQ(time.error().message().rfind("'" + std::string(text) + "' is not an RFC 3339 time: ", 0), 0u)
        << time.error().message();
  }
  EXPECT_EQ(parse_rfc3339("2026-02-30T00:00:00Z").error().message(),
            "'2026-02-30T00:00:00Z' is not an RFC 3339 time: no such date");
  EXPECT_EQ(parse_rfc3339("2026-11-25T21:35:05").error().message(),
            "'2026-11-25T21:35:05' is not an RFC 3339 time: expected 'Z' or a UTC offset like +01:00 after the time");
  int64_t unix_seconds = 0;
  EXPECT_FALSE(parse_time_utc("2026-11-25T21:35:05", unix_seconds));
}

}  // namespace
}  // namespace stowage
