// Running external programs (zfs, fsfreeze, losetup): an argv vector handed to
// posix_spawnp, never a shell, so no argument is ever interpreted. Output is
// captured with bounds; errors quote the command and the last lines of its
// standard error. A PipedProcess connects the child's stdout (or stdin) to a
// pipe the caller reads (or writes): `zfs send | backup_stream`,
// `restore_stream | zfs receive`.
#pragma once

#include <sys/types.h>

#include <csignal>
#include <memory>
#include <string>
#include <vector>

#include "util/result.h"

namespace stowage {

// "zfs send 'pool/a b@x'": argv quoted for messages (single quotes where needed).
std::string format_command(const std::vector<std::string>& argv);

// The last max_lines non-empty lines of text, joined by "; ".
std::string last_lines(const std::string& text, size_t max_lines = 3);

struct ProcessOptions {
  std::string stdin_data;             // written to the child's stdin, then closed (empty: /dev/null)
  size_t max_stdout = 16 << 20;       // stdout beyond this is discarded (stdout_truncated)
  size_t max_stderr = 64 << 10;       // only the last max_stderr bytes of stderr are kept
};

struct ProcessResult {
  int exit_code = -1;  // -1 when killed by a signal
  int signal = 0;      // the signal that ended it, or 0
  std::string out;
  std::string err;
  bool stdout_truncated = false;

  bool succeeded() const { return exit_code == 0 && signal == 0; }
  // "exit status 1" or "killed by signal 9"
  std::string describe() const;
};

// Runs argv[0] (found on PATH) with argv and waits for it. An error only when
// the program could not be started (kNotFound when it does not exist); a
// non-zero exit is a result, not an error.
Result<ProcessResult> run_process(const std::vector<std::string>& argv, const ProcessOptions& options = {});

// Runs argv and returns its stdout; a non-zero exit becomes a kIo error
// "`cmd` failed (exit status N): <last lines of stderr>".
Result<std::string> run_checked(const std::vector<std::string>& argv, const ProcessOptions& options = {});

// The error for a finished command that failed.
Error command_error(const std::vector<std::string>& argv, const ProcessResult& result);

// A child whose stdout (kReadStdout) or stdin (kWriteStdin) is a pipe held by
// the caller. Its stderr is drained by a thread into a bounded tail; its other
// standard stream is /dev/null. Destroying a PipedProcess that was not waited
// for kills the child and reaps it.
class PipedProcess {
 public:
  enum class Direction { kReadStdout, kWriteStdin };

  static Result<std::unique_ptr<PipedProcess>> start(const std::vector<std::string>& argv, Direction direction,
                                                     size_t max_stderr = 64 << 10);
  ~PipedProcess();
  PipedProcess(const PipedProcess&) = delete;
  PipedProcess& operator=(const PipedProcess&) = delete;

  // The caller's end of the pipe (-1 once closed).
  int fd() const { return fd_; }
  // Closes the caller's end: EOF for a child reading stdin.
  void close_fd();
  // Sends a signal (SIGTERM by default), e.g. to abort a receive whose input failed.
  void kill(int signal = SIGTERM);
  // Closes the caller's end, waits for the child and its stderr; ok only when
  // it exited with status 0, else command_error(). Idempotent.
  Status wait();
  // Available after wait().
  const ProcessResult& result() const { return result_; }
  const std::vector<std::string>& argv() const { return argv_; }

 private:
  PipedProcess() = default;
  struct StderrDrain;

  std::vector<std::string> argv_;
  pid_t pid_ = -1;
  int fd_ = -1;
  bool waited_ = false;
  Status status_;
  ProcessResult result_;
  std::unique_ptr<StderrDrain> drain_;
};

// Blocks SIGPIPE in the calling thread for its lifetime, so that writing to a
// pipe whose reader has exited fails with EPIPE instead of killing the
// process; a SIGPIPE raised meanwhile is consumed before unblocking.
class ScopedSigpipeBlock {
 public:
  ScopedSigpipeBlock();
  ~ScopedSigpipeBlock();
  ScopedSigpipeBlock(const ScopedSigpipeBlock&) = delete;
  ScopedSigpipeBlock& operator=(const ScopedSigpipeBlock&) = delete;

 private:
  sigset_t old_;
  bool was_blocked_ = false;
};

}  // namespace stowage
