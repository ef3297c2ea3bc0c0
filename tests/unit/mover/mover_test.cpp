// File-tree, block and stream movers against a real filesystem directory
// (tmp) and an fs-backed repository.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "../repo/repo_test_support.h"
#include "mover/block.h"
#include "mover/chunk_list.h"
#include "mover/file_backup.h"
#include "mover/file_restore.h"
#include "mover/stream.h"
#include "repo/check.h"
#include "repo/maintenance.h"
#include "store/fs_store.h"
#include "store/memory_store.h"

namespace fs = std::filesystem;

namespace stowage {
namespace {

class MoverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/stowage-mover-XXXXXX";
    root_ = mkdtemp(tmpl);
    store_ = std::make_shared<FsStore>(root_ + "/repo");
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

  std::string root_, src_;
  std::shared_ptr<FsStore> store_;
  std::unique_ptr<Repository> repo_;
};

TEST_F(MoverTest, FileTreeRoundTripKeepsDataAndMetadata) {
  write("a.txt", "hello");
  write("dir/big.bin", random_text(3 << 20, 1));
  write("dir/sub/empty", "");
  write("dir/sub/same1", random_text(100000, 2));
  write("dir/sub/same2", random_text(100000, 2));
  ASSERT_EQ(symlink("../a.txt", (src_ + "/dir/link").c_str()), 0);
  ASSERT_EQ(symlink("/etc/passwd", (src_ + "/abs-link").c_str()), 0);
  ASSERT_EQ(link((src_ + "/a.txt").c_str(), (src_ + "/hard").c_str()), 0);
  ASSERT_EQ(mkfifo((src_ + "/fifo").c_str(), 0640), 0);
  ASSERT_EQ(chmod((src_ + "/a.txt").c_str(), 04751), 0);
  ASSERT_EQ(chown((src_ + "/dir/big.bin").c_str(), 1234, 5678), 0);
  ASSERT_EQ(setxattr((src_ + "/a.txt").c_str(), "user.note", "v1", 2, 0), 0);
  {  // sparse: 8 MiB with 4 KiB of data in the middle
    int fd = open((src_ + "/sparse").c_str(), O_WRONLY | O_CREAT, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(ftruncate(fd, 8 << 20), 0);
    ASSERT_EQ(pwrite(fd, "data", 4, 4 << 20), 4);
    close(fd);
  }
  struct timespec times[2] = {{1000, 0}, {1600000000, 123456789}};
  ASSERT_EQ(utimensat(AT_FDCWD, (src_ + "/dir/sub").c_str(), times, 0), 0);

  auto snap = backup_files(*repo_, src_, {});
  ASSERT_TRUE(snap.ok()) << snap.error().to_string();
  EXPECT_EQ(snap->summary.errors, 0u);
  std::string dst = root_ + "/dst";
  auto r = restore_files(*repo_, *snap, dst, {});
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_TRUE(r->warnings.empty()) << r->warnings.front();

  for (auto rel : {"a.txt", "dir/big.bin", "dir/sub/empty", "dir/sub/same1", "sparse", "hard"})
    EXPECT_EQ(read(src_ + "/" + rel), read(dst + "/" + rel)) << rel;
  struct stat a, b;
  ASSERT_EQ(lstat((dst + "/a.txt").c_str(), &a), 0);
  EXPECT_EQ(a.st_mode & 07777, 04751u);
  ASSERT_EQ(lstat((dst + "/hard").c_str(), &b), 0);
  EXPECT_EQ(a.st_ino, b.st_ino);  // hard link restored as a link
  ASSERT_EQ(lstat((dst + "/dir/big.bin").c_str(), &a), 0);
  EXPECT_EQ(a.st_uid, 1234u);
  EXPECT_EQ(a.st_gid, 5678u);
  char buf[16] = {};
  EXPECT_EQ(getxattr((dst + "/a.txt").c_str(), "user.note", buf, sizeof buf), 2);
  EXPECT_STREQ(buf, "v1");
  EXPECT_EQ(fs::read_symlink(dst + "/dir/link"), "../a.txt");
  EXPECT_EQ(fs::read_symlink(dst + "/abs-link"), "/etc/passwd");
  EXPECT_TRUE(fs::is_fifo(dst + "/fifo"));
  ASSERT_EQ(lstat((dst + "/dir/sub").c_str(), &a), 0);
  EXPECT_EQ(a.st_mtim.tv_sec, 1600000000);
  EXPECT_EQ(a.st_mtim.tv_nsec, 123456789);
  ASSERT_EQ(lstat((dst + "/sparse").c_str(), &a), 0);
  EXPECT_EQ(a.st_size, 8 << 20);
  EXPECT_LT(a.st_blocks * 512, 1 << 20) << "sparse file was not restored sparse";
}

// Files of 4 MiB and more are cut by the reader and hashed by the savers, whose
// ids arrive out of order: the restored file must still be the source, and a
// chunk that repeats within the file must be stored once.
TEST_F(MoverTest, LargeFileHashedBySaversKeepsItsChunkOrderAndDeduplicates) {
  std::string a = random_text(1 << 20, 11), b = random_text(1 << 20, 12), c = random_text(1 << 20, 13);
  std::string big = a + b + a + c + a + b + random_text(300000, 14);  // 6.3 MiB, test chunks of 16-256 KiB
  write("big.bin", big);
  write("dir/big2.bin", c + a + c + a + c);
  FileBackupOptions o;
  o.read_workers = 1;
  o.save_workers = 4;
  auto snap = backup_files(*repo_, src_, o);
  ASSERT_TRUE(snap.ok()) << snap.error().to_string();
  EXPECT_EQ(snap->summary.errors, 0u);
  // a, b and c are each stored about once (chunk edges around them differ).
  EXPECT_LT(snap->summary.bytes_new, uint64_t(4.5 * (1 << 20))) << "repeated chunks were stored again";
  std::string dst = root_ + "/dst";
  auto r = restore_files(*repo_, *snap, dst, {});
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_TRUE(read(dst + "/big.bin") == big) << "big.bin differs after restore";
  EXPECT_TRUE(read(dst + "/dir/big2.bin") == c + a + c + a + c) << "dir/big2.bin differs after restore";
}

TEST_F(MoverTest, IncrementalSkipsUnchangedFilesWithoutReading) {
  for (int i = 0; i < 20; i++) write("f" + std::to_string(i), random_text(50000, uint64_t(i)));
  auto first = backup_files(*repo_, src_, {});
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->summary.bytes_read, 20u * 50000u);
  FileBackupOptions o;
  o.parent = first->id;
  auto second = backup_files(*repo_, src_, o);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->summary.bytes_read, 0u);
  EXPECT_EQ(second->summary.files_unchanged, 20u);
  EXPECT_EQ(second->root, first->root);
  write("f3", random_text(50000, 99));
  o.parent = second->id;
  auto third = backup_files(*repo_, src_, o);
  ASSERT_TRUE(third.ok());
  EXPECT_EQ(third->summary.bytes_read, 50000u);
  EXPECT_EQ(third->summary.files_unchanged, 19u);
  // Forgetting the first two snapshots and pruning leaves the third whole.
  ASSERT_TRUE(repo_->remove_snapshot(first->id).ok());
  ASSERT_TRUE(repo_->remove_snapshot(second->id).ok());
  auto pruned = prune(*repo_, PruneOptions{});
  ASSERT_TRUE(pruned.ok()) << pruned.error().to_string();
  auto reopened = Repository::open(store_, "pw");
  ASSERT_TRUE(reopened.ok());
  auto check = check_repository(**reopened, CheckOptions{true, nullptr});
  ASSERT_TRUE(check.ok());
  EXPECT_TRUE(check->ok()) << check->errors.front();
  auto r = restore_files(**reopened, *third, root_ + "/dst", {});
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(read(root_ + "/dst/f3"), read(src_ + "/f3"));
  EXPECT_EQ(read(root_ + "/dst/f7"), read(src_ + "/f7"));
}

