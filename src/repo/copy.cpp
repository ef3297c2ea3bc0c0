#include "repo/copy.h"

#include <algorithm>
#include <atomic>
#include <unordered_map>

#include "repo/batch_load.h"
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
  if (uses_blake3_ids(source.config().version) != uses_blake3_ids(target.config().version)) {
    const RepoConfig& older = uses_blake3_ids(source.config().version) ? target.config() : source.config();
    return Error(ErrorCode::kUnsupported,
                 "this repository is format version " + std::to_string(source.config().version) +
                     " and the target version " + std::to_string(target.config().version) + ": version " +
                     std::to_string(older.version) + " computes chunk ids with HMAC-SHA-256, version 5 and later "
                     "with keyed BLAKE3, so the target could not verify the chunks it would receive",
                 target.store().describe(),
                 "copy into a repository created with 'stowage repo init --copy-keys-from SOURCE', which picks a "
                 "version whose chunk ids match");
  }
  if (source.tree_encoding() == TreeEncoding::kBinary && target.tree_encoding() == TreeEncoding::kJson)
    return Error(ErrorCode::kUnsupported,
                 "the target repository is format version " + std::to_string(target.config().version) +
                     ", which stores trees as JSON; this repository (version " +
                     std::to_string(source.config().version) +
                     ") stores binary trees, which the stowage releases that write that version cannot read",
                 target.store().describe(),
                 "copy into a repository created by this stowage ('stowage repo init --copy-keys-from SOURCE')");
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
    // The missing blobs are read by pack in coalesced ranges and saved as
    // they arrive; the verification reads the target the same way.
    std::unordered_map<BlobId, BlobType, BlobIdHash> missing;
    std::vector<BlobId> missing_ids;
    for (const auto& [id, type] : needed) {
      if (target.has_blob(id)) {
        report.blobs_skipped++;
        if (options.progress) options.progress->files_done++;
      } else if (missing.emplace(id, type).second) {
        missing_ids.push_back(id);
      }
    }
    std::atomic<uint64_t> sent{0}, bytes{0};
    TRY_STATUS(load_blobs(source, missing_ids, [&](const BlobId& id, Result<Bytes>&& data) -> Status {
      if (!data.ok()) return std::move(data).error().with_context("copying snapshot " + snap.id.short_hex());
      TRY(target.save_blob(missing.at(id), id, *data));
      sent++;
      bytes += data->size();
      if (options.progress) {
        options.progress->bytes_done += data->size();
        options.progress->files_done++;
      }
      return ok_status();
    }));
    report.blobs_sent += sent;
    report.bytes_sent += bytes;
    TRY_STATUS(target.flush());
    if (options.verify) {
      // Read back from the target everything the snapshot needs: it must
      // restore from the copy alone.
      std::vector<BlobId> all;
      all.reserve(needed.size());
      for (const auto& entry : needed) all.push_back(entry.first);
      std::atomic<uint64_t> verified{0};
      TRY_STATUS(load_blobs(target, all, [&](const BlobId&, Result<Bytes>&& back) -> Status {
        if (!back.ok())
          return std::move(back).error().with_context("verifying the copy of snapshot " + snap.id.short_hex());
        verified++;
        return ok_status();
      }));
      report.blobs_verified += verified;
    }
    Snapshot copy = snap;
    ObjectId target_id = TRY(target.save_snapshot(copy));
    report.copied.emplace_back(snap.id, target_id);
  }
  return report;
}

}  // namespace stowage
