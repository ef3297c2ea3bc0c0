// Restores through batched loads (repo/batch_load.h): many windows of files,
// blobs shared by many files and offsets, damaged packs, stream windows, and
// the tree cache.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "../repo/repo_test_support.h"
#include "mover/block.h"
#include "mover/file_backup.h"
#include "mover/file_restore.h"
#include "mover/stream.h"
#include "mover/tree_cache.h"
#include "store/memory_store.h"

namespace fs = std::filesystem;

namespace stowage {
namespace {

class RestoreBatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/stowage-restore-XXXXXX";
    root_ = mkdtemp(tmpl);
    store_ = std::make_shared<MemoryStore>();
    repo_ = testing::make_repo(store_);
    ASSERT_NE(repo_, nullptr);
    src_ = root_ + "/src";
    fs::create_directories(src_);
  }
  void TearDown() override { fs::remove_all(root_); }

  void write(const std::string& rel, const std::string& data) {
    fs::create_directories(fs::path(src_ + "/" + rel).parent_path());
    std::ofstream(src_ + "/" + rel, std::ios::binary) << data;
  }
  static std::string random_text(size_t n, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::string s(n, '\0');
    for (auto& c : s) c = char(rng());
    return s;
  }
  static std::string read(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  // Every regular file under a equals the one under b, and b has no others.
  static void expect_same_tree(const std::string& a, const std::string& b) {
    size_t files = 0;
    for (const auto& entry : fs::recursive_directory_iterator(a)) {
      std::string rel = fs::relative(entry.path(), a);
      ASSERT_TRUE(fs::exists(b + "/" + rel)) << rel;
      if (entry.is_regular_file()) {
        files++;
        ASSERT_EQ(read(entry.path()), read(b + "/" + rel)) << rel;
      }
    }
    size_t restored = 0;
    for (const auto& entry : fs::recursive_directory_iterator(b)) restored += entry.is_regular_file();
    EXPECT_EQ(files, restored);
  }

  std::string root_, src_;
  std::shared_ptr<MemoryStore> store_;
  std::unique_ptr<Repository> repo_;
};

TEST_F(RestoreBatchTest, ManyWindowsOfFilesRestoreWithFewReads) {
  // 3000 files: more than one window of files (at most 1024 each).
  for (int d = 0; d < 30; d++)
    for (int f = 0; f < 100; f++)
      write("d" + std::to_string(d) + "/f" + std::to_string(f), random_text(500 + size_t(f) * 37, uint64_t(d * 100 + f)));
  write("big", random_text(3 << 20, 7));
  auto snap = backup_files(*repo_, src_, {});
  ASSERT_TRUE(snap.ok()) << snap.error().to_string();
  size_t reads = store_->call_count(StoreVerb::kGetRange);
  auto r = restore_files(*repo_, *snap, root_ + "/dst", {});
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_TRUE(r->warnings.empty());
  EXPECT_EQ(r->files, 3001u);
  expect_same_tree(src_, root_ + "/dst");
  // 3001 files and 31 directories came from a handful of ranged reads.
  EXPECT_LT(store_->call_count(StoreVerb::kGetRange) - reads, 100u);
}

TEST_F(RestoreBatchTest, ABlobSharedByManyFilesIsWrittenToEachAndReadOnce) {
  std::string shared = random_text(40000, 1);
  for (int i = 0; i < 50; i++) write("copy" + std::to_string(i), shared);
  write("twice", shared + shared);  // one blob at two offsets of one file (chunks ≤ 64 KiB here)
  auto snap = backup_files(*repo_, src_, {});
  ASSERT_TRUE(snap.ok()) << snap.error().to_string();
  size_t reads = store_->call_count(StoreVerb::kGetRange);
  auto r = restore_files(*repo_, *snap, root_ + "/dst", {});
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  expect_same_tree(src_, root_ + "/dst");
  EXPECT_LE(store_->call_count(StoreVerb::kGetRange) - reads, 3u);  // the tree, the data
}

TEST_F(RestoreBatchTest, DamagedPackFailsNamingTheFileAndThePack) {
  write("a.bin", random_text(300000, 3));
  auto snap = backup_files(*repo_, src_, {});
  ASSERT_TRUE(snap.ok());
  std::string pack;
  auto packs = list_all(*store_, "data/");
  ASSERT_TRUE(packs.ok());
  for (const auto& p : *packs)
    if (pack.empty() || p.size > store_->stat(pack)->size) pack = p.key;
  ASSERT_TRUE(store_->flip_byte(pack, 1000).ok());
  auto r = restore_files(*repo_, *snap, root_ + "/dst", {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kCorrupt);
  std::string message = r.error().to_string();
  EXPECT_NE(message.find("file 'a.bin'"), std::string::npos) << message;
  EXPECT_NE(message.find(pack), std::string::npos) << message;
  EXPECT_NE(message.find("check --read-data"), std::string::npos) << message;
}

TEST_F(RestoreBatchTest, TruncatedPackFailsNamingThePack) {
  write("a.bin", random_text(300000, 4));
  auto snap = backup_files(*repo_, src_, {});
  ASSERT_TRUE(snap.ok());
  ObjectInfo pack;  // the data pack: the largest
  auto packs = list_all(*store_, "data/");
  ASSERT_TRUE(packs.ok());
  for (const auto& obj : *packs)
    if (obj.size > pack.size) pack = obj;
  ASSERT_TRUE(store_->truncate_object(pack.key, pack.size / 2).ok());
  auto r = restore_files(*repo_, *snap, root_ + "/dst", {});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().to_string().find(pack.key), std::string::npos) << r.error().to_string();
  EXPECT_NE(r.error().to_string().find("file 'a.bin'"), std::string::npos) << r.error().to_string();
  EXPECT_NE(r.error().to_string().find("truncated"), std::string::npos) << r.error().to_string();
}

TEST_F(RestoreBatchTest, BlockImageWithRepeatedBlocksRestoresBitForBit) {
  const uint64_t bs = repo_->config().block_size;
  std::string block = random_text(bs, 9);
  std::string data;
  for (int i = 0; i < 40; i++) data += (i % 3 == 0) ? block : (i % 3 == 1 ? std::string(bs, '\0') : random_text(bs, uint64_t(i)));
  data += "tail";
  std::string image = root_ + "/disk.img", out = root_ + "/out.img";
  std::ofstream(image, std::ios::binary) << data;
  auto snap = backup_block(*repo_, image, {});
  ASSERT_TRUE(snap.ok()) << snap.error().to_string();
  BlockRestoreOptions o;
  o.workers = 3;
  Status s = restore_block(*repo_, *snap, out, o);
  ASSERT_TRUE(s.ok()) << s.error().to_string();
  EXPECT_EQ(read(out), data);
}

TEST_F(RestoreBatchTest, StreamRestoresInOrderAcrossManyWindows) {
  std::string data = random_text(3 << 20, 11);
  data += data.substr(0, 1 << 20);  // repeated chunks
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  std::thread writer([&] {
    (void)!::write(p[1], data.data(), data.size());
    close(p[1]);
  });
  auto snap = backup_stream(*repo_, p[0], {});
  writer.join();
  close(p[0]);
  ASSERT_TRUE(snap.ok()) << snap.error().to_string();
  for (uint64_t window : {uint64_t(1), uint64_t(100000), uint64_t(64) << 20}) {
    std::string out_path = root_ + "/out";
    int fd = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    StreamRestoreOptions o;
    o.window_bytes = window;
    Status s = restore_stream(*repo_, *snap, fd, o);
    close(fd);
    ASSERT_TRUE(s.ok()) << s.error().to_string();
    EXPECT_TRUE(read(out_path) == data) << "window " << window;
  }
}

TEST_F(RestoreBatchTest, StreamRestoreReportsADamagedPack) {
  std::string data = random_text(1 << 20, 12);
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  std::thread writer([&] {
    (void)!::write(p[1], data.data(), data.size());
    close(p[1]);
  });
  auto snap = backup_stream(*repo_, p[0], {});
  writer.join();
  close(p[0]);
  ASSERT_TRUE(snap.ok());
  std::string pack;
  auto packs = list_all(*store_, "data/");
  ASSERT_TRUE(packs.ok());
  for (const auto& obj : *packs)
    if (pack.empty() || obj.size > store_->stat(pack)->size) pack = obj.key;
  ASSERT_TRUE(store_->flip_byte(pack, 500).ok());
  int fd = open("/dev/null", O_WRONLY);
  StreamRestoreOptions o;
  o.window_bytes = 200000;
  Status s = restore_stream(*repo_, *snap, fd, o);
  close(fd);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().to_string().find(pack), std::string::npos) << s.error().to_string();
}

