#include "control/schedule_controller.h"

#include "control/cron.h"
#include "control/resources.h"
#include "util/clock.h"

namespace stowage::control {

using Json = nlohmann::json;
using Clock = std::chrono::system_clock;

std::string timestamped_name(const std::string& prefix, Clock::time_point when) {
  time_t t = Clock::to_time_t(when);
  struct tm tm;
  gmtime_r(&t, &tm);
  char stamp[32];
  strftime(stamp, sizeof stamp, "%Y%m%d%H%M%S", &tm);
  return prefix + "-" + stamp;
}

std::optional<Clock::time_point> ScheduleController::reconcile(const Json& schedule) {
  std::string name = name_of(schedule);
  Json spec = schedule.value("spec", Json::object());
  Json status = schedule.value("status", Json::object());
  auto set_status = [&](Json changes) {
    bool changed = false;
    for (const auto& [k, v] : changes.items()) changed = changed || !status.contains(k) || status[k] != v;
    if (!changed) return;
    auto written = write_status(context_, resources::schedule(), name, changes);
    if (!written.ok()) context_.log.warning("updating schedule status failed: " + written.error().to_string(), {{"schedule", name}});
  };
  auto cron = CronSchedule::parse(spec.value("schedule", std::string()), spec.value("timeZone", std::string()));
  if (!cron.ok()) {
    if (phase_of(schedule) != "FailedValidation") context_.events.warning(schedule, "FailedValidation", cron.error().to_string());
    set_status({{"phase", "FailedValidation"}, {"validationErrors", Json::array({cron.error().to_string()})}});
    return std::nullopt;
  }
  if (spec.value("paused", false)) {
    if (phase_of(schedule) != "Paused") context_.events.normal(schedule, "Paused", "schedule paused");
    set_status({{"phase", "Paused"}, {"validationErrors", Json::array()}});
    return std::nullopt;
  }
  auto now = Clock::now();
  int64_t last_unix = 0, created_unix = 0;
  bool has_last = parse_time_utc(status.value("lastBackup", std::string()), last_unix);
  parse_time_utc(schedule["metadata"].value("creationTimestamp", std::string()), created_unix);
  Clock::time_point due;
  if (has_last) due = cron.value().next_after(Clock::from_time_t(last_unix));
  else if (spec.value("skipImmediately", false)) due = cron.value().next_after(Clock::from_time_t(created_unix));
  else due = now;
  if (due > now) {
    set_status({{"phase", "Enabled"}, {"validationErrors", Json::array()}, {"nextRun", format_time_utc(Clock::to_time_t(due))}});
    return due;
  }
  // Due: take the backup.
  std::string backup_name = timestamped_name(name, now);
  Json labels = spec.value("template", Json::object()).value("metadata", Json::object()).value("labels", Json::object());
  labels[resources::kScheduleLabel] = name;
  Json template_spec = spec.value("template", Json::object());
  template_spec.erase("metadata");
  Json backup = {{"apiVersion", resources::kApiVersion},
                 {"kind", "Backup"},
                 {"metadata", {{"name", backup_name}, {"namespace", context_.namespace_name}, {"labels", labels}}},
                 {"spec", template_spec}};
  if (spec.value("useOwnerReferencesInBackup", false))
    backup["metadata"]["ownerReferences"] = Json::array({{{"apiVersion", resources::kApiVersion}, {"kind", "Schedule"},
                                                          {"name", name}, {"uid", schedule["metadata"].value("uid", "")}}});
  kube::DynamicClient dynamic(context_.client);
  auto created = dynamic.create(resources::backup(), context_.namespace_name, backup);
  if (!created.ok() && created.error().code() != ErrorCode::kAlreadyExists) {
    context_.events.warning(schedule, "BackupCreateFailed", "creating backup " + backup_name + " failed: " + created.error().to_string());
    return now + std::chrono::seconds(30);
  }
  context_.log.info("schedule due: created backup " + backup_name, {{"schedule", name}});
  context_.events.normal(schedule, "BackupCreated", "created backup " + backup_name);
  auto next = cron.value().next_after(now);
  set_status({{"phase", "Enabled"},
              {"validationErrors", Json::array()},
              {"lastBackup", format_time_utc(Clock::to_time_t(now))},
              {"nextRun", format_time_utc(Clock::to_time_t(next))}});
  return next;
}

}  // namespace stowage::control
