#include "agent/volume_engines.h"

#include "blockvol/net.h"
#include "engine/block_volume.h"
#include "engine/replicated_snapshot.h"
#include "engine/replicated_volume.h"
#include "engine/zfs.h"
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

// A Replicated volume's source: "target=HOST:PORT;replicas=HOST:PORT,..."
// (control/pod_volumes.h).
struct ReplicatedVolume {
  blockvol::HostPort target;
  std::vector<blockvol::HostPort> replicas;
};

Result<ReplicatedVolume> parse_replicated(const std::string& source) {
  ReplicatedVolume out;
  bool has_target = false;
  size_t start = 0;
  while (start <= source.size()) {
    size_t end = source.find(';', start);
    if (end == std::string::npos) end = source.size();
    std::string_view field(source.data() + start, end - start);
    if (field.starts_with("target=")) {
      out.target = TRY(blockvol::parse_host_port(field.substr(7)));
      has_target = true;
    } else if (field.starts_with("replicas=")) {
      std::string_view list = field.substr(9);
      while (!list.empty()) {
        size_t comma = list.find(',');
        out.replicas.push_back(TRY(blockvol::parse_host_port(list.substr(0, comma))));
        list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
      }
    }
    start = end + 1;
  }
  if (!has_target || out.replicas.empty())
    return Error(ErrorCode::kInvalidArgument, "replicated volume source '" + source + "' names no target or no replicas",
                 source, "the PV needs volumeAttributes stowage.io/target and stowage.io/replicas");
  return out;
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
    engine::BlockVolumeBackupOptions options;
    options.tags = request.tags;
    options.parent = request.parent;
    options.workers = request.workers;
    options.progress = request.progress;
    auto done = TRY(engine::backup_block_volume(repo, request.source, options));
    out.snapshot = std::move(done.snapshot);
    out.note = done.detail;
    return out;
  }
  if (request.method == "ZFS") {
    engine::ZfsBackupOptions options;
    options.snapshot_name = request.snapshot_name;
    options.tags = request.tags;
    options.progress = request.progress;
    auto done = TRY(engine::backup_zfs_dataset(repo, request.source, options));
    out.snapshot = std::move(done.snapshot);
    out.note = "zfs send of " + request.source + "@" + request.snapshot_name + ", " +
               std::to_string(done.properties.size()) + " local properties recorded";
    return out;
  }
  if (request.method == "Replicated") {
    ReplicatedVolume volume = TRY(parse_replicated(request.source));
    engine::ReplicatedBackupOptions options;
    options.tags = request.tags;
    options.parent = request.parent;
    options.workers = request.workers;
    options.progress = request.progress;
    auto done = TRY(engine::backup_replicated_volume(repo, volume.target, options));
    out.snapshot = std::move(done.snapshot);
    out.note = std::string(done.incremental ? "incremental: the extents changed since volume snapshot " +
                                                  done.parent_volume_snapshot
                                            : "full: the allocated extents") +
               " (" + std::to_string(done.changed_bytes) + " bytes) of volume snapshot " + done.volume_snapshot +
               ", read from replica " + done.replica + "; writes paused " + std::to_string(int64_t(done.pause_ms)) +
               " ms";
    if (!done.replica_failures.empty()) out.note += "; replicas given up on: " + done.replica_failures.front();
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
    if (request.progress) request.progress->bytes_total = snapshot.size;
    TRY_STATUS(engine::restore_block_volume(repo, snapshot, request.target, request.progress));
    return std::string();
  }
  if (request.method == "ZFS") {
    if (!engine::is_zfs_backup(snapshot))
      return Error(ErrorCode::kInvalidArgument, "snapshot " + snapshot.id.short_hex() + " is not a ZFS backup",
                   snapshot.id.hex(), "restore it with the method it was backed up with");
    if (request.progress) request.progress->bytes_total = snapshot.size;
    TRY_STATUS(engine::restore_zfs_dataset(repo, snapshot, request.target, request.progress));
    return "received into dataset " + request.target;
  }
  if (request.method == "Replicated") {
    TRY_STATUS(expect_kind(snapshot, SnapshotKind::kBlock, request.method));
    ReplicatedVolume volume = TRY(parse_replicated(request.target));
    if (request.progress) request.progress->bytes_total = snapshot.size;
    engine::ReplicatedRestoreOptions options;
    options.workers = request.workers;
    options.progress = request.progress;
    auto done = TRY(engine::restore_replicated_volume(repo, snapshot, volume.replicas, options));
    return "filled " + std::to_string(volume.replicas.size()) + " fenced replicas (" +
           std::to_string(done.bytes_written) + " bytes each), verified " + std::to_string(done.bytes_verified) +
           " bytes on each, unfenced";
  }
  return Error(ErrorCode::kUnsupported, "volume method " + request.method + " is not supported by this agent",
               request.target, "");
}

Result<std::string> keep_local_snapshot(const std::string& method, const std::string& source, const std::string& name) {
  if (method == "ZFS") return engine::snapshot_zfs_dataset(source, name);
  if (method == "Replicated") {
    ReplicatedVolume volume = TRY(parse_replicated(source));
    return engine::keep_replicated_snapshot(volume.target, name);
  }
  return Error(ErrorCode::kUnsupported, method + " volumes keep no local snapshots", source,
               "back the volume up by upload (spec.snapshotVolumes false)");
}

Status clone_local_snapshot(const std::string& method, const std::string& snapshot, const std::string& target) {
  const bool replicated = engine::is_replicated_snapshot(snapshot);
  if (method == "ZFS" && !replicated) return engine::clone_zfs_snapshot(snapshot, target);
  if (method == "Replicated" && replicated) {
    ReplicatedVolume volume = TRY(parse_replicated(target));
    TRY(engine::clone_replicated_snapshot(snapshot, volume.replicas, {}));
    return ok_status();
  }
  return Error(ErrorCode::kUnsupported,
               replicated ? "a local snapshot of a replicated volume can be cloned only into a Replicated volume"
                          : "a local ZFS snapshot can be cloned only into a ZFS volume",
               snapshot,
               replicated ? "restore the volume into a Replicated PersistentVolume"
                          : "restore the volume into a ZFS PersistentVolume");
}

Status destroy_local_snapshot(const std::string& snapshot) {
  if (engine::is_replicated_snapshot(snapshot)) {
    TRY(engine::delete_replicated_snapshot(snapshot));
    return ok_status();
  }
  return engine::destroy_zfs_snapshot(snapshot);
}

}  // namespace stowage::agent