TEST_F(MoverTest, RestoreOfSelectedPathsOnly) {
  write("keep/a", "1");
  write("keep/deeper/b", "2");
  write("other/c", "3");
  write("top", "4");
  auto snap = backup_files(*repo_, src_, {});
  ASSERT_TRUE(snap.ok());
  FileRestoreOptions o;
  o.includes = {"/keep/deeper", "top"};
  auto r = restore_files(*repo_, *snap, root_ + "/dst", o);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(fs::exists(root_ + "/dst/keep/deeper/b"));
  EXPECT_TRUE(fs::exists(root_ + "/dst/top"));
  EXPECT_FALSE(fs::exists(root_ + "/dst/keep/a"));
  EXPECT_FALSE(fs::exists(root_ + "/dst/other"));
}

TEST_F(MoverTest, RestoreNeverFollowsSymlinksPlantedInTheTarget) {
  write("dir/file", "payload");
  auto snap = backup_files(*repo_, src_, {});
  ASSERT_TRUE(snap.ok());
  std::string outside = root_ + "/outside";
  fs::create_directories(outside);
  std::string dst = root_ + "/dst";
  fs::create_directories(dst);
  ASSERT_EQ(symlink(outside.c_str(), (dst + "/dir").c_str()), 0);  // target/dir → outside
  auto r = restore_files(*repo_, *snap, dst, {});
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_FALSE(fs::exists(outside + "/file"));
  EXPECT_TRUE(fs::is_directory(fs::symlink_status(dst + "/dir")));
  EXPECT_EQ(read(dst + "/dir/file"), "payload");
}

