#include "util/process.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <thread>

extern char** environ;

namespace stowage {

namespace {

struct OwnedFd {
  int fd = -1;
  OwnedFd() = default;
  explicit OwnedFd(int f) : fd(f) {}
  OwnedFd(const OwnedFd&) = delete;
  OwnedFd& operator=(const OwnedFd&) = delete;
  ~OwnedFd() { reset(); }
  void reset() {
    if (fd >= 0) close(fd);
    fd = -1;
  }
};

bool needs_quotes(const std::string& arg) {
  if (arg.empty()) return true;
  for (char c : arg) {
    bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 std::strchr("-_./:=@,+%", c) != nullptr;
    if (!plain) return true;
  }
  return false;
}

Status make_pipe(int fds[2], const std::vector<std::string>& argv) {
  if (pipe2(fds, O_CLOEXEC) != 0)
    return Error(ErrorCode::kIo, std::string("cannot create a pipe: ") + strerror(errno), format_command(argv),
                 "the process may be out of file descriptors (ulimit -n)");
  return ok_status();
}

Result<int> open_dev_null() {
  int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (fd < 0) return Error(ErrorCode::kIo, std::string("cannot open /dev/null: ") + strerror(errno), "/dev/null");
  return fd;
}

// Starts argv with the given descriptors as its stdin, stdout and stderr; the
// child starts with no blocked signals and default SIGPIPE/SIGINT/SIGTERM.
Result<pid_t> spawn(const std::vector<std::string>& argv, int in, int out, int err) {
  if (argv.empty() || argv[0].empty())
    return Error(ErrorCode::kInvalidArgument, "no program to run", "", "pass the program as argv[0]");
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&actions);
  posix_spawnattr_init(&attr);
  posix_spawn_file_actions_adddup2(&actions, in, 0);
  posix_spawn_file_actions_adddup2(&actions, out, 1);
  posix_spawn_file_actions_adddup2(&actions, err, 2);
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  sigaddset(&defaults, SIGINT);
  sigaddset(&defaults, SIGTERM);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, argv[0].c_str(), &actions, &attr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    if (rc == ENOENT)
      return Error(ErrorCode::kNotFound, "cannot run `" + format_command(argv) + "`: program not found", argv[0],
                   "install " + argv[0] + " or put it on PATH");
    if (rc == EACCES)
      return Error(ErrorCode::kPermissionDenied, "cannot run `" + format_command(argv) + "`: permission denied",
                   argv[0], "check that " + argv[0] + " is executable");
    return Error(ErrorCode::kIo, "cannot run `" + format_command(argv) + "`: " + strerror(rc), argv[0]);
  }
  return pid;
}

void decode_status(int status, ProcessResult& result) {
  if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
    result.signal = 0;
  } else if (WIFSIGNALED(status)) {
    result.exit_code = -1;
    result.signal = WTERMSIG(status);
  }
}

Status wait_child(pid_t pid, ProcessResult& result, const std::vector<std::string>& argv) {
  int status = 0;
  for (;;) {
    pid_t r = waitpid(pid, &status, 0);
    if (r == pid) break;
    if (r < 0 && errno == EINTR) continue;
    return Error(ErrorCode::kInternal, std::string("waitpid failed: ") + strerror(errno), format_command(argv));
  }
  decode_status(status, result);
  return ok_status();
}

void append_tail(std::string& tail, const char* data, size_t n, size_t max) {
  tail.append(data, n);
  if (tail.size() > max) tail.erase(0, tail.size() - max);
}

}  // namespace

std::string format_command(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& arg : argv) {
    if (!out.empty()) out += ' ';
    if (!needs_quotes(arg)) {
      out += arg;
      continue;
    }
    out += '\'';
    for (char c : arg) {
      if (c == '\'')
        out += "'\\''";
      else
        out += c;
    }
    out += '\'';
  }
  return out;
}

std::string last_lines(const std::string& text, size_t max_lines) {
  std::vector<std::string> lines;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    std::string line = text.substr(pos, nl - pos);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.pop_back();
    if (!line.empty()) lines.push_back(std::move(line));
    pos = nl + 1;
  }
  std::string out;
  size_t first = lines.size() > max_lines ? lines.size() - max_lines : 0;
  for (size_t i = first; i < lines.size(); i++) {
    if (!out.empty()) out += "; ";
    out += lines[i];
  }
  return out;
}

std::string ProcessResult::describe() const {
  if (signal != 0) return std::string("killed by signal ") + std::to_string(signal) + " (" + strsignal(signal) + ")";
  return "exit status " + std::to_string(exit_code);
}

Error command_error(const std::vector<std::string>& argv, const ProcessResult& result) {
  std::string message = "`" + format_command(argv) + "` failed (" + result.describe() + ")";
  std::string tail = last_lines(result.err);
  if (!tail.empty()) message += ": " + tail;
  return Error(ErrorCode::kIo, message, argv.empty() ? "" : argv[0]);
}

