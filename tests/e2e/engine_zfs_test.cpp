// The ZFS engine against a real pool: the testbed's zfs-fuse pool named by
// STOWAGE_TEST_ZPOOL (`testbed/up zfs && source testbed/run/env`). Every test
// works in datasets of its own under the pool and destroys them afterwards.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <thread>

#include "../unit/repo/repo_test_support.h"
#include "engine/zfs.h"
#include "engine/zfs_stream.h"
#include "mover/stream.h"
#include "store/fs_store.h"
#include "util/process.h"

namespace fs = std::filesystem;

namespace stowage::engine {
namespace {

std::string random_bytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = char(rng());
  return s;
}

void write_file(const std::string& path, const std::string& data) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::binary | std::ios::trunc) << data;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// path → "type mode size/target" and contents, for a bit-for-bit comparison.
std::map<std::string, std::string> tree_of(const std::string& root) {
  std::map<std::string, std::string> out;
  for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator(); ++it) {
    std::string rel = fs::relative(it->path(), root).string();
    struct stat st;
    lstat(it->path().c_str(), &st);
    std::string desc = std::to_string(st.st_mode) + " " + std::to_string(st.st_uid) + ":" + std::to_string(st.st_gid);
    if (S_ISREG(st.st_mode)) desc += " " + read_file(it->path());
    if (S_ISLNK(st.st_mode)) desc += " -> " + fs::read_symlink(it->path()).string();
    out[rel] = desc;
  }
  return out;
}

// zfs-fuse answers "dataset is busy" for a while after files under a
// dataset's mountpoint were used; retry for up to 15 s.
Status destroy_dataset(const std::string& dataset) {
  for (int attempt = 0;; attempt++) {
    auto r = run_process({"zfs", "destroy", "-r", dataset});
    if (!r.ok()) return std::move(r).error();
    if (r->succeeded() || r->err.find("does not exist") != std::string::npos) return ok_status();
    if (r->err.find("busy") == std::string::npos || attempt >= 30) return command_error({"zfs", "destroy", dataset}, *r);
    usleep(500 * 1000);
  }
}

class ZfsEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* pool = std::getenv("STOWAGE_TEST_ZPOOL");
    if (pool == nullptr || *pool == 0)
      GTEST_SKIP() << "STOWAGE_TEST_ZPOOL is unset (run `testbed/up zfs && source testbed/run/env`)";
    pool_ = pool;
    auto listed = run_process({"zfs", "list", "-H", "-o", "name", pool_});
    if (!listed.ok() || !listed->succeeded()) GTEST_SKIP() << "pool " << pool_ << " is not available";
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    base_ = pool_ + "/e2e-engine-" + std::to_string(getpid()) + "-" + info->name();
    ASSERT_TRUE(run_checked({"zfs", "create", base_}).ok());
    char tmpl[] = "/tmp/stowage-zfs-e2e-XXXXXX";
    root_ = mkdtemp(tmpl);
    store_ = std::make_shared<FsStore>(root_ + "/repo");
    repo_ = testing::make_repo(store_);
    ASSERT_NE(repo_, nullptr);
  }
  void TearDown() override {
    if (!base_.empty()) {
      // Clones first (they depend on snapshots elsewhere under base_).
      for (const auto& clone : clones_) (void)destroy_dataset(clone);
      auto r = destroy_dataset(base_);
      EXPECT_TRUE(r.ok()) << r.error().to_string();
    }
    if (!root_.empty()) fs::remove_all(root_);
  }

  std::string create(const std::string& name, const std::vector<std::string>& options = {}) {
    std::vector<std::string> argv{"zfs", "create"};
    argv.insert(argv.end(), options.begin(), options.end());
    argv.push_back(base_ + "/" + name);
    auto r = run_checked(argv);
    EXPECT_TRUE(r.ok()) << r.error().to_string();
    return base_ + "/" + name;
  }
  std::string mountpoint(const std::string& dataset) {
    auto mp = zfs_mountpoint(dataset);
    EXPECT_TRUE(mp.ok()) << mp.error().to_string();
    return mp.ok() ? *mp : "";
  }
  bool exists(const std::string& name) {
    auto r = zfs_exists(name);
    EXPECT_TRUE(r.ok()) << r.error().to_string();
    return r.ok() && *r;
  }
  void fill(const std::string& dir) {
    write_file(dir + "/big.bin", random_bytes(6 << 20, 1));
    write_file(dir + "/docs/a.txt", "hello zfs\n");
    write_file(dir + "/docs/b.bin", random_bytes(300000, 2));
    write_file(dir + "/empty", "");
    ASSERT_EQ(symlink("docs/a.txt", (dir + "/link").c_str()), 0);
    ASSERT_EQ(chmod((dir + "/docs/a.txt").c_str(), 0640), 0);
    ASSERT_EQ(chown((dir + "/docs/b.bin").c_str(), 1234, 5678), 0);
  }

  std::string pool_, base_, root_;
  std::vector<std::string> clones_;
  std::shared_ptr<FsStore> store_;
  std::unique_ptr<Repository> repo_;
};

