#include "backupstore/layout.h"

namespace stowage::backupstore::layout {

Status check_name(std::string_view name) {
  bool ok = !name.empty() && name.size() <= 253;
  for (size_t i = 0; ok && i < name.size(); ++i) {
    char c = name[i];
    bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    ok = alnum || ((c == '-' || c == '.') && i > 0 && i + 1 < name.size());
  }
  if (ok && name.find("..") != std::string_view::npos) ok = false;
  if (ok) return ok_status();
  return Error(ErrorCode::kInvalidArgument, "\"" + std::string(name) + "\" is not a valid backup or restore name",
               std::string(name), "use lower-case letters, digits, '-' and '.', at most 253 characters");
}

std::string backup_prefix(std::string_view backup) {
  return std::string(kBackupsPrefix) + std::string(backup) + "/";
}

std::string backup_object_file(std::string_view backup, BackupObject object) {
  std::string name(backup);
  switch (object) {
    case BackupObject::kContents: return name + ".tar.gz";
    case BackupObject::kResourceList: return name + "-resource-list.json.gz";
    case BackupObject::kLog: return name + "-logs.gz";
    case BackupObject::kResults: return name + "-results.gz";
    case BackupObject::kVolumeInfo: return name + "-volumeinfo.json.gz";
    case BackupObject::kMetadata: return "velero-backup.json";
  }
  return name;
}

std::string backup_object(std::string_view backup, BackupObject object) {
  return backup_prefix(backup) + backup_object_file(backup, object);
}

std::string restore_prefix(std::string_view restore) {
  return std::string(kRestoresPrefix) + std::string(restore) + "/";
}

std::string restore_object(std::string_view restore, RestoreObject object) {
  std::string base = restore_prefix(restore) + "restore-" + std::string(restore);
  switch (object) {
    case RestoreObject::kLog: return base + "-logs.gz";
    case RestoreObject::kResults: return base + "-results.gz";
    case RestoreObject::kResourceList: return base + "-resource-list.json.gz";
  }
  return base;
}

std::string backup_name_of(std::string_view key) {
  if (key.substr(0, kBackupsPrefix.size()) != kBackupsPrefix) return {};
  key.remove_prefix(kBackupsPrefix.size());
  size_t slash = key.find('/');
  return slash == std::string_view::npos ? std::string() : std::string(key.substr(0, slash));
}

std::string pending_deletion(std::string_view backup) {
  return std::string(kPendingDeletionsPrefix) + std::string(backup);
}

}  // namespace stowage::backupstore::layout