Result<ProcessResult> run_process(const std::vector<std::string>& argv, const ProcessOptions& options) {
  int out_p[2], err_p[2], in_p[2] = {-1, -1};
  TRY_STATUS(make_pipe(out_p, argv));
  OwnedFd out_r(out_p[0]), out_w(out_p[1]);
  TRY_STATUS(make_pipe(err_p, argv));
  OwnedFd err_r(err_p[0]), err_w(err_p[1]);
  OwnedFd in_r, in_w;
  if (!options.stdin_data.empty()) {
    TRY_STATUS(make_pipe(in_p, argv));
    in_r.fd = in_p[0];
    in_w.fd = in_p[1];
  } else {
    in_r.fd = TRY(open_dev_null());
  }
  ScopedSigpipeBlock no_sigpipe;
  pid_t pid = TRY(spawn(argv, in_r.fd, out_w.fd, err_w.fd));
  in_r.reset();
  out_w.reset();
  err_w.reset();
  if (in_w.fd >= 0) fcntl(in_w.fd, F_SETFL, fcntl(in_w.fd, F_GETFL) | O_NONBLOCK);

  ProcessResult result;
  size_t written = 0;
  char buf[65536];
  while (out_r.fd >= 0 || err_r.fd >= 0 || in_w.fd >= 0) {
    pollfd fds[3];
    int n = 0;
    int idx_out = -1, idx_err = -1, idx_in = -1;
    if (out_r.fd >= 0) { idx_out = n; fds[n++] = {out_r.fd, POLLIN, 0}; }
    if (err_r.fd >= 0) { idx_err = n; fds[n++] = {err_r.fd, POLLIN, 0}; }
    if (in_w.fd >= 0) { idx_in = n; fds[n++] = {in_w.fd, POLLOUT, 0}; }
    int rc = poll(fds, nfds_t(n), -1);
    if (rc < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (idx_out >= 0 && fds[idx_out].revents) {
      ssize_t r = read(out_r.fd, buf, sizeof buf);
      if (r > 0) {
        size_t room = options.max_stdout > result.out.size() ? options.max_stdout - result.out.size() : 0;
        if (size_t(r) > room) result.stdout_truncated = true;
        result.out.append(buf, std::min(room, size_t(r)));
      } else if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
        out_r.reset();
      }
    }
    if (idx_err >= 0 && fds[idx_err].revents) {
      ssize_t r = read(err_r.fd, buf, sizeof buf);
      if (r > 0)
        append_tail(result.err, buf, size_t(r), options.max_stderr);
      else if (r == 0 || (errno != EINTR && errno != EAGAIN))
        err_r.reset();
    }
    if (idx_in >= 0 && fds[idx_in].revents) {
      ssize_t w = write(in_w.fd, options.stdin_data.data() + written, options.stdin_data.size() - written);
      if (w > 0) written += size_t(w);
      if ((w < 0 && errno != EINTR && errno != EAGAIN) || written == options.stdin_data.size()) in_w.reset();
    }
  }
  TRY_STATUS(wait_child(pid, result, argv));
  return result;
}

Result<std::string> run_checked(const std::vector<std::string>& argv, const ProcessOptions& options) {
  ProcessResult result = TRY(run_process(argv, options));
  if (!result.succeeded()) return command_error(argv, result);
  return std::move(result.out);
}

struct PipedProcess::StderrDrain {
  OwnedFd fd;
  std::string tail;
  std::thread thread;
};

Result<std::unique_ptr<PipedProcess>> PipedProcess::start(const std::vector<std::string>& argv,
                                                          Direction direction, size_t max_stderr) {
  int data_p[2], err_p[2];
  TRY_STATUS(make_pipe(data_p, argv));
  OwnedFd data_r(data_p[0]), data_w(data_p[1]);
  TRY_STATUS(make_pipe(err_p, argv));
  OwnedFd err_r(err_p[0]), err_w(err_p[1]);
  OwnedFd null_fd(TRY(open_dev_null()));
  pid_t pid = direction == Direction::kReadStdout ? TRY(spawn(argv, null_fd.fd, data_w.fd, err_w.fd))
                                                  : TRY(spawn(argv, data_r.fd, null_fd.fd, err_w.fd));
  std::unique_ptr<PipedProcess> p(new PipedProcess());
  p->argv_ = argv;
  p->pid_ = pid;
  if (direction == Direction::kReadStdout) {
    p->fd_ = data_r.fd;
    data_r.fd = -1;
  } else {
    p->fd_ = data_w.fd;
    data_w.fd = -1;
  }
  p->drain_ = std::make_unique<StderrDrain>();
  p->drain_->fd.fd = err_r.fd;
  err_r.fd = -1;
  StderrDrain* drain = p->drain_.get();
  drain->thread = std::thread([drain, max_stderr] {
    char buf[8192];
    for (;;) {
      ssize_t r = read(drain->fd.fd, buf, sizeof buf);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) break;
      append_tail(drain->tail, buf, size_t(r), max_stderr);
    }
  });
  return p;
}

PipedProcess::~PipedProcess() {
  if (!waited_ && pid_ > 0) {
    kill(SIGKILL);
    (void)wait();
  }
  close_fd();
}

void PipedProcess::close_fd() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

void PipedProcess::kill(int signal) {
  if (pid_ > 0 && !waited_) ::kill(pid_, signal);
}

Status PipedProcess::wait() {
  if (waited_) return status_;
  close_fd();
  if (drain_ && drain_->thread.joinable()) drain_->thread.join();
  if (drain_) result_.err = drain_->tail;
  Status waited = wait_child(pid_, result_, argv_);
  waited_ = true;
  if (!waited.ok())
    status_ = std::move(waited).error();
  else if (!result_.succeeded())
    status_ = command_error(argv_, result_);
  return status_;
}

ScopedSigpipeBlock::ScopedSigpipeBlock() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &set, &old_);
  was_blocked_ = sigismember(&old_, SIGPIPE) == 1;
}

ScopedSigpipeBlock::~ScopedSigpipeBlock() {
  if (was_blocked_) return;
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  // Consume a SIGPIPE raised by this thread's writes while it was blocked.
  timespec zero{0, 0};
  while (sigtimedwait(&set, nullptr, &zero) == SIGPIPE) {
  }
  pthread_sigmask(SIG_SETMASK, &old_, nullptr);
}

}  // namespace stowage