TEST_F(ZfsEngineTest, FullStreamsDeduplicateAndEachRestoresWithItsProperties) {
  std::string ds = create("vol", {"-o", "quota=268435456", "-o", "recordsize=16K", "-o", "compression=on",
                                  "-o", "atime=off"});
  std::string mp = mountpoint(ds);
  fill(mp);
  auto expected1 = tree_of(mp);

  ZfsBackupOptions o1;
  o1.snapshot_name = "stowage-b1";
  o1.tags = {"backup=b1"};
  Progress progress;
  o1.progress = &progress;
  auto b1 = backup_zfs_dataset(*repo_, ds, o1);
  ASSERT_TRUE(b1.ok()) << b1.error().to_string();
  EXPECT_EQ(b1->local_snapshot, "");
  EXPECT_FALSE(exists(ds + "@stowage-b1")) << "the backup's snapshot must be destroyed after the upload";
  EXPECT_EQ(b1->properties.at("quota"), "268435456");
  EXPECT_EQ(b1->properties.at("recordsize"), "16384");
  EXPECT_EQ(b1->properties.at("compression"), "on");
  EXPECT_EQ(b1->properties.at("atime"), "off");
  const auto& tags = b1->snapshot.tags;
  for (const char* want : {"backup=b1", "zfs.prop.quota=268435456", "zfs.prop.recordsize=16384"})
    EXPECT_NE(std::find(tags.begin(), tags.end(), want), tags.end()) << want;
  EXPECT_NE(std::find(tags.begin(), tags.end(), "zfs.dataset=" + ds), tags.end());
  EXPECT_NE(std::find(tags.begin(), tags.end(), "zfs.snapshot=" + ds + "@stowage-b1"), tags.end());
  EXPECT_EQ(b1->snapshot.kind, SnapshotKind::kStream);
  EXPECT_EQ(b1->snapshot.source, ds + "@stowage-b1");
  EXPECT_GT(b1->snapshot.size, uint64_t(6 << 20));
  EXPECT_EQ(progress.bytes_done.load(), b1->snapshot.size);
  EXPECT_TRUE(is_zfs_backup(b1->snapshot));
  EXPECT_EQ(zfs_backup_properties(b1->snapshot), b1->properties);

  // Change 64 KiB in the middle of the big file and add a small file.
  {
    int fd = open((mp + "/big.bin").c_str(), O_WRONLY);
    ASSERT_GE(fd, 0);
    std::string patch = random_bytes(65536, 3);
    ASSERT_EQ(pwrite(fd, patch.data(), patch.size(), 3 << 20), ssize_t(patch.size()));
    close(fd);
  }
  write_file(mp + "/docs/new.txt", "added after the first backup\n");
  auto expected2 = tree_of(mp);
  ASSERT_NE(expected1, expected2);

  ZfsBackupOptions o2;
  o2.snapshot_name = "stowage-b2";
  auto b2 = backup_zfs_dataset(*repo_, ds, o2);
  ASSERT_TRUE(b2.ok()) << b2.error().to_string();
  EXPECT_GT(b2->snapshot.size, uint64_t(6 << 20));  // a full stream again
  // The patched 64 KiB and the record headers are new, the rest is not (more
  // in SecondFullStreamStoresLittleNewData).
  EXPECT_LT(b2->snapshot.summary.bytes_new, b2->snapshot.size / 10)
      << b2->snapshot.summary.bytes_new << " new bytes of " << b2->snapshot.size;

  // Each restores on its own, bit for bit, with the recorded properties.
  std::string r1 = base_ + "/restored1", r2 = base_ + "/restored2";
  Progress rp;
  auto st1 = restore_zfs_dataset(*repo_, b1->snapshot, r1, &rp);
  ASSERT_TRUE(st1.ok()) << st1.error().to_string();
  EXPECT_EQ(rp.bytes_done.load(), b1->snapshot.size);
  auto st2 = restore_zfs_dataset(*repo_, b2->snapshot, r2, nullptr);
  ASSERT_TRUE(st2.ok()) << st2.error().to_string();
  EXPECT_EQ(tree_of(mountpoint(r1)), expected1);
  EXPECT_EQ(tree_of(mountpoint(r2)), expected2);
  EXPECT_FALSE(exists(r1 + "@stowage-b1")) << "the received snapshot is removed";
  for (const auto& r : {r1, r2}) {
    auto props = zfs_local_properties(r);
    ASSERT_TRUE(props.ok()) << props.error().to_string();
    EXPECT_EQ(props->at("quota"), "268435456") << r;
    EXPECT_EQ(props->at("recordsize"), "16384") << r;
    EXPECT_EQ(props->at("compression"), "on") << r;
    EXPECT_EQ(props->at("atime"), "off") << r;
    EXPECT_EQ(props->count("mountpoint"), 0u) << "the original's mountpoint is not copied";
  }

  // The first backup still restores after the second is removed (no chains).
  ASSERT_TRUE(repo_->remove_snapshot(b2->snapshot.id).ok());
  std::string r3 = base_ + "/restored3";
  ASSERT_TRUE(restore_zfs_dataset(*repo_, b1->snapshot, r3, nullptr).ok());
  EXPECT_EQ(tree_of(mountpoint(r3)), expected1);
}

