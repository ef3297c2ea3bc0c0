// SnapshotWriter: what every backup kind does around its own work — note the
// start time and the repository's write counters, then flush the repository
// and save a manifest with the common fields and the bytes this backup added.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "repo/repository.h"

namespace stowage {

class SnapshotWriter {
 public:
  SnapshotWriter(Repository& repo, SnapshotKind kind, std::string source, std::vector<std::string> tags,
                 std::optional<ObjectId> parent);
  // The manifest to fill with kind-specific fields (root, size, summary).
  Snapshot& snapshot() { return snap_; }
  // Flushes the repository, completes the summary and saves the manifest.
  Result<Snapshot> finish();

 private:
  Repository& repo_;
  Snapshot snap_;
  uint64_t blobs0_, bytes0_, stored0_;
};

}  // namespace stowage
