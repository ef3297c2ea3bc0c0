// Backup copies: a completed backup copied into a second backup location as
// a Backup of its own (spec.copyOf names the source), with its own TTL and
// its own location's retention. The volume data goes through the
// repositories' snapshot copy (only chunks the target lacks are sent, then
// every copied blob is read back from the target); the backup's objects are
// read and checked against the source's manifest, sealed again under the
// copy's name and read back; the metadata object is written last, as for any
// backup. A restore from the copy needs nothing from the source location.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "backupstore/backup_location.h"
#include "control/location_access.h"
#include "control/operation_log.h"
#include "kube/api_client.h"

namespace stowage::control {

// The default name of a copy of `source` into `location` ("<source>-<location>",
// shortened with a hash to fit a label value).
std::string copy_name(const std::string& source, const std::string& location);

// The Backup object asking for a copy of the Backup `source` into `location`.
// ttl "" keeps the source's spec.ttl; name "" takes copy_name().
nlohmann::json copy_request(const nlohmann::json& source, const std::string& location, const std::string& ttl,
                            const std::string& name, const std::string& namespace_name);

class BackupCopier {
 public:
  // `target`: the opened location of the copy (its spec.storageLocation).
  BackupCopier(kube::ApiClient& client, LocationAccess& locations, backupstore::BackupLocation& target,
               OperationLog& log);

  // `copy` is the Backup object with spec.copyOf. Returns its final status:
  // the source's status (phase, counts) with this copy's times, expiration
  // and status.copy; Failed with the reason when nothing usable was stored.
  nlohmann::json run(const nlohmann::json& copy);

 private:
  kube::ApiClient& client_;
  LocationAccess& locations_;
  backupstore::BackupLocation& target_;
  OperationLog& log_;
};

}  // namespace stowage::control