// Successive full streams deduplicate: the stream is cut along its records,
// so each 16 KiB block is a chunk of its own and only the record headers
// (312 bytes per record, carrying the snapshot's guid) are new when the data
// did not change.
TEST_F(ZfsEngineTest, SecondFullStreamStoresLittleNewData) {
  std::string ds = create("vol", {"-o", "recordsize=16K"});
  std::string mp = mountpoint(ds);
  fill(mp);
  write_file(mp + "/other.bin", random_bytes(4 << 20, 4));
  auto b1 = backup_zfs_dataset(*repo_, ds, {});
  ASSERT_TRUE(b1.ok()) << b1.error().to_string();
  const auto& st = b1->stream;
  EXPECT_EQ(st.opaque_reason, "") << "zfs-fuse's stream must parse to its end";
  EXPECT_EQ(st.opaque_bytes, 0u);
  EXPECT_EQ(st.bytes, b1->snapshot.size);
  EXPECT_GE(st.data_bytes, uint64_t(10 << 20));
  EXPECT_GE(st.write_records, uint64_t((10 << 20) / 16384));
  EXPECT_GT(b1->snapshot.summary.bytes_new, uint64_t(10 << 20));

  // Nothing changed: only the record headers are new.
  ZfsBackupOptions o2;
  o2.snapshot_name = "second";
  auto b2 = backup_zfs_dataset(*repo_, ds, o2);
  ASSERT_TRUE(b2.ok()) << b2.error().to_string();
  const uint64_t size2 = b2->snapshot.size, new2 = b2->snapshot.summary.bytes_new;
  std::cout << "[ measure  ] unchanged: " << new2 << " new bytes of a " << size2 << "-byte stream ("
            << b2->stream.records << " records, " << b2->stream.write_records << " writes)\n";
  EXPECT_LT(new2, size2 / 10) << "second full stream stored " << new2 << " new bytes of " << size2;
  EXPECT_LE(new2, b2->stream.records * kZfsRecordHeaderSize + 65536) << "more than the headers are new";

  // One 4 MiB file rewritten: about that much is new, plus the headers.
  write_file(mp + "/other.bin", random_bytes(4 << 20, 5));
  ZfsBackupOptions o3;
  o3.snapshot_name = "third";
  auto b3 = backup_zfs_dataset(*repo_, ds, o3);
  ASSERT_TRUE(b3.ok()) << b3.error().to_string();
  const uint64_t size3 = b3->snapshot.size, new3 = b3->snapshot.summary.bytes_new;
  std::cout << "[ measure  ] one 4 MiB file rewritten: " << new3 << " new bytes of a " << size3
            << "-byte stream\n";
  EXPECT_GE(new3, uint64_t(4 << 20));
  EXPECT_LT(new3, uint64_t(4 << 20) + size3 / 10);

  // Each restores on its own to the data it was taken of.
  std::string r1 = base_ + "/restored1";
  auto restored = restore_zfs_dataset(*repo_, b1->snapshot, r1, nullptr);
  ASSERT_TRUE(restored.ok()) << restored.error().to_string();
  EXPECT_EQ(read_file(mountpoint(r1) + "/other.bin"), random_bytes(4 << 20, 4));
  std::string r3 = base_ + "/restored3";
  restored = restore_zfs_dataset(*repo_, b3->snapshot, r3, nullptr);
  ASSERT_TRUE(restored.ok()) << restored.error().to_string();
  EXPECT_EQ(tree_of(mountpoint(r3)), tree_of(mp));
}

