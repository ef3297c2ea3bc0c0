// RestoreWait: what `stowage restore-wait`, the init container injected into
// restored pods, does: it waits until the node agent has written every named
// volume (the agent leaves <volume>.done in the shared signal directory) and
// then exits 0, so that the application's containers start only on complete
// data. A <volume>.failed file ends the wait with the agent's reason (the
// pod's init container fails and is retried by the kubelet, visibly).
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "util/result.h"

namespace stowage::agent {

struct RestoreWaitOptions {
  std::chrono::milliseconds poll{500};
  std::chrono::seconds timeout{0};  // 0: wait as long as it takes
  std::function<void(const std::string&)> say;  // progress lines
};

Status wait_for_restore(const std::string& dir, const std::vector<std::string>& volumes,
                        const RestoreWaitOptions& options);

}  // namespace stowage::agent