TEST_F(MoverTest, HostileTreeWithTraversalNameIsRefused) {
  Tree evil;
  Node n;
  n.name = "..";
  n.type = NodeType::kFile;
  evil.nodes.push_back(n);
  auto root = repo_->save_tree(encode_tree(evil, repo_->tree_encoding()));
  ASSERT_TRUE(root.ok());
  ASSERT_TRUE(repo_->flush().ok());
  Snapshot s;
  s.kind = SnapshotKind::kFiles;
  s.root = *root;
  auto r = restore_files(*repo_, s, root_ + "/dst", {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kCorrupt);
  EXPECT_NE(r.error().to_string().find("unsafe name"), std::string::npos);
}

TEST_F(MoverTest, BlockBackupWithChangedExtentsReadsOnlyThem) {
  const uint64_t bs = repo_->config().block_size, size = 64 * bs + 1000;  // a partial last block
  std::string image = root_ + "/disk.img", dst1 = root_ + "/r1.img", dst2 = root_ + "/r2.img";
  {
    std::string data = random_text(size, 5);
    std::fill(data.begin() + long(10 * bs), data.begin() + long(20 * bs), '\0');  // zero blocks
    std::ofstream(image, std::ios::binary) << data;
  }
  auto full = backup_block(*repo_, image, {});
  ASSERT_TRUE(full.ok()) << full.error().to_string();
  EXPECT_EQ(full->summary.bytes_read, size);
  std::string original = read(image);
  {
    int fd = open(image.c_str(), O_WRONLY);
    std::string patch = random_text(5000, 6);
    ASSERT_EQ(pwrite(fd, patch.data(), patch.size(), off_t(30 * bs + 10)), ssize_t(patch.size()));
    close(fd);
  }
  BlockBackupOptions o;
  o.parent = full->id;
  o.changed = std::vector<Extent>{{30 * bs + 10, 5000}};
  auto incr = backup_block(*repo_, image, o);
  ASSERT_TRUE(incr.ok()) << incr.error().to_string();
  EXPECT_EQ(incr->summary.bytes_read, bs);  // one block
  // Without an extent list: every block read, the same map results.
  BlockBackupOptions o2;
  o2.parent = full->id;
  auto rescan = backup_block(*repo_, image, o2);
  ASSERT_TRUE(rescan.ok());
  EXPECT_EQ(rescan->summary.bytes_read, size);
  EXPECT_EQ(rescan->summary.blobs_new, 0u);
  ASSERT_TRUE(restore_block(*repo_, *full, dst1, {}).ok());
  ASSERT_TRUE(restore_block(*repo_, *incr, dst2, {}).ok());
  EXPECT_EQ(read(dst1), original);
  EXPECT_EQ(read(dst2), read(image));
  struct stat st;
  ASSERT_EQ(stat(dst1.c_str(), &st), 0);
  EXPECT_LE(uint64_t(st.st_blocks) * 512, size - 9 * bs) << "zero blocks should be holes";
  // A changed-extent list without a parent is refused.
  BlockBackupOptions bad;
  bad.changed = std::vector<Extent>{};
  EXPECT_EQ(backup_block(*repo_, image, bad).error().code(), ErrorCode::kInvalidArgument);
}

TEST_F(MoverTest, ExtentListParsing) {
  auto ok = parse_extents("# comment\n0 4096\n\n8192 100 # trailing\n");
  ASSERT_TRUE(ok.ok());
  ASSERT_EQ(ok->size(), 2u);
  EXPECT_EQ((*ok)[1].offset, 8192u);
  EXPECT_FALSE(parse_extents("12\n").ok());
  EXPECT_FALSE(parse_extents("1 2 3\n").ok());
  EXPECT_FALSE(parse_extents("x y\n").ok());
}

TEST_F(MoverTest, StreamRoundTripAndDedupBetweenSimilarStreams) {
  std::string data = random_text(5 << 20, 7);
  auto backup = [&](const std::string& content) {
    int p[2];
    EXPECT_EQ(pipe(p), 0);
    std::thread writer([&] {
      (void)!::write(p[1], content.data(), content.size());
      close(p[1]);
    });
    auto snap = backup_stream(*repo_, p[0], {});
    writer.join();
    close(p[0]);
    return snap;
  };
  auto first = backup(data);
  ASSERT_TRUE(first.ok()) << first.error().to_string();
  std::string changed = data;
  changed.insert(1 << 20, "inserted bytes");
  auto second = backup(changed);
  ASSERT_TRUE(second.ok());
  EXPECT_LT(second->summary.bytes_new, data.size() / 4) << "similar stream should mostly deduplicate";
  std::string out_path = root_ + "/out";
  int fd = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ASSERT_TRUE(restore_stream(*repo_, *second, fd, {}).ok());
  close(fd);
  EXPECT_EQ(read(out_path), changed);
}

// StreamWriter: chunks end at every cut() (and the chunker splits what is
// longer than its maximum); the snapshot restores as the plain concatenation.
TEST_F(MoverTest, StreamWriterCutsWhereToldAndRestoresTheConcatenation) {
  const std::vector<std::string> parts = {std::string(312, 'h'), random_text(16384, 1), std::string(312, 'i'),
                                          random_text(600 << 10, 2), "tail"};
  StreamBackupOptions o;
  o.name = "pieces";
  StreamWriter w(*repo_, o);
  std::string all;
  std::vector<uint64_t> cuts;
  for (const auto& part : parts) {
    // Fed in two pieces, to show that cuts, not writes, end chunks.
    size_t half = part.size() / 2;
    ASSERT_TRUE(w.write(ByteView(reinterpret_cast<const uint8_t*>(part.data()), half)).ok());
    ASSERT_TRUE(w.write(ByteView(reinterpret_cast<const uint8_t*>(part.data()) + half, part.size() - half)).ok());
    ASSERT_TRUE(w.cut().ok());
    ASSERT_TRUE(w.cut().ok());  // a cut at a boundary changes nothing
    all += part;
    cuts.push_back(all.size());
  }
  auto snap = w.finish();
  ASSERT_TRUE(snap.ok()) << snap.error().to_string();
  EXPECT_EQ(snap->kind, SnapshotKind::kStream);
  EXPECT_EQ(snap->size, all.size());
  uint64_t size = 0;
  auto refs = load_chunk_list(*repo_, snap->root, &size);
  ASSERT_TRUE(refs.ok());
  std::vector<uint64_t> ends;
  uint64_t at = 0;
  for (const auto& ref : *refs) {
    EXPECT_GT(ref.length, 0u);
    EXPECT_LE(ref.length, repo_->chunker().params().max_size);
    ends.push_back(at += ref.length);
  }
  for (uint64_t cut : cuts) EXPECT_NE(std::find(ends.begin(), ends.end(), cut), ends.end()) << "no chunk ends at " << cut;
  EXPECT_GE(refs->size(), parts.size() + 2) << "the 600 KiB part is longer than the test repository's 256 KiB chunks";

  std::string out_path = root_ + "/out";
  int fd = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ASSERT_TRUE(restore_stream(*repo_, *snap, fd, {}).ok());
  close(fd);
  EXPECT_EQ(read(out_path), all);
}

}  // namespace
}  // namespace stowage

