#include "backupstore/backup_location.h"

#include <algorithm>
#include <set>

#include "store/prefix_store.h"
#include "util/clock.h"
#include "util/duration.h"

namespace stowage::backupstore {

using nlohmann::json;

const char* archive_format_name(ArchiveFormat format) {
  return format == ArchiveFormat::kPlain ? "Plain" : "Encrypted";
}

namespace {
constexpr uint64_t kMaxMetadataBytes = 16ull << 20;
constexpr std::string_view kSealingPurpose = "backup location objects v1";
}  // namespace

json manifest_to_json(const BackupManifest& manifest) {
  json objects = json::object();
  for (const auto& [file, digest] : manifest.objects)
    objects[file] = {{"size", digest.size}, {"sha256", digest.sha256}};
  return {{"formatVersion", manifest.format_version},
          {"archiveFormat", archive_format_name(manifest.archive_format)},
          {"objects", objects}};
}

Result<BackupManifest> manifest_from_json(const json& j, const std::string& object) {
  auto bad = [&](const std::string& why) {
    return Error(ErrorCode::kCorrupt, "the backup manifest in " + object + " " + why, object,
                 "the metadata object is damaged or not one stowage wrote");
  };
  if (!j.is_object() || !j.contains("formatVersion") || !j["formatVersion"].is_number_integer())
    return bad("has no formatVersion");
  BackupManifest manifest;
  manifest.format_version = j["formatVersion"].get<int>();
  if (manifest.format_version > kManifestFormatVersion)
    return Error(ErrorCode::kUnsupported,
                 "the backup manifest in " + object + " has format version " +
                     std::to_string(manifest.format_version) + "; this stowage reads versions up to " +
                     std::to_string(kManifestFormatVersion),
                 object, "upgrade stowage to restore this backup");
  if (manifest.format_version < 1) return bad("has an invalid formatVersion");
  if (j.contains("archiveFormat") && !j["archiveFormat"].is_string()) return bad("has an invalid archiveFormat");
  manifest.archive_format =
      j.value("archiveFormat", std::string()) == "Plain" ? ArchiveFormat::kPlain : ArchiveFormat::kEncrypted;
  if (!j.contains("objects") || !j["objects"].is_object()) return bad("has no object list");
  for (const auto& [file, digest] : j["objects"].items()) {
    if (!digest.is_object() || !digest.contains("size") || !digest["size"].is_number_unsigned() ||
        !digest.contains("sha256") || !digest["sha256"].is_string())
      return bad("has an invalid entry for " + file);
    manifest.objects[file] = {digest["size"].get<uint64_t>(), digest["sha256"].get<std::string>()};
  }
  return manifest;
}

BackupLocation::BackupLocation(std::shared_ptr<ObjectStore> root, std::unique_ptr<Repository> repository,
                               LocationSettings settings)
    : root_(std::move(root)),
      repository_(std::move(repository)),
      settings_(std::move(settings)),
      aead_(repository_->derive_key(kSealingPurpose)) {}

Result<std::unique_ptr<BackupLocation>> BackupLocation::open(std::shared_ptr<ObjectStore> root,
                                                             std::string_view password,
                                                             const LocationSettings& settings) {
  auto repo_store = std::make_shared<PrefixStore>(root, std::string(layout::kRepositoryPrefix));
  auto repository = Repository::open(repo_store, password);
  if (!repository.ok() && repository.error().code() == ErrorCode::kNotFound && !settings.read_only) {
    InitOptions options;
    options.kdf = settings.kdf;
    if (settings.lock_mode != RetentionMode::kNone)
      options.lock = {settings.lock_mode, settings.repository_lock_period_seconds,
                      // the margin is also the longest gap between retention refreshes: at least a day
                      std::max<int64_t>(settings.lock_margin_seconds, 24 * 3600)};
    Status created = settings.share_keys_with
                         ? Repository::init_sharing_keys(*repo_store, password, *settings.share_keys_with,
                                                         options.kdf, options.lock)
                         : Repository::init(*repo_store, password, options);
    // Another process (a node agent) may have created it a moment before.
    if (!created.ok() && created.error().code() != ErrorCode::kAlreadyExists) return created.error();
    repository = Repository::open(repo_store, password);
  }
  if (!repository.ok()) return repository.error();
  return std::unique_ptr<BackupLocation>(new BackupLocation(root, std::move(repository).value(), settings));
}

Status apply_object_lock_spec(const json& spec, LocationSettings& settings) {
  if (!spec.is_object() || !spec.contains("objectLock") || !spec["objectLock"].is_object()) return ok_status();
  const json& lock = spec["objectLock"];
  auto mode = parse_retention_mode(lock.value("mode", std::string()));
  if (!mode.ok() || *mode == RetentionMode::kNone)
    return Error(ErrorCode::kInvalidArgument, "spec.objectLock.mode must be GOVERNANCE or COMPLIANCE",
                 "spec.objectLock.mode");
  settings.lock_mode = *mode;
  settings.lock_margin_seconds = 0;
  std::string margin = lock.value("retentionMargin", std::string());
  if (!margin.empty()) {
    auto parsed = parse_duration(margin);
    if (!parsed.ok() || parsed->count() < 0)
      return Error(ErrorCode::kInvalidArgument, "spec.objectLock.retentionMargin \"" + margin + "\" is not a duration",
                   "spec.objectLock.retentionMargin", "use a Go duration such as 168h");
    settings.lock_margin_seconds = std::chrono::duration_cast<std::chrono::seconds>(*parsed).count();
  }
  std::string period = lock.value("volumeDataPeriod", std::string());
  if (!period.empty()) {
    auto parsed = parse_duration(period);
    if (!parsed.ok() || parsed->count() <= 0)
      return Error(ErrorCode::kInvalidArgument, "spec.objectLock.volumeDataPeriod \"" + period + "\" is not a duration",
                   "spec.objectLock.volumeDataPeriod", "use a Go duration such as 720h");
    settings.repository_lock_period_seconds = std::chrono::duration_cast<std::chrono::seconds>(*parsed).count();
  }
  return ok_status();
}

Result<json> object_lock_status(ObjectStore& store, const LocationSettings& settings) {
  auto read = store.lock_state();
  if (!read.ok()) {
    // Not asked for: an identity that may not read the lock configuration is no reason to fail.
    if (settings.lock_mode == RetentionMode::kNone) return json();
    return std::move(read).error().with_context("reading the bucket's Object Lock configuration for spec.objectLock");
  }
  BucketLockState state = std::move(read).value();
  json status{{"enabled", state.object_lock}, {"versioning", state.versioning}};
  if (state.default_mode != RetentionMode::kNone) status["mode"] = retention_mode_name(state.default_mode);
  if (settings.lock_mode != RetentionMode::kNone && !state.object_lock)
    return Error(ErrorCode::kUnsupported,
                 "spec.objectLock asks for " + std::string(retention_mode_name(settings.lock_mode)) + " retention but " +
                     store.describe() + " has no Object Lock enabled",
                 "spec.objectLock",
                 "use a bucket created with Object Lock enabled, or remove spec.objectLock");
  return status;
}

Result<Retention> BackupLocation::retention_for(const std::string& backup, int64_t expires_unix) const {
  if (settings_.lock_mode == RetentionMode::kNone) return Retention{};
  if (expires_unix <= 0)
    return Error(ErrorCode::kInvalidArgument,
                 "backup " + backup + " has no expiration, and the location's Object Lock needs one", backup,
                 "give the backup a ttl");
  return Retention{settings_.lock_mode, expires_unix + settings_.lock_margin_seconds};
}

Result<ObjectDigest> BackupLocation::put(const std::string& key, ByteView content, const Retention& retention) {
  if (settings_.read_only)
    return Error(ErrorCode::kPermissionDenied, "the backup location " + root_->describe() + " is read-only", key,
                 "set the location's accessMode to ReadWrite to write backups to it");
  Bytes stored;
  ByteView bytes = content;
  if (settings_.archive_format == ArchiveFormat::kEncrypted) {
    stored = seal_object(aead_, key, content);
    bytes = stored;
  }
  TRY_STATUS(retention.active() ? root_->put_retained(key, bytes, retention) : root_->put(key, bytes));
  return digest_of(bytes);
}

Result<ObjectDigest> BackupLocation::put_backup_object(const std::string& backup, BackupObject object,
                                                       ByteView content, int64_t expires_unix) {
  TRY_STATUS(layout::check_name(backup));
  Retention retention = TRY(retention_for(backup, expires_unix));
  return put(layout::backup_object(backup, object), content, retention);
}

Result<ObjectDigest> BackupLocation::put_restore_object(const std::string& restore, RestoreObject object,
                                                        ByteView content) {
  TRY_STATUS(layout::check_name(restore));
  return put(layout::restore_object(restore, object), content);
}

Status BackupLocation::put_backup_metadata(const std::string& backup, json backup_object,
                                           const BackupManifest& manifest) {
  TRY_STATUS(layout::check_name(backup));
  backup_object["metadata"]["annotations"][kManifestAnnotation] = manifest_to_json(manifest).dump();
  int64_t expires = 0;
  if (!parse_time_utc(backup_object.value("/status/expiration"_json_pointer, std::string()), expires)) expires = 0;
  Retention retention = TRY(retention_for(backup, expires));
  std::string text = backup_object.dump(2);
  TRY(put(layout::backup_object(backup, BackupObject::kMetadata), as_bytes(text), retention));
  return ok_status();
}

ReadPolicy BackupLocation::policy(bool allow_unverified) const {
  ReadPolicy policy;
  policy.aead = &aead_;
  policy.require_sealed = settings_.archive_format == ArchiveFormat::kEncrypted && !allow_unverified;
  return policy;
}

Result<StoredBackup> BackupLocation::read_backup(const std::string& backup, bool allow_unverified) {
  TRY_STATUS(layout::check_name(backup));
  std::string key = layout::backup_object(backup, BackupObject::kMetadata);
  ReadPolicy read_policy = policy(allow_unverified);
  read_policy.max_size = kMaxMetadataBytes;
  auto reader = TRY(ObjectReader::open(*root_, key, read_policy));
  bool sealed = reader->sealed();
  Bytes bytes = TRY(read_remaining(*reader));
  StoredBackup stored;
  stored.name = backup;
  stored.sealed = sealed;
  stored.backup = json::parse(bytes.begin(), bytes.end(), nullptr, false);
  if (stored.backup.is_discarded() || !stored.backup.is_object())
    return Error(ErrorCode::kCorrupt, "the backup metadata " + key + " is not a JSON object", key,
                 "the object is damaged or not a backup's metadata");
  std::string stored_name = stored.backup.value("/metadata/name"_json_pointer, std::string());
  if (stored_name != backup)
    return Error(ErrorCode::kCorrupt,
                 "the backup metadata " + key + " describes a backup named \"" + stored_name + "\", not \"" + backup +
                     "\"",
                 key, "the object was moved or replaced; do not restore from it");
  auto annotation = stored.backup.value("/metadata/annotations"_json_pointer, json::object());
  if (annotation.contains(kManifestAnnotation) && annotation[kManifestAnnotation].is_string()) {
    json manifest = json::parse(annotation[kManifestAnnotation].get<std::string>(), nullptr, false);
    stored.manifest = TRY(manifest_from_json(manifest, key));
    if (stored.manifest->archive_format == ArchiveFormat::kEncrypted && !sealed)
      return Error(ErrorCode::kCorrupt, "the backup metadata " + key + " claims encrypted objects but is not sealed",
                   key, "someone replaced it; do not restore from this backup");
  } else if (!allow_unverified) {
    return Error(ErrorCode::kCorrupt, "the backup metadata " + key + " has no stowage manifest", key,
                 "it was not written by stowage (a Velero backup?): restore it with --from-velero-backup, which "
                 "checks every item but cannot prove that none was added or changed");
  }
  return stored;
}

Result<std::unique_ptr<ObjectReader>> BackupLocation::open_backup_object(const StoredBackup& backup,
                                                                        BackupObject object, uint64_t max_size) {
  std::string key = layout::backup_object(backup.name, object);
  ReadPolicy read_policy = policy(!backup.manifest.has_value());
  read_policy.max_size = max_size;
  if (backup.manifest) {
    std::string file = layout::backup_object_file(backup.name, object);
    auto it = backup.manifest->objects.find(file);
    if (it == backup.manifest->objects.end())
      return Error(ErrorCode::kNotFound, "backup " + backup.name + " has no " + file + " (its manifest does not list it)",
                   key, "");
    read_policy.expected = it->second;
    read_policy.require_sealed = backup.manifest->archive_format == ArchiveFormat::kEncrypted;
  }
  return ObjectReader::open(*root_, key, read_policy);
}

Result<std::unique_ptr<ObjectReader>> BackupLocation::open_restore_object(const std::string& restore,
                                                                         RestoreObject object) {
  TRY_STATUS(layout::check_name(restore));
  return ObjectReader::open(*root_, layout::restore_object(restore, object), policy(false));
}

Result<bool> BackupLocation::backup_exists(const std::string& backup) {
  TRY_STATUS(layout::check_name(backup));
  bool found = false;
  TRY_STATUS(root_->list(layout::backup_prefix(backup), [&](const ObjectInfo&) { found = true; }));
  return found;
}

Result<std::vector<std::string>> BackupLocation::list_backups() {
  std::vector<std::string> names;
  std::string metadata_file = layout::backup_object_file("", BackupObject::kMetadata);
  TRY_STATUS(root_->list(std::string(layout::kBackupsPrefix), [&](const ObjectInfo& info) {
    std::string name = layout::backup_name_of(info.key);
    if (!name.empty() && info.key == layout::backup_object(name, BackupObject::kMetadata)) names.push_back(name);
  }));
  std::set<std::string> pending;
  TRY_STATUS(root_->list(std::string(layout::kPendingDeletionsPrefix), [&](const ObjectInfo& info) {
    pending.insert(info.key.substr(layout::kPendingDeletionsPrefix.size()));
  }));
  names.erase(std::remove_if(names.begin(), names.end(), [&](const std::string& n) { return pending.count(n) > 0; }),
              names.end());
  std::sort(names.begin(), names.end());
  return names;
}

Status BackupLocation::delete_prefix(const std::string& prefix, const std::string& first) {
  if (settings_.read_only)
    return Error(ErrorCode::kPermissionDenied, "the backup location " + root_->describe() + " is read-only", prefix,
                 "set the location's accessMode to ReadWrite to delete backups from it");
  if (!first.empty()) TRY_STATUS(root_->remove(first));
  auto objects = TRY(list_all(*root_, prefix));
  for (const auto& info : objects) TRY_STATUS(root_->remove(info.key));
  return ok_status();
}

Result<bool> BackupLocation::remove_backup_objects(const std::string& backup) {
  bool locked = false;
  auto remove = [&](const std::string& key) -> Status {
    Status removed = root_->remove(key);
    if (removed.ok()) return ok_status();
    if (removed.error().code() != ErrorCode::kLocked) return removed;
    locked = true;  // retention not ended: leave it for a later run
    return ok_status();
  };
  TRY_STATUS(remove(layout::backup_object(backup, BackupObject::kMetadata)));
  auto objects = TRY(list_all(*root_, layout::backup_prefix(backup)));
  for (const auto& info : objects) TRY_STATUS(remove(info.key));
  return locked;
}

Status BackupLocation::delete_backup(const std::string& backup, bool* deferred) {
  TRY_STATUS(layout::check_name(backup));
  if (deferred) *deferred = false;
  if (settings_.read_only)
    return Error(ErrorCode::kPermissionDenied, "the backup location " + root_->describe() + " is read-only", backup,
                 "set the location's accessMode to ReadWrite to delete backups from it");
  bool locked = TRY(remove_backup_objects(backup));
  if (!locked) return ok_status();
  // Record it (a new object; kept unlocked so that it can go once the backup
  // has): list_backups() no longer offers it, and retry_pending_deletions()
  // deletes the rest once the retention has ended.
  json record{{"backup", backup}, {"time", format_time_utc(now_unix())}};
  Status recorded = root_->put(layout::pending_deletion(backup), as_bytes(record.dump()));
  if (!recorded.ok() && recorded.error().code() != ErrorCode::kAlreadyExists) return recorded;
  if (deferred) *deferred = true;
  return ok_status();
}

Result<std::vector<std::string>> BackupLocation::retry_pending_deletions() {
  std::vector<std::string> done;
  if (settings_.read_only) return done;
  auto records = TRY(list_all(*root_, std::string(layout::kPendingDeletionsPrefix)));
  for (const auto& info : records) {
    std::string backup = info.key.substr(layout::kPendingDeletionsPrefix.size());
    if (!layout::check_name(backup).ok()) continue;
    bool locked = TRY(remove_backup_objects(backup));
    if (locked) continue;
    TRY_STATUS(root_->remove(info.key));
    done.push_back(backup);
  }
  return done;
}

Status BackupLocation::delete_restore(const std::string& restore) {
  TRY_STATUS(layout::check_name(restore));
  return delete_prefix(layout::restore_prefix(restore), "");
}

}  // namespace stowage::backupstore
