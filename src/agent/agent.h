// Agent: `stowage agent`, one per node (a DaemonSet). Executes the
// VolumeBackup and VolumeRestore work items addressed to its node (label
// stowage.io/node): claims each (New -> Accepted, a compare-and-set on the
// phase), moves the data through the repository of the item's location with
// the method of its storage engine, reports progress (bytes done, total,
// rate) every few seconds, and records the result (snapshot id, or what
// failed and what to do). An item found Accepted or InProgress that this
// process is not running was interrupted by a restart of the agent: it is
// started again, up to max_attempts times, then failed — never lost, never
// reported done without its data. Memory and parallelism are bounded by
// `concurrency` (items at once) and the data path's own bounded queues.
#pragma once

#include <chrono>
#include <stop_token>
#include <string>

#include "crypto/kdf.h"
#include "kube/api_client.h"
#include "util/log.h"
#include "util/result.h"

namespace stowage::agent {

struct AgentOptions {
  std::string node_name;
  std::string namespace_name = "stowage";
  std::string kubelet_root = "/var/lib/kubelet";
  size_t concurrency = 1;                           // work items at once
  size_t data_workers = 2;                          // threads per item in the data path
  std::string metrics_address;                      // "" disables the endpoint
  std::chrono::seconds resync{30};
  std::chrono::milliseconds progress_interval{2000};
  int max_attempts = 3;
  crypto::KdfParams kdf;                            // key slot of repositories created on first use
};

// Runs until `stop` is requested; an error only when it cannot start.
Status run_agent(kube::ApiClient& client, const AgentOptions& options, const Logger& log, std::stop_token stop);

}  // namespace stowage::agent
