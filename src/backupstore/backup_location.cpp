#include "backupstore/backup_location.h"

#include <algorithm>

#include "store/prefix_store.h"

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
    Status created = Repository::init(*repo_store, password, options);
    // Another process (a node agent) may have created it a moment before.
    if (!created.ok() && created.error().code() != ErrorCode::kAlreadyExists) return created.error();
    repository = Repository::open(repo_store, password);
  }
  if (!repository.ok()) return repository.error();
  return std::unique_ptr<BackupLocation>(new BackupLocation(root, std::move(repository).value(), settings));
}

Result<ObjectDigest> BackupLocation::put(const std::string& key, ByteView content) {
  if (settings_.read_only)
    return Error(ErrorCode::kPermissionDenied, "the backup location " + root_->describe() + " is read-only", key,
                 "set the location's accessMode to ReadWrite to write backups to it");
  Bytes stored;
  ByteView bytes = content;
  if (settings_.archive_format == ArchiveFormat::kEncrypted) {
    stored = seal_object(aead_, key, content);
    bytes = stored;
  }
  TRY_STATUS(root_->put(key, bytes));
  return digest_of(bytes);
}

Result<ObjectDigest> BackupLocation::put_backup_object(const std::string& backup, BackupObject object,
                                                       ByteView content) {
  TRY_STATUS(layout::check_name(backup));
  return put(layout::backup_object(backup, object), content);
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
  std::string text = backup_object.dump(2);
  TRY(put(layout::backup_object(backup, BackupObject::kMetadata), as_bytes(text)));
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

Status BackupLocation::delete_backup(const std::string& backup) {
  TRY_STATUS(layout::check_name(backup));
  return delete_prefix(layout::backup_prefix(backup), layout::backup_object(backup, BackupObject::kMetadata));
}

Status BackupLocation::delete_restore(const std::string& restore) {
  TRY_STATUS(layout::check_name(restore));
  return delete_prefix(layout::restore_prefix(restore), "");
}

}  // namespace stowage::backupstore
