// Where everything of a backup location lives: the one place that builds its
// object keys (docs/repository-format.md, "Backup location layout"). The
// Velero part of the layout (backups/<name>/..., restores/<name>/...) is
// Velero's own, so that plain-format locations stay readable by Velero; the
// stowage repository that holds volume data sits beside it under repository/.
#pragma once

#include <string>
#include <string_view>

#include "util/result.h"

namespace stowage::backupstore {

// The objects that make up one backup, in the order they are written. The
// metadata object is written last and is what marks a backup complete.
enum class BackupObject {
  kContents,      // <name>.tar.gz: the Kubernetes objects (Velero tarball)
  kResourceList,  // <name>-resource-list.json.gz: every item, by group/version/kind
  kLog,           // <name>-logs.gz
  kResults,       // <name>-results.gz: errors and warnings
  kVolumeInfo,    // <name>-volumeinfo.json.gz: volume data backed up by the agents
  kMetadata,      // velero-backup.json: the Backup object and the manifest
};

enum class RestoreObject {
  kLog,           // restore-<name>-logs.gz
  kResults,       // restore-<name>-results.gz
  kResourceList,  // restore-<name>-resource-list.json.gz
};

namespace layout {

inline constexpr std::string_view kBackupsPrefix = "backups/";
inline constexpr std::string_view kRestoresPrefix = "restores/";
inline constexpr std::string_view kRepositoryPrefix = "repository/";
// stowage's own: backups whose deletion waits for their Object Lock retention.
inline constexpr std::string_view kPendingDeletionsPrefix = "pending-deletions/";

// Backup and restore names are Kubernetes object names (DNS-1123 subdomains);
// anything else could escape the layout, so it is refused here.
Status check_name(std::string_view name);

std::string backup_prefix(std::string_view backup);  // "backups/<name>/"
std::string backup_object(std::string_view backup, BackupObject object);
// The file name alone ("nightly.tar.gz"), as the manifest records it.
std::string backup_object_file(std::string_view backup, BackupObject object);
std::string restore_prefix(std::string_view restore);
std::string restore_object(std::string_view restore, RestoreObject object);
// The backup name of a key under backups/ ("backups/a/velero-backup.json" -> "a"), or "".
std::string backup_name_of(std::string_view key);
// "pending-deletions/<backup>": the record of a backup whose deletion was refused by Object Lock.
std::string pending_deletion(std::string_view backup);

}  // namespace layout
}  // namespace stowage::backupstore
