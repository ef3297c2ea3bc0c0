// RestoreController: drives Restore objects — resolves the backup (by name,
// or the latest successful one of a schedule), claims the restore, runs it on
// the restore workers (RestoreRunner), stores its log and results beside the
// backup's location, and records status, events and metrics. A restore that
// was in progress when the server stopped is marked Failed, saying so
// (restores are not resumable; re-running one with existingResourcePolicy
// update finishes the job).
#pragma once

#include <mutex>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "control/controller_context.h"
#include "util/work_queue.h"

namespace stowage::control {

class RestoreController {
 public:
  RestoreController(ControllerContext& context, WorkQueue& workers);
  void reconcile(const nlohmann::json& restore);

 private:
  Result<nlohmann::json> resolve_backup(const nlohmann::json& spec);
  void run(const std::string& name, const std::string& backup_name, const std::string& location_name);

  ControllerContext& context_;
  WorkQueue& workers_;
  std::mutex mutex_;
  std::set<std::string> running_;
  std::set<std::string> started_here_;  // claimed by this process (an InProgress one not here was interrupted)
};

}  // namespace stowage::control
