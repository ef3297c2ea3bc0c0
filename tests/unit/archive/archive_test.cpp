// The archive layer: item paths of Velero's tarball layout, the writer, and
// the reader against archives that ArchiveWriter would never write — built
// here with libarchive's own writer: traversal and absolute paths, links and
// devices, compression bombs, oversized entries, deep or broken JSON,
// truncated and damaged streams, a newer format version.
#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "archive/archive_reader.h"
#include "archive/archive_writer.h"
#include "archive/item_path.h"

namespace stowage::archive {
namespace {

using nlohmann::json;

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

#define EXPECT_CONTAINS(haystack, needle) \
  EXPECT_TRUE(contains((haystack), (needle))) << "\"" << (haystack) << "\" lacks \"" << (needle) << "\""

json object_of(const std::string& api_version, const std::string& kind, const std::string& name,
               const std::string& namespace_name = "") {
  json metadata = {{"name", name}, {"labels", {{"app", "web"}}}};
  if (!namespace_name.empty()) metadata["namespace"] = namespace_name;
  return json{{"apiVersion", api_version}, {"kind", kind}, {"metadata", metadata}, {"spec", {{"replicas", 2}}}};
}

// Text that gzip cannot shrink much, so that archives span many blocks.
std::string noise(size_t bytes, uint32_t seed) {
  std::string out;
  uint64_t x = seed * 6364136223846793005ull + 1442695040888963407ull;
  while (out.size() < bytes) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    out += "0123456789abcdef"[(x >> 33) & 15];
  }
  return out;
}

// Everything an ArchiveWriter produced, and how many pieces the sink got.
struct Written {
  Bytes bytes;
  size_t sink_calls = 0;
};

template <class F>
Written write_with(F add, WriterOptions options = {}) {
  Written out;
  auto writer = ArchiveWriter::open(
      [&out](ByteView piece) {
        out.bytes.insert(out.bytes.end(), piece.begin(), piece.end());
        out.sink_calls++;
        return ok_status();
      },
      options);
  EXPECT_TRUE(writer.ok()) << writer.error().to_string();
  add(*writer);
  Status finished = writer->finish();
  EXPECT_TRUE(finished.ok()) << finished.error().to_string();
  return out;
}

Result<std::vector<ArchiveEntry>> read_all(ByteView bytes, Limits limits = {}) {
  ArchiveReader reader = TRY(ArchiveReader::open(bytes, limits));
  std::vector<ArchiveEntry> entries;
  while (true) {
    std::optional<ArchiveEntry> entry = TRY(reader.next());
    if (!entry) return entries;
    entries.push_back(std::move(*entry));
  }
}

// Reads `bytes` and expects an error; returns it.
Error read_error(ByteView bytes, Limits limits = {}) {
  Result<std::vector<ArchiveEntry>> entries = read_all(bytes, limits);
  EXPECT_FALSE(entries.ok()) << "read " << entries->size() << " entries without an error";
  if (entries.ok()) return Error(ErrorCode::kInternal, "no error");
  return entries.error();
}

// A tar built with libarchive's writer directly, so that it can hold what
// ArchiveWriter never writes.
enum class Filter { kGzip, kZstd, kNone };

class RawTar {
 public:
  explicit RawTar(Filter filter = Filter::kGzip, int layers = 1) : archive_(archive_write_new()) {
    for (int i = 0; i < layers; i++) {
      if (filter == Filter::kGzip) {
        EXPECT_EQ(archive_write_add_filter_gzip(archive_), ARCHIVE_OK);
      } else if (filter == Filter::kZstd) {
        EXPECT_EQ(archive_write_add_filter_zstd(archive_), ARCHIVE_OK);
      }
    }
    EXPECT_EQ(archive_write_set_format_pax_restricted(archive_), ARCHIVE_OK);
    EXPECT_EQ(archive_write_set_bytes_in_last_block(archive_, 1), ARCHIVE_OK);
    EXPECT_EQ(archive_write_open(archive_, &bytes_, nullptr, append, nullptr), ARCHIVE_OK);
  }
  ~RawTar() { archive_write_free(archive_); }

  RawTar& file(const std::string& path, std::string_view content) {
    header(path, AE_IFREG, content.size());
    EXPECT_EQ(archive_write_data(archive_, content.data(), content.size()), la_ssize_t(content.size()));
    return *this;
  }
  RawTar& zeros(const std::string& path, uint64_t size) {
    header(path, AE_IFREG, size);
    std::string block(1 << 20, '\0');
    for (uint64_t left = size; left > 0;) {
      size_t n = size_t(std::min<uint64_t>(left, block.size()));
      EXPECT_EQ(archive_write_data(archive_, block.data(), n), la_ssize_t(n));
      left -= n;
    }
    return *this;
  }
  RawTar& directory(const std::string& path) {
    header(path, AE_IFDIR, 0);
    return *this;
  }
  RawTar& symlink(const std::string& path, const std::string& target) {
    header(path, AE_IFLNK, 0, [&](archive_entry* e) { archive_entry_set_symlink(e, target.c_str()); });
    return *this;
  }
  RawTar& hardlink(const std::string& path, const std::string& target) {
    header(path, AE_IFREG, 0, [&](archive_entry* e) { archive_entry_set_hardlink(e, target.c_str()); });
    return *this;
  }
  RawTar& special(const std::string& path, mode_t type) {
    header(path, type, 0);
    return *this;
  }
  Bytes finish() {
    EXPECT_EQ(archive_write_close(archive_), ARCHIVE_OK);
    return bytes_;
  }

 private:
  static la_ssize_t append(struct archive*, void* client, const void* buffer, size_t length) {
    auto* out = static_cast<Bytes*>(client);
    auto* p = static_cast<const uint8_t*>(buffer);
    out->insert(out->end(), p, p + length);
    return la_ssize_t(length);
  }
  template <class F = void (*)(archive_entry*)>
  void header(const std::string& path, mode_t type, uint64_t size, F extra = [](archive_entry*) {}) {
    archive_entry* e = archive_entry_new();
    archive_entry_copy_pathname(e, path.c_str());
    archive_entry_set_filetype(e, type);
    archive_entry_set_perm(e, type == AE_IFDIR ? 0755 : 0644);
    archive_entry_set_size(e, la_int64_t(size));
    archive_entry_set_mtime(e, 1714564800, 0);
    extra(e);
    EXPECT_EQ(archive_write_header(archive_, e), ARCHIVE_OK) << archive_error_string(archive_);
    archive_entry_free(e);
  }

