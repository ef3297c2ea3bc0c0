#include "repo/check.h"

#include <algorithm>
#include <set>
#include <unordered_map>

#include "crypto/hash.h"
#include "repo/layout.h"
#include "repo/references.h"

namespace stowage {

namespace {

std::string describe_entry_mismatch(const std::string& key) {
  return "pack " + key + " trailer disagrees with the index";
}

}  // namespace

Result<CheckReport> check_repository(Repository& repo, const CheckOptions& options) {
  CheckReport report;
  std::unordered_set<BlobId, BlobIdHash> bad_blobs;
  // Index objects must all open.
  auto index_objects = TRY(list_all(repo.store(), layout::kIndexPrefix));
  for (const auto& o : index_objects) {
    auto plain = repo.get_object(o.key, "index");
    if (!plain.ok()) report.errors.push_back(plain.error().to_string());
    else if (auto d = decode_index(*plain); !d.ok()) report.errors.push_back(o.key + ": " + d.error().to_string());
  }
  std::unordered_map<std::string, uint64_t> stored;  // pack key → size
  TRY_STATUS(repo.store().list(layout::kDataPrefix, [&](const ObjectInfo& o) { stored[o.key] = o.size; }));
  auto packs = repo.index().packs();
  std::set<std::string> indexed;
  if (options.progress) {
    uint64_t total = 0;
    for (const auto& p : packs) total += stored.count(layout::pack(p.id)) ? stored[layout::pack(p.id)] : 0;
    options.progress->bytes_total = options.read_data ? total : 0;
  }
  for (const auto& p : packs) {
    std::string key = layout::pack(p.id);
    indexed.insert(key);
    report.packs++;
    report.blobs += p.entries.size();
    auto mark_all_bad = [&] {
      for (const auto& e : p.entries) bad_blobs.insert(e.id);
    };
    auto it = stored.find(key);
    if (it == stored.end()) {
      report.errors.push_back("pack " + key + " is missing (" + std::to_string(p.entries.size()) + " blobs lost)");
      mark_all_bad();
      continue;
    }
    uint64_t size = it->second;
    if (options.read_data) {
      auto data = repo.store().get(key);
      if (!data.ok()) {
        report.errors.push_back("pack " + key + " cannot be read: " + data.error().to_string());
        mark_all_bad();
        continue;
      }
      report.bytes_read += data->size();
      if (options.progress) options.progress->bytes_done += data->size();
      if (repo.object_digest(*data) != p.id.bytes)
        report.errors.push_back("pack " + key + " does not match its name (content changed or truncated)");
      auto trailer = parse_pack_trailer(*data, data->size(), repo.aead());
      if (!trailer.ok()) report.errors.push_back("pack " + key + ": " + trailer.error().to_string());
      std::vector<PackEntry> entries = p.entries;  // by offset: a group's blobs open it once
      std::sort(entries.begin(), entries.end(),
                [](const PackEntry& a, const PackEntry& b) { return a.offset < b.offset; });
      BlobGroupCache groups;
      for (const auto& e : entries) {
        Result<Bytes> blob = Error(ErrorCode::kCorrupt, "blob " + e.id.short_hex() + " lies outside pack " + key, key,
                                   "the pack is damaged or truncated; restore it from a copy or forget the snapshots");
        if (uint64_t(e.offset) + e.length <= data->size())
          blob = repo.open_blob(e, ByteView(*data).subspan(e.offset, e.length), key, &groups);
        if (!blob.ok()) {
          report.errors.push_back(blob.error().to_string());
          bad_blobs.insert(e.id);
        }
      }
    } else {
      // Structure: the trailer must be readable and list the indexed blobs.
      auto footer = repo.store().get_range(key, size >= kPackFooterSize ? size - kPackFooterSize : 0,
                                           std::min<uint64_t>(size, kPackFooterSize));
      Result<std::vector<PackEntry>> trailer = Error(ErrorCode::kCorrupt, "unreadable footer");
      if (footer.ok()) {
        auto span = pack_trailer_span(*footer, size);
        if (!span.ok()) trailer = std::move(span).error();
        else {
          auto tail = repo.store().get_range(key, size - *span, *span);
          if (!tail.ok()) trailer = std::move(tail).error();
          else trailer = parse_pack_trailer(*tail, size, repo.aead());
        }
      } else {
        trailer = std::move(footer).error();
      }
      if (!trailer.ok()) {
        report.errors.push_back("pack " + key + ": " + trailer.error().to_string());
        mark_all_bad();
        continue;
      }
      std::unordered_map<BlobId, PackEntry, BlobIdHash> listed;
      for (const auto& e : *trailer) listed[e.id] = e;
      for (const auto& e : p.entries) {
        auto l = listed.find(e.id);
        if (l == listed.end() || l->second.offset != e.offset || l->second.length != e.length) {
          report.errors.push_back(describe_entry_mismatch(key) + " for blob " + e.id.short_hex());
          bad_blobs.insert(e.id);
        }
      }
    }
  }
  for (const auto& [key, size] : stored)
    if (!indexed.count(key))
      report.notices.push_back("pack " + key + " is in no index (left by an interrupted backup; prune removes it)");

  std::vector<Error> problems;
  auto snapshots = TRY(repo.list_snapshots(&problems));
  for (const auto& e : problems) report.errors.push_back(e.to_string());
  for (const auto& snap : snapshots) {
    report.snapshots++;
    std::vector<Error> walk_problems;
    std::set<std::string> affected;
    (void)visit_references(
        repo, snap,
        [&](const BlobId& id, BlobType, const std::string& path) {
          if (bad_blobs.count(id) || !repo.has_blob(id)) affected.insert(path.empty() ? "(metadata)" : path);
        },
        true, &walk_problems);
    for (const auto& e : walk_problems) {
      report.errors.push_back("snapshot " + snap.id.short_hex() + ": " + e.to_string());
      affected.insert("(metadata)");
    }
    if (!affected.empty()) {
      auto& list = report.damaged_snapshots[snap.id.hex()];
      for (const auto& a : affected) {
        if (list.size() >= 100) {
          list.push_back("… and more");
          break;
        }
        list.push_back(a);
      }
      report.errors.push_back("snapshot " + snap.id.short_hex() + " (" + snap.source + ") is damaged: " +
                              std::to_string(affected.size()) + " entries affected");
    }
  }
  return report;
}

}  // namespace stowage
