// Repository maintenance: retention policies (which snapshots to forget),
// prune (delete data no snapshot references, under an exclusive lock), and
// statistics (logical size, stored size, deduplication ratio).
#pragma once

#include <string>
#include <vector>

#include "repo/repository.h"

namespace stowage {

struct RetentionPolicy {
  int keep_last = 0, keep_hourly = 0, keep_daily = 0, keep_weekly = 0, keep_monthly = 0, keep_yearly = 0;
  std::vector<std::string> keep_tags;
  bool empty() const {
    return !keep_last && !keep_hourly && !keep_daily && !keep_weekly && !keep_monthly && !keep_yearly &&
           keep_tags.empty();
  }
};

struct RetentionDecision {
  std::vector<Snapshot> keep;
  std::vector<Snapshot> remove;
};

// Applies policy per group of (host, source); snapshots are kept when any rule
// keeps them.
RetentionDecision apply_retention(std::vector<Snapshot> snapshots, const RetentionPolicy& policy);

struct PruneOptions {
  bool dry_run = false;
  // Packs that no index lists are deleted only when older than this: they may
  // belong to a backup that has not written its index yet.
  int64_t unindexed_grace_seconds = 3600;
};

struct PruneReport {
  uint64_t packs_total = 0, packs_deleted = 0, packs_partly_used = 0, unindexed_deleted = 0;
  uint64_t bytes_freed = 0;
  uint64_t blobs_used = 0, blobs_unused = 0;
  uint64_t index_objects_replaced = 0;
  // Object Lock: objects that could not be deleted yet because their
  // retention has not ended. They are recorded in a tombstone (never counted
  // as live again) and deleted by a later prune.
  uint64_t objects_locked = 0;
  std::vector<std::string> locked_keys;
  uint64_t tombstoned_deleted = 0;  // pending deletions of earlier runs done now
  uint64_t records_deleted = 0;     // settled tombstones and old retention records removed
};

Result<PruneReport> prune(Repository& repo, const PruneOptions& options);

struct RepoStats {
  uint64_t snapshots = 0;
  uint64_t logical_bytes = 0;  // sum of snapshot sizes
  uint64_t unique_bytes = 0;   // raw bytes of all indexed blobs
  uint64_t stored_bytes = 0;   // size of all pack objects
  uint64_t packs = 0, blobs = 0;
  // Object Lock: objects forgotten or pruned but still locked (tombstoned),
  // waiting for their retention to end, and their stored size.
  uint64_t pending_deletion_objects = 0, pending_deletion_bytes = 0;
  double dedup_ratio() const { return unique_bytes ? double(logical_bytes) / double(unique_bytes) : 0; }
  double compression_ratio() const { return stored_bytes ? double(unique_bytes) / double(stored_bytes) : 0; }
};

Result<RepoStats> repository_stats(Repository& repo);

}  // namespace stowage