  struct archive* archive_;
  Bytes bytes_;
};

const std::string kPodPath = "resources/pods/namespaces/shop/db-0.json";
const std::string kPodJson = object_of("v1", "Pod", "db-0", "shop").dump();

// ---------------------------------------------------------------- item paths

TEST(ItemPath, BuildsVeleroPaths) {
  EXPECT_EQ(item_path({"pods", "shop", "db-0", "", ""}), "resources/pods/namespaces/shop/db-0.json");
  EXPECT_EQ(item_path({"deployments.apps", "shop", "web", "", ""}),
            "resources/deployments.apps/namespaces/shop/web.json");
  EXPECT_EQ(item_path({"namespaces", "", "shop", "", ""}), "resources/namespaces/cluster/shop.json");
  EXPECT_EQ(item_path({"deployments.apps", "shop", "web", "v1", ""}),
            "resources/deployments.apps/v1-preferredversion/namespaces/shop/web.json");
  EXPECT_EQ(item_path({"clusterroles.rbac.authorization.k8s.io", "", "system:aggregate-to-edit", "v1", ""}),
            "resources/clusterroles.rbac.authorization.k8s.io/v1-preferredversion/cluster/"
            "system:aggregate-to-edit.json");
  EXPECT_EQ(item_path({"horizontalpodautoscalers.autoscaling", "shop", "web", "", "v2beta2"}),
            "resources/horizontalpodautoscalers.autoscaling/v2beta2/namespaces/shop/web.json");

  ItemPath rbac{"clusterroles.rbac.authorization.k8s.io", "", "admin", "", ""};
  EXPECT_EQ(rbac.group(), "rbac.authorization.k8s.io");
  EXPECT_EQ(rbac.plural(), "clusterroles");
  EXPECT_TRUE(rbac.cluster_scoped());
  ItemPath pod{"pods", "shop", "db-0", "", ""};
  EXPECT_EQ(pod.group(), "");
  EXPECT_EQ(pod.plural(), "pods");
  EXPECT_EQ(pod.describe(), "pods/db-0 in namespace shop");
}

TEST(ItemPath, ParsesEveryFormBackToTheSameItem) {
  std::vector<ItemPath> items = {
      {"pods", "shop", "db-0", "", ""},
      {"deployments.apps", "shop", "web", "", ""},
      {"namespaces", "", "shop", "", ""},
      {"deployments.apps", "shop", "web", "v1", ""},
      {"persistentvolumes", "", "pv-1", "v1", ""},
      {"horizontalpodautoscalers.autoscaling", "shop", "web", "", "v2beta2"},
      {"clusterroles.rbac.authorization.k8s.io", "", "system:controller:job-controller", "", ""},
      {"rolebindings.rbac.authorization.k8s.io", "kube-system", "system::leader-locking-kube-scheduler", "v1", ""},
      {"configmaps", "shop", "kube-root-ca.crt", "", ""},
      {"widgets.example.com", "shop", "name with space", "", ""},
      {"roles.rbac.authorization.k8s.io", "shop", "r\xc3\xb4le", "", ""},  // UTF-8
      {"configmaps", "shop", std::string(253, 'a'), "", ""},
      {"secrets", "cluster", "namespaces", "", ""},  // directory names as namespace/name
  };
  for (const ItemPath& item : items) {
    std::string path = item_path(item);
    Result<ItemPath> parsed = parse_item_path(path);
    ASSERT_TRUE(parsed.ok()) << path << ": " << parsed.error().to_string();
    EXPECT_EQ(*parsed, item) << path;
    EXPECT_TRUE(validate_item_path(item).ok()) << path;
  }
}

TEST(ItemPath, RefusesEveryMalformedPath) {
  const std::vector<std::string> bad = {
      "",
      "/resources/pods/namespaces/shop/db-0.json",           // absolute
      "resources/pods/namespaces/shop/../db-0.json",         // ..
      "resources/pods/namespaces/../../../etc/passwd.json",  // traversal
      "resources/pods/namespaces/shop/./db-0.json",          // .
      "./resources/pods/namespaces/shop/db-0.json",          // leading ./
      "resources/pods/namespaces//db-0.json",                // empty component
      "resources/pods/namespaces/shop/db-0.json/",           // trailing /
      "resources\\pods\\namespaces\\shop\\db-0.json",        // backslashes
      "resources/pods/namespaces/shop/db\\0.json",           // backslash in the name
      std::string("resources/pods/namespaces/shop/db\0-0.json", 42),  // NUL
      "resources/pods/namespaces/shop/db\n0.json",           // control character
      "resources/pods/namespaces/shop/db\x7f.json",          // DEL
      "resources/pods/namespaces/shop/db\xc2\x85.json",      // C1 control (U+0085)
      "resources/pods/namespaces/shop/db\xff.json",          // not UTF-8
      "resources/pods/namespaces/shop/db\xc0\xaf.json",      // overlong '/'
      "resources/pods/namespaces/shop/db-0",                 // no .json
      "resources/pods/namespaces/shop/db-0.yaml",
      "resources/pods/namespaces/shop/.json",                // empty name
      "resources/pods/namespaces/shop/...json",              // name ".."
      "resources/pods/namespaces/shop",                      // missing the file
      "resources/pods/namespaces/db-0.json",                 // missing the namespace
      "resources/pods/cluster/extra/db-0.json",              // extra component
      "resources/pods/namespaces/shop/extra/db-0.json",
      "resources/pods/v1-preferredversion/namespaces/shop/x/db-0.json",
      "resources/pods/v1-preferredversion/db-0.json",
      "resources/pods/db-0.json",
      "resources/pods",
      "resources",
      "metadata/version",                                    // not under resources/
      "Resources/pods/namespaces/shop/db-0.json",
      "resources/Pods/namespaces/shop/db-0.json",            // resource not lower case
      "resources/pods./namespaces/shop/db-0.json",
      "resources/.apps/namespaces/shop/db-0.json",
      "resources/deployments.apps_v1/namespaces/shop/db-0.json",
      "resources/pods/namespaces/Shop/db-0.json",            // namespace not a DNS label
      "resources/pods/namespaces/shop.prod/db-0.json",
      "resources/pods/namespaces/-shop/db-0.json",
      "resources/pods/namespaces/" + std::string(64, 'a') + "/db-0.json",
      "resources/pods/namespaces/shop/" + std::string(254, 'a') + ".json",  // name over 253
      "resources/pods/-preferredversion/namespaces/shop/db-0.json",        // empty version
      "resources/pods/V1-preferredversion/namespaces/shop/db-0.json",
      "resources/pods/1v-preferredversion/namespaces/shop/db-0.json",
      "resources/pods/v1.2/namespaces/shop/db-0.json",
      "resources/pods/clusters/db-0.json",
      "resources/pods/v1/v2/cluster/db-0.json",
      "resources/" + std::string(5000, 'a'),                 // over 4096 bytes
  };
  for (const std::string& path : bad) {
    Result<ItemPath> parsed = parse_item_path(path);
    ASSERT_FALSE(parsed.ok()) << "accepted \"" << display_path(path) << "\"";
    EXPECT_EQ(parsed.error().code(), ErrorCode::kCorrupt) << display_path(path);
    EXPECT_CONTAINS(parsed.error().message(), display_path(path));
  }
}

TEST(ItemPath, NameRules) {
  EXPECT_TRUE(is_dns1123_label("shop-1"));
  EXPECT_FALSE(is_dns1123_label("shop-"));
  EXPECT_FALSE(is_dns1123_label(std::string(64, 'a')));
  EXPECT_TRUE(is_dns1123_subdomain("rbac.authorization.k8s.io"));
  EXPECT_FALSE(is_dns1123_subdomain("rbac..io"));
  EXPECT_FALSE(is_dns1123_subdomain("rbac.io."));
  EXPECT_TRUE(is_dns1035_label("v1beta1"));
  EXPECT_FALSE(is_dns1035_label("1beta"));
  EXPECT_TRUE(is_valid_object_name("system:node:worker-1"));
  EXPECT_FALSE(is_valid_object_name(".."));
  EXPECT_FALSE(is_valid_object_name("a/b"));
  EXPECT_FALSE(is_valid_object_name(std::string(254, 'a')));
  EXPECT_EQ(display_path(std::string("a\0b\\c", 5)), "a\\x00b\\x5cc");
}

TEST(ItemPath, ValidateRefusesWhatCannotRoundTrip) {
  EXPECT_EQ(validate_item_path({"pods", "shop", "a/b", "", ""}).error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(validate_item_path({"pods", "Shop", "a", "", ""}).error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(validate_item_path({"pods", "shop", "a", "v1", "v2"}).error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(validate_item_path({"pods", "shop", "a", "", "cluster"}).error().code(), ErrorCode::kInvalidArgument);
}

TEST(ItemPath, CheckItemMatchesPathAcceptsAgreeingObjects) {
  EXPECT_TRUE(check_item_matches_path({"pods", "shop", "db-0", "", ""}, object_of("v1", "Pod", "db-0", "shop")).ok());
  EXPECT_TRUE(check_item_matches_path({"deployments.apps", "shop", "web", "v1", ""},
                                      object_of("apps/v1", "Deployment", "web", "shop"))
                  .ok());
  EXPECT_TRUE(check_item_matches_path({"namespaces", "", "shop", "", ""}, object_of("v1", "Namespace", "shop")).ok());
  json empty_namespace = object_of("v1", "PersistentVolume", "pv-1");
  empty_namespace["metadata"]["namespace"] = "";
  EXPECT_TRUE(check_item_matches_path({"persistentvolumes", "", "pv-1", "", ""}, empty_namespace).ok());
}

TEST(ItemPath, CheckItemMatchesPathNamesEveryDisagreement) {
  struct Case {
    ItemPath item;
    json object;
    std::string says;
  };
  json no_kind = object_of("v1", "Pod", "db-0", "shop");
  no_kind.erase("kind");
  json empty_kind = object_of("v1", "", "db-0", "shop");
  json number_kind = object_of("v1", "Pod", "db-0", "shop");
  number_kind["kind"] = 7;
  json no_api_version = object_of("v1", "Pod", "db-0", "shop");
  no_api_version.erase("apiVersion");
  json no_metadata = object_of("v1", "Pod", "db-0", "shop");
  no_metadata.erase("metadata");
  const ItemPath pod{"pods", "shop", "db-0", "", ""};
  const std::vector<Case> cases = {
      {pod, object_of("v1", "Pod", "db-1", "shop"), "metadata.name \"db-1\" differs"},
      {pod, object_of("v1", "Pod", "db-0", "prod"), "metadata.namespace \"prod\" differs"},
      {pod, object_of("v1", "Pod", "db-0"), "no metadata.namespace"},
      {{"namespaces", "", "shop", "", ""}, object_of("v1", "Namespace", "shop", "shop"), "cluster-scoped"},
      {pod, object_of("apps/v1", "Pod", "db-0", "shop"), "is in group \"apps\""},
      {{"deployments.apps", "shop", "web", "", ""}, object_of("v1", "Deployment", "web", "shop"),
       "is in group \"\""},
      {{"deployments.apps", "shop", "web", "", ""}, object_of("extensions/v1beta1", "Deployment", "web", "shop"),
       "is in group \"extensions\""},
      {{"deployments.apps", "shop", "web", "v1", ""}, object_of("apps/v1beta2", "Deployment", "web", "shop"),
       "has version \"v1beta2\" but the copy is stored under version v1"},
      {{"deployments.apps", "shop", "web", "", "v1beta2"}, object_of("apps/v1", "Deployment", "web", "shop"),
       "has version \"v1\" but the copy is stored under version v1beta2"},
      {pod, no_kind, "no kind"},
      {pod, empty_kind, "no kind"},
      {pod, number_kind, "no kind"},
      {pod, no_api_version, "no apiVersion"},
      {pod, object_of("apps/", "Pod", "db-0", "shop"), "is not <group>/<version>"},
      {pod, no_metadata, "no metadata"},
      {pod, json::array(), "not a JSON object"},
  };
  for (const Case& c : cases) {
    Status s = check_item_matches_path(c.item, c.object);
    ASSERT_FALSE(s.ok()) << c.says;
    EXPECT_EQ(s.error().code(), ErrorCode::kCorrupt);
    EXPECT_CONTAINS(s.error().message(), item_path(c.item));
    EXPECT_CONTAINS(s.error().message(), c.says);
  }
}

// ----------------------------------------------------------------- round trip

TEST(ArchiveRoundTrip, ItemsOfEveryKindComeBack) {
  struct Stored {
    ItemPath item;
    json object;
  };
  const std::vector<Stored> stored = {
      {{"pods", "shop", "db-0", "", ""}, object_of("v1", "Pod", "db-0", "shop")},
      {{"pods", "shop", "db-0", "v1", ""}, object_of("v1", "Pod", "db-0", "shop")},
      {{"deployments.apps", "shop", "web", "", ""}, object_of("apps/v1", "Deployment", "web", "shop")},
      {{"deployments.apps", "shop", "web", "v1", ""}, object_of("apps/v1", "Deployment", "web", "shop")},
      {{"namespaces", "", "shop", "", ""}, object_of("v1", "Namespace", "shop")},
      {{"namespaces", "", "shop", "v1", ""}, object_of("v1", "Namespace", "shop")},
      {{"clusterrolebindings.rbac.authorization.k8s.io", "", "system:controller:job-controller", "", ""},
       object_of("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "system:controller:job-controller")},
      {{"rolebindings.rbac.authorization.k8s.io", "kube-system", "system::leader-locking-kube-scheduler", "v1", ""},
       object_of("rbac.authorization.k8s.io/v1", "RoleBinding", "system::leader-locking-kube-scheduler",
                 "kube-system")},
      {{"horizontalpodautoscalers.autoscaling", "shop", "web", "", "v1"},
       object_of("autoscaling/v1", "HorizontalPodAutoscaler", "web", "shop")},
      {{"configmaps", "shop", std::string(200, 'c'), "", ""}, object_of("v1", "ConfigMap", std::string(200, 'c'), "shop")},
      {{"roles.rbac.authorization.k8s.io", "shop", "r\xc3\xb4le", "", ""},
       object_of("rbac.authorization.k8s.io/v1", "Role", "r\xc3\xb4le", "shop")},
  };
  Written written = write_with([&](ArchiveWriter& writer) {
    ASSERT_TRUE(writer.add_format_version().ok());
    for (const Stored& s : stored) {
      Status added = writer.add_item(s.item, s.object);
      ASSERT_TRUE(added.ok()) << added.error().to_string();
    }
    EXPECT_EQ(writer.entries_written(), stored.size() + 1);
  });
  ASSERT_GE(written.bytes.size(), 2u);
  EXPECT_EQ(written.bytes[0], 0x1f);  // gzip
  EXPECT_EQ(written.bytes[1], 0x8b);

  ArchiveReader reader = *ArchiveReader::open(written.bytes);
  Result<std::optional<ArchiveEntry>> first = reader.next();
  ASSERT_TRUE(first.ok()) << first.error().to_string();
  ASSERT_TRUE(first->has_value());
  EXPECT_EQ((*first)->kind, ArchiveEntry::kFormatVersion);
  EXPECT_EQ((*first)->path, "metadata/version");
  EXPECT_EQ((*first)->text, "1.1.0");
  EXPECT_EQ(reader.format_version(), "1.1.0");
  for (const Stored& s : stored) {
    Result<std::optional<ArchiveEntry>> entry = reader.next();
    ASSERT_TRUE(entry.ok()) << entry.error().to_string();
    ASSERT_TRUE(entry->has_value());
    EXPECT_EQ((*entry)->kind, ArchiveEntry::kItem);
    EXPECT_EQ((*entry)->path, item_path(s.item));
    ASSERT_TRUE((*entry)->item.has_value());
    EXPECT_EQ(*(*entry)->item, s.item);
    EXPECT_EQ((*entry)->object, s.object);
  }
  Result<std::optional<ArchiveEntry>> end = reader.next();
  ASSERT_TRUE(end.ok());
  EXPECT_FALSE(end->has_value());
  EXPECT_EQ(reader.items_read(), stored.size());
  EXPECT_GT(reader.bytes_expanded(), 0u);
  // The end stays the end.
  EXPECT_FALSE(reader.next()->has_value());
}

TEST(ArchiveRoundTrip, ItemJsonIsIndentedByTwoSpacesAndEntriesAreRegularFiles) {
  Written written = write_with([](ArchiveWriter& writer) {
    ASSERT_TRUE(writer.add_item({"pods", "shop", "db-0", "", ""}, object_of("v1", "Pod", "db-0", "shop")).ok());
  }, WriterOptions{1714564800, 6, 2});
  struct archive* a = archive_read_new();
  archive_read_support_filter_gzip(a);
  archive_read_support_format_tar(a);
  ASSERT_EQ(archive_read_open_memory(a, written.bytes.data(), written.bytes.size()), ARCHIVE_OK);
  archive_entry* e = nullptr;
  ASSERT_EQ(archive_read_next_header(a, &e), ARCHIVE_OK);
  EXPECT_STREQ(archive_entry_pathname(e), "resources/pods/namespaces/shop/db-0.json");
  EXPECT_EQ(archive_entry_filetype(e), mode_t(AE_IFREG));
  EXPECT_EQ(archive_entry_perm(e), mode_t(0644));
  EXPECT_EQ(archive_entry_uid(e), 0);
  EXPECT_EQ(archive_entry_gid(e), 0);
  EXPECT_EQ(archive_entry_mtime(e), 1714564800);
  std::string content(size_t(archive_entry_size(e)), '\0');
  ASSERT_EQ(archive_read_data(a, content.data(), content.size()), la_ssize_t(content.size()));
  EXPECT_EQ(content, object_of("v1", "Pod", "db-0", "shop").dump(2));
  EXPECT_EQ(archive_read_next_header(a, &e), ARCHIVE_EOF);
  archive_read_free(a);
}

TEST(ArchiveRoundTrip, SameItemsGiveTheSameBytes) {
  auto add = [](ArchiveWriter& writer) {
    ASSERT_TRUE(writer.add_format_version().ok());
    ASSERT_TRUE(writer.add_item({"pods", "shop", "db-0", "", ""}, object_of("v1", "Pod", "db-0", "shop")).ok());
  };
  EXPECT_EQ(write_with(add).bytes, write_with(add).bytes);
}

TEST(ArchiveRoundTrip, WriterStreamsIntoTheSinkAndReaderPullsInSmallPieces) {
  const int kItems = 300;
  Written written = write_with([&](ArchiveWriter& writer) {
    ASSERT_TRUE(writer.add_format_version().ok());
    for (int i = 0; i < kItems; i++) {
      json object = object_of("v1", "ConfigMap", "cm-" + std::to_string(i), "shop");
      object["data"] = {{"noise", noise(1000, uint32_t(i))}};
      ASSERT_TRUE(writer.add_item({"configmaps", "shop", "cm-" + std::to_string(i), "", ""}, object).ok());
    }
  });
  EXPECT_GT(written.sink_calls, 5u) << "the writer handed the archive over in one piece";

  size_t offset = 0, pulls = 0;
  ArchiveReader::Source source = [&](MutableByteView out) -> Result<size_t> {
    pulls++;
    size_t n = std::min<size_t>({7, out.size(), written.bytes.size() - offset});
    std::copy_n(written.bytes.begin() + long(offset), n, out.begin());
    offset += n;
    return n;
  };
  ArchiveReader reader = *ArchiveReader::open(source);
  int items = 0;
  while (true) {
    Result<std::optional<ArchiveEntry>> entry = reader.next();
    ASSERT_TRUE(entry.ok()) << entry.error().to_string();
    if (!entry->has_value()) break;
    if ((*entry)->kind == ArchiveEntry::kItem) {
      EXPECT_EQ((*entry)->item->name, "cm-" + std::to_string(items));
      items++;
    }
  }
  EXPECT_EQ(items, kItems);
  EXPECT_EQ(offset, written.bytes.size());
  EXPECT_GT(pulls, written.bytes.size() / 7);
}

TEST(ArchiveReader, ReadsZstdAndUncompressedTar) {
  for (Filter filter : {Filter::kZstd, Filter::kNone, Filter::kGzip}) {
    Bytes bytes = RawTar(filter).directory("resources/").file("metadata/version", "1.0.0\n").file(kPodPath, kPodJson)
                      .file("metadata/extra-info", "ignored").finish();
    Result<std::vector<ArchiveEntry>> entries = read_all(bytes);
    ASSERT_TRUE(entries.ok()) << entries.error().to_string();
    ASSERT_EQ(entries->size(), 3u);  // the directory is skipped
    EXPECT_EQ((*entries)[0].kind, ArchiveEntry::kFormatVersion);
    EXPECT_EQ((*entries)[0].text, "1.0.0");
    EXPECT_EQ((*entries)[1].kind, ArchiveEntry::kItem);
    EXPECT_EQ((*entries)[1].object, json::parse(kPodJson));
    EXPECT_EQ((*entries)[2].kind, ArchiveEntry::kOther);
    EXPECT_EQ((*entries)[2].path, "metadata/extra-info");
    EXPECT_TRUE((*entries)[2].text.empty());
  }
}

TEST(ArchiveReader, SourceErrorsPropagate) {
  Written written = write_with([](ArchiveWriter& writer) {
    for (int i = 0; i < 100; i++) {
      json object = object_of("v1", "Pod", "p" + std::to_string(i), "shop");
      object["spec"]["noise"] = noise(2000, uint32_t(i));
      ASSERT_TRUE(writer.add_item({"pods", "shop", "p" + std::to_string(i), "", ""}, object).ok());
    }
  });
  size_t offset = 0;
  ArchiveReader::Source source = [&](MutableByteView out) -> Result<size_t> {
    if (offset >= written.bytes.size() / 2)
      return Error(ErrorCode::kUnavailable, "object store timed out", "backups/b1/b1.tar.gz");
    size_t n = std::min<size_t>({64, out.size(), written.bytes.size() - offset});
    std::copy_n(written.bytes.begin() + long(offset), n, out.begin());
    offset += n;
    return n;
  };
  Result<ArchiveReader> opened = ArchiveReader::open(source);
  ASSERT_TRUE(opened.ok()) << opened.error().to_string();
  ArchiveReader reader = std::move(*opened);
  Result<std::optional<ArchiveEntry>> entry = reader.next();
  size_t entries = 0;
  while (entry.ok() && entry->has_value()) {
    entries++;
    entry = reader.next();
  }
  EXPECT_GT(entries, 0u);
  ASSERT_FALSE(entry.ok());
  EXPECT_EQ(entry.error().code(), ErrorCode::kUnavailable);
  EXPECT_CONTAINS(entry.error().message(), "object store timed out");
  EXPECT_EQ(entry.error().object(), "backups/b1/b1.tar.gz");
  // The failure is sticky.
  Result<std::optional<ArchiveEntry>> again = reader.next();
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code(), ErrorCode::kUnavailable);
}

TEST(ArchiveWriter, SinkErrorsPropagate) {
  size_t taken = 0;
  auto writer = ArchiveWriter::open([&](ByteView piece) -> Status {
    if (taken > 0) return Error(ErrorCode::kUnavailable, "upload failed", "backups/b1/b1.tar.gz");
    taken += piece.size();
    return ok_status();
  });
  ASSERT_TRUE(writer.ok());
  Status status = ok_status();
  for (int i = 0; i < 2000 && status.ok(); i++) {
    json object = object_of("v1", "ConfigMap", "cm-" + std::to_string(i), "shop");
    object["data"] = {{"x", std::string(1000, char('a' + i % 26)) + std::to_string(i * 7919)}};
    status = writer->add_item({"configmaps", "shop", "cm-" + std::to_string(i), "", ""}, object);
  }
  if (status.ok()) status = writer->finish();
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().code(), ErrorCode::kUnavailable);
  EXPECT_CONTAINS(status.error().message(), "upload failed");
  // Sticky: nothing more is accepted.
  EXPECT_EQ(writer->add_format_version().error().code(), ErrorCode::kUnavailable);
}

TEST(ArchiveWriter, RefusesUnsafePathsAndItemsThatDisagreeWithTheirPath) {
  Bytes sink;
  auto writer = ArchiveWriter::open([&](ByteView piece) {
    sink.insert(sink.end(), piece.begin(), piece.end());
    return ok_status();
  });
  ASSERT_TRUE(writer.ok());
  for (std::string path : {"../x", "/etc/passwd", "a//b", "a/./b", "", "a\\b"}) {
    Status s = writer->add_file(path, as_bytes("x"));
    ASSERT_FALSE(s.ok()) << path;
    EXPECT_EQ(s.error().code(), ErrorCode::kInvalidArgument);
  }
  Status bad_name = writer->add_item({"pods", "shop", "a/b", "", ""}, object_of("v1", "Pod", "a/b", "shop"));
  EXPECT_EQ(bad_name.error().code(), ErrorCode::kInvalidArgument);
  Status mismatch = writer->add_item({"pods", "shop", "db-0", "", ""}, object_of("v1", "Pod", "db-1", "shop"));
  ASSERT_FALSE(mismatch.ok());
  EXPECT_EQ(mismatch.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_CONTAINS(mismatch.error().message(), "resources/pods/namespaces/shop/db-0.json");
  json bad_utf8 = object_of("v1", "Pod", "db-0", "shop");
  bad_utf8["spec"]["x"] = std::string("\xff\xfe");
  EXPECT_EQ(writer->add_item({"pods", "shop", "db-0", "", ""}, bad_utf8).error().code(),
            ErrorCode::kInvalidArgument);
  // Refused calls do not spoil the writer.
  ASSERT_TRUE(writer->add_item({"pods", "shop", "db-0", "", ""}, object_of("v1", "Pod", "db-0", "shop")).ok());
  ASSERT_TRUE(writer->finish().ok());
  EXPECT_EQ(writer->finish().error().code(), ErrorCode::kInternal);
  Result<std::vector<ArchiveEntry>> entries = read_all(sink);
  ASSERT_TRUE(entries.ok()) << entries.error().to_string();
  EXPECT_EQ(entries->size(), 1u);
}

TEST(ArchiveWriter, AbandonedWriterDoesNotCallTheSinkAfterDestruction) {
  size_t calls_after = 0;
  bool destroyed = false;
  {
    auto writer = ArchiveWriter::open([&](ByteView) {
      if (destroyed) calls_after++;
      return ok_status();
    });
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE(writer->add_format_version().ok());
    destroyed = true;  // the writer's destructor runs next, without finish()
  }
  EXPECT_EQ(calls_after, 0u);
}

// ----------------------------------------------------------- hostile archives

TEST(ArchiveHostile, TraversalPathIsRefused) {
  for (std::string path : {"../../etc/cron.d/evil", "resources/../../../etc/passwd",
                           "resources/pods/namespaces/shop/../../../../../tmp/x.json", "metadata/../../x"}) {
    Bytes bytes = RawTar().file("metadata/version", "1.1.0").file(path, kPodJson).finish();
    Error e = read_error(bytes);
    EXPECT_EQ(e.code(), ErrorCode::kCorrupt) << path;
    EXPECT_CONTAINS(e.message(), "\"" + path + "\"");
    EXPECT_CONTAINS(e.message(), "\"..\"");
  }
}

TEST(ArchiveHostile, AbsolutePathIsRefused) {
  Bytes bytes = RawTar().file("/etc/passwd", "root:x:0:0").finish();
  Error e = read_error(bytes);
  EXPECT_EQ(e.code(), ErrorCode::kCorrupt);
  EXPECT_CONTAINS(e.message(), "\"/etc/passwd\"");
  EXPECT_CONTAINS(e.message(), "absolute");
}

TEST(ArchiveHostile, DotAndDirectoryTraversalInDirectoriesAreRefused) {
  Error dot = read_error(RawTar().directory("./").file("./" + kPodPath, kPodJson).finish());
  EXPECT_EQ(dot.code(), ErrorCode::kCorrupt);
  EXPECT_CONTAINS(dot.message(), "\".\"");
  Error up = read_error(RawTar().directory("../outside/").finish());
  EXPECT_EQ(up.code(), ErrorCode::kCorrupt);
  EXPECT_CONTAINS(up.message(), "../outside/");
}

TEST(ArchiveHostile, SymlinkEntryIsRefused) {
  Bytes bytes = RawTar().symlink("resources/pods/namespaces/shop/db-0.json", "/etc/shadow").finish();
  Error e = read_error(bytes);
  EXPECT_EQ(e.code(), ErrorCode::kCorrupt);
  EXPECT_CONTAINS(e.message(), "\"resources/pods/namespaces/shop/db-0.json\"");
  EXPECT_CONTAINS(e.message(), "symbolic link");
  EXPECT_CONTAINS(e.message(), "/etc/shadow");
}

TEST(ArchiveHostile, HardLinkEntryIsRefused) {
  Bytes bytes = RawTar().file(kPodPath, kPodJson).hardlink("resources/pods/namespaces/shop/db-1.json", kPodPath).finish();
  Error e = read_error(bytes);
  EXPECT_EQ(e.code(), ErrorCode::kCorrupt);
  EXPECT_CONTAINS(e.message(), "\"resources/pods/namespaces/shop/db-1.json\"");
  EXPECT_CONTAINS(e.message(), "hard link");
}

TEST(ArchiveHostile, DevicesAndFifosAreRefused) {
  for (auto [type, name] : {std::pair{mode_t(AE_IFCHR), "character device"}, std::pair{mode_t(AE_IFBLK), "block device"},
                            std::pair{mode_t(AE_IFIFO), "FIFO"}}) {
    Error e = read_error(RawTar().special("metadata/dev", type).finish());
    EXPECT_EQ(e.code(), ErrorCode::kCorrupt);
    EXPECT_CONTAINS(e.message(), "\"metadata/dev\"");
    EXPECT_CONTAINS(e.message(), name);
  }
}

TEST(ArchiveHostile, GzipBombIsRefusedBeforeItExpands) {
  // 100 MiB of zeros compress to about 100 KiB.
  const uint64_t kBomb = uint64_t(100) << 20;
  const std::string bomb_path = "resources/pods/namespaces/shop/bomb.json";
  Bytes bytes = RawTar().file("metadata/version", "1.1.0").zeros(bomb_path, kBomb).finish();
  ASSERT_LT(bytes.size(), size_t(1) << 20);

  // The default limits: one entry of 100 MiB is over max_entry_bytes.
  Error by_entry = read_error(bytes);
  EXPECT_EQ(by_entry.code(), ErrorCode::kCorrupt);
  EXPECT_CONTAINS(by_entry.message(), "\"" + bomb_path + "\"");
  EXPECT_CONTAINS(by_entry.message(), "max_entry_bytes");

  // A generous entry limit: the expanded total stops it instead.
  Limits limits;
  limits.max_entry_bytes = size_t(1) << 30;
  limits.max_total_bytes = uint64_t(32) << 20;
  ArchiveReader reader = *ArchiveReader::open(bytes, limits);
  ASSERT_TRUE(reader.next().ok());  // metadata/version
  Result<std::optional<ArchiveEntry>> bomb = reader.next();
  ASSERT_FALSE(bomb.ok());
  EXPECT_EQ(bomb.error().code(), ErrorCode::kCorrupt);
  EXPECT_CONTAINS(bomb.error().message(), "\"" + bomb_path + "\"");
  EXPECT_CONTAINS(bomb.error().message(), "max_total_bytes");
  EXPECT_FALSE(bomb.error().hint().empty());
  EXPECT_LT(reader.bytes_expanded(), uint64_t(1) << 20) << "the bomb was decompressed before it was refused";
}

TEST(ArchiveHostile, ManyEntriesOverTheTotalAreRefusedEvenWhenSkipped) {
  RawTar tar;
  for (int i = 0; i < 40; i++) tar.zeros("metadata/junk-" + std::to_string(i), uint64_t(1) << 20);
  Bytes bytes = tar.finish();
  Limits limits;
  limits.max_total_bytes = uint64_t(16) << 20;
  ArchiveReader reader = *ArchiveReader::open(bytes, limits);
  int others = 0;
  Result<std::optional<ArchiveEntry>> entry = reader.next();
  while (entry.ok() && entry->has_value()) {
    EXPECT_EQ((*entry)->kind, ArchiveEntry::kOther);
    others++;
    entry = reader.next();
  }
  ASSERT_FALSE(entry.ok());
  EXPECT_EQ(entry.error().code(), ErrorCode::kCorrupt);
  EXPECT_CONTAINS(entry.error().message(), "max_total_bytes");
  EXPECT_CONTAINS(entry.error().message(), "\"metadata/junk-" + std::to_string(others) + "\"");
  EXPECT_GE(others, 14);
  EXPECT_LE(others, 16);
  EXPECT_LE(reader.bytes_expanded(), limits.max_total_bytes);
}

TEST(ArchiveHostile, EntryOverTheSizeLimitIsRefusedUnread) {
  const std::string path = "resources/configmaps/namespaces/shop/big.json";
  Bytes bytes = RawTar(Filter::kNone).file(path, std::string(5000, ' ')).finish();
  Limits limits;
  limits.max_entry_bytes = 4096;
  ArchiveReader reader = *ArchiveReader::open(bytes, limits);
  Result<std::optional<ArchiveEntry>> entry = reader.next();
  ASSERT_FALSE(entry.ok());
  EXPECT_EQ(entry.error().code(), ErrorCode::kCorrupt);
  EXPECT_CONTAINS(entry.error().message(), "\"" + path + "\"");
  EXPECT_CONTAINS(entry.error().message(), "5000 bytes, is over max_entry_bytes (4096 bytes)");
  EXPECT_LT(reader.bytes_expanded(), 4096u) << "the content was read";
}

TEST(ArchiveHostile, DeeplyNestedJsonIsRefused) {
  std::string deep;
  for (int i = 0; i < 10000; i++) deep += "{\"a\":";
  deep += "1";
  deep += std::string(10000, '}');
  Error e = read_error(RawTar().file(kPodPath, deep).finish());
  EXPECT_EQ(e.code(), ErrorCode::kCorrupt);
  EXPECT_CONTAINS(e.message(), "\"" + kPodPath + "\"");
  EXPECT_CONTAINS(e.message(), "max_json_depth (64)");

  std::string arrays = std::string(10000, '[') + std::string(10000, ']');
  Error e2 = read_error(RawTar().file(kPodPath, arrays).finish());
  EXPECT_EQ(e2.code(), ErrorCode::kCorrupt);
  EXPECT_CONTAINS(e2.message(), "max_json_depth");

  // Depth 64 itself is fine.
  json nested = object_of("v1", "Pod", "db-0", "shop");
  json* at = &nested["spec"];
  for (int i = 0; i < 62; i++) at = &(*at)["a"];
  *at = 1;
  Result<std::vector<ArchiveEntry>> ok = read_all(RawTar().file(kPodPath, nested.dump()).finish());
  EXPECT_TRUE(ok.ok()) << ok.error().to_string();
}

TEST(ArchiveHostile, InvalidJsonIsRefused) {
  for (std::string text : {std::string("{\"apiVersion\": \"v1\", "), std::string("not json"), std::string(""),
                           std::string("{\"a\": \"\xff\"}")}) {
    Error e = read_error(RawTar().file(kPodPath, text).finish());
    EXPECT_EQ(e.code(), ErrorCode::kCorrupt) << text;
    EXPECT_CONTAINS(e.message(), "\"" + kPodPath + "\"");
    EXPECT_CONTAINS(e.message(), "invalid JSON");
  }
}

TEST(ArchiveHostile, JsonThatIsNotAnObjectIsRefused) {
  for (auto [text, type] : {std::pair{"[1, 2, 3]", "array"}, std::pair{"\"pod\"", "string"}, std::pair{"42", "number"},
                            std::pair{"null", "null"}}) {
    Error e = read_error(RawTar().file(kPodPath, text).finish());
    EXPECT_EQ(e.code(), ErrorCode::kCorrupt);
    EXPECT_CONTAINS(e.message(), "\"" + kPodPath + "\"");
    EXPECT_CONTAINS(e.message(), std::string("JSON ") + type + ", not an object");
  }
}

TEST(ArchiveHostile, ItemThatDisagreesWithItsPathIsRefused) {
  Error e = read_error(RawTar().file(kPodPath, object_of("v1", "Pod", "other", "shop").dump()).finish());
  EXPECT_EQ(e.code(), ErrorCode::kCorrupt);
  EXPECT_CONTAINS(e.message(), kPodPath);
  EXPECT_CONTAINS(e.message(), "metadata.name \"other\"");
}

TEST(ArchiveHostile, ItemCountOverTheLimitIsRefused) {
  RawTar tar;
  tar.file("metadata/version", "1.1.0");
  for (int i = 0; i < 5; i++) {
    std::string name = "p" + std::to_string(i);
    tar.file("resources/pods/namespaces/shop/" + name + ".json", object_of("v1", "Pod", name, "shop").dump());
  }
  Limits limits;
  limits.max_items = 3;
  ArchiveReader reader = *ArchiveReader::open(tar.finish(), limits);
  int items = 0;
  Result<std::optional<ArchiveEntry>> entry = reader.next();
  while (entry.ok() && entry->has_value()) {
    if ((*entry)->kind == ArchiveEntry::kItem) items++;
    entry = reader.next();
  }
  EXPECT_EQ(items, 3);
  ASSERT_FALSE(entry.ok());
  EXPECT_EQ(entry.error().code(), ErrorCode::kCorrupt);
  EXPECT_CONTAINS(entry.error().message(), "\"resources/pods/namespaces/shop/p3.json\"");
  EXPECT_CONTAINS(entry.error().message(), "more than max_items (3)");
  EXPECT_EQ(reader.items_read(), 3u);
}

Bytes many_items_archive() {
  return write_with([](ArchiveWriter& writer) {
           ASSERT_TRUE(writer.add_format_version().ok());
           for (int i = 0; i < 40; i++) {
             json object = object_of("v1", "ConfigMap", "cm-" + std::to_string(i), "shop");
             object["data"] = {{"value", noise(8000, uint32_t(i))}};
             ASSERT_TRUE(writer.add_item({"configmaps", "shop", "cm-" + std::to_string(i), "", ""}, object).ok());
           }
         })
      .bytes;
}

TEST(ArchiveHostile, TruncatedGzipIsRefused) {
  Bytes whole = many_items_archive();
  Bytes half(whole.begin(), whole.begin() + long(whole.size() / 2));
  Result<ArchiveReader> opened = ArchiveReader::open(half);
  ASSERT_TRUE(opened.ok()) << opened.error().to_string();
  ArchiveReader reader = std::move(*opened);
  std::string last_path;
  Result<std::optional<ArchiveEntry>> entry = reader.next();
  while (entry.ok() && entry->has_value()) {
    last_path = (*entry)->path;
    entry = reader.next();
  }
  ASSERT_FALSE(entry.ok()) << "half an archive read as a whole one";
  EXPECT_EQ(entry.error().code(), ErrorCode::kCorrupt);
  EXPECT_CONTAINS(entry.error().message(), "gzip stream is damaged: it ends early (truncated");
  EXPECT_CONTAINS(entry.error().message(), "resources/configmaps/namespaces/shop/cm-");  // where it stopped
  EXPECT_FALSE(last_path.empty());
}

TEST(ArchiveHostile, FlippedByteInTheGzipStreamIsRefused) {
  Bytes whole = many_items_archive();
  // A byte in the middle of the deflate data.
  Bytes damaged = whole;
  damaged[damaged.size() / 2] ^= 0x01;
  Error e = read_error(damaged);
  EXPECT_EQ(e.code(), ErrorCode::kCorrupt) << e.to_string();
  EXPECT_CONTAINS(e.message(), "gzip stream is damaged");
  EXPECT_CONTAINS(e.message(), "resources/configmaps/namespaces/shop/cm-");

  // Any flipped bit after the 10-byte gzip header (whose time stamp and OS
  // bytes protect nothing) is caught: most flips inside deflate data only
  // change a character of some JSON string, which the CRC-32 catches.
  size_t checked = 0;
  for (size_t at = 10; at < whole.size(); at += 1 + whole.size() / 200) {
    for (uint8_t bit : {uint8_t(0x01), uint8_t(0x80)}) {
      Bytes flipped = whole;
      flipped[at] ^= bit;
      Result<std::vector<ArchiveEntry>> entries = read_all(flipped);
      ASSERT_FALSE(entries.ok()) << "flip of bit " << int(bit) << " at byte " << at << " of " << whole.size()
                                 << " went unnoticed";
      EXPECT_EQ(entries.error().code(), ErrorCode::kCorrupt) << "at " << at << ": " << entries.error().to_string();
      checked++;
    }
  }
  EXPECT_GT(checked, 300u);
  // The last byte of the trailer (the length) too.
  Bytes last = whole;
  last.back() ^= 0x01;
  EXPECT_EQ(read_error(last).code(), ErrorCode::kCorrupt);
}

TEST(ArchiveHostile, DataAfterTheGzipStreamIsRefused) {
  Bytes whole = many_items_archive();
  Bytes trailing = whole;
  trailing.insert(trailing.end(), {'j', 'u', 'n', 'k'});
  Error e = read_error(trailing);
  EXPECT_EQ(e.code(), ErrorCode::kCorrupt);
  EXPECT_CONTAINS(e.message(), "data after the end of the gzip stream");
  // Two members back to back are one valid stream (as gzip(1) reads them).
  Bytes first = RawTar(Filter::kNone).file(kPodPath, kPodJson).finish();
  ASSERT_GT(first.size(), 1024u);
  Bytes split_a(first.begin(), first.begin() + 512), split_b(first.begin() + 512, first.end());
  // libarchive's raw gzip writer; `pad`: its default zero padding of the
  // output to a whole 10 KiB block.
  auto gzip_of = [](const Bytes& data, bool pad) {
    Bytes out;
    struct archive* a = archive_write_new();
    archive_write_add_filter_gzip(a);
    archive_write_set_format_raw(a);
    if (!pad) archive_write_set_bytes_in_last_block(a, 1);
    archive_write_open(a, &out, nullptr, [](struct archive*, void* client, const void* buffer, size_t length) {
      auto* o = static_cast<Bytes*>(client);
      o->insert(o->end(), static_cast<const uint8_t*>(buffer), static_cast<const uint8_t*>(buffer) + length);
      return la_ssize_t(length);
    }, nullptr);
    archive_entry* e = archive_entry_new();
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_pathname(e, "data");
    archive_write_header(a, e);
    archive_write_data(a, data.data(), data.size());
    archive_entry_free(e);
    archive_write_close(a);
    archive_write_free(a);
    return out;
  };
  Bytes two_members = gzip_of(split_a, false);
  Bytes second = gzip_of(split_b, true);
  ASSERT_EQ(second.size(), 10240u);
  ASSERT_EQ(second.back(), 0);
  two_members.insert(two_members.end(), second.begin(), second.end());
  Result<std::vector<ArchiveEntry>> entries = read_all(two_members);
  ASSERT_TRUE(entries.ok()) << entries.error().to_string();
  ASSERT_EQ(entries->size(), 1u);
  EXPECT_EQ((*entries)[0].path, kPodPath);
  // ... but not a non-zero byte in the padding.
  two_members[two_members.size() - 100] = 7;
  Error in_padding = read_error(two_members);
  EXPECT_EQ(in_padding.code(), ErrorCode::kCorrupt);
  EXPECT_CONTAINS(in_padding.message(), "data after the end of the gzip stream");
}

TEST(ArchiveHostile, TruncatedZstdIsRefused) {
  RawTar tar(Filter::kZstd);
  for (int i = 0; i < 80; i++) {  // several zstd blocks (of up to 128 KiB) before the cut
    std::string name = "p" + std::to_string(i);
    json object = object_of("v1", "Pod", name, "shop");
    object["spec"]["noise"] = noise(8000, uint32_t(i));
    tar.file("resources/pods/namespaces/shop/" + name + ".json", object.dump());
  }
  Bytes whole = tar.finish();
  ASSERT_TRUE(read_all(whole).ok());
  Bytes half(whole.begin(), whole.begin() + long(whole.size() / 2));
  Error e = read_error(half);
  EXPECT_EQ(e.code(), ErrorCode::kCorrupt);
  EXPECT_CONTAINS(e.message(), "resources/pods/namespaces/shop/p");
}

TEST(ArchiveHostile, CompressionInsideCompressionIsRefused) {
  Bytes zstd3 = RawTar(Filter::kZstd, 3).file("metadata/version", "1.1.0").file(kPodPath, kPodJson).finish();
  Error e = read_error(zstd3);
  EXPECT_EQ(e.code(), ErrorCode::kCorrupt);
  EXPECT_CONTAINS(e.message(), "compressed 3 times over");
  // gzip inside gzip: the inner gzip is not a tar, and libarchive has no gzip filter enabled.
  Bytes gzip2 = RawTar(Filter::kGzip, 2).file(kPodPath, kPodJson).finish();
  Error e2 = read_error(gzip2);
  EXPECT_EQ(e2.code(), ErrorCode::kCorrupt);
  EXPECT_CONTAINS(e2.message(), "Unrecognized archive format");
  Bytes once = RawTar(Filter::kZstd, 1).file(kPodPath, kPodJson).finish();
  EXPECT_TRUE(read_all(once).ok());
}

TEST(ArchiveHostile, NewerFormatVersionIsRefused) {
  Bytes bytes = RawTar().file("metadata/version", "2.0.0").file(kPodPath, kPodJson).finish();
  Error e = read_error(bytes);
  EXPECT_EQ(e.code(), ErrorCode::kUnsupported);
  EXPECT_EQ(e.message(), "archive format version 2.0.0 is newer than this stowage reads (1.x)");
  EXPECT_EQ(e.object(), "metadata/version");
}

TEST(ArchiveHostile, FormatVersionsOfMajorOneAreAcceptedOthersNot) {
  for (std::string ok : {"1.0.0", "1.1.0", "1.7.12"}) EXPECT_TRUE(check_format_version(ok).ok()) << ok;
  EXPECT_EQ(check_format_version("0.9.0").error().code(), ErrorCode::kUnsupported);
  EXPECT_EQ(check_format_version("10.0.0").error().code(), ErrorCode::kUnsupported);
  for (std::string bad : {"", "1", "1.1", "1.1.0.0", "v1.1.0", "1.1.x", "1..0", "1.1.0-rc1", "99999999999.0.0"}) {
    Status s = check_format_version(bad);
    ASSERT_FALSE(s.ok()) << bad;
    EXPECT_EQ(s.error().code(), ErrorCode::kCorrupt) << bad;
    EXPECT_CONTAINS(s.error().message(), "metadata/version");
  }
  Error twice = read_error(RawTar().file("metadata/version", "1.1.0").file("metadata/version", "1.1.0").finish());
  EXPECT_EQ(twice.code(), ErrorCode::kCorrupt);
  EXPECT_CONTAINS(twice.message(), "twice");
}

TEST(ArchiveHostile, NotATarIsRefused) {
  Error garbage = read_error(as_bytes("this is not a tar archive at all, just some text that goes on for a while"));
  EXPECT_EQ(garbage.code(), ErrorCode::kCorrupt);
  Bytes zip = {'P', 'K', 3, 4, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  EXPECT_EQ(read_error(zip).code(), ErrorCode::kCorrupt);
}

TEST(ArchiveHostile, BadItemPathUnderResourcesIsRefused) {
  Error e = read_error(RawTar().file("resources/pods/namespaces/shop/db-0.yaml", kPodJson).finish());
  EXPECT_EQ(e.code(), ErrorCode::kCorrupt);
  EXPECT_CONTAINS(e.message(), "\"resources/pods/namespaces/shop/db-0.yaml\"");
  EXPECT_CONTAINS(e.message(), ".json");
}

}  // namespace
}  // namespace stowage::archive
