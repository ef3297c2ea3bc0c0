#include "control/backup_controller.h"

#include "control/backup_copy.h"
#include "control/backup_runner.h"
#include "control/operation_log.h"
#include "control/resources.h"
#include "control/volume_work.h"
#include "util/clock.h"

namespace stowage::control {

using Json = nlohmann::json;

BackupController::BackupController(ControllerContext& context, WorkQueue& workers)
    : context_(context), workers_(workers) {}

void BackupController::reconcile(const Json& backup) {
  std::string name = name_of(backup);
  {
    std::lock_guard lock(mutex_);
    if (running_.count(name)) return;
  }
  if (backup["metadata"].contains("deletionTimestamp")) return finalize(backup);
  std::string phase = phase_of(backup);
  bool synced = backup["metadata"].value("annotations", Json::object()).contains(resources::kSyncedAnnotation);
  if ((phase.empty() || phase == "New") && !synced) return start(backup);
  if (phase == "InProgress") {
    std::lock_guard lock(mutex_);
    if (started_here_.count(name)) return;  // finishing: its status is being written
  }
  if (phase == "InProgress") return recover(backup);
  if (terminal_phase(phase)) {
    std::string expiration = backup.value("status", Json::object()).value("expiration", std::string());
    int64_t expires = 0;
    if (!expiration.empty() && parse_time_utc(expiration, expires) && expires <= now_unix()) {
      context_.log.info("backup expired; deleting it", {{"backup", name}, {"expiration", expiration}});
      context_.events.normal(backup, "Expired", "the backup expired at " + expiration + "; deleting it and its data");
      kube::DynamicClient dynamic(context_.client);
      Status removed = dynamic.remove(resources::backup(), context_.namespace_name, name);
      if (!removed.ok()) context_.log.warning("deleting expired backup failed: " + removed.error().to_string(), {{"backup", name}});
    }
  }
}

void BackupController::fail_validation(const Json& backup, const std::string& reason) {
  std::string name = name_of(backup);
  Json status = {{"phase", "FailedValidation"}, {"validationErrors", Json::array({reason})},
                 {"failureReason", reason}, {"completionTimestamp", format_time_utc(now_unix())}};
  std::string expected = phase_of(backup);
  if (write_status(context_, resources::backup(), name, status, &expected).ok()) {
    context_.events.warning(backup, "FailedValidation", reason);
    auto series = context_.metrics.backups->with({"FailedValidation"});
    if (series.ok()) series.value()->increment();
  }
}

void BackupController::start(const Json& backup) {
  std::string name = name_of(backup);
  Json spec = backup.value("spec", Json::object());
  auto location = context_.locations.get_location(spec.value("storageLocation", std::string()));
  if (!location.ok()) return fail_validation(backup, location.error().to_string());
  Json location_spec = location.value().value("spec", Json::object());
  std::string location_name = name_of(location.value());
  if (location_spec.value("accessMode", std::string()) == "ReadOnly")
    return fail_validation(backup, "BackupStorageLocation " + location_name + " is ReadOnly; backups cannot be written to it");

  // Claim: the finalizer and the location go on the object, then the phase.
  kube::DynamicClient dynamic(context_.client);
  auto claimed = dynamic.update_with_retry(resources::backup(), context_.namespace_name, name, [&](Json& object) -> Status {
    std::string phase = phase_of(object);
    if (!(phase.empty() || phase == "New")) return Error(ErrorCode::kConflict, "already started");
    auto& metadata = object["metadata"];
    Json finalizers = metadata.value("finalizers", Json::array());
    if (std::find(finalizers.begin(), finalizers.end(), resources::kDataFinalizer) == finalizers.end())
      finalizers.push_back(resources::kDataFinalizer);
    metadata["finalizers"] = finalizers;
    metadata["labels"][resources::kLocationLabel] = location_name;
    object["spec"]["storageLocation"] = location_name;
    return ok_status();
  });
  if (!claimed.ok()) return;
  std::string expected = phase_of(backup);
  Json status = {{"phase", "InProgress"}, {"startTimestamp", format_time_utc(now_unix())}};
  if (!write_status(context_, resources::backup(), name, status, &expected).ok()) return;
  context_.events.normal(backup, "InProgress", "backup started, to location " + location_name);
  {
    std::lock_guard lock(mutex_);
    running_.insert(name);
    started_here_.insert(name);
  }
  workers_.submit([this, name] {
    run(name);
    std::lock_guard lock(mutex_);
    running_.erase(name);
    return ok_status();
  });
}

void BackupController::run(const std::string& name) {
  auto started = std::chrono::steady_clock::now();
  kube::DynamicClient dynamic(context_.client);
  auto backup = dynamic.get(resources::backup(), context_.namespace_name, name);
  if (!backup.ok()) return;
  Logger log = context_.log.with("backup", name);
  OperationLog operation("backup", name, log);
  Json status;
  auto location = context_.locations.open(backup.value()["spec"].value("storageLocation", std::string()));
  if (!location.ok()) {
    status = {{"phase", "Failed"}, {"failureReason", location.error().to_string()},
              {"completionTimestamp", format_time_utc(now_unix())}};
  } else if (auto exists = location.value()->backup_exists(name); !exists.ok() || exists.value()) {
    std::string reason = exists.ok() ? "the location already holds objects of a backup named " + name +
                                           " (a backup of the same name, or an attempt a crash interrupted); "
                                           "choose another name or delete the old one"
                                     : "cannot read the location: " + exists.error().to_string();
    status = {{"phase", "Failed"}, {"failureReason", reason}, {"completionTimestamp", format_time_utc(now_unix())}};
  } else if (!backup.value()["spec"].value("copyOf", std::string()).empty()) {
    BackupCopier copier(context_.client, context_.locations, *location.value(), operation);
    status = copier.run(backup.value());
  } else {
    BackupRunner runner(context_.client, context_.discovery, *location.value(), operation,
                        context_.default_volumes_to_fs_backup);
    status = runner.run(backup.value());
  }
  std::string phase = status.value("phase", std::string("Failed"));
  if (phase == "Failed" && status.contains("failureReason"))
    log.error("backup failed: " + status["failureReason"].get<std::string>());
  auto written = write_status(context_, resources::backup(), name, status);
  if (!written.ok()) log.error("recording the backup's status failed: " + written.error().to_string());
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (auto series = context_.metrics.backups->with({phase}); series.ok()) series.value()->increment();
  if (auto h = context_.metrics.backup_seconds->with({}); h.ok()) h.value()->observe(seconds);
  if (auto items = context_.metrics.backup_items->with({}); items.ok())
    items.value()->increment(status.value("progress", Json::object()).value("itemsBackedUp", 0));
  if (auto bytes = context_.metrics.backup_bytes->with({}); bytes.ok())
    bytes.value()->increment(status.value("archive", Json::object()).value("size", 0.0));
  std::string schedule = backup.value()["metadata"].value("labels", Json::object()).value(resources::kScheduleLabel, "");
  if (!schedule.empty() && (phase == "Completed"))
    if (auto g = context_.metrics.schedule_last_success->with({schedule}); g.ok()) g.value()->set(double(now_unix()));
  std::string summary = phase + ": " + std::to_string(status.value("progress", Json::object()).value("itemsBackedUp", 0)) +
                        " items, " + std::to_string(status.value("warnings", 0)) + " warnings, " +
                        std::to_string(status.value("errors", 0)) + " errors" +
                        (status.contains("failureReason") ? " — " + status["failureReason"].get<std::string>() : "");
  if (phase == "Completed") context_.events.normal(backup.value(), phase, summary);
  else context_.events.warning(backup.value(), phase, summary);
  if (phase == "Completed" || phase == "PartiallyFailed") request_copies(backup.value());
}

void BackupController::request_copies(const Json& backup) {
  // spec.copyTo (set directly or by a Schedule's template): one copy Backup
  // per location, created once; an existing one (a retry) is left as it is.
  const Json copy_to = backup["spec"].value("copyTo", Json::array());
  if (!copy_to.is_array()) return;
  kube::DynamicClient dynamic(context_.client);
  for (const auto& target : copy_to) {
    if (!target.is_object()) continue;
    std::string location = target.value("storageLocation", std::string());
    Json request = copy_request(backup, location, target.value("ttl", std::string()), "", context_.namespace_name);
    std::string copy = name_of(request);
    auto created = dynamic.create(resources::backup(), context_.namespace_name, request);
    if (created.ok()) {
      context_.events.normal(backup, "CopyRequested", "copy " + copy + " to location " + location + " created");
    } else if (created.error().code() != ErrorCode::kAlreadyExists) {
      context_.log.error("creating the copy to " + location + " failed: " + created.error().to_string(), {{"backup", name_of(backup)}});
      context_.events.warning(backup, "CopyFailed", "creating copy " + copy + " to location " + location +
                                                        " failed: " + created.error().to_string());
    }
  }
}

void BackupController::recover(const Json& backup) {
  // InProgress but not running here: the server that ran it stopped.
  std::string name = name_of(backup);
  Json status;
  auto location = context_.locations.open(backup["spec"].value("storageLocation", std::string()));
  auto stored = location.ok() ? location.value()->read_backup(name) : Result<backupstore::StoredBackup>(location.error());
  if (stored.ok() && stored.value().backup.contains("status")) {
    status = stored.value().backup["status"];
    context_.log.info("backup finished before the server restarted; status taken from its stored metadata", {{"backup", name}});
  } else {
    status = {{"phase", "Failed"},
              {"failureReason", "the server stopped while this backup was in progress; nothing usable was stored "
                                "(partial objects under backups/" + name + "/ in the location are removed when the backup is deleted)"},
              {"completionTimestamp", format_time_utc(now_unix())}};
  }
  std::string expected = "InProgress";
  if (write_status(context_, resources::backup(), name, status, &expected).ok())
    context_.events.warning(backup, "Recovered", "after a server restart: " + status.value("phase", std::string()));
}

void BackupController::finalize(const Json& backup) {
  std::string name = name_of(backup);
  Json finalizers = backup["metadata"].value("finalizers", Json::array());
  if (std::find(finalizers.begin(), finalizers.end(), resources::kDataFinalizer) == finalizers.end()) return;
  std::string location_name = backup["spec"].value("storageLocation", std::string());
  auto location = context_.locations.open(location_name);
  if (!location.ok()) {
    context_.log.warning("cannot delete the backup's data yet: " + location.error().to_string(), {{"backup", name}});
    context_.events.warning(backup, "DeletionPending", "cannot reach the location to delete the data: " + location.error().to_string());
    return;
  }
  if (location.value()->settings().read_only) {
    context_.events.normal(backup, "DataKept", "location " + location_name + " is ReadOnly: the backup's data stays in it");
  } else {
    // The volumes' snapshots in the repository first (their data is freed by
    // the next prune), then the backup's own objects.
    if (auto stored = location.value()->read_backup(name, true); stored.ok()) {
      auto records = read_volume_records(*location.value(), stored.value());
      if (!records.ok()) {
        context_.events.warning(backup, "DeletionPending", "reading the backup's volume list failed: " + records.error().to_string());
        return;
      }
      Repository& repo = location.value()->repository();
      for (const auto& record : records.value()) {
        if (record.snapshot_id.empty()) continue;
        auto id = repo.resolve_snapshot(record.snapshot_id);
        if (!id.ok()) continue;  // gone already (an earlier, interrupted deletion)
        auto forgotten = repo.remove_snapshot(id.value());  // a locked one is tombstoned: forgotten all the same
        if (!forgotten.ok()) {
          context_.events.warning(backup, "DeletionPending", "forgetting volume snapshot " + record.snapshot_id +
                                                                 " failed: " + forgotten.error().to_string());
          return;
        }
      }
      if (!records.value().empty())
        context_.log.info("forgot the backup's volume snapshots", {{"backup", name}, {"snapshots", std::to_string(records.value().size())}});
    }
    bool deferred = false;
    Status removed = location.value()->delete_backup(name, &deferred);
    if (!removed.ok()) {
      context_.events.warning(backup, "DeletionPending", "deleting the data failed: " + removed.error().to_string());
      return;
    }
    if (deferred) {
      context_.log.info("the backup's objects are under Object Lock retention; recorded for deletion when it ends",
                        {{"backup", name}, {"location", location_name}});
      context_.events.normal(backup, "DeletionDeferred",
                             "objects still locked in " + location_name + "; they are deleted when their retention ends");
    } else {
      context_.log.info("deleted the backup's objects from its location", {{"backup", name}, {"location", location_name}});
    }
  }
  kube::DynamicClient dynamic(context_.client);
  (void)dynamic.update_with_retry(resources::backup(), context_.namespace_name, name, [&](Json& object) -> Status {
    Json kept = Json::array();
    for (const auto& f : object["metadata"].value("finalizers", Json::array()))
      if (f != resources::kDataFinalizer) kept.push_back(f);
    object["metadata"]["finalizers"] = kept;
    return ok_status();
  });
}

}  // namespace stowage::control
