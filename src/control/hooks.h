// Backup hooks: commands run in a pod's containers just before and just after
// the pod is backed up (e.g. flush and freeze a database), from the pod's
// annotations (pre.hook.backup.stowage.io/command, /container, /on-error,
// /timeout; Velero's pre.hook.backup.velero.io/... are read too) or from the
// Backup spec's hooks.resources (by namespace, resource and label selector).
// Annotations win over the spec for a pod that has them.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "control/operation_log.h"
#include "kube/api_client.h"
#include "util/result.h"

namespace stowage::control {

struct ExecHook {
  std::string source;      // "annotation" or "spec hook <name>"
  std::string container;   // empty: the pod's first container
  std::vector<std::string> command;
  bool fail_on_error = true;  // onError: Fail (default) or Continue
  std::chrono::milliseconds timeout{30'000};
};

// The exec hooks of `pod` for phase "pre" or "post"; invalid annotations or
// spec entries are errors naming the pod and the field.
Result<std::vector<ExecHook>> backup_hooks(const nlohmann::json& pod, const nlohmann::json& spec_hooks,
                                           std::string_view phase);

struct HookOutcome {
  int attempted = 0;
  int failed = 0;
  bool must_fail = false;  // a failed hook's onError was Fail
};

// Runs the hooks in order; stops at the first failure whose onError is Fail.
// Every attempt, output summary and failure goes to `log`.
HookOutcome run_exec_hooks(kube::ApiClient& client, const nlohmann::json& pod, const std::vector<ExecHook>& hooks,
                           std::string_view phase, OperationLog& log);

}  // namespace stowage::control
