#include "repo/snapshot.h"

#include <nlohmann/json.hpp>

#include "util/clock.h"

namespace stowage {

using nlohmann::json;

const char* snapshot_kind_name(SnapshotKind k) {
  switch (k) {
    case SnapshotKind::kFiles: return "files";
    case SnapshotKind::kBlock: return "block";
    case SnapshotKind::kStream: return "stream";
  }
  return "?";
}

Bytes encode_snapshot(const Snapshot& s) {
  const auto& m = s.summary;
  json j = {{"version", 1},
            {"kind", snapshot_kind_name(s.kind)},
            {"time", format_time_utc(s.time_unix_nanos / 1000000000)},
            {"time_unix_nanos", s.time_unix_nanos},
            {"host", s.host},
            {"user", s.user},
            {"source", s.source},
            {"tags", s.tags},
            {"root", s.root.hex()},
            {"size", s.size},
            {"summary",
             {{"files", m.files}, {"dirs", m.dirs}, {"bytes", m.bytes}, {"bytes_read", m.bytes_read},
              {"bytes_new", m.bytes_new}, {"bytes_stored_new", m.bytes_stored_new}, {"blobs_new", m.blobs_new},
              {"files_unchanged", m.files_unchanged}, {"errors", m.errors}, {"seconds", m.seconds}}},
            {"warnings", s.warnings}};
  if (s.parent) j["parent"] = s.parent->hex();
  if (s.kind == SnapshotKind::kBlock) j["block_size"] = s.block_size;
  return to_bytes(j.dump());
}

Result<Snapshot> decode_snapshot(ByteView data) {
  json j = json::parse(as_string(data), nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Error(ErrorCode::kCorrupt, "snapshot manifest is not valid JSON");
  try {
    if (j.at("version").get<int>() != 1)
      return Error(ErrorCode::kUnsupported, "snapshot manifest version is newer than this stowage reads (1)");
    Snapshot s;
    std::string kind = j.at("kind").get<std::string>();
    if (kind == "files") s.kind = SnapshotKind::kFiles;
    else if (kind == "block") s.kind = SnapshotKind::kBlock;
    else if (kind == "stream") s.kind = SnapshotKind::kStream;
    else return Error(ErrorCode::kCorrupt, "snapshot manifest has unknown kind '" + kind + "'");
    s.time_unix_nanos = j.at("time_unix_nanos").get<int64_t>();
    s.host = j.value("host", "");
    s.user = j.value("user", "");
    s.source = j.value("source", "");
    s.tags = j.value("tags", std::vector<std::string>{});
    s.root = TRY(BlobId::parse(j.at("root").get<std::string>()));
    s.size = j.value("size", uint64_t(0));
    s.block_size = j.value("block_size", uint32_t(0));
    if (j.contains("parent")) s.parent = TRY(BlobId::parse(j.at("parent").get<std::string>()));
    if (j.contains("summary")) {
      const json& m = j.at("summary");
      auto& o = s.summary;
      o.files = m.value("files", uint64_t(0));
      o.dirs = m.value("dirs", uint64_t(0));
      o.bytes = m.value("bytes", uint64_t(0));
      o.bytes_read = m.value("bytes_read", uint64_t(0));
      o.bytes_new = m.value("bytes_new", uint64_t(0));
      o.bytes_stored_new = m.value("bytes_stored_new", uint64_t(0));
      o.blobs_new = m.value("blobs_new", uint64_t(0));
      o.files_unchanged = m.value("files_unchanged", uint64_t(0));
      o.errors = m.value("errors", uint64_t(0));
      o.seconds = m.value("seconds", 0.0);
    }
    s.warnings = j.value("warnings", std::vector<std::string>{});
    return s;
  } catch (const json::exception& e) {
    return Error(ErrorCode::kCorrupt, std::string("snapshot manifest has missing or mistyped fields: ") + e.what());
  }
}

}  // namespace stowage
