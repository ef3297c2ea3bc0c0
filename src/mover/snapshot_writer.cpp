#include "mover/snapshot_writer.h"

#include <malloc.h>

#include <thread>

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
  // The data is read: the memory its buffers held (kept for reuse, see
  // src/main.cpp) goes back to the kernel now, on a thread of its own while
  // the commit below waits for the disk, rather than at exit (a short-lived
  // process then ends sooner) or never (a long-lived agent keeps less).
  std::jthread trim([] { malloc_trim(0); });
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
