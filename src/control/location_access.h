// LocationAccess: opens the backup location a BackupStorageLocation object
// describes — its URL (spec.url, or spec.objectStorage + spec.config as
// Velero writes them), the S3 credentials and the repository password from
// Secrets in the location's namespace — and keeps it open (opening derives
// the key from the password) until the object changes. A location with
// spec.copyKeysFrom creates its repository sharing the keys of that
// location's, so that backups can be copied into it. Thread-safe.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

#include "backupstore/backup_location.h"
#include "kube/api_client.h"
#include "util/result.h"

namespace stowage::control {

// The store URL of a BackupStorageLocation's spec.
Result<std::string> location_url(const nlohmann::json& spec, const std::string& location_name);

class LocationAccess {
 public:
  LocationAccess(kube::ApiClient& client, std::string namespace_name, crypto::KdfParams kdf = {});

  // The BackupStorageLocation object by name ("" = the default one).
  Result<nlohmann::json> get_location(const std::string& name);
  // The opened location of a BackupStorageLocation object.
  Result<std::shared_ptr<backupstore::BackupLocation>> open(const nlohmann::json& location);
  Result<std::shared_ptr<backupstore::BackupLocation>> open(const std::string& name);
  const std::string& namespace_name() const { return namespace_; }

 private:
  Result<std::shared_ptr<backupstore::BackupLocation>> open(const nlohmann::json& location, int depth);
  Result<std::string> secret_value(const nlohmann::json& reference, const std::string& field,
                                   const std::string& location_name);

  kube::ApiClient& client_;
  std::string namespace_;
  crypto::KdfParams kdf_;
  std::mutex mutex_;
  struct Cached {
    std::string fingerprint;  // spec + referenced secrets' resourceVersions
    std::shared_ptr<backupstore::BackupLocation> location;
  };
  std::map<std::string, Cached> cache_;
};

}  // namespace stowage::control
