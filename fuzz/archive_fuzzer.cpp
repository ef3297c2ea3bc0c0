// Fuzzes ArchiveReader (backup tarballs: tar, gzip/zstd/none) with small
// limits, and parse_item_path on the input taken as a path. Every entry the
// reader returns must be safe and consistent: a safe path, an item whose path
// rebuilds exactly and whose object agrees with it, a 1.x format version, no
// more items or expanded bytes than the limits allow. Reading from memory and
// from a source in small pieces must end the same way. A parsed item path
// must rebuild to the same string.
#include <archive.h>
#include <archive_entry.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "archive/archive_reader.h"
#include "archive/archive_writer.h"
#include "archive/item_path.h"
#include "fuzz_common.h"

using namespace stowage;
using namespace stowage::archive;

static Limits fuzz_limits() {
  Limits limits;
  limits.max_entry_bytes = 64 * 1024;
  limits.max_total_bytes = 1 << 20;
  limits.max_items = 64;
  limits.max_json_depth = 32;
  return limits;
}

static nlohmann::json object_of(const std::string& api_version, const std::string& kind, const std::string& name,
                                const std::string& namespace_name) {
  nlohmann::json metadata = {{"name", name}, {"labels", {{"app", "web"}}}};
  if (!namespace_name.empty()) metadata["namespace"] = namespace_name;
  return {{"apiVersion", api_version}, {"kind", kind}, {"metadata", metadata}, {"spec", {{"replicas", 1}}}};
}

// A tar (pax-restricted) written by libarchive directly, compressed with
// `filter` ("zstd", or "" for none).
static Bytes raw_tar(const char* filter, const std::vector<std::pair<std::string, std::string>>& files) {
  Bytes out;
  struct archive* a = archive_write_new();
  if (std::string(filter) == "zstd") archive_write_add_filter_zstd(a);
  archive_write_set_format_pax_restricted(a);
  archive_write_set_bytes_in_last_block(a, 1);
  archive_write_open(
      a, &out, nullptr,
      [](struct archive*, void* client, const void* buffer, size_t length) {
        auto* o = static_cast<Bytes*>(client);
        o->insert(o->end(), static_cast<const uint8_t*>(buffer), static_cast<const uint8_t*>(buffer) + length);
        return la_ssize_t(length);
      },
      nullptr);
  for (const auto& [path, content] : files) {
    archive_entry* e = archive_entry_new();
    archive_entry_copy_pathname(e, path.c_str());
    bool directory = !path.empty() && path.back() == '/';
    archive_entry_set_filetype(e, directory ? AE_IFDIR : AE_IFREG);
    archive_entry_set_perm(e, directory ? 0755 : 0644);
    archive_entry_set_size(e, la_int64_t(content.size()));
    archive_write_header(a, e);
    archive_write_data(a, content.data(), content.size());
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
  return out;
}

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::maybe_write_seeds("archive", [] {
    fuzz::Seeds seeds;
    Bytes gz;
    auto writer = ArchiveWriter::open(
        [&gz](ByteView piece) {
          gz.insert(gz.end(), piece.begin(), piece.end());
          return ok_status();
        },
        WriterOptions{1714564800, 9, -1});
    if (!writer.ok()) abort();
    bool ok = writer->add_format_version().ok() &&
              writer->add_item({"deployments.apps", "shop", "web", "", ""},
                               object_of("apps/v1", "Deployment", "web", "shop"))
                  .ok() &&
              writer->add_item({"deployments.apps", "shop", "web", "v1", ""},
                               object_of("apps/v1", "Deployment", "web", "shop"))
                  .ok() &&
              writer->add_item({"clusterroles.rbac.authorization.k8s.io", "", "system:aggregate-to-edit", "", ""},
                               object_of("rbac.authorization.k8s.io/v1", "ClusterRole", "system:aggregate-to-edit", ""))
                  .ok() &&
              writer->finish().ok();
    if (!ok) abort();
    seeds.push_back({"velero_small.tar.gz", gz});

    std::vector<std::pair<std::string, std::string>> files = {
        {"metadata/version", "1.1.0"},
        {"resources/", ""},
        {"resources/pods/namespaces/shop/db-0.json", object_of("v1", "Pod", "db-0", "shop").dump()},
        {"resources/namespaces/cluster/shop.json", object_of("v1", "Namespace", "shop", "").dump()},
        {"resources/horizontalpodautoscalers.autoscaling/v2/namespaces/shop/web.json",
         object_of("autoscaling/v2", "HorizontalPodAutoscaler", "web", "shop").dump()},
        {"metadata/notes", "other files are returned unread"},
    };
    seeds.push_back({"plain.tar", raw_tar("", files)});
    seeds.push_back({"small.tar.zst", raw_tar("zstd", {files[0], files[2]})});
    seeds.push_back({"item_path.txt", to_bytes("resources/deployments.apps/v1-preferredversion/namespaces/shop/web.json")});
    seeds.push_back(
        {"item_path_rbac.txt", to_bytes("resources/clusterroles.rbac.authorization.k8s.io/cluster/system:aggregate-to-edit.json")});
    return seeds;
  });
  return 0;
}

