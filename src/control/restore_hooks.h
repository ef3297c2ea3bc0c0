// Restore hooks: an init container added to restored pods (so that the
// application does not start before, say, its data is prepared), and exec
// commands run in a restored pod once it is Running. From the pod's (or a
// workload's pod template's) annotations — init.hook.restore.stowage.io/
// container-image|container-name|command and post.hook.restore.stowage.io/
// command|container|on-error|exec-timeout|wait-timeout, Velero's
// ….velero.io/… too — or from the Restore spec's hooks.resources.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "control/hooks.h"
#include "control/operation_log.h"
#include "kube/api_client.h"

namespace stowage::control {

// Adds the init-container hooks to a pod, or to the pod template of a
// workload (Deployment, StatefulSet, DaemonSet, ReplicaSet, Job), about to be
// restored. Returns how many containers it added; invalid hooks are logged.
int add_restore_init_hooks(nlohmann::json& object, const std::string& qualified_resource,
                           const nlohmann::json& spec_hooks, OperationLog& log);

// A post-restore exec hook waiting for its pods.
struct PendingExecHook {
  std::string namespace_name;
  std::string pod_name;        // a restored pod, or
  std::string label_selector;  // the pods of a restored workload
  ExecHook hook;
  std::chrono::milliseconds wait_timeout{120'000};
};

// The post-restore exec hooks of a restored pod or workload (after mappings).
std::vector<PendingExecHook> restore_exec_hooks(const nlohmann::json& object, const std::string& qualified_resource,
                                                const nlohmann::json& spec_hooks, OperationLog& log);

// Waits for each hook's pods to run and runs it; counts go to `outcome`.
void run_restore_exec_hooks(kube::ApiClient& client, const std::vector<PendingExecHook>& hooks, OperationLog& log,
                            HookOutcome& outcome);

}  // namespace stowage::control
