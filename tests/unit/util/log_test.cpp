#include "util/log.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <thread>

#include "util/clock.h"

namespace stowage {
namespace {

std::chrono::system_clock::time_point fixed_time() {
  using namespace std::chrono;
  return sys_days(year(2026) / 11 / 25) + hours(21) + minutes(35) + seconds(5) + milliseconds(123);
}

// A logger that writes nowhere but into `lines`.
Logger collecting_logger(std::vector<std::string>& lines, LogFormat format, LogLevel level = LogLevel::kInfo) {
  LoggerOptions options;
  options.format = format;
  options.level = level;
  options.output = nullptr;
  options.clock = fixed_time;
  return Logger(options).with_sink([&lines](std::string_view line) { lines.emplace_back(line); });
}

TEST(Log, WritesLogfmtWithTheLoggersFields) {
  std::vector<std::string> lines;
  Logger log = collecting_logger(lines, LogFormat::kLogfmt).with("backup", "nightly-1");
  log.info("backup started");
  log.warning("volume skipped", {{"pvc", "data-0"}, {"reason", "no snapshot class"}});
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0], "time=2026-11-25T21:35:05.123Z level=info msg=\"backup started\" backup=nightly-1\n");
  EXPECT_EQ(lines[1],
            "time=2026-11-25T21:35:05.123Z level=warning msg=\"volume skipped\" backup=nightly-1 pvc=data-0 "
            "reason=\"no snapshot class\"\n");
}

TEST(Log, WritesJsonLines) {
  std::vector<std::string> lines;
  Logger log = collecting_logger(lines, LogFormat::kJson).with("backup", "nightly-1");
  log.error("upload failed", {{"bytes", "1048576"}});
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0],
            "{\"time\":\"2026-11-25T21:35:05.123Z\",\"level\":\"error\",\"msg\":\"upload failed\","
            "\"backup\":\"nightly-1\",\"bytes\":\"1048576\"}\n");
}

TEST(Log, QuotesAndEscapesLogfmtValues) {
  auto line = [](std::string_view value) {
    return format_log_line(LogFormat::kLogfmt, fixed_time(), LogLevel::kInfo, "m", {{"k", std::string(value)}});
  };
  const std::string prefix = "time=2026-11-25T21:35:05.123Z level=info msg=m k=";
  EXPECT_EQ(line("plain-value_1.2:3/4"), prefix + "plain-value_1.2:3/4\n");
  EXPECT_EQ(line(""), prefix + "\"\"\n");
  EXPECT_EQ(line("a b"), prefix + "\"a b\"\n");
  EXPECT_EQ(line("a=b"), prefix + "\"a=b\"\n");
  EXPECT_EQ(line("say \"hi\""), prefix + "\"say \\\"hi\\\"\"\n");
  EXPECT_EQ(line("back\\slash"), prefix + "back\\slash\n");  // needs no quotes by itself
  EXPECT_EQ(line("back\\slash x"), prefix + "\"back\\\\slash x\"\n");
  EXPECT_EQ(line("line1\nline2\r\tend"), prefix + "\"line1\\nline2\\r\\tend\"\n");
  EXPECT_EQ(line(std::string("nul\0bell\x07", 9)), prefix + "\"nul\\u0000bell\\u0007\"\n");
  EXPECT_EQ(line("gr\xc3\xbc\xc3\x9f"), prefix + "gr\xc3\xbc\xc3\x9f\n");                // valid UTF-8 stays
  EXPECT_EQ(line("bad\xff" "byte"), prefix + "\"bad\xef\xbf\xbd" "byte\"\n");            // invalid: U+FFFD
  EXPECT_EQ(line("\xc0\xaf"), prefix + "\"\xef\xbf\xbd\xef\xbf\xbd\"\n");               // overlong '/'
  EXPECT_EQ(line("\xed\xa0\x80"), prefix + "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"\n");  // a surrogate
  EXPECT_EQ(line("cut\xe2\x82"), prefix + "\"cut\xef\xbf\xbd\xef\xbf\xbd\"\n");         // truncated
  // Keys cannot be quoted: the characters they may not hold become '_'.
  EXPECT_EQ(format_log_line(LogFormat::kLogfmt, fixed_time(), LogLevel::kDebug, "", {{"a key=\"x\"", "v"}, {"", "w"}}),
            "time=2026-11-25T21:35:05.123Z level=debug msg=\"\" a_key__x_=v _=w\n");
}

TEST(Log, EscapesJsonStrings) {
  std::string line = format_log_line(LogFormat::kJson, fixed_time(), LogLevel::kInfo, "say \"hi\"\n",
                                     {{"path", "C:\\x\t\x01"}, {"name", "gr\xc3\xbc\xc3\x9f"}, {"bad", "\xff"}});
  EXPECT_EQ(line,
            "{\"time\":\"2026-11-25T21:35:05.123Z\",\"level\":\"info\",\"msg\":\"say \\\"hi\\\"\\n\","
            "\"path\":\"C:\\\\x\\t\\u0001\",\"name\":\"gr\xc3\xbc\xc3\x9f\",\"bad\":\"\\ufffd\"}\n");
}

TEST(Log, ChildrenAddAndReplaceFieldsWithoutChangingTheParent) {
  std::vector<std::string> lines;
  Logger base = collecting_logger(lines, LogFormat::kLogfmt);
  Logger backup = base.with("backup", "nightly-1");
  Logger volume = backup.with("volume", "data").with("backup", "nightly-2");
  base.info("a");
  backup.info("b");
  volume.info("c");
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0], "time=2026-11-25T21:35:05.123Z level=info msg=a\n");
  EXPECT_EQ(lines[1], "time=2026-11-25T21:35:05.123Z level=info msg=b backup=nightly-1\n");
  EXPECT_EQ(lines[2], "time=2026-11-25T21:35:05.123Z level=info msg=c backup=nightly-2 volume=data\n");
  EXPECT_EQ(volume.fields().size(), 2u);
}

