// run_process, run_checked and PipedProcess against /bin/sh, /bin/cat and
// programs that fail or do not exist.
#include "util/process.h"

#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <string>

namespace stowage {
namespace {

TEST(ProcessTest, CapturesStdoutStderrAndExitStatus) {
  auto r = run_process({"/bin/sh", "-c", "echo out; echo err >&2; exit 3"});
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(r->out, "out\n");
  EXPECT_EQ(r->err, "err\n");
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_FALSE(r->succeeded());
  EXPECT_EQ(r->describe(), "exit status 3");
}

TEST(ProcessTest, ArgumentsAreNotInterpretedByAShell) {
  auto r = run_checked({"/bin/echo", "a b", "$HOME", ";", "`id`"});
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(*r, "a b $HOME ; `id`\n");
}

TEST(ProcessTest, StdinDataIsWrittenAndLargeOutputIsRead) {
  std::string input(3 << 20, 'x');  // larger than a pipe buffer in both directions
  for (size_t i = 0; i < input.size(); i += 4096) input[i] = char('a' + (i / 4096) % 26);
  ProcessOptions options;
  options.stdin_data = input;
  auto r = run_checked({"/bin/cat"}, options);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(*r, input);
}

TEST(ProcessTest, OutputIsBounded) {
  ProcessOptions options;
  options.max_stdout = 10;
  options.max_stderr = 8;
  auto r = run_process({"/bin/sh", "-c", "head -c 100000 /dev/zero; printf 0123456789abcdef >&2"}, options);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(r->out.size(), 10u);
  EXPECT_TRUE(r->stdout_truncated);
  EXPECT_EQ(r->err, "89abcdef");  // the tail
  EXPECT_TRUE(r->succeeded());
}

TEST(ProcessTest, FailureQuotesCommandAndLastStderrLines) {
  auto r = run_checked({"/bin/sh", "-c", "echo one >&2; echo two >&2; echo three >&2; echo four >&2; exit 2"});
  ASSERT_FALSE(r.ok());
  const std::string msg = r.error().message();
  EXPECT_NE(msg.find("`/bin/sh -c 'echo one >&2;"), std::string::npos) << msg;
  EXPECT_NE(msg.find("exit status 2"), std::string::npos) << msg;
  EXPECT_NE(msg.find("two; three; four"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("one;"), std::string::npos) << msg;
  EXPECT_EQ(r.error().code(), ErrorCode::kIo);
}

TEST(ProcessTest, KilledBySignalIsReported) {
  auto r = run_process({"/bin/sh", "-c", "kill -9 $$"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->signal, 9);
  EXPECT_FALSE(r->succeeded());
  EXPECT_NE(r->describe().find("signal 9"), std::string::npos);
}

TEST(ProcessTest, MissingProgramIsNotFoundWithHint) {
  auto r = run_process({"stowage-no-such-program-xyz", "arg"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kNotFound);
  EXPECT_NE(r.error().message().find("stowage-no-such-program-xyz arg"), std::string::npos);
  EXPECT_EQ(r.error().object(), "stowage-no-such-program-xyz");
  EXPECT_FALSE(r.error().hint().empty());
  auto p = PipedProcess::start({"/nonexistent/prog"}, PipedProcess::Direction::kReadStdout);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error().code(), ErrorCode::kNotFound);
}

TEST(ProcessTest, EmptyArgvIsRejected) {
  auto r = run_process({});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
}

TEST(ProcessTest, FormatCommandQuotes) {
  EXPECT_EQ(format_command({"zfs", "send", "pool/ds@snap"}), "zfs send pool/ds@snap");
  EXPECT_EQ(format_command({"echo", "a b", "it's", ""}), "echo 'a b' 'it'\\''s' ''");
}

TEST(ProcessTest, PipedReadsChildStdout) {
  auto p = PipedProcess::start({"/bin/sh", "-c", "head -c 1000000 /dev/zero | tr '\\0' y; echo note >&2"},
                               PipedProcess::Direction::kReadStdout);
  ASSERT_TRUE(p.ok()) << p.error().to_string();
  std::string got;
  char buf[65536];
  for (;;) {
    ssize_t n = read((*p)->fd(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got.append(buf, size_t(n));
  }
  auto st = (*p)->wait();
  ASSERT_TRUE(st.ok()) << st.error().to_string();
  EXPECT_EQ(got, std::string(1000000, 'y'));
  EXPECT_EQ((*p)->result().err, "note\n");
}

TEST(ProcessTest, PipedWritesChildStdin) {
  char tmpl[] = "/tmp/stowage-process-XXXXXX";
  int tfd = mkstemp(tmpl);
  ASSERT_GE(tfd, 0);
  close(tfd);
  auto p = PipedProcess::start({"/bin/sh", "-c", std::string("cat > ") + tmpl}, PipedProcess::Direction::kWriteStdin);
  ASSERT_TRUE(p.ok()) << p.error().to_string();
  std::string data(2 << 20, 'z');
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = write((*p)->fd(), data.data() + done, data.size() - done);
    ASSERT_GT(n, 0);
    done += size_t(n);
  }
  ASSERT_TRUE((*p)->wait().ok());
  auto size = run_checked({"/usr/bin/stat", "-c", "%s", tmpl});
  ASSERT_TRUE(size.ok());
  EXPECT_EQ(*size, std::to_string(data.size()) + "\n");
  unlink(tmpl);
}

TEST(ProcessTest, PipedWriteToExitedChildFailsWithEpipeNotSignal) {
  auto p = PipedProcess::start({"/bin/sh", "-c", "echo refusing >&2; exit 4"}, PipedProcess::Direction::kWriteStdin);
  ASSERT_TRUE(p.ok());
  ScopedSigpipeBlock guard;
  std::string data(1 << 20, 'q');
  ssize_t n = 0;
  int err = 0;
  for (int i = 0; i < 100; i++) {  // until the child has exited and the pipe has no reader
    n = write((*p)->fd(), data.data(), data.size());
    if (n < 0) {
      err = errno;
      break;
    }
  }
  EXPECT_EQ(n, -1);
  EXPECT_EQ(err, EPIPE);
  auto st = (*p)->wait();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message().find("exit status 4"), std::string::npos) << st.error().message();
  EXPECT_NE(st.error().message().find("refusing"), std::string::npos);
}

TEST(ProcessTest, DestroyingAnUnwaitedChildKillsIt) {
  {
    auto p = PipedProcess::start({"/bin/sleep", "60"}, PipedProcess::Direction::kReadStdout);
    ASSERT_TRUE(p.ok());
  }
  SUCCEED();  // would hang for 60 s if the destructor waited without killing
}

}  // namespace
}  // namespace stowage
