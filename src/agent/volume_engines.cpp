#include "agent/volume_engines.h"

#include "mover/block.h"
#include "mover/file_backup.h"
#include "mover/file_restore.h"

namespace stowage::agent {

namespace {

Status expect_kind(const Snapshot& snapshot, SnapshotKind kind, const std::string& method) {
  if (snapshot.kind == kind) return ok_status();
  return Error(ErrorCode::kInvalidArgument,
               "snapshot " + snapshot.id.short_hex() + " does not hold " + method + " data", snapshot.id.hex(),
               "restore it with the method it was backed up with");
}

}  // namespace

Result<VolumeBackupResult> back_up_volume(Repository& repo, const VolumeBackupRequest& request) {
  VolumeBackupResult out;
  if (request.method == "FileSystem") {
    FileBackupOptions options;
    options.tags = request.tags;
    options.parent = request.parent;
    options.read_workers = request.workers;
    options.save_workers = request.workers;
    options.progress = request.progress;
    options.scan_totals = request.progress != nullptr;
    out.snapshot = TRY(backup_files(repo, request.source, options));
    if (!out.snapshot.warnings.empty())
      out.note = std::to_string(out.snapshot.warnings.size()) + " entries could not be read; first: " +
                 out.snapshot.warnings.front();
    return out;
  }
  if (request.method == "Block") {
    BlockBackupOptions options;
    options.tags = request.tags;
    options.parent = request.parent;
    options.workers = request.workers;
    options.progress = request.progress;
    out.snapshot = TRY(backup_block(repo, request.source, options));
    return out;
  }
  return Error(ErrorCode::kUnsupported, "volume method " + request.method + " is not supported by this agent",
               request.source, "");
}

Result<std::string> restore_volume(Repository& repo, const Snapshot& snapshot, const VolumeRestoreRequest& request) {
  if (request.method == "FileSystem") {
    TRY_STATUS(expect_kind(snapshot, SnapshotKind::kFiles, request.method));
    FileRestoreOptions options;
    options.workers = request.workers * 2;
    options.progress = request.progress;
    if (request.progress) request.progress->bytes_total = snapshot.summary.bytes;
    auto summary = TRY(restore_files(repo, snapshot, request.target, options));
    std::string note = std::to_string(summary.files) + " files, " + std::to_string(summary.dirs) + " directories";
    if (!summary.warnings.empty())
      note += "; " + std::to_string(summary.warnings.size()) + " warnings, first: " + summary.warnings.front();
    return note;
  }
  if (request.method == "Block") {
    TRY_STATUS(expect_kind(snapshot, SnapshotKind::kBlock, request.method));
    BlockRestoreOptions options;
    options.workers = request.workers;
    options.progress = request.progress;
    if (request.progress) request.progress->bytes_total = snapshot.size;
    TRY_STATUS(restore_block(repo, snapshot, request.target, options));
    return std::string();
  }
  return Error(ErrorCode::kUnsupported, "volume method " + request.method + " is not supported by this agent",
               request.target, "");
}

}  // namespace stowage::agent