namespace stowage {
namespace {

TEST(MoverFaults, StoreFailingMidBackupLosesNothingAndTheNextBackupCompletes) {
  namespace fs = std::filesystem;
  auto store = std::make_shared<MemoryStore>();
  auto repo = testing::make_repo(store);
  ASSERT_NE(repo, nullptr);
  std::string dir = fs::temp_directory_path() / "stowage-faults";
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::mt19937_64 rng(9);
  for (int i = 0; i < 8; i++) {
    std::string data(700000, '\0');
    for (auto& c : data) c = char(rng());
    std::ofstream(dir + "/f" + std::to_string(i), std::ios::binary) << data;
  }
  auto first = backup_files(*repo, dir, {});
  ASSERT_TRUE(first.ok());
  std::ofstream(dir + "/new", std::ios::binary) << std::string(3 << 20, 'n') + std::to_string(rng());
  {  // a large file: its chunks are hashed and saved by the savers
    std::string data(5 << 20, '\0');
    for (auto& c : data) c = char(rng());
    std::ofstream(dir + "/large", std::ios::binary) << data;
  }
  for (int i = 0; i < 8; i++) std::ofstream(dir + "/f" + std::to_string(i), std::ios::app) << "more";
  store->fail_next(StoreVerb::kPut, 1, ErrorCode::kIo);  // the next upload fails
  auto failed = backup_files(*repo, dir, {});
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.error().to_string().find("injected"), std::string::npos) << failed.error().to_string();
  // Nothing already stored is harmed, and a fresh process completes the next backup.
  auto reopened = Repository::open(store, "pw");
  ASSERT_TRUE(reopened.ok());
  auto check = check_repository(**reopened, CheckOptions{true, nullptr});
  ASSERT_TRUE(check.ok());
  EXPECT_TRUE(check->ok()) << check->errors.front();
  auto next = backup_files(**reopened, dir, {});
  ASSERT_TRUE(next.ok()) << next.error().to_string();
  auto restored = restore_files(**reopened, *next, dir + "-restored", {});
  ASSERT_TRUE(restored.ok());
  std::ifstream a(dir + "/f3", std::ios::binary), b(dir + "-restored/f3", std::ios::binary);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(a), {}), std::string(std::istreambuf_iterator<char>(b), {}));
  fs::remove_all(dir);
  fs::remove_all(dir + "-restored");
}

}  // namespace
}  // namespace stowage