// restore_stream yields exactly the bytes `zfs send` produced, although the
// stream was cut along its records.
TEST_F(ZfsEngineTest, RestoredStreamIsTheSentStreamByteForByte) {
  std::string ds = create("vol", {"-o", "recordsize=16K"});
  fill(mountpoint(ds));
  ZfsBackupOptions o;
  o.snapshot_name = "rt";
  o.keep_local_snapshot = true;
  auto b = backup_zfs_dataset(*repo_, ds, o);
  ASSERT_TRUE(b.ok()) << b.error().to_string();
  EXPECT_EQ(b->stream.opaque_reason, "");

  ProcessOptions po;
  po.max_stdout = 64 << 20;
  std::string sent[2];
  for (auto& s : sent) {
    auto r = run_process({"zfs", "send", b->local_snapshot}, po);
    ASSERT_TRUE(r.ok() && r->succeeded()) << (r.ok() ? r->describe() : r.error().to_string());
    ASSERT_FALSE(r->stdout_truncated);
    s = r->out;
  }
  ASSERT_EQ(sent[0], sent[1]) << "two sends of one snapshot differ; the comparison below means nothing";
  ASSERT_EQ(sent[0].size(), b->snapshot.size);

  std::string file = root_ + "/restored.stream";
  int fd = open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ASSERT_GE(fd, 0);
  auto st = restore_stream(*repo_, b->snapshot, fd, {});
  close(fd);
  ASSERT_TRUE(st.ok()) << st.error().to_string();
  std::string restored = read_file(file);
  EXPECT_EQ(restored.size(), sent[0].size());
  EXPECT_TRUE(restored == sent[0]) << "the restored stream differs from the sent one";

  // The parser sees the same structure in the sent bytes.
  ZfsStreamStats stats;
  auto pieces = zfs_stream_pieces(ByteView(reinterpret_cast<const uint8_t*>(sent[0].data()), sent[0].size()), &stats);
  EXPECT_EQ(stats.opaque_bytes, 0u);
  EXPECT_EQ(stats.data_bytes, b->stream.data_bytes);
  EXPECT_EQ(stats.records, b->stream.records);
  ASSERT_TRUE(destroy_zfs_snapshot(b->local_snapshot).ok());
}

TEST_F(ZfsEngineTest, KeptSnapshotClonesAndExpires) {
  std::string ds = create("vol", {"-o", "quota=134217728", "-o", "compression=on"});
  std::string mp = mountpoint(ds);
  fill(mp);
  auto expected = tree_of(mp);
  ZfsBackupOptions o;
  o.snapshot_name = "stowage-keep";
  o.keep_local_snapshot = true;
  auto b = backup_zfs_dataset(*repo_, ds, o);
  ASSERT_TRUE(b.ok()) << b.error().to_string();
  EXPECT_EQ(b->local_snapshot, ds + "@stowage-keep");
  EXPECT_TRUE(exists(b->local_snapshot));
  write_file(mp + "/later.txt", "written after the snapshot\n");

  std::string clone = base_ + "/clone";
  clones_.push_back(clone);
  auto cloned = clone_zfs_snapshot(b->local_snapshot, clone);
  ASSERT_TRUE(cloned.ok()) << cloned.error().to_string();
  EXPECT_EQ(tree_of(mountpoint(clone)), expected);
  auto props = zfs_local_properties(clone);
  ASSERT_TRUE(props.ok());
  EXPECT_EQ(props->at("quota"), "134217728");

  auto again = clone_zfs_snapshot(b->local_snapshot, clone);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code(), ErrorCode::kAlreadyExists);
  EXPECT_EQ(again.error().object(), clone);

  auto busy = destroy_zfs_snapshot(b->local_snapshot);
  ASSERT_FALSE(busy.ok());
  EXPECT_EQ(busy.error().code(), ErrorCode::kConflict) << busy.error().to_string();
  EXPECT_EQ(busy.error().object(), b->local_snapshot);
  EXPECT_NE(busy.error().hint().find("clone"), std::string::npos);

  ASSERT_TRUE(destroy_dataset(clone).ok());
  ASSERT_TRUE(destroy_zfs_snapshot(b->local_snapshot).ok());
  EXPECT_FALSE(exists(b->local_snapshot));
  auto gone = destroy_zfs_snapshot(b->local_snapshot);
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().code(), ErrorCode::kNotFound);

  auto missing = clone_zfs_snapshot(b->local_snapshot, base_ + "/clone2");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
  auto not_snapshot = destroy_zfs_snapshot(ds);
  ASSERT_FALSE(not_snapshot.ok()) << "a dataset name must never be destroyed";
  EXPECT_EQ(not_snapshot.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_TRUE(exists(ds));
}