TEST(Log, LevelsBelowTheThresholdAreDropped) {
  std::vector<std::string> lines;
  Logger log = collecting_logger(lines, LogFormat::kLogfmt, LogLevel::kWarning);
  log.debug("d");
  log.info("i");
  log.warning("w");
  log.error("e");
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0], "time=2026-11-25T21:35:05.123Z level=warning msg=w\n");
  EXPECT_EQ(lines[1], "time=2026-11-25T21:35:05.123Z level=error msg=e\n");
  EXPECT_FALSE(log.enabled(LogLevel::kInfo));
  EXPECT_TRUE(log.enabled(LogLevel::kError));
}

TEST(Log, ASinkCollectsOnlyItsChildsLinesWhileTheOutputGetsAll) {
  FILE* output = tmpfile();
  ASSERT_NE(output, nullptr);
  LoggerOptions options;
  options.output = output;
  options.clock = fixed_time;
  Logger server(options);
  std::string backup_log;
  Logger backup = server.with("backup", "nightly-1").with_sink([&](std::string_view line) { backup_log += line; });
  server.info("controller started");
  backup.info("backup started");
  backup.with("volume", "data").info("volume done");

  EXPECT_EQ(backup_log,
            "time=2026-11-25T21:35:05.123Z level=info msg=\"backup started\" backup=nightly-1\n"
            "time=2026-11-25T21:35:05.123Z level=info msg=\"volume done\" backup=nightly-1 volume=data\n");
  rewind(output);
  std::string written;
  char buffer[512];
  size_t n;
  while ((n = fread(buffer, 1, sizeof buffer, output)) > 0) written.append(buffer, n);
  fclose(output);
  EXPECT_EQ(written,
            "time=2026-11-25T21:35:05.123Z level=info msg=\"controller started\"\n"
            "time=2026-11-25T21:35:05.123Z level=info msg=\"backup started\" backup=nightly-1\n"
            "time=2026-11-25T21:35:05.123Z level=info msg=\"volume done\" backup=nightly-1 volume=data\n");
}

TEST(Log, LinesFromManyThreadsStayWhole) {
  std::vector<std::string> lines;
  Logger log = collecting_logger(lines, LogFormat::kJson);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; t++)
    threads.emplace_back([&, t] {
      Logger mine = log.with("thread", std::to_string(t));
      for (int i = 0; i < 500; i++) mine.info("tick", {{"i", std::to_string(i)}});
    });
  for (auto& thread : threads) thread.join();
  ASSERT_EQ(lines.size(), 2000u);
  for (const auto& line : lines) {
    EXPECT_EQ(line.rfind("{\"time\":\"2026-11-25T21:35:05.123Z\",\"level\":\"info\",\"msg\":\"tick\",\"thread\":\"", 0),
              0u);
    EXPECT_EQ(line.substr(line.size() - 2), "}\n");
  }
}

TEST(Log, ParsesLevelAndFormatNames) {
  EXPECT_EQ(*parse_log_level("DEBUG"), LogLevel::kDebug);
  EXPECT_EQ(*parse_log_level("warn"), LogLevel::kWarning);
  EXPECT_EQ(*parse_log_level("warning"), LogLevel::kWarning);
  EXPECT_EQ(*parse_log_format("json"), LogFormat::kJson);
  EXPECT_EQ(*parse_log_format("text"), LogFormat::kLogfmt);
  auto bad = parse_log_level("verbose");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message(), "log level 'verbose' is not known");
  EXPECT_EQ(bad.error().hint(), "use debug, info, warning or error");
  EXPECT_FALSE(parse_log_format("xml").ok());
  EXPECT_STREQ(log_level_name(LogLevel::kWarning), "warning");
}

}  // namespace
}  // namespace stowage
