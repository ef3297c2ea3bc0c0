// BackupLocation: one backup storage location opened for use — the object
// store, the stowage repository inside it (volume data; also the source of
// the key that seals everything else), and the backups and restores stored
// in Velero's layout. Every object is written once (create-only) and, unless
// the location is explicitly Plain, sealed (sealed_object.h). A backup is
// complete when its metadata object exists; that object carries the manifest
// (size and SHA-256 of every other object of the backup), so a backup's set
// of objects is tamper-evident as a whole.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "backupstore/layout.h"
#include "backupstore/sealed_object.h"
#include "crypto/kdf.h"
#include "repo/repository.h"
#include "store/object_store.h"

namespace stowage::backupstore {

enum class ArchiveFormat { kEncrypted, kPlain };
const char* archive_format_name(ArchiveFormat format);  // "Encrypted", "Plain"

inline constexpr const char* kManifestAnnotation = "stowage.io/backup-manifest";
inline constexpr int kManifestFormatVersion = 1;

// What the metadata object records about the other objects of a backup.
struct BackupManifest {
  int format_version = kManifestFormatVersion;
  ArchiveFormat archive_format = ArchiveFormat::kEncrypted;
  std::map<std::string, ObjectDigest> objects;  // file name (layout::backup_object_file) -> digest
};

// A backup's metadata as read back: the Backup object (status included) and,
// for backups stowage wrote, the manifest. Velero-written backups have none.
struct StoredBackup {
  std::string name;
  nlohmann::json backup;
  std::optional<BackupManifest> manifest;
  bool sealed = false;
};

struct LocationSettings {
  ArchiveFormat archive_format = ArchiveFormat::kEncrypted;
  bool read_only = false;
  crypto::KdfParams kdf;  // for a repository created on first use
  // S3 Object Lock (spec.objectLock): every object of a backup is written
  // with retain-until = the backup's expiration + lock_margin_seconds.
  RetentionMode lock_mode = RetentionMode::kNone;
  int64_t lock_margin_seconds = 0;
  // The lock period of the repository under repository/ (volume data) when
  // it is created with a lock (spec.objectLock.volumeDataPeriod, default 720h).
  int64_t repository_lock_period_seconds = 720 * 3600;
  // A repository created on first use shares this repository's master key
  // and chunking (spec.copyKeysFrom): backups can then be copied into this
  // location by sending only the chunks it lacks. Used only while opening.
  const Repository* share_keys_with = nullptr;
};

// Fills the Object Lock settings from a BackupStorageLocation spec
// (spec.objectLock {mode, retentionMargin}); kInvalidArgument names a bad field.
Status apply_object_lock_spec(const nlohmann::json& spec, LocationSettings& settings);

// The bucket's Object Lock state for status.objectLock ({enabled, mode,
// versioning}); fails when the settings ask for a lock the bucket lacks (or
// it cannot be read); null when none is asked for and it cannot be read.
Result<nlohmann::json> object_lock_status(ObjectStore& store, const LocationSettings& settings);

class BackupLocation {
 public:
  // Opens the repository under repository/ (creating it on first use unless
  // read-only) with `password`.
  static Result<std::unique_ptr<BackupLocation>> open(std::shared_ptr<ObjectStore> root, std::string_view password,
                                                      const LocationSettings& settings);

  ObjectStore& store() { return *root_; }
  Repository& repository() { return *repository_; }
  const LocationSettings& settings() const { return settings_; }

  // Writes one object of a backup or restore (create-only) and returns the
  // digest of the stored bytes. Fails on a read-only location.
  // With an Object Lock setting, expires_unix (the backup's expiration) is
  // required: the object is retained until it plus the margin.
  Result<ObjectDigest> put_backup_object(const std::string& backup, BackupObject object, ByteView content,
                                         int64_t expires_unix = 0);
  Result<ObjectDigest> put_restore_object(const std::string& restore, RestoreObject object, ByteView content);
  // The last write of a backup: its Backup object with the manifest as an
  // annotation (its status.expiration sets the retention under Object Lock).
  Status put_backup_metadata(const std::string& backup, nlohmann::json backup_object, const BackupManifest& manifest);

  // Reads and checks a backup's metadata. Plain metadata in an encrypted
  // location is refused unless allow_unverified (a Velero-written backup the
  // user chose to restore).
  Result<StoredBackup> read_backup(const std::string& backup, bool allow_unverified = false);
  // Streams one object of a read backup, checked against its manifest.
  Result<std::unique_ptr<ObjectReader>> open_backup_object(const StoredBackup& backup, BackupObject object,
                                                          uint64_t max_size = UINT64_MAX);
  Result<std::unique_ptr<ObjectReader>> open_restore_object(const std::string& restore, RestoreObject object);
  // Whether any object of the backup exists (complete or not).
  Result<bool> backup_exists(const std::string& backup);
  // Names of the backups whose metadata object exists, sorted; backups
  // waiting for deletion (pending-deletions/) are left out.
  Result<std::vector<std::string>> list_backups();
  // Deletes every object of a backup, the metadata first so that a partly
  // deleted backup is never taken for a complete one. Missing objects are fine.
  // Objects still under Object Lock retention are left, and the backup is
  // recorded under pending-deletions/ (deferred = true): that is not a
  // failure; retry_pending_deletions() finishes the job later.
  Status delete_backup(const std::string& backup, bool* deferred = nullptr);
  // Deletes what earlier delete_backup calls had to leave; returns the names
  // of the backups now completely deleted.
  Result<std::vector<std::string>> retry_pending_deletions();
  Status delete_restore(const std::string& restore);

 private:
  BackupLocation(std::shared_ptr<ObjectStore> root, std::unique_ptr<Repository> repository, LocationSettings settings);
  Result<ObjectDigest> put(const std::string& key, ByteView content, const Retention& retention = {});
  Result<Retention> retention_for(const std::string& backup, int64_t expires_unix) const;
  // Removes the backup's objects; true when some were locked and stay.
  Result<bool> remove_backup_objects(const std::string& backup);
  ReadPolicy policy(bool allow_unverified) const;
  Status delete_prefix(const std::string& prefix, const std::string& first);

  std::shared_ptr<ObjectStore> root_;
  std::unique_ptr<Repository> repository_;
  LocationSettings settings_;
  crypto::Aead aead_;
};

nlohmann::json manifest_to_json(const BackupManifest& manifest);
Result<BackupManifest> manifest_from_json(const nlohmann::json& json, const std::string& object);

}  // namespace stowage::backupstore