TEST_F(ZfsEngineTest, ErrorsNameTheObjectAndTheFix) {
  std::string ds = create("vol");
  write_file(mountpoint(ds) + "/f", "data");

  auto missing = backup_zfs_dataset(*repo_, base_ + "/nope", {});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(missing.error().object(), base_ + "/nope");
  EXPECT_FALSE(missing.error().hint().empty());

  for (std::string bad : {std::string("-rf"), ds + "@snap", std::string(""), ds + "/", ds + "//x", ds + "/a b",
                          ds + "/../x"}) {
    auto r = backup_zfs_dataset(*repo_, bad, {});
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument) << bad;
  }
  ZfsBackupOptions bad_name;
  bad_name.snapshot_name = "x@y";
  EXPECT_EQ(backup_zfs_dataset(*repo_, ds, bad_name).error().code(), ErrorCode::kInvalidArgument);

  // A snapshot of that name exists already: a clear error, and it is left alone.
  ASSERT_TRUE(run_checked({"zfs", "snapshot", ds + "@dup"}).ok());
  ZfsBackupOptions dup;
  dup.snapshot_name = "dup";
  auto collided = backup_zfs_dataset(*repo_, ds, dup);
  ASSERT_FALSE(collided.ok());
  EXPECT_EQ(collided.error().code(), ErrorCode::kAlreadyExists);
  EXPECT_EQ(collided.error().object(), ds + "@dup");
  EXPECT_NE(collided.error().hint().find("zfs destroy " + ds + "@dup"), std::string::npos);
  EXPECT_TRUE(exists(ds + "@dup"));

  auto good = backup_zfs_dataset(*repo_, ds, {});
  ASSERT_TRUE(good.ok()) << good.error().to_string();

  auto existing = restore_zfs_dataset(*repo_, good->snapshot, ds, nullptr);
  ASSERT_FALSE(existing.ok());
  EXPECT_EQ(existing.error().code(), ErrorCode::kAlreadyExists);
  EXPECT_EQ(existing.error().object(), ds);

  auto no_parent = restore_zfs_dataset(*repo_, good->snapshot, base_ + "/missing/child", nullptr);
  ASSERT_FALSE(no_parent.ok());
  EXPECT_EQ(no_parent.error().code(), ErrorCode::kNotFound);
  EXPECT_NE(no_parent.error().hint().find("zfs create -p " + base_ + "/missing"), std::string::npos);

  // A stream snapshot that is not a ZFS backup.
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  ASSERT_EQ(write(p[1], "not a send stream", 17), 17);
  close(p[1]);
  StreamBackupOptions so;
  auto plain = backup_stream(*repo_, p[0], so);
  close(p[0]);
  ASSERT_TRUE(plain.ok());
  auto not_zfs = restore_zfs_dataset(*repo_, *plain, base_ + "/r", nullptr);
  ASSERT_FALSE(not_zfs.ok());
  EXPECT_EQ(not_zfs.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(not_zfs.error().object(), plain->id.hex());

  // Tagged as ZFS but its bytes are not a send stream: zfs receive refuses it,
  // its message is reported, and no target is left behind.
  ASSERT_EQ(pipe(p), 0);
  std::string junk = random_bytes(200000, 9);
  auto writer = std::thread([&] {
    (void)!write(p[1], junk.data(), junk.size());
    close(p[1]);
  });
  so.tags = {"zfs.dataset=" + ds, "zfs.snapshot=" + ds + "@fake"};
  auto forged = backup_stream(*repo_, p[0], so);
  writer.join();
  close(p[0]);
  ASSERT_TRUE(forged.ok());
  auto refused = restore_zfs_dataset(*repo_, *forged, base_ + "/forged", nullptr);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message().find("zfs receive"), std::string::npos) << refused.error().to_string();
  EXPECT_EQ(refused.error().object(), base_ + "/forged");
  EXPECT_FALSE(exists(base_ + "/forged"));
}

}  // namespace
}  // namespace stowage::engine
