// exec: runs a command in a container of a pod through the API server (what
// `kubectl exec` does) and returns its output and exit code — the mechanism
// of backup and restore hooks. Speaks the WebSocket subprotocols
// v5.channel.k8s.io / v4.channel.k8s.io: channel 1 stdout, 2 stderr, 3 the
// final metav1.Status carrying the exit code.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "kube/api_client.h"
#include "util/result.h"

namespace stowage::kube {

struct ExecResult {
  std::string stdout_text;
  std::string stderr_text;
  int exit_code = 0;
  bool truncated = false;  // output beyond ExecOptions::max_output was dropped
};

struct ExecOptions {
  std::string stdin_text;          // sent, then stdin is closed (v5 only); empty: no stdin
  size_t max_output = 16u << 20;   // bytes kept per stream
};

// Runs `command` (argv, no shell unless you call one) in `container` (empty:
// the pod's only or default container) of pod `namespace_name`/`pod`. A
// non-zero exit is a result, not an error. When `timeout` passes first the
// stream is closed and the error (kUnavailable) names the command and pod;
// the process may go on running in the container.
Result<ExecResult> exec(ApiClient& client, const std::string& namespace_name, const std::string& pod,
                        const std::string& container, const std::vector<std::string>& command,
                        std::chrono::milliseconds timeout, const ExecOptions& options = {});

// The exit code in a channel-3 Status: 0 for Success, details.causes'
// ExitCode for NonZeroExitCode, and the "exit status N" that kubelets which
// drop the cause (kwok's local exec) put in the message; kIo otherwise.
Result<int> exit_code_from_status(const std::string& status_json, const std::string& what);

}  // namespace stowage::kube
