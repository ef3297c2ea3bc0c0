// ScheduleController: validates Schedule objects (cron expression and time
// zone), keeps their phase (Enabled, Paused, FailedValidation) and next run
// in status, and when a run is due creates the Backup
// "<schedule>-YYYYMMDDhhmmss" (UTC) from the schedule's template, labelled
// with the schedule's name. A new schedule runs at once unless
// skipImmediately; a run missed while the server was down runs once when it
// comes back. Retention is each backup's TTL (BackupController deletes
// expired backups and their data).
#pragma once

#include <chrono>
#include <optional>

#include <nlohmann/json.hpp>

#include "control/controller_context.h"

namespace stowage::control {

// "<prefix>-YYYYMMDDhhmmss" (UTC): the name of the backup a schedule takes
// at `when`, and the default name of a restore.
std::string timestamped_name(const std::string& prefix, std::chrono::system_clock::time_point when);

class ScheduleController {
 public:
  explicit ScheduleController(ControllerContext& context) : context_(context) {}
  // Returns when the schedule next needs attention (its next run), if ever.
  std::optional<std::chrono::system_clock::time_point> reconcile(const nlohmann::json& schedule);

 private:
  ControllerContext& context_;
};

}  // namespace stowage::control
