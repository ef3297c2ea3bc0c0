// Stream backup and restore: a byte stream (stdin, a 'zfs send' pipe) cut
// into content-defined chunks, so successive full streams deduplicate.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "repo/repository.h"
#include "util/progress.h"

namespace stowage {

struct StreamBackupOptions {
  std::string name = "stdin";  // recorded as the snapshot's source
  std::vector<std::string> tags;
  std::optional<ObjectId> parent;
  size_t workers = 0;
  Progress* progress = nullptr;
};

Result<Snapshot> backup_stream(Repository& repo, int fd, const StreamBackupOptions& options);

// A stream snapshot written from pieces, for callers that know where the
// stream's structure lies (engine/zfs_stream.h): the bytes given to write()
// are cut into content-defined chunks as backup_stream does, and cut() ends
// the current chunk there, an externally chosen boundary (the next bytes
// start a new chunk and a fresh run of the chunker). The stored snapshot is
// exactly what backup_stream stores — a chunk list that restore_stream
// concatenates — only its chunk boundaries differ. Nothing is saved as a
// snapshot unless finish() succeeds (chunks already saved stay, as blobs
// prune removes).
class StreamWriter {
 public:
  StreamWriter(Repository& repo, const StreamBackupOptions& options);
  ~StreamWriter();
  StreamWriter(const StreamWriter&) = delete;
  StreamWriter& operator=(const StreamWriter&) = delete;

  // Appends bytes to the stream. Fails once saving a chunk has failed.
  Status write(ByteView data);
  // Ends the current chunk here (nothing happens at a chunk boundary).
  Status cut();
  // Ends the stream and saves the snapshot. Call once.
  Result<Snapshot> finish();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

struct StreamRestoreOptions {
  // The stream is loaded in windows of this many bytes (by pack, in coalesced
  // ranges), the next one while the last one is written out: memory holds two
  // windows plus the loader's ranges (repo/batch_load.h).
  uint64_t window_bytes = 32 << 20;
  Progress* progress = nullptr;
};

Status restore_stream(Repository& repo, const Snapshot& snapshot, int fd, const StreamRestoreOptions& options);

}  // namespace stowage
