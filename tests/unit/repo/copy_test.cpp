// Copying snapshots between repositories that share keys (repo/copy.h):
// only missing blobs are sent, read by pack in few ranged reads, and the
// copy restores from the target alone; a damaged source pack fails the copy
// naming the pack.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "mover/file_backup.h"
#include "mover/file_restore.h"
#include "repo/copy.h"
#include "repo_test_support.h"

namespace fs = std::filesystem;

namespace stowage {
namespace {

class CopyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/stowage-copy-XXXXXX";
    root_ = mkdtemp(tmpl);
    source_store_ = std::make_shared<MemoryStore>();
    target_store_ = std::make_shared<MemoryStore>();
    source_ = testing::make_repo(source_store_);
    ASSERT_NE(source_, nullptr);
    ASSERT_TRUE(Repository::init_sharing_keys(*target_store_, "other", *source_, crypto::ScryptParams{1024, 8, 1}).ok());
    auto target = Repository::open(target_store_, "other");
    ASSERT_TRUE(target.ok()) << target.error().to_string();
    target_ = std::move(target).value();
  }
  void TearDown() override { fs::remove_all(root_); }

  void write_tree(int files, uint64_t seed) {
    std::mt19937_64 rng(seed);
    for (int i = 0; i < files; i++) {
      std::string data(2000 + size_t(rng() % 60000), '\0');
      for (auto& c : data) c = char(rng());
      fs::create_directories(root_ + "/src/d" + std::to_string(i % 7));
      std::ofstream(root_ + "/src/d" + std::to_string(i % 7) + "/f" + std::to_string(i), std::ios::binary) << data;
    }
  }

  std::string root_;
  std::shared_ptr<MemoryStore> source_store_, target_store_;
  std::unique_ptr<Repository> source_, target_;
};

TEST_F(CopyTest, SendsOnlyMissingBlobsWithFewReadsAndRestoresFromTheTarget) {
  write_tree(300, 1);
  auto first = backup_files(*source_, root_ + "/src", {});
  ASSERT_TRUE(first.ok()) << first.error().to_string();
  size_t reads = source_store_->call_count(StoreVerb::kGetRange);
  auto report = copy_snapshots(*source_, *target_, {first->id}, {});
  ASSERT_TRUE(report.ok()) << report.error().to_string();
  EXPECT_EQ(report->copied.size(), 1u);
  EXPECT_GT(report->blobs_sent, 300u);
  EXPECT_EQ(report->blobs_skipped, 0u);
  EXPECT_EQ(report->blobs_verified, report->blobs_sent);
  EXPECT_LT(source_store_->call_count(StoreVerb::kGetRange) - reads, 50u);  // by pack, not per blob

  write_tree(20, 2);  // overwrites 20 files
  auto second = backup_files(*source_, root_ + "/src", {});
  ASSERT_TRUE(second.ok());
  auto again = copy_snapshots(*source_, *target_, {second->id}, {});
  ASSERT_TRUE(again.ok()) << again.error().to_string();
  EXPECT_GT(again->blobs_skipped, 250u);
  EXPECT_LT(again->blobs_sent, 60u);

  auto copied = target_->load_snapshot(again->copied[0].second);
  ASSERT_TRUE(copied.ok());
  auto restored = restore_files(*target_, *copied, root_ + "/dst", {});
  ASSERT_TRUE(restored.ok()) << restored.error().to_string();
  for (const auto& entry : fs::recursive_directory_iterator(root_ + "/src")) {
    if (!entry.is_regular_file()) continue;
    std::string rel = fs::relative(entry.path(), root_ + "/src");
    std::ifstream a(entry.path(), std::ios::binary), b(root_ + "/dst/" + rel, std::ios::binary);
    ASSERT_TRUE(std::equal(std::istreambuf_iterator<char>(a), {}, std::istreambuf_iterator<char>(b))) << rel;
  }
}

TEST_F(CopyTest, DamagedSourcePackFailsNamingItAndWritesNoSnapshot) {
  write_tree(50, 3);
  auto snap = backup_files(*source_, root_ + "/src", {});
  ASSERT_TRUE(snap.ok());
  ObjectInfo pack;
  auto packs = list_all(*source_store_, "data/");
  ASSERT_TRUE(packs.ok());
  for (const auto& obj : *packs)
    if (obj.size > pack.size) pack = obj;
  ASSERT_TRUE(source_store_->flip_byte(pack.key, 700).ok());
  auto report = copy_snapshots(*source_, *target_, {snap->id}, {});
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.error().code(), ErrorCode::kCorrupt);
  EXPECT_NE(report.error().to_string().find(pack.key), std::string::npos) << report.error().to_string();
  auto listed = target_->list_snapshots();
  ASSERT_TRUE(listed.ok());
  EXPECT_TRUE(listed->empty());
}

// Version 5 computes chunk ids with keyed BLAKE3, earlier versions with
// HMAC-SHA-256: a copy target sharing keys is created in a version whose ids
// match the source's, and a copy between the two kinds is refused before
// anything is sent (the target would reject every chunk as damaged).
TEST_F(CopyTest, ChunkIdsOfVersion4And5DoNotMix) {
  auto old_store = std::make_shared<MemoryStore>();
  auto old_source = testing::make_repo(old_store, "pw", 4);
  ASSERT_NE(old_source, nullptr);
  auto open_shared = [&](const Repository& source, int version) -> std::unique_ptr<Repository> {
    auto store = std::make_shared<MemoryStore>();
    Status made = Repository::init_sharing_keys(*store, "other", source, crypto::ScryptParams{1024, 8, 1}, {}, version);
    if (!made.ok()) return nullptr;
    auto repo = Repository::open(store, "other");
    return repo.ok() ? std::move(repo).value() : nullptr;
  };
  auto matching = open_shared(*old_source, 0);
  ASSERT_NE(matching, nullptr);
  EXPECT_EQ(matching->config().version, 4);
  auto newer = open_shared(*old_source, 5);
  ASSERT_NE(newer, nullptr);
  const Bytes data(100000, 'x');
  EXPECT_EQ(matching->blob_id(data), old_source->blob_id(data));
  EXPECT_NE(newer->blob_id(data), old_source->blob_id(data));

  write_tree(5, 2);
  auto snap = backup_files(*old_source, root_ + "/src", {});
  ASSERT_TRUE(snap.ok()) << snap.error().to_string();
  for (auto [from, to] : {std::pair{old_source.get(), newer.get()}, std::pair{newer.get(), old_source.get()}}) {
    auto refused = copy_snapshots(*from, *to, {snap->id}, {});
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.error().code(), ErrorCode::kUnsupported);
    EXPECT_NE(refused.error().to_string().find("chunk ids"), std::string::npos) << refused.error().to_string();
  }
  EXPECT_TRUE(newer->index().packs().empty());  // nothing was sent
  auto copied = copy_snapshots(*old_source, *matching, {snap->id}, {});
  ASSERT_TRUE(copied.ok()) << copied.error().to_string();
  EXPECT_EQ(copied->copied.size(), 1u);

  auto new_source = testing::make_repo(std::make_shared<MemoryStore>());
  ASSERT_NE(new_source, nullptr);
  auto new_target = open_shared(*new_source, 0);
  ASSERT_NE(new_target, nullptr);
  EXPECT_EQ(new_target->config().version, kRepositoryFormatVersion);
  EXPECT_EQ(new_target->blob_id(data), new_source->blob_id(data));
}

}  // namespace
}  // namespace stowage
