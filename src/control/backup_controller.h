// BackupController: drives Backup objects through their phases — validates
// and claims a New backup (finalizer, location label), runs it on the backup
// workers (BackupRunner), records the result (status, events, metrics);
// after a server restart, adopts a backup whose metadata reached the
// location or fails it saying why; copies a backup (spec.copyOf, BackupCopier)
// and asks for the copies spec.copyTo names; deletes expired backups; and on deletion
// removes the backup's objects from its location before letting it go.
#pragma once

#include <mutex>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "control/controller_context.h"
#include "util/work_queue.h"

namespace stowage::control {

class BackupController {
 public:
  BackupController(ControllerContext& context, WorkQueue& workers);
  void reconcile(const nlohmann::json& backup);

 private:
  void start(const nlohmann::json& backup);
  void run(const std::string& name);
  void recover(const nlohmann::json& backup);
  void finalize(const nlohmann::json& backup);
  void request_copies(const nlohmann::json& backup);
  void fail_validation(const nlohmann::json& backup, const std::string& reason);

  ControllerContext& context_;
  WorkQueue& workers_;
  std::mutex mutex_;
  std::set<std::string> running_;
  std::set<std::string> started_here_;  // claimed by this process (an InProgress one not here was interrupted)
};

}  // namespace stowage::control
