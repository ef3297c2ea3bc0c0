#include "control/server.h"

#include <condition_variable>
#include <thread>

#include "control/backup_controller.h"
#include "control/location_controller.h"
#include "control/resources.h"
#include "control/restore_controller.h"
#include "control/schedule_controller.h"
#include "control/watch_loop.h"
#include "util/http_endpoint.h"

namespace stowage::control {

using Json = nlohmann::json;

Status run_server(kube::ApiClient& client, const ServerOptions& options, const Logger& log, std::stop_token stop) {
  kube::Discovery discovery(client);
  LocationAccess locations(client, options.namespace_name, options.kdf);
  EventRecorder events(client, [&](const std::string& m) { log.warning(m); });
  MetricsRegistry registry;
  ServerMetrics metrics = TRY(ServerMetrics::create(registry));
  ControllerContext context{client, discovery, locations, events, metrics, log, options.namespace_name,
                            options.helper_image, options.default_volumes_to_fs_backup};

  // Readiness: the API server answers and stowage's CRDs are installed.
  std::atomic<bool> ready{false};
  auto endpoint = TRY(start_http_endpoint(registry, options.metrics_address, [&]() -> Status {
    if (ready) return ok_status();
    return Error(ErrorCode::kUnavailable, "the server has not listed its objects yet");
  }, log));

  kube::DynamicClient dynamic(client);
  TRY(dynamic.list(resources::backup(), options.namespace_name, {}));  // CRDs installed and readable?

  WorkQueue backup_workers(options.backup_workers, 1 << 16);
  WorkQueue restore_workers(options.restore_workers, 1 << 16);
  BackupController backups(context, backup_workers);
  RestoreController restores(context, restore_workers);
  ScheduleController schedules(context);
  LocationController location_controller(context, options.location_check);

  WatchLoop watch_loop(client,
                       {resources::backup(), resources::restore(), resources::schedule(),
                        resources::backup_storage_location()},
                       options.namespace_name, "", log);

  log.info("server started", {{"namespace", options.namespace_name}});
  while (!stop.stop_requested()) {
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(options.resync);
    auto listed_locations = dynamic.list(resources::backup_storage_location(), options.namespace_name, {});
    auto listed_backups = dynamic.list(resources::backup(), options.namespace_name, {});
    auto listed_restores = dynamic.list(resources::restore(), options.namespace_name, {});
    auto listed_schedules = dynamic.list(resources::schedule(), options.namespace_name, {});
    if (!listed_locations.ok() || !listed_backups.ok() || !listed_restores.ok() || !listed_schedules.ok()) {
      log.warning("listing stowage objects failed; retrying in 5 s");
      watch_loop.wait_for(std::chrono::seconds(5), stop);
      continue;
    }
    ready = true;
    std::vector<Json> backup_items(listed_backups.value().items.begin(), listed_backups.value().items.end());
    for (const auto& location : listed_locations.value().items) location_controller.reconcile(location, backup_items);
    for (const auto& backup : listed_backups.value().items) backups.reconcile(backup);
    for (const auto& restore : listed_restores.value().items) restores.reconcile(restore);
    auto now = std::chrono::system_clock::now();
    for (const auto& schedule : listed_schedules.value().items) {
      auto next = schedules.reconcile(schedule);
      if (next) {
        auto until = std::chrono::duration_cast<std::chrono::milliseconds>(*next - now);
        wait = std::clamp(until + std::chrono::milliseconds(50), std::chrono::milliseconds(100), wait);
      }
    }
    // Expiry and location checks need a tick even when nothing changes.
    wait = std::min(wait, std::chrono::duration_cast<std::chrono::milliseconds>(options.location_check));
    watch_loop.wait_for(wait, stop);
  }
  log.info("server stopping; waiting for running backups and restores");
  (void)backup_workers.wait();
  (void)restore_workers.wait();
  if (endpoint) endpoint->stop();
  return ok_status();
}

}  // namespace stowage::control
