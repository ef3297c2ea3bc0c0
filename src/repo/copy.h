// Copying snapshots to a second repository that shares the master key
// (Repository::init_sharing_keys): only blobs the target lacks are sent, then
// every copied snapshot is verified by reading all its blobs back from the
// target. A restore from the copy alone needs nothing from the source.
#pragma once

#include <vector>

#include "repo/repository.h"
#include "util/progress.h"

namespace stowage {

struct CopyOptions {
  bool verify = true;
  Progress* progress = nullptr;
};

struct CopyReport {
  std::vector<std::pair<ObjectId, ObjectId>> copied;  // source id → target id
  std::vector<std::pair<ObjectId, ObjectId>> already_present;  // same snapshot found in the target: source → target id
  uint64_t blobs_sent = 0, bytes_sent = 0, blobs_skipped = 0, blobs_verified = 0;
};

Result<CopyReport> copy_snapshots(Repository& source, Repository& target, const std::vector<ObjectId>& ids,
                                  const CopyOptions& options);

}  // namespace stowage
