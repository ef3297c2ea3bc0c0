// Server: `stowage server`, the controllers of one namespace — backups,
// restores, schedules, backup storage locations — plus the metrics and
// health endpoint. Watches stowage's objects to react at once and also
// reconciles everything every resync period, so a missed event only delays
// work. Backups and restores run on bounded worker pools of their own, so a
// long restore never holds back a backup.
#pragma once

#include <chrono>
#include <stop_token>
#include <string>

#include "crypto/kdf.h"
#include "kube/api_client.h"
#include "util/log.h"
#include "util/result.h"

namespace stowage::control {

struct ServerOptions {
  std::string namespace_name = "stowage";
  std::string metrics_address = "127.0.0.1:8085";  // "" disables the endpoint
  size_t backup_workers = 2;
  size_t restore_workers = 2;
  std::chrono::seconds resync{30};
  std::chrono::seconds location_check{60};  // default validationFrequency
  bool default_volumes_to_fs_backup = true;  // Backup spec.defaultVolumesToFsBackup when unset
  std::string helper_image = "stowage:0.1.0";  // restore-wait init containers (stowage's own image)
  crypto::KdfParams kdf;                     // key slot of repositories created on first use
};

// Runs until `stop` is requested; an error only when it cannot start.
Status run_server(kube::ApiClient& client, const ServerOptions& options, const Logger& log, std::stop_token stop);

}  // namespace stowage::control
