#include "mover/snapshot_writer.h"

#include "util/clock.h"

namespace stowage {

SnapshotWriter::SnapshotWriter(Repository& repo, SnapshotKind kind, std::string source, std::vector<std::string> tags,
                               std::optional<ObjectId> parent)
    : repo_(repo),
      blobs0_(repo.write_stats().blobs_new),
      bytes0_(repo.write_stats().bytes_new),
      stored0_(repo.write_stats().bytes_stored_new) {
  snap_.kind = kind;
  snap_.time_unix_nanos = now_unix_nanos();
  snap_.host = host_name();
  snap_.user = user_name();
  snap_.source = std::move(source);
  snap_.tags = std::move(tags);
  snap_.parent = parent;
}

Result<Snapshot> SnapshotWriter::finish() {
  TRY_STATUS(repo_.flush());
  auto& m = snap_.summary;
  m.blobs_new = repo_.write_stats().blobs_new - blobs0_;
  m.bytes_new = repo_.write_stats().bytes_new - bytes0_;
  m.bytes_stored_new = repo_.write_stats().bytes_stored_new - stored0_;
  m.seconds = double(now_unix_nanos() - snap_.time_unix_nanos) / 1e9;
  snap_.id = TRY(repo_.save_snapshot(snap_));
  return snap_;
}

}  // namespace stowage
