// Snapshot manifests (snapshots/<id>): what was backed up, when, from where,
// and the root from which all its data is reachable. Every snapshot is
// complete on its own: it names every blob it needs, whether or not an
// earlier snapshot stored that blob first.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "repo/blob.h"

namespace stowage {

enum class SnapshotKind { kFiles, kBlock, kStream };
const char* snapshot_kind_name(SnapshotKind k);

struct SnapshotSummary {
  uint64_t files = 0;
  uint64_t dirs = 0;
  uint64_t bytes = 0;            // logical bytes of the source
  uint64_t bytes_read = 0;       // bytes actually read (unchanged files are skipped)
  uint64_t bytes_new = 0;        // raw bytes of blobs that were new to the repository
  uint64_t bytes_stored_new = 0; // their size after compression and encryption
  uint64_t blobs_new = 0;
  uint64_t files_unchanged = 0;  // reused from the parent without reading
  uint64_t errors = 0;           // entries that could not be read (listed in warnings)
  double seconds = 0;
};

struct Snapshot {
  ObjectId id;  // not stored: the object's name
  SnapshotKind kind = SnapshotKind::kFiles;
  int64_t time_unix_nanos = 0;
  std::string host;
  std::string user;
  std::string source;  // directory path, device path or stream name
  std::vector<std::string> tags;
  std::optional<ObjectId> parent;
  BlobId root;  // kFiles: root tree; kBlock/kStream: chunk-list root
  uint64_t size = 0;        // kBlock: device size; kStream: stream length
  uint32_t block_size = 0;  // kBlock only
  SnapshotSummary summary;
  std::vector<std::string> warnings;  // e.g. files that vanished during the backup
};

Bytes encode_snapshot(const Snapshot& s);
Result<Snapshot> decode_snapshot(ByteView data);

}  // namespace stowage
