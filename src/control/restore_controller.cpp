#include "control/restore_controller.h"

#include "archive/gzip.h"
#include "control/operation_log.h"
#include "control/resources.h"
#include "control/restore_runner.h"
#include "util/clock.h"

namespace stowage::control {

using Json = nlohmann::json;

RestoreController::RestoreController(ControllerContext& context, WorkQueue& workers)
    : context_(context), workers_(workers) {}

Result<Json> RestoreController::resolve_backup(const Json& spec) {
  kube::DynamicClient dynamic(context_.client);
  std::string backup_name = spec.value("backupName", std::string());
  std::string schedule = spec.value("scheduleName", std::string());
  if (!backup_name.empty()) {
    auto backup = dynamic.get(resources::backup(), context_.namespace_name, backup_name);
    if (!backup.ok() && backup.error().code() == ErrorCode::kNotFound)
      return Error(ErrorCode::kNotFound, "backup " + backup_name + " does not exist in namespace " + context_.namespace_name,
                   backup_name, "list backups with `stowage backup get`");
    return backup;
  }
  if (schedule.empty())
    return Error(ErrorCode::kInvalidArgument, "the restore names neither spec.backupName nor spec.scheduleName", "",
                 "set one of them");
  kube::ListOptions options;
  options.label_selector = std::string(resources::kScheduleLabel) + "=" + schedule;
  auto backups = TRY(dynamic.list(resources::backup(), context_.namespace_name, options));
  std::optional<Json> latest;
  for (const auto& backup : backups.items) {
    if (phase_of(backup) != "Completed") continue;
    std::string started = backup["status"].value("startTimestamp", std::string());
    if (!latest || started > (*latest)["status"].value("startTimestamp", std::string())) latest = backup;
  }
  if (!latest)
    return Error(ErrorCode::kNotFound, "schedule " + schedule + " has no Completed backup", schedule,
                 "wait for the schedule's next run or name a backup");
  return *latest;
}

void RestoreController::reconcile(const Json& restore) {
  std::string name = name_of(restore);
  {
    std::lock_guard lock(mutex_);
    if (running_.count(name)) return;
  }
  std::string phase = phase_of(restore);
  if (phase == "InProgress") {
    std::lock_guard lock(mutex_);
    if (started_here_.count(name)) return;  // finishing: its status is being written
  }
  if (phase == "InProgress") {
    Json status = {{"phase", "Failed"},
                   {"failureReason", "the server stopped while this restore was in progress; some items may have been "
                                     "created: run the restore again with existingResourcePolicy update to finish it"},
                   {"completionTimestamp", format_time_utc(now_unix())}};
    if (write_status(context_, resources::restore(), name, status, &phase).ok())
      context_.events.warning(restore, "Failed", status["failureReason"].get<std::string>());
    return;
  }
  if (!(phase.empty() || phase == "New")) return;
  auto backup = resolve_backup(restore.value("spec", Json::object()));
  std::string expected = phase;
  if (!backup.ok() || !(phase_of(backup.value()) == "Completed" || phase_of(backup.value()) == "PartiallyFailed")) {
    std::string reason = !backup.ok() ? backup.error().to_string()
                                      : "backup " + name_of(backup.value()) + " is " + phase_of(backup.value()) +
                                            "; only Completed or PartiallyFailed backups can be restored";
    Json status = {{"phase", "FailedValidation"}, {"validationErrors", Json::array({reason})},
                   {"failureReason", reason}, {"completionTimestamp", format_time_utc(now_unix())}};
    if (write_status(context_, resources::restore(), name, status, &expected).ok()) {
      context_.events.warning(restore, "FailedValidation", reason);
      if (auto series = context_.metrics.restores->with({"FailedValidation"}); series.ok()) series.value()->increment();
    }
    return;
  }
  std::string backup_name = name_of(backup.value());
  std::string location_name = backup.value()["spec"].value("storageLocation", std::string());
  Json status = {{"phase", "InProgress"}, {"startTimestamp", format_time_utc(now_unix())}};
  if (!write_status(context_, resources::restore(), name, status, &expected).ok()) return;
  // Record which backup a scheduleName resolved to.
  kube::DynamicClient dynamic(context_.client);
  (void)dynamic.patch(resources::restore(), context_.namespace_name, name, kube::PatchType::kMerge,
                      {{"metadata", {{"labels", {{resources::kBackupLabel, backup_name}}}}}});
  context_.events.normal(restore, "InProgress", "restore of backup " + backup_name + " started");
  {
    std::lock_guard lock(mutex_);
    running_.insert(name);
    started_here_.insert(name);
  }
  workers_.submit([this, name, backup_name, location_name] {
    run(name, backup_name, location_name);
    std::lock_guard lock(mutex_);
    running_.erase(name);
    return ok_status();
  });
}

void RestoreController::run(const std::string& name, const std::string& backup_name, const std::string& location_name) {
  auto started = std::chrono::steady_clock::now();
  kube::DynamicClient dynamic(context_.client);
  auto restore = dynamic.get(resources::restore(), context_.namespace_name, name);
  if (!restore.ok()) return;
  Logger log = context_.log.with("restore", name);
  OperationLog operation("restore", name, log);
  Json status;
  auto location = context_.locations.open(location_name);
  if (!location.ok()) {
    status = {{"phase", "Failed"}, {"failureReason", location.error().to_string()},
              {"completionTimestamp", format_time_utc(now_unix())}};
  } else {
    // With spec.serviceAccountName the objects are created as that account,
    // so a restore can do only what it may (docs/security.md).
    std::unique_ptr<kube::ApiClient> impersonating;
    std::string account = restore.value()["spec"].value("serviceAccountName", std::string());
    if (!account.empty()) {
      kube::ClusterConfig config = context_.client.config();
      config.impersonate_user = "system:serviceaccount:" + context_.namespace_name + ":" + account;
      config.impersonate_groups = {"system:serviceaccounts", "system:serviceaccounts:" + context_.namespace_name,
                                   "system:authenticated"};
      auto client = kube::ApiClient::create(config, context_.client.options());
      if (!client.ok()) {
        status = failed_status(status, operation, "Failed", "cannot act as " + config.impersonate_user + ": " +
                                                                client.error().to_string());
      } else {
        impersonating = std::move(client).value();
        operation.info("objects are created as " + config.impersonate_user);
      }
    }
    if (account.empty() || impersonating) {
      RestoreRunner runner(impersonating ? *impersonating : context_.client, context_.discovery, *location.value(),
                           operation, {&context_.client, location_name, context_.helper_image});
      status = runner.run(restore.value(), backup_name);
    }
    if (!location.value()->settings().read_only) {
      auto store_gz = [&](backupstore::RestoreObject object, const std::string& text) -> Status {
        auto gz = TRY(archive::gzip_compress(as_bytes(text)));
        TRY(location.value()->put_restore_object(name, object, gz));
        return ok_status();
      };
      Status stored = store_gz(backupstore::RestoreObject::kResults, operation.results().dump());
      if (stored.ok()) stored = store_gz(backupstore::RestoreObject::kLog, operation.text());
      if (!stored.ok()) log.warning("storing the restore's log and results failed: " + stored.error().to_string());
    }
  }
  std::string phase = status.value("phase", std::string("Failed"));
  auto written = write_status(context_, resources::restore(), name, status);
  if (!written.ok()) log.error("recording the restore's status failed: " + written.error().to_string());
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (auto series = context_.metrics.restores->with({phase}); series.ok()) series.value()->increment();
  if (auto h = context_.metrics.restore_seconds->with({}); h.ok()) h.value()->observe(seconds);
  Json progress = status.value("progress", Json::object());
  std::string summary = phase + ": " + std::to_string(progress.value("itemsRestored", 0)) + " of " +
                        std::to_string(progress.value("totalItems", 0)) + " items restored, " +
                        std::to_string(status.value("warnings", 0)) + " warnings, " +
                        std::to_string(status.value("errors", 0)) + " errors" +
                        (status.contains("failureReason") ? " — " + status["failureReason"].get<std::string>() : "");
  if (phase == "Completed") context_.events.normal(restore.value(), phase, summary);
  else context_.events.warning(restore.value(), phase, summary);
}

}  // namespace stowage::control
