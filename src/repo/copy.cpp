#include "repo/copy.h"

#include <algorithm>

#include "repo/lock.h"
#include "repo/references.h"

namespace stowage {

namespace {

bool same_snapshot(const Snapshot& a, const Snapshot& b) {
  return a.time_unix_nanos == b.time_unix_nanos && a.host == b.host && a.source == b.source && a.root == b.root &&
         a.kind == b.kind;
}

}  // namespace

Result<CopyReport> copy_snapshots(Repository& source, Repository& target, const std::vector<ObjectId>& ids,
                                  const CopyOptions& options) {
  if (source.key_fingerprint() != target.key_fingerprint())
    return Error(ErrorCode::kInvalidArgument,
                 "the target repository does not share this repository's keys, so its chunk ids differ",
                 target.store().describe(),
                 "create the target with 'stowage repo init --copy-keys-from SOURCE' (a one-time step)");
  auto lock = TRY(RepoLock::acquire(target, false));
  CopyReport report;
  auto existing = TRY(target.list_snapshots());
  std::vector<Snapshot> to_copy;
  for (const auto& id : ids) {
    Snapshot snap = TRY(source.load_snapshot(id));
    auto present = std::find_if(existing.begin(), existing.end(), [&](const Snapshot& t) { return same_snapshot(t, snap); });
    if (present != existing.end()) report.already_present.emplace_back(id, present->id);
    else to_copy.push_back(std::move(snap));
  }
  for (const auto& snap : to_copy) {
    std::vector<std::pair<BlobId, BlobType>> needed;
    std::unordered_set<BlobId, BlobIdHash> seen;
    TRY_STATUS(visit_references(
        source, snap,
        [&](const BlobId& id, BlobType type, const std::string&) {
          if (seen.insert(id).second) needed.emplace_back(id, type);
        },
        false, nullptr));
    if (options.progress) options.progress->files_total += needed.size();
    for (const auto& [id, type] : needed) {
      if (target.has_blob(id)) {
        report.blobs_skipped++;
      } else {
        Bytes data = TRY(source.load_blob(id));
        TRY(target.save_blob(type, id, data));
        report.blobs_sent++;
        report.bytes_sent += data.size();
        if (options.progress) options.progress->bytes_done += data.size();
      }
      if (options.progress) options.progress->files_done++;
    }
    TRY_STATUS(target.flush());
    if (options.verify) {
      // Read back from the target everything the snapshot needs: it must
      // restore from the copy alone.
      for (const auto& [id, type] : needed) {
        auto back = target.load_blob(id);
        if (!back.ok())
          return std::move(back).error().with_context("verifying the copy of snapshot " + snap.id.short_hex());
        report.blobs_verified++;
      }
    }
    Snapshot copy = snap;
    ObjectId target_id = TRY(target.save_snapshot(copy));
    report.copied.emplace_back(snap.id, target_id);
  }
  return report;
}

}  // namespace stowage
