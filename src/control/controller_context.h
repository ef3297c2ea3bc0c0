// ControllerContext: what every controller of the server shares — the API
// client and discovery, the opened backup locations, the event recorder, the
// metrics, the log, the namespace the server owns — and the helpers they
// all use to write an object's status.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "control/events.h"
#include "control/location_access.h"
#include "kube/api_client.h"
#include "kube/discovery.h"
#include "kube/dynamic_client.h"
#include "util/log.h"
#include "util/metrics.h"

namespace stowage::control {

struct ServerMetrics {
  CounterFamily* backups = nullptr;             // stowage_backups_total{phase}
  CounterFamily* restores = nullptr;            // stowage_restores_total{phase}
  HistogramFamily* backup_seconds = nullptr;    // stowage_backup_duration_seconds
  HistogramFamily* restore_seconds = nullptr;   // stowage_restore_duration_seconds
  CounterFamily* backup_items = nullptr;        // stowage_backup_items_total
  CounterFamily* backup_bytes = nullptr;        // stowage_backup_archive_bytes_total
  GaugeFamily* schedule_last_success = nullptr; // stowage_schedule_last_success_timestamp_seconds{schedule}
  GaugeFamily* locations_available = nullptr;   // stowage_backup_location_available{location}

  static Result<ServerMetrics> create(MetricsRegistry& registry);
};

struct ControllerContext {
  kube::ApiClient& client;
  kube::Discovery& discovery;
  LocationAccess& locations;
  EventRecorder& events;
  ServerMetrics& metrics;
  Logger log;
  std::string namespace_name;
  std::string helper_image;  // the restore-wait init container's image
  bool default_volumes_to_fs_backup = true;
};

// Sets `status` (merged over the current one) on an object of `type`,
// retrying on conflicts. `expect_phase`, when set, must still be the phase
// (a claim: two servers never both start the same work).
Result<nlohmann::json> write_status(ControllerContext& context, const kube::ApiResource& type, const std::string& name,
                                    const nlohmann::json& status, const std::string* expect_phase = nullptr);
Result<nlohmann::json> write_status(kube::ApiClient& client, const std::string& namespace_name,
                                    const kube::ApiResource& type, const std::string& name,
                                    const nlohmann::json& status, const std::string* expect_phase = nullptr);

std::string phase_of(const nlohmann::json& object);
std::string name_of(const nlohmann::json& object);
bool terminal_phase(const std::string& phase);

}  // namespace stowage::control
