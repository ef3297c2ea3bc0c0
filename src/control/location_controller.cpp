#include "control/location_controller.h"

#include <set>

#include "control/resources.h"
#include "util/clock.h"
#include "util/duration.h"

namespace stowage::control {

using Json = nlohmann::json;

void LocationController::reconcile(const Json& location, const std::vector<Json>& backups) {
  std::string name = name_of(location);
  auto now = std::chrono::steady_clock::now();
  auto it = next_check_.find(name);
  bool changed_spec = location.value("status", Json::object()).value("observedGeneration", 0) !=
                      location["metadata"].value("generation", 0);
  if (it != next_check_.end() && now < it->second && !changed_spec) return;
  auto frequency = default_frequency_;
  auto configured = parse_duration(location.value("spec", Json::object()).value("validationFrequency", std::string()));
  if (configured.ok() && configured.value().count() > 0)
    frequency = std::chrono::duration_cast<std::chrono::seconds>(configured.value());
  next_check_[name] = now + frequency;

  auto opened = context_.locations.open(location);
  Status checked = opened.ok() ? Status(ok_status()) : Status(opened.error());
  if (checked.ok()) {
    auto listed = opened.value()->list_backups();
    if (!listed.ok()) checked = listed.error();
  }
  Json object_lock;
  if (checked.ok()) {  // status.objectLock; a lock asked for but missing makes the location Unavailable
    auto lock = backupstore::object_lock_status(opened.value()->store(), opened.value()->settings());
    if (lock.ok()) object_lock = std::move(lock).value();
    else checked = lock.error();
  }
  std::string phase = checked.ok() ? "Available" : "Unavailable";
  std::string message = checked.ok() ? "" : checked.error().to_string();
  Json status = {{"phase", phase},
                 {"message", message},
                 {"lastValidationTime", format_time_utc(now_unix())},
                 {"observedGeneration", location["metadata"].value("generation", 0)}};
  if (!object_lock.is_null()) status["objectLock"] = object_lock;
  if (phase_of(location) != phase) {
    if (checked.ok()) context_.events.normal(location, "Available", "the location can be read and written");
    else context_.events.warning(location, "Unavailable", message);
    context_.log.info("backup location is " + phase + (message.empty() ? "" : ": " + message), {{"location", name}});
  }
  if (auto g = context_.metrics.locations_available->with({name}); g.ok()) g.value()->set(checked.ok() ? 1 : 0);
  if (checked.ok()) {
    // Backups whose deletion waited for their Object Lock retention.
    auto finished = opened.value()->retry_pending_deletions();
    if (!finished.ok()) context_.log.warning("retrying locked deletions: " + finished.error().to_string(), {{"location", name}});
    else for (const auto& b : finished.value()) context_.log.info("deleted a backup whose retention ended", {{"location", name}, {"backup", b}});
    sync(location, *opened.value(), backups);
    status["lastSyncedTime"] = format_time_utc(now_unix());
  }
  auto written = write_status(context_, resources::backup_storage_location(), name, status);
  if (!written.ok()) context_.log.warning("updating location status failed: " + written.error().to_string(), {{"location", name}});
}

void LocationController::sync(const Json& location, backupstore::BackupLocation& opened,
                              const std::vector<Json>& backups) {
  std::string location_name = name_of(location);
  std::set<std::string> known;
  for (const auto& b : backups) known.insert(name_of(b));
  auto stored_names = opened.list_backups();
  if (!stored_names.ok()) return;
  kube::DynamicClient dynamic(context_.client);
  for (const auto& name : stored_names.value()) {
    if (known.count(name)) continue;
    bool plain_location = opened.settings().archive_format == backupstore::ArchiveFormat::kPlain;
    auto stored = opened.read_backup(name, plain_location);
    if (!stored.ok()) {
      context_.log.warning("backup in the location not synced: " + stored.error().to_string(),
                           {{"location", location_name}, {"backup", name}});
      continue;
    }
    Json status = stored.value().backup.value("status", Json::object());
    if (!terminal_phase(status.value("phase", std::string()))) continue;
    Json labels = stored.value().backup["metadata"].value("labels", Json::object());
    labels[resources::kLocationLabel] = location_name;
    Json spec = stored.value().backup.value("spec", Json::object());
    spec["storageLocation"] = location_name;
    Json backup = {{"apiVersion", resources::kApiVersion},
                   {"kind", "Backup"},
                   {"metadata", {{"name", name}, {"namespace", context_.namespace_name}, {"labels", labels},
                                 {"annotations", {{resources::kSyncedAnnotation, location_name}}},
                                 {"finalizers", Json::array({resources::kDataFinalizer})}}},
                   {"spec", spec}};
    if (!stored.value().manifest)
      backup["metadata"]["annotations"]["stowage.io/written-by"] = "velero";
    auto created = dynamic.create(resources::backup(), context_.namespace_name, backup);
    if (!created.ok()) {
      context_.log.warning("creating the synced Backup failed: " + created.error().to_string(), {{"backup", name}});
      continue;
    }
    auto written = write_status(context_, resources::backup(), name, status);
    if (written.ok()) context_.log.info("synced backup from the location", {{"backup", name}, {"location", location_name}});
  }
}

}  // namespace stowage::control
