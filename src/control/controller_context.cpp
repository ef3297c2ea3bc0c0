#include "control/controller_context.h"

namespace stowage::control {

using Json = nlohmann::json;

Result<ServerMetrics> ServerMetrics::create(MetricsRegistry& registry) {
  ServerMetrics m;
  m.backups = TRY(registry.counter("stowage_backups_total", "Backups finished, by phase.", {"phase"}));
  m.restores = TRY(registry.counter("stowage_restores_total", "Restores finished, by phase.", {"phase"}));
  m.backup_seconds = TRY(registry.histogram("stowage_backup_duration_seconds", "Time to run a backup.",
                                            exponential_histogram_buckets(0.5, 2, 14)));
  m.restore_seconds = TRY(registry.histogram("stowage_restore_duration_seconds", "Time to run a restore.",
                                             exponential_histogram_buckets(0.5, 2, 14)));
  m.backup_items = TRY(registry.counter("stowage_backup_items_total", "Kubernetes objects backed up.", {}));
  m.backup_bytes = TRY(registry.counter("stowage_backup_archive_bytes_total", "Bytes of resource archives stored.", {}));
  m.schedule_last_success = TRY(registry.gauge("stowage_schedule_last_success_timestamp_seconds",
                                               "When each schedule's last successful backup finished.", {"schedule"}));
  m.locations_available = TRY(registry.gauge("stowage_backup_location_available",
                                             "1 when the backup storage location was reachable at its last check.",
                                             {"location"}));
  return m;
}

Result<Json> write_status(ControllerContext& context, const kube::ApiResource& type, const std::string& name,
                          const Json& status, const std::string* expect_phase) {
  return write_status(context.client, context.namespace_name, type, name, status, expect_phase);
}

Result<Json> write_status(kube::ApiClient& client, const std::string& namespace_name, const kube::ApiResource& type,
                          const std::string& name, const Json& status, const std::string* expect_phase) {
  kube::DynamicClient dynamic(client);
  return dynamic.update_with_retry(
      type, namespace_name, name,
      [&](Json& object) -> Status {
        if (expect_phase && phase_of(object) != *expect_phase)
          return Error(ErrorCode::kConflict, type.kind + " " + name + " is " + phase_of(object) + ", no longer " +
                                                 (expect_phase->empty() ? "new" : *expect_phase));
        Json merged = object.value("status", Json::object());
        for (const auto& [key, value] : status.items()) merged[key] = value;
        object["status"] = merged;
        return ok_status();
      },
      true);
}

std::string phase_of(const Json& object) {
  return object.value("status", Json::object()).value("phase", std::string());
}

std::string name_of(const Json& object) { return object["metadata"].value("name", std::string()); }

bool terminal_phase(const std::string& phase) {
  return phase == "Completed" || phase == "PartiallyFailed" || phase == "Failed" || phase == "FailedValidation";
}

}  // namespace stowage::control