TEST_F(RestoreBatchTest, CanceledRestoresStopWithKCancelled) {
  for (int f = 0; f < 50; f++) write("f" + std::to_string(f), random_text(20000, uint64_t(f)));
  auto tree = backup_files(*repo_, src_, {});
  ASSERT_TRUE(tree.ok()) << tree.error().to_string();
  std::string image = root_ + "/disk.img";
  std::ofstream(image, std::ios::binary) << random_text(3 * repo_->config().block_size, 21);
  auto block = backup_block(*repo_, image, {});
  ASSERT_TRUE(block.ok()) << block.error().to_string();

  Progress canceled;
  canceled.cancel_requested = true;
  FileRestoreOptions fo;
  fo.progress = &canceled;
  auto files = restore_files(*repo_, *tree, root_ + "/dst", fo);
  ASSERT_FALSE(files.ok());
  EXPECT_EQ(files.error().code(), ErrorCode::kCancelled) << files.error().to_string();
  EXPECT_EQ(canceled.files_done.load(), 0u);

  BlockRestoreOptions bo;
  bo.progress = &canceled;
  Status b = restore_block(*repo_, *block, root_ + "/out.img", bo);
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.error().code(), ErrorCode::kCancelled) << b.error().to_string();

  int p[2];
  ASSERT_EQ(pipe(p), 0);
  std::string data = random_text(1 << 20, 22);
  std::thread writer([&] {
    (void)!::write(p[1], data.data(), data.size());
    close(p[1]);
  });
  auto stream = backup_stream(*repo_, p[0], {});
  writer.join();
  close(p[0]);
  ASSERT_TRUE(stream.ok());
  int fd = open("/dev/null", O_WRONLY);
  StreamRestoreOptions so;
  so.progress = &canceled;
  Status st = restore_stream(*repo_, *stream, fd, so);
  close(fd);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code(), ErrorCode::kCancelled) << st.error().to_string();
}

TEST_F(RestoreBatchTest, TreeCacheStopsAtItsBudget) {
  for (int d = 0; d < 20; d++) write("d" + std::to_string(d) + "/e/f", "x");
  auto snap = backup_files(*repo_, src_, {});
  ASSERT_TRUE(snap.ok());
  TreeCache all(*repo_);
  all.prefetch(snap->root);
  EXPECT_EQ(all.size(), 1u + 20 + 20);  // the root, every d*, every d*/e
  TreeCache none(*repo_, 0);
  none.prefetch(snap->root);
  EXPECT_EQ(none.size(), 0u);
  auto root_size = repo_->index().find(snap->root)->entry.raw_length;
  TreeCache root_only(*repo_, root_size);
  root_only.prefetch(snap->root);
  EXPECT_EQ(root_only.size(), 1u);
  // A walk finds every entry whether or not its trees were cached.
  size_t entries = 0;
  ASSERT_TRUE(walk_tree(*repo_, snap->root, [&](const std::string&, const Node&) {
                entries++;
                return ok_status();
              }).ok());
  EXPECT_EQ(entries, 20u * 3);
}

}  // namespace
}  // namespace stowage
