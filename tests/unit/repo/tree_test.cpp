// Tree blobs (repo/tree.h): both encodings round-trip every node kind; the
// binary decoder refuses truncated, trailing, unsafe and unsorted input; the
// repository's format version picks the encoding of new trees, trees of
// either encoding are read, and copies never put binary trees into a
// version 2 repository.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "mover/file_backup.h"
#include "mover/file_restore.h"
#include "crypto/hash.h"
#include "repo/copy.h"
#include "repo/layout.h"
#include "repo/tree.h"
#include "repo_test_support.h"

namespace fs = std::filesystem;

namespace stowage {
namespace {

BlobId id_of(uint8_t seed) {
  BlobId id;
  for (size_t k = 0; k < id.bytes.size(); k++) id.bytes[k] = uint8_t(seed + k);
  return id;
}

Tree every_kind() {
  Tree t;
  Node dir;
  dir.name = "d";
  dir.type = NodeType::kDir;
  dir.mode = 0755;
  dir.subtree = id_of(9);
  Node file;
  file.name = "f";
  file.mode = 04755;
  file.uid = 1000;
  file.gid = 1001;
  file.mtime_ns = -5;  // before 1970
  file.ctime_ns = 1714564800123456789;
  file.size = 3 << 20;
  file.inode = 77;
  file.device = 2049;
  file.links = 3;
  file.content = {id_of(1), id_of(2), id_of(3)};
  file.xattrs = {{"user.note", to_bytes("hello")}, {"user.empty", {}}};
  Node link;
  link.name = "l";
  link.type = NodeType::kSymlink;
  link.link_target = "../f";
  Node dev;
  dev.name = "n";
  dev.type = NodeType::kBlockDevice;
  dev.rdev = 259 << 8;
  Node odd;
  odd.name = std::string("z\xff\xfe", 3);  // not UTF-8
  odd.type = NodeType::kSocket;
  t.nodes = {dir, file, link, dev, odd};
  return t;
}

TEST(TreeEncoding, BothEncodingsRoundTripEveryNodeKind) {
  Tree t = every_kind();
  for (TreeEncoding e : {TreeEncoding::kJson, TreeEncoding::kBinary}) {
    Bytes data = encode_tree(t, e);
    EXPECT_EQ(data.size() >= 8 && std::memcmp(data.data(), "STWTREE1", 8) == 0, e == TreeEncoding::kBinary);
    auto back = decode_tree(data);
    ASSERT_TRUE(back.ok()) << back.error().to_string();
    EXPECT_EQ(back->nodes, t.nodes);
  }
  EXPECT_LT(encode_tree(t, TreeEncoding::kBinary).size(), encode_tree(t, TreeEncoding::kJson).size());
  EXPECT_EQ(tree_encoding_for_version(2), TreeEncoding::kJson);
  EXPECT_EQ(tree_encoding_for_version(3), TreeEncoding::kBinary);
}

TEST(TreeEncoding, BinaryTruncatedOrTrailingBytesAreCorrupt) {
  Bytes data = encode_tree(every_kind(), TreeEncoding::kBinary);
  for (size_t n = 8; n < data.size(); n++) {
    auto r = decode_tree(ByteView(data.data(), n));
    ASSERT_FALSE(r.ok()) << "prefix of " << n << " bytes decoded";
    EXPECT_EQ(r.error().code(), ErrorCode::kCorrupt);
  }
  Bytes longer = data;
  longer.push_back(0);
  auto r = decode_tree(longer);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("1 bytes after its last node"), std::string::npos) << r.error().to_string();
}

TEST(TreeEncoding, BinaryRefusesHugeCountsUnsafeNamesUnsortedNodesAndUnknownTypes) {
  Bytes huge = to_bytes("STWTREE1");
  put_u32(huge, 0xffffffff);
  auto r = decode_tree(huge);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("node count exceeds its length"), std::string::npos);

  for (const char* bad : {"..", ".", "", "a/b"}) {
    Tree t;
    Node n;
    n.name = bad;
    t.nodes = {n};
    auto d = decode_tree(encode_tree(t, TreeEncoding::kBinary));
    ASSERT_FALSE(d.ok()) << bad;
    EXPECT_NE(d.error().message().find("unsafe name"), std::string::npos) << d.error().to_string();
  }

  Tree unsorted;
  Node a, b;
  a.name = "b";
  b.name = "a";
  unsorted.nodes = {a, b};
  auto u = decode_tree(encode_tree(unsorted, TreeEncoding::kBinary));
  ASSERT_FALSE(u.ok());
  EXPECT_NE(u.error().message().find("not sorted"), std::string::npos);

  Tree one;
  one.nodes = {a};
  Bytes typed = encode_tree(one, TreeEncoding::kBinary);
  typed[12] = 7;  // the first node's type byte, after magic and count
  auto t = decode_tree(typed);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.error().message().find("unknown type 7"), std::string::npos) << t.error().to_string();
}

class TreeVersionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/stowage-tree-XXXXXX";
    root_ = mkdtemp(tmpl);
    for (int d = 0; d < 3; d++) {
      fs::create_directories(root_ + "/src/d" + std::to_string(d) + "/sub");
      for (int f = 0; f < 5; f++)
        std::ofstream(root_ + "/src/d" + std::to_string(d) + "/sub/f" + std::to_string(f))
            << std::string(1000 + size_t(f) * 7919, char('a' + f + d));
    }
    fs::create_symlink("d0/sub/f1", root_ + "/src/link");
  }
  void TearDown() override { fs::remove_all(root_); }

  std::unique_ptr<Repository> make(const std::shared_ptr<ObjectStore>& store, int version) {
    InitOptions o = testing::fast_init_options();
    o.format_version = version;
    if (!Repository::init(*store, "pw", o).ok()) return nullptr;
    auto repo = Repository::open(store, "pw");
    return repo.ok() ? std::move(repo).value() : nullptr;
  }

  bool root_is_binary(Repository& repo, const Snapshot& snap) {
    auto bytes = repo.load_blob(snap.root);
    return bytes.ok() && bytes->size() >= 8 && std::memcmp(bytes->data(), "STWTREE1", 8) == 0;
  }

  void expect_restores(Repository& repo, const Snapshot& snap, const std::string& to) {
    auto restored = restore_files(repo, snap, to, {});
    ASSERT_TRUE(restored.ok()) << restored.error().to_string();
    for (const auto& entry : fs::recursive_directory_iterator(root_ + "/src")) {
      std::string rel = fs::relative(entry.path(), root_ + "/src");
      ASSERT_TRUE(fs::exists(fs::symlink_status(to + "/" + rel))) << rel;
      if (!entry.is_regular_file() || entry.is_symlink()) continue;
      std::ifstream x(entry.path(), std::ios::binary), y(to + "/" + rel, std::ios::binary);
      ASSERT_TRUE(std::equal(std::istreambuf_iterator<char>(x), {}, std::istreambuf_iterator<char>(y))) << rel;
    }
  }

  std::string root_;
};

TEST_F(TreeVersionTest, VersionPicksTheEncodingAndIncrementalsReuseUnchangedTrees) {
  for (int version : {2, 3, 4, 5}) {
    auto repo = make(std::make_shared<MemoryStore>(), version);
    ASSERT_NE(repo, nullptr);
    EXPECT_EQ(repo->config().version, version);
    auto first = backup_files(*repo, root_ + "/src", {});
    ASSERT_TRUE(first.ok()) << first.error().to_string();
    EXPECT_EQ(root_is_binary(*repo, *first), version >= 3);
    FileBackupOptions incremental;
    incremental.parent = first->id;
    auto second = backup_files(*repo, root_ + "/src", incremental);
    ASSERT_TRUE(second.ok()) << second.error().to_string();
    EXPECT_EQ(second->summary.files_unchanged, 15u);
    EXPECT_EQ(second->root, first->root);  // every directory's tree reused as it was
    expect_restores(*repo, *second, root_ + "/dst" + std::to_string(version));
    // Every pack is named by the digest of its bytes: BLAKE3 from version 5,
    // SHA-256 before (uses_blake3_ids).
    ASSERT_FALSE(repo->index().packs().empty());
    for (const auto& p : repo->index().packs()) {
      auto bytes = repo->store().get(layout::pack(p.id));
      ASSERT_TRUE(bytes.ok()) << bytes.error().to_string();
      EXPECT_EQ(p.id.bytes, version >= 5 ? crypto::blake3(*bytes) : crypto::sha256(*bytes)) << version;
    }
  }
  InitOptions too_new = testing::fast_init_options();
  too_new.format_version = kRepositoryFormatVersion + 1;
  MemoryStore store;
  EXPECT_EQ(Repository::init(store, "pw", too_new).error().code(), ErrorCode::kInvalidArgument);
}

TEST_F(TreeVersionTest, JsonTreesCopiedIntoVersion4AreParentsOfBinaryOnes) {
  auto source = make(std::make_shared<MemoryStore>(), 2);
  ASSERT_NE(source, nullptr);
  auto first = backup_files(*source, root_ + "/src", {});
  ASSERT_TRUE(first.ok());
  auto target_store = std::make_shared<MemoryStore>();
  ASSERT_TRUE(Repository::init_sharing_keys(*target_store, "pw", *source, crypto::ScryptParams{1024, 8, 1}).ok());
  auto target = std::move(Repository::open(target_store, "pw")).value();
  EXPECT_EQ(target->config().version, 4);  // the newest whose chunk ids are HMAC-SHA-256, as version 2's
  auto copied = copy_snapshots(*source, *target, {first->id}, {});
  ASSERT_TRUE(copied.ok()) << copied.error().to_string();
  ASSERT_EQ(copied->copied.size(), 1u);
  auto parent = target->load_snapshot(copied->copied[0].second);
  ASSERT_TRUE(parent.ok());
  EXPECT_FALSE(root_is_binary(*target, *parent));

  std::ofstream(root_ + "/src/d1/sub/f2", std::ios::app) << "changed";
  FileBackupOptions incremental;
  incremental.parent = parent->id;
  auto next = backup_files(*target, root_ + "/src", incremental);
  ASSERT_TRUE(next.ok()) << next.error().to_string();
  EXPECT_EQ(next->summary.files_unchanged, 14u);  // unchanged files found through the JSON parent trees
  EXPECT_TRUE(root_is_binary(*target, *next));
  expect_restores(*target, *next, root_ + "/dst");

  // The other way: binary trees would make the version 2 repository
  // unreadable to the releases that write version 2.
  auto back = copy_snapshots(*target, *source, {next->id}, {});
  ASSERT_FALSE(back.ok());
  EXPECT_EQ(back.error().code(), ErrorCode::kUnsupported);
  EXPECT_NE(back.error().to_string().find("format version 2"), std::string::npos) << back.error().to_string();
}

}  // namespace
}  // namespace stowage
