#include "kube/exec.h"

#include <algorithm>
#include <cctype>

#include "kube/query.h"
#include "kube/websocket_connection.h"

namespace stowage::kube {
namespace {

using Clock = WebSocketConnection::Clock;

constexpr uint8_t kStdin = 0, kStdout = 1, kStderr = 2, kError = 3, kClose = 255;

// "sh -c 'echo out'" for messages.
std::string describe_command(const std::vector<std::string>& command) {
  std::string text;
  for (const std::string& word : command) {
    if (!text.empty()) text += ' ';
    bool plain = !word.empty() && word.find_first_of(" \t\n'\"\\$`;&|<>*?()") == std::string::npos;
    text += plain ? word : "'" + word + "'";
  }
  return text.size() > 200 ? text.substr(0, 200) + "..." : text;
}

void append_capped(std::string& out, std::string_view data, size_t cap, bool& truncated) {
  size_t room = out.size() < cap ? cap - out.size() : 0;
  if (data.size() > room) truncated = true;
  out.append(data.substr(0, room));
}

}  // namespace

Result<int> exit_code_from_status(const std::string& status_json, const std::string& what) {
  std::optional<ApiStatus> status = parse_api_status(status_json);
  if (!status) {
    return Error(ErrorCode::kCorrupt, what + ": the exec stream's status is not a metav1.Status", what,
                 "the API server or kubelet sent an unexpected error channel message");
  }
  if (status->status == "Success") return 0;
  for (const StatusCause& cause : status->causes) {
    if (cause.reason == "ExitCode") {
      try {
        return std::stoi(cause.message);
      } catch (...) {
        break;
      }
    }
  }
  // Go's exec.ExitError text, where a kubelet wrapped the error and lost the cause.
  size_t at = status->message.rfind("exit status ");
  if (at != std::string::npos) {
    size_t digits = at + 12, end = digits;
    while (end < status->message.size() && std::isdigit(static_cast<unsigned char>(status->message[end]))) end++;
    if (end > digits && end - digits < 4) return std::stoi(status->message.substr(digits, end - digits));
  }
  return Error(ErrorCode::kIo, what + " failed: " + status->message + (status->reason.empty() ? "" : " (" + status->reason + ")"),
               what, "check that the command exists in the container and the container is running");
}

Result<ExecResult> exec(ApiClient& client, const std::string& namespace_name, const std::string& pod,
                        const std::string& container, const std::vector<std::string>& command,
                        std::chrono::milliseconds timeout, const ExecOptions& options) {
  const auto deadline = Clock::now() + timeout;
  ObjectRef target{"", "v1", "pods", namespace_name, pod, "exec"};
  const std::string what = "command `" + describe_command(command) + "` in pod " + namespace_name + "/" + pod +
                           (container.empty() ? "" : " (container " + container + ")");
  if (command.empty()) {
    return Error(ErrorCode::kInvalidArgument, "exec in pod " + namespace_name + "/" + pod + " has no command",
                 target.describe(), "give the command as a list of words, e.g. [\"sh\", \"-c\", \"sync\"]");
  }
  Query query;
  for (const std::string& word : command) query.add("command", word, true);
  query.add("container", container);
  query.add("stdout", "true");
  query.add("stderr", "true");
  if (!options.stdin_text.empty()) query.add("stdin", "true");
  ApiRequest request;
  request.verb = "create";  // RBAC: create on pods/exec
  request.target = target;
  request.path = target.path();
  request.query = query.str();

  const std::vector<std::string> protocols = {"v5.channel.k8s.io", "v4.channel.k8s.io"};
  Result<std::unique_ptr<WebSocketConnection>> opened = WebSocketConnection::open(client, request, protocols, deadline);
  if (!opened.ok()) return std::move(opened).error().with_context("exec of " + what);
  std::unique_ptr<WebSocketConnection> connection = std::move(opened).value();

  if (!options.stdin_text.empty()) {
    TRY_STATUS(connection->send(WebSocketOpcode::kBinary, std::string(1, char(kStdin)) + options.stdin_text, deadline));
    if (connection->protocol() == "v5.channel.k8s.io") {
      TRY_STATUS(connection->send(WebSocketOpcode::kBinary, std::string{char(kClose), char(kStdin)}, deadline));
    }
  }

  ExecResult result;
  std::string status_json;
  // The status comes last; after it, wait briefly for the close frame only.
  Clock::time_point read_deadline = deadline;
  while (true) {
    Result<std::optional<WebSocketFrame>> received = connection->receive(read_deadline);
    if (!received.ok()) return std::move(received).error().with_context("exec of " + what);
    if (!*received && !status_json.empty()) break;
    if (!*received) {
      connection->close(1000, "timeout");
      return Error(ErrorCode::kUnavailable,
                   what + " did not finish within " + std::to_string(timeout.count() / 1000.0).substr(0, 5) +
                       " s; the exec stream was closed",
                   target.describe(),
                   "raise the hook's timeout, or find out why the command hangs; it may still be running in the "
                   "container");
    }
    WebSocketFrame& frame = **received;
    if (frame.opcode == WebSocketOpcode::kClose) break;
    if (frame.payload.empty()) continue;
    const uint8_t channel = uint8_t(frame.payload[0]);
    std::string_view data(frame.payload.data() + 1, frame.payload.size() - 1);
    if (channel == kStdout) {
      append_capped(result.stdout_text, data, options.max_output, result.truncated);
    } else if (channel == kStderr) {
      append_capped(result.stderr_text, data, options.max_output, result.truncated);
    } else if (channel == kError) {
      status_json.append(data);
      read_deadline = std::min(deadline, Clock::now() + std::chrono::seconds(1));
    }
  }
  // No status at all: the stream ended cleanly, as v1-v3 servers report success.
  if (status_json.empty()) return result;
  result.exit_code = TRY(exit_code_from_status(status_json, what));
  return result;
}

}  // namespace stowage::kube