struct Outcome {
  size_t entries = 0;
  bool ok = true;
  stowage::ErrorCode code = stowage::ErrorCode::kInternal;
};

// Reads every entry and checks each; returns how reading ended.
static Outcome read_and_check(Result<ArchiveReader> opened) {
  const Limits limits = fuzz_limits();
  Outcome outcome;
  if (!opened.ok()) {
    outcome.ok = false;
    outcome.code = opened.error().code();
    return outcome;
  }
  ArchiveReader& reader = *opened;
  while (true) {
    Result<std::optional<ArchiveEntry>> entry = reader.next();
    if (!entry.ok()) {
      outcome.ok = false;
      outcome.code = entry.error().code();
      FUZZ_CHECK(!entry.error().message().empty());
      Result<std::optional<ArchiveEntry>> again = reader.next();  // errors are sticky
      FUZZ_CHECK(!again.ok() && again.error().code() == outcome.code);
      break;
    }
    if (!entry->has_value()) {
      FUZZ_CHECK(reader.bytes_expanded() <= limits.max_total_bytes);
      Result<std::optional<ArchiveEntry>> end = reader.next();  // the end stays the end
      FUZZ_CHECK(end.ok() && !end->has_value());
      break;
    }
    const ArchiveEntry& e = **entry;
    outcome.entries++;
    FUZZ_CHECK(is_safe_archive_path(e.path));
    switch (e.kind) {
      case ArchiveEntry::kItem: {
        FUZZ_CHECK(e.item.has_value());
        FUZZ_CHECK(item_path(*e.item) == e.path);
        FUZZ_CHECK(validate_item_path(*e.item).ok());
        FUZZ_CHECK(e.object.is_object());
        FUZZ_CHECK(check_item_matches_path(*e.item, e.object).ok());
        break;
      }
      case ArchiveEntry::kFormatVersion:
        FUZZ_CHECK(e.path == kFormatVersionPath);
        FUZZ_CHECK(check_format_version(e.text).ok());
        FUZZ_CHECK(reader.format_version() == e.text);
        break;
      case ArchiveEntry::kOther:
        FUZZ_CHECK(!e.item.has_value() && e.text.empty());
        FUZZ_CHECK(e.path.rfind("resources/", 0) != 0 && e.path != kFormatVersionPath);
        break;
    }
    FUZZ_CHECK(reader.items_read() <= limits.max_items);
  }
  return outcome;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ByteView input(data, size);

  // As a path.
  std::string text(reinterpret_cast<const char*>(data), size);
  Result<ItemPath> parsed = parse_item_path(text);
  if (parsed.ok()) {
    FUZZ_CHECK(item_path(*parsed) == text);
    FUZZ_CHECK(validate_item_path(*parsed).ok());
  } else {
    FUZZ_CHECK(parsed.error().code() == ErrorCode::kCorrupt);
  }

  // As an archive, from memory and from a source that hands out small pieces.
  Outcome from_memory = read_and_check(ArchiveReader::open(input, fuzz_limits()));
  size_t offset = 0;
  const size_t piece = 1 + size % 61;
  ArchiveReader::Source source = [&](MutableByteView out) -> Result<size_t> {
    size_t n = std::min({piece, out.size(), size - offset});
    std::copy_n(data + offset, n, out.data());
    offset += n;
    return n;
  };
  Outcome from_source = read_and_check(ArchiveReader::open(source, fuzz_limits()));
  FUZZ_CHECK(from_memory.ok == from_source.ok);
  FUZZ_CHECK(from_memory.entries == from_source.entries);
  if (!from_memory.ok) FUZZ_CHECK(from_memory.code == from_source.code);
  return 0;
}
