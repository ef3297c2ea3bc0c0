// LocationController: checks each BackupStorageLocation (can the store be
// reached, does the repository open with the password) at its
// validationFrequency and records Available or Unavailable with the reason;
// and syncs backups from the location into the cluster — a backup whose
// metadata is in the location but that has no Backup object (a new cluster
// after losing the old one) gets one, with the stored status — so that
// restores into another cluster work.
#pragma once

#include <chrono>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "control/controller_context.h"

namespace stowage::control {

class LocationController {
 public:
  LocationController(ControllerContext& context, std::chrono::seconds default_frequency)
      : context_(context), default_frequency_(default_frequency) {}
  void reconcile(const nlohmann::json& location, const std::vector<nlohmann::json>& backups);

 private:
  void sync(const nlohmann::json& location, backupstore::BackupLocation& opened,
            const std::vector<nlohmann::json>& backups);

  ControllerContext& context_;
  std::chrono::seconds default_frequency_;
  std::map<std::string, std::chrono::steady_clock::time_point> next_check_;
};

}  // namespace stowage::control
