#include "repo/maintenance.h"

#include <algorithm>
#include <ctime>
#include <map>
#include <set>

#include "repo/layout.h"
#include "repo/lock.h"
#include "repo/references.h"
#include "util/clock.h"

namespace stowage {

RetentionDecision apply_retention(std::vector<Snapshot> snapshots, const RetentionPolicy& policy) {
  RetentionDecision out;
  std::map<std::pair<std::string, std::string>, std::vector<Snapshot>> groups;
  for (auto& s : snapshots) groups[{s.host, s.source}].push_back(std::move(s));
  for (auto& entry : groups) {
    auto& group = entry.second;  // not a structured binding: lambdas below capture it
    std::sort(group.begin(), group.end(),
              [](const Snapshot& a, const Snapshot& b) { return a.time_unix_nanos > b.time_unix_nanos; });
    std::vector<char> keep(group.size(), 0);
    auto bucket_rule = [&](int count, const char* format) {
      if (count <= 0) return;
      std::string last;
      for (size_t i = 0; i < group.size() && count > 0; i++) {
        time_t t = time_t(group[i].time_unix_nanos / 1000000000);
        struct tm tm;
        gmtime_r(&t, &tm);
        char buf[32];
        strftime(buf, sizeof buf, format, &tm);
        if (buf != last) {
          keep[i] = 1;
          last = buf;
          count--;
        }
      }
    };
    for (size_t i = 0; i < group.size() && int(i) < policy.keep_last; i++) keep[i] = 1;
    bucket_rule(policy.keep_hourly, "%Y-%m-%d %H");
    bucket_rule(policy.keep_daily, "%Y-%m-%d");
    bucket_rule(policy.keep_weekly, "%G-%V");
    bucket_rule(policy.keep_monthly, "%Y-%m");
    bucket_rule(policy.keep_yearly, "%Y");
    for (size_t i = 0; i < group.size(); i++)
      for (const auto& tag : policy.keep_tags)
        if (std::find(group[i].tags.begin(), group[i].tags.end(), tag) != group[i].tags.end()) keep[i] = 1;
    for (size_t i = 0; i < group.size(); i++) (keep[i] ? out.keep : out.remove).push_back(std::move(group[i]));
  }
  return out;
}

Result<PruneReport> prune(Repository& repo, const PruneOptions& options) {
  auto lock = TRY(RepoLock::acquire(repo, true));
  PruneReport report;
  TRY_STATUS(repo.reload_tombstones());
  auto old_indexes = TRY(list_all(repo.store(), layout::kIndexPrefix));
  TRY_STATUS(repo.reload_index());
  // Everything any snapshot references. An unreadable snapshot or tree stops
  // the prune: deleting data we could not account for is never safe.
  std::vector<Error> problems;
  auto snapshots = TRY(repo.list_snapshots(&problems));
  if (!problems.empty())
    return std::move(problems.front())
        .with_context("prune stopped: a snapshot cannot be read, so its data cannot be accounted for")
        .set_hint("run 'stowage repo check' and forget or repair the damaged snapshot first");
  std::unordered_set<BlobId, BlobIdHash> used;
  for (const auto& s : snapshots)
    TRY_STATUS(visit_references(repo, s, [&](const BlobId& id, BlobType, const std::string&) { used.insert(id); },
                                false, nullptr));
  std::map<std::string, ObjectInfo> stored;
  TRY_STATUS(repo.store().list(layout::kDataPrefix, [&](const ObjectInfo& o) { stored[o.key] = o; }));
  auto packs = repo.index().packs();
  std::vector<PackRecord> keep;
  std::vector<std::string> delete_keys;
  std::set<std::string> indexed;
  for (auto& p : packs) {
    std::string key = layout::pack(p.id);
    indexed.insert(key);
    report.packs_total++;
    size_t n_used = 0;
    for (const auto& e : p.entries) n_used += used.count(e.id);
    report.blobs_used += n_used;
    report.blobs_unused += p.entries.size() - n_used;
    if (n_used == 0) {
      delete_keys.push_back(key);
      report.packs_deleted++;
      if (auto it = stored.find(key); it != stored.end()) report.bytes_freed += it->second.size;
    } else {
      if (n_used < p.entries.size()) report.packs_partly_used++;
      keep.push_back(std::move(p));
    }
  }
  int64_t now = now_unix();
  for (const auto& [key, info] : stored) {
    if (indexed.count(key)) continue;
    if (info.modified_unix && now - info.modified_unix < options.unindexed_grace_seconds) continue;
    delete_keys.push_back(key);
    report.unindexed_deleted++;
    report.bytes_freed += info.size;
  }
  // Deletions an earlier run could not do (locked then): the tombstoned
  // snapshots and index objects that still exist. (Tombstoned packs are
  // unindexed now and are in delete_keys already.)
  std::vector<std::string> retry_keys;
  {
    std::set<std::string> present;
    for (const char* prefix : {layout::kSnapshotsPrefix, layout::kIndexPrefix})
      TRY_STATUS(repo.store().list(prefix, [&](const ObjectInfo& o) { present.insert(o.key); }));
    for (const auto& key : repo.tombstoned_keys())
      if (present.count(key)) retry_keys.push_back(key);
  }
  if (options.dry_run) return report;
  if (delete_keys.empty() && retry_keys.empty()) {
    report.records_deleted = TRY(repo.remove_settled_records());
    return report;
  }
  // A tombstoned pack that an index lists again must not be deleted (cannot
  // happen with random nonces, but deleting listed data is never allowed).
  std::set<std::string> kept_packs;
  for (const auto& p : keep) kept_packs.insert(layout::pack(p.id));
  auto removal = [&](const std::vector<std::string>& keys) -> Status {
    std::vector<std::string> allowed;
    for (const auto& key : keys)
      if (!kept_packs.count(key)) allowed.push_back(key);
    RemovalResult result = TRY(repo.remove_objects(allowed));
    report.objects_locked += result.deferred.size();
    report.locked_keys.insert(report.locked_keys.end(), result.deferred.begin(), result.deferred.end());
    return ok_status();
  };
  // 1. a new index without the deleted packs, 2. drop the old index objects
  // we read, 3. delete packs. A crash between steps leaves duplicates or
  // unindexed packs, never an index that points to a deleted pack.
  // Only dropping indexed packs needs a new index; unindexed ones (among them
  // locked packs of earlier runs) are simply retried.
  const bool rewrite_index = report.packs_deleted > 0;
  constexpr size_t kPacksPerIndex = 4096;
  for (size_t i = 0; rewrite_index && i < keep.size(); i += kPacksPerIndex) {
    std::vector<PackRecord> part(keep.begin() + long(i), keep.begin() + long(std::min(keep.size(), i + kPacksPerIndex)));
    TRY(repo.put_object(layout::index, encode_index(part), "index"));
  }
  std::vector<std::string> old_index_keys;
  for (const auto& o : old_indexes)
    if (!repo.is_tombstoned(o.key)) old_index_keys.push_back(o.key);  // those are in retry_keys
  if (rewrite_index) {
    // Locked old index objects are tombstoned before any pack goes, so no
    // reader ever loads an index that names a deleted pack.
    TRY_STATUS(removal(old_index_keys));
    report.index_objects_replaced += old_index_keys.size();
  }
  size_t locked_before = report.objects_locked;
  TRY_STATUS(removal(retry_keys));
  report.tombstoned_deleted += retry_keys.size() - (report.objects_locked - locked_before);
  TRY_STATUS(removal(delete_keys));
  report.records_deleted = TRY(repo.remove_settled_records());
  return report;
}

Result<RepoStats> repository_stats(Repository& repo) {
  RepoStats stats;
  auto snapshots = TRY(repo.list_snapshots());
  stats.snapshots = snapshots.size();
  for (const auto& s : snapshots) stats.logical_bytes += s.size;
  for (const auto& p : repo.index().packs()) {
    stats.packs++;
    for (const auto& e : p.entries) {
      stats.blobs++;
      stats.unique_bytes += e.raw_length;
    }
  }
  TRY_STATUS(repo.store().list(layout::kDataPrefix, [&](const ObjectInfo& o) { stats.stored_bytes += o.size; }));
  std::set<std::string> tombstoned;
  for (auto& key : repo.tombstoned_keys()) tombstoned.insert(key);
  if (!tombstoned.empty()) {
    std::set<std::string> indexed;
    for (const auto& p : repo.index().packs()) indexed.insert(layout::pack(p.id));
    for (const char* prefix : {layout::kSnapshotsPrefix, layout::kIndexPrefix, layout::kDataPrefix})
      TRY_STATUS(repo.store().list(prefix, [&](const ObjectInfo& o) {
        if (!tombstoned.count(o.key) || indexed.count(o.key)) return;
        stats.pending_deletion_objects++;
        stats.pending_deletion_bytes += o.size;
      }));
  }
  return stats;
}

}  // namespace stowage
