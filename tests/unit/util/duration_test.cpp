#include "util/duration.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>


namespace stowage {
namespace {

using std::chrono::nanoseconds;

constexpr int64_t kSecond = 1000000000;
constexpr int64_t kMinute = 60 * kSecond;
constexpr int64_t kHour = 60 * kMinute;

int64_t parsed(std::string_view text) {
  auto duration = parse_duration(text);
  EXPECT_TRUE(duration.ok()) << text << ": " << (duration.ok() ? "" : duration.error().to_string());
  return duration.ok() ? duration->count() : -1;
}

std::string parse_failure(std::string_view text) {
  auto duration = parse_duration(text);
  if (duration.ok()) return "parsed as " + std::to_string(duration->count()) + "ns";
  EXPECT_EQ(duration.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(duration.error().object(), std::string(text));
  EXPECT_NE(duration.error().hint().find("720h0m0s"), std::string::npos);
  return duration.error().message();
}

TEST(Duration, ParsesVeleroStyleDurations) {
  EXPECT_EQ(parsed("720h0m0s"), 720 * kHour);
  EXPECT_EQ(parsed("30s"), 30 * kSecond);
  EXPECT_EQ(parsed("1h30m"), kHour + 30 * kMinute);
  EXPECT_EQ(parsed("500ms"), 500000000);
  EXPECT_EQ(parsed("2h45m30.5s"), 2 * kHour + 45 * kMinute + 30 * kSecond + 500000000);
  EXPECT_EQ(parsed("0"), 0);
  EXPECT_EQ(parsed("-0"), 0);
  EXPECT_EQ(parsed("+0"), 0);
  EXPECT_EQ(parsed("0s"), 0);
}

// The cases of Go's time.ParseDuration tests.
TEST(Duration, ParsesWhatGoParses) {
  EXPECT_EQ(parsed("5s"), 5 * kSecond);
  EXPECT_EQ(parsed("-5s"), -5 * kSecond);
  EXPECT_EQ(parsed("+5s"), 5 * kSecond);
  EXPECT_EQ(parsed("1478s"), 1478 * kSecond);
  EXPECT_EQ(parsed("5.0s"), 5 * kSecond);
  EXPECT_EQ(parsed("5.6s"), 5 * kSecond + 600000000);
  EXPECT_EQ(parsed("5.s"), 5 * kSecond);
  EXPECT_EQ(parsed(".5s"), 500000000);
  EXPECT_EQ(parsed("1.004s"), kSecond + 4000000);
  EXPECT_EQ(parsed("100.00100s"), 100 * kSecond + 1000000);
  EXPECT_EQ(parsed("10ns"), 10);
  EXPECT_EQ(parsed("11us"), 11000);
  EXPECT_EQ(parsed("12\u00b5s"), 12000);  // micro sign
  EXPECT_EQ(parsed("12\u03bcs"), 12000);  // Greek mu
  EXPECT_EQ(parsed("13ms"), 13000000);
  EXPECT_EQ(parsed("15m"), 15 * kMinute);
  EXPECT_EQ(parsed("16h"), 16 * kHour);
  EXPECT_EQ(parsed("10.5s4m"), 4 * kMinute + 10 * kSecond + 500000000);
  EXPECT_EQ(parsed("-2m3.4s"), -(2 * kMinute + 3 * kSecond + 400000000));
  EXPECT_EQ(parsed("1h2m3s4ms5us6ns"), kHour + 2 * kMinute + 3 * kSecond + 4000000 + 5000 + 6);
  EXPECT_EQ(parsed("39h9m14.425s"), 39 * kHour + 9 * kMinute + 14 * kSecond + 425000000);
  EXPECT_EQ(parsed("52763797000ns"), 52763797000);
  EXPECT_EQ(parsed("0.3333333333333333333h"), 20 * kMinute);
  EXPECT_EQ(parsed("0.100000000000000000000h"), 6 * kMinute);
  EXPECT_EQ(parsed("0.830103483285477580700h"), 49 * kMinute + 48 * kSecond + 372539827);
  EXPECT_EQ(parsed("9007199254740993ns"), 9007199254740993);
  EXPECT_EQ(parsed("9223372036854775807ns"), std::numeric_limits<int64_t>::max());
  EXPECT_EQ(parsed("9223372036854775.807us"), std::numeric_limits<int64_t>::max());
  EXPECT_EQ(parsed("9223372036s854ms775us807ns"), std::numeric_limits<int64_t>::max());
  EXPECT_EQ(parsed("-9223372036854775808ns"), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(parsed("-9223372036854775.808us"), std::numeric_limits<int64_t>::min());
}

TEST(Duration, RejectsWhatGoRejectsAndSaysWhy) {
  EXPECT_EQ(parse_failure(""), "duration '' is not valid: it is empty");
  EXPECT_EQ(parse_failure("-"), "duration '-' is not valid: it is empty");
  EXPECT_EQ(parse_failure("3"), "duration '3' is not valid: a number has no unit");
  EXPECT_EQ(parse_failure("00"), "duration '00' is not valid: a number has no unit");
  EXPECT_EQ(parse_failure("1h30"), "duration '1h30' is not valid: a number has no unit");
  EXPECT_EQ(parse_failure("s"), "duration 's' is not valid: expected a number at 's'");
  EXPECT_EQ(parse_failure("."), "duration '.' is not valid: a number has no digits");
  EXPECT_EQ(parse_failure("-.s"), "duration '-.s' is not valid: a number has no digits");
  EXPECT_EQ(parse_failure("1d"), "duration '1d' is not valid: unknown unit 'd'");
  EXPECT_EQ(parse_failure("1h 30m"), "duration '1h 30m' is not valid: unknown unit 'h '");
  EXPECT_EQ(parse_failure(" 1h"), "duration ' 1h' is not valid: expected a number at ' 1h'");
  EXPECT_EQ(parse_failure("1H"), "duration '1H' is not valid: unknown unit 'H'");
  EXPECT_EQ(parse_failure("--1s"), "duration '--1s' is not valid: expected a number at '-1s'");
  EXPECT_EQ(parse_failure("9223372036854775808ns"), "duration '9223372036854775808ns' is not valid: it is too large");
  EXPECT_EQ(parse_failure("9223372036854775810ns"), "duration '9223372036854775810ns' is not valid: it is too large");
  EXPECT_EQ(parse_failure("-9223372036854775809ns"),
            "duration '-9223372036854775809ns' is not valid: it is too large");
  EXPECT_EQ(parse_failure("9223372036854775.808us"),
            "duration '9223372036854775.808us' is not valid: it is too large");
  EXPECT_EQ(parse_failure("9223372036854ms775us808ns"),
            "duration '9223372036854ms775us808ns' is not valid: it is too large");
  EXPECT_EQ(parse_failure("2562048h"), "duration '2562048h' is not valid: it is too large");
  EXPECT_EQ(parse_failure("99999999999999999999s"), "duration '99999999999999999999s' is not valid: it is too large");
}

TEST(Duration, FormatsAsGoDoes) {
  EXPECT_EQ(format_duration(nanoseconds(0)), "0s");
  EXPECT_EQ(format_duration(nanoseconds(720 * kHour)), "720h0m0s");
  EXPECT_EQ(format_duration(nanoseconds(90 * kSecond)), "1m30s");
  EXPECT_EQ(format_duration(nanoseconds(500000000)), "500ms");
  EXPECT_EQ(format_duration(nanoseconds(30 * kSecond)), "30s");
  EXPECT_EQ(format_duration(nanoseconds(kHour + 30 * kMinute)), "1h30m0s");
  EXPECT_EQ(format_duration(nanoseconds(2 * kHour + 45 * kMinute + 30 * kSecond + 500000000)), "2h45m30.5s");
  EXPECT_EQ(format_duration(nanoseconds(1)), "1ns");
  EXPECT_EQ(format_duration(nanoseconds(1100)), "1.1\u00b5s");
  EXPECT_EQ(format_duration(nanoseconds(2200000)), "2.2ms");
  EXPECT_EQ(format_duration(nanoseconds(999999999)), "999.999999ms");
  EXPECT_EQ(format_duration(nanoseconds(kSecond + 1)), "1.000000001s");
  EXPECT_EQ(format_duration(nanoseconds(3 * kMinute + 300000000)), "3m0.3s");
  EXPECT_EQ(format_duration(nanoseconds(4 * kHour + 5 * kMinute + 6 * kSecond + 7000000)), "4h5m6.007s");
  EXPECT_EQ(format_duration(nanoseconds(-1)), "-1ns");
  EXPECT_EQ(format_duration(nanoseconds(-(kHour + 30 * kMinute))), "-1h30m0s");
  EXPECT_EQ(format_duration(nanoseconds(std::numeric_limits<int64_t>::max())), "2562047h47m16.854775807s");
  EXPECT_EQ(format_duration(nanoseconds(std::numeric_limits<int64_t>::min())), "-2562047h47m16.854775808s");
}

TEST(Duration, FormatThenParseGivesTheSameDuration) {
  std::vector<int64_t> samples = {0, 1, -1, 999, 1000, 1001, 999999, kSecond - 1, kSecond, kMinute + 1, kHour,
                                  720 * kHour, std::numeric_limits<int64_t>::max(),
                                  std::numeric_limits<int64_t>::min()};
  uint64_t state = 0x9e3779b97f4a7c15ull;
  for (int i = 0; i < 2000; i++) {  // spread over every magnitude
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    int shift = int(state >> 58);  // 0..63
    samples.push_back(int64_t(state) >> shift);
  }
  for (int64_t sample : samples) {
    std::string text = format_duration(nanoseconds(sample));
    auto back = parse_duration(text);
    ASSERT_TRUE(back.ok()) << text;
    EXPECT_EQ(back->count(), sample) << text;
  }
}

}  // namespace
}  // namespace stowage
