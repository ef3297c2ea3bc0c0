// The block-volume engine against real loop devices: an ext4 volume whose
// image lives on btrfs (reflink copy), an ext4 volume on a plain ext4 image
// (fsfreeze), and unmounted volumes (read as is). Needs root, losetup,
// mkfs.ext4, e2fsck and, for the reflink test, mkfs.btrfs; skips without them.
// Everything mounted or attached is released in TearDown, also on failure.
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>

#include "../unit/repo/repo_test_support.h"
#include "engine/block_volume.h"
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

bool have(const char* program) {
  auto r = run_process({"sh", "-c", std::string("command -v ") + program});
  return r.ok() && r->succeeded();
}

class BlockVolumeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (loop devices, mount, fsfreeze)";
    for (const char* p : {"losetup", "mkfs.ext4", "e2fsck", "fsfreeze", "mount", "cmp"})
      if (!have(p)) GTEST_SKIP() << p << " is not installed";
    auto probe = run_process({"losetup", "-f"});
    if (!probe.ok() || !probe->succeeded()) GTEST_SKIP() << "no free loop device (losetup -f)";
    char tmpl[] = "/tmp/stowage-block-e2e-XXXXXX";
    root_ = mkdtemp(tmpl);
    store_ = std::make_shared<FsStore>(root_ + "/repo");
    repo_ = testing::make_repo(store_);
    ASSERT_NE(repo_, nullptr);
  }
  void TearDown() override {
    for (auto it = cleanup_.rbegin(); it != cleanup_.rend(); ++it) (*it)();
    if (!root_.empty()) fs::remove_all(root_);
  }

  void run(const std::vector<std::string>& argv) {
    auto r = run_checked(argv);
    ASSERT_TRUE(r.ok()) << r.error().to_string();
  }
  std::string attach(const std::string& image) {
    auto r = run_checked({"losetup", "-f", "--show", image});
    EXPECT_TRUE(r.ok()) << r.error().to_string();
    if (!r.ok()) return "";
    std::string dev = *r;
    while (!dev.empty() && dev.back() == '\n') dev.pop_back();
    cleanup_.push_back([dev] { (void)run_process({"losetup", "-d", dev}); });
    return dev;
  }
  void mount(const std::vector<std::string>& args, const std::string& dir) {
    fs::create_directories(dir);
    std::vector<std::string> argv{"mount"};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.push_back(dir);
    auto r = run_checked(argv);
    ASSERT_TRUE(r.ok()) << r.error().to_string();
    cleanup_.push_back([dir] {
      (void)run_process({"fsfreeze", "--unfreeze", dir});  // never leave a frozen filesystem behind
      (void)run_process({"umount", dir});
    });
  }
  void sparse_file(const std::string& path, off_t size) {
    std::ofstream(path, std::ios::binary).close();
    ASSERT_EQ(truncate(path.c_str(), size), 0);
  }
  // An ext4 volume on a loop device of image, mounted at dir.
  std::string ext4_volume(const std::string& image, const std::string& dir) {
    sparse_file(image, 64 << 20);
    std::string dev = attach(image);
    run({"mkfs.ext4", "-q", "-F", "-E", "lazy_itable_init=0,lazy_journal_init=0", dev});
    mount({"-o", "noatime", dev}, dir);
    return dev;
  }
  void write_data(const std::string& dir, const std::string& name, size_t size, uint64_t seed) {
    std::ofstream(dir + "/" + name, std::ios::binary) << random_bytes(size, seed);
    run({"sync", "-f", dir});
  }
  // A byte copy of the device taken while its filesystem is frozen: what a
  // consistent backup must restore to.
  void reference_copy(const std::string& dev, const std::string& mountpoint, const std::string& out) {
    run({"sync", "-f", mountpoint});
    run({"fsfreeze", "--freeze", mountpoint});
    auto copied = run_checked({"dd", "if=" + dev, "of=" + out, "bs=1M", "iflag=direct", "status=none"});
    run({"fsfreeze", "--unfreeze", mountpoint});
    ASSERT_TRUE(copied.ok()) << copied.error().to_string();
  }
  void expect_same_bytes(const std::string& a, const std::string& b) {
    auto r = run_process({"cmp", a, b});
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(r->succeeded()) << r->out << r->err;
  }
  // The restored volume against the reference copy taken in an earlier
  // freeze: ext4 rewrites its primary superblock at every freeze, changing
  // only s_wtime (offset 0x30), s_kbytes_written (0x178) and the checksum
  // (0x3fc). Everything else must be the same, byte for byte (cmp).
  void expect_same_volume(const std::string& reference, const std::string& restored) {
    auto head = run_process({"cmp", "-n", "1072", reference, restored});
    ASSERT_TRUE(head.ok());
    EXPECT_TRUE(head->succeeded()) << head->out << head->err;
    auto rest = run_process({"cmp", "-i", "2048", reference, restored});
    ASSERT_TRUE(rest.ok());
    EXPECT_TRUE(rest->succeeded()) << rest->out << rest->err;
    std::ifstream fa(reference, std::ios::binary), fb(restored, std::ios::binary);
    std::string sa(2048, '\0'), sb(2048, '\0');
    fa.read(sa.data(), 2048);
    fb.read(sb.data(), 2048);
    for (size_t i = 1024; i < 2048; i++) {
      size_t off = i - 1024;
      bool volatile_field = (off >= 0x30 && off < 0x34) || (off >= 0x178 && off < 0x180) || off >= 0x3fc;
      if (!volatile_field) {
        EXPECT_EQ(sa[i], sb[i]) << "superblock byte " << off << " differs";
      }
    }
  }
  void expect_clean_fsck(const std::string& image) {
    auto r = run_process({"e2fsck", "-f", "-n", image});
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->exit_code, 0) << r->out << r->err;
  }
  bool has_tag(const Snapshot& s, const std::string& tag) {
    return std::find(s.tags.begin(), s.tags.end(), tag) != s.tags.end();
  }

  std::string root_;
  std::vector<std::function<void()>> cleanup_;
  std::shared_ptr<FsStore> store_;
  std::unique_ptr<Repository> repo_;
};

TEST_F(BlockVolumeTest, ReflinkCopyOfAnImageOnBtrfs) {
  if (!have("mkfs.btrfs")) GTEST_SKIP() << "mkfs.btrfs is not installed (btrfs-progs)";
  sparse_file(root_ + "/btrfs.img", 256 << 20);
  run({"mkfs.btrfs", "-q", root_ + "/btrfs.img"});
  mount({"-o", "loop", root_ + "/btrfs.img"}, root_ + "/btrfs");
  if (HasFatalFailure()) return;
  const std::string image = root_ + "/btrfs/vol.img", mnt = root_ + "/mnt";
  std::string dev = ext4_volume(image, mnt);
  if (HasFatalFailure()) return;
  write_data(mnt, "data.bin", 16 << 20, 1);

  EXPECT_EQ(loop_backing_file(dev), image);
  EXPECT_EQ(loop_device_of_image(image), dev);

  reference_copy(dev, mnt, root_ + "/ref1.img");
  auto b1 = backup_block_volume(*repo_, dev, {});
  ASSERT_TRUE(b1.ok()) << b1.error().to_string();
  EXPECT_EQ(b1->method, Consistency::kReflink) << b1->detail;
  EXPECT_EQ(b1->frozen_mountpoint, mnt);
  EXPECT_LT(b1->frozen_seconds, 5.0);
  EXPECT_TRUE(has_tag(b1->snapshot, "block.consistency=reflink"));
  EXPECT_EQ(b1->snapshot.source, dev);
  EXPECT_EQ(b1->snapshot.size, uint64_t(64 << 20));
  // The clone was removed.
  std::vector<std::string> names;
  for (auto& e : fs::directory_iterator(root_ + "/btrfs")) names.push_back(e.path().filename());
  EXPECT_EQ(names, std::vector<std::string>{"vol.img"});

  // 1 % more data, backed up with the first as parent.
  write_data(mnt, "more.bin", 640 << 10, 2);
  reference_copy(dev, mnt, root_ + "/ref2.img");
  BlockVolumeBackupOptions o2;
  o2.parent = b1->snapshot.id;
  o2.tags = {"backup=second"};
  auto b2 = backup_block_volume(*repo_, dev, o2);
  ASSERT_TRUE(b2.ok()) << b2.error().to_string();
  EXPECT_EQ(b2->method, Consistency::kReflink);
  EXPECT_EQ(b2->snapshot.parent, b1->snapshot.id);
  EXPECT_TRUE(has_tag(b2->snapshot, "backup=second"));
  EXPECT_LT(b2->snapshot.summary.bytes_new, b1->snapshot.summary.bytes_new / 4)
      << b2->snapshot.summary.bytes_new << " new bytes";

  // Restores: to new image files, byte-identical to the frozen copies, clean.
  for (auto [snap, ref] : {std::pair{&b1->snapshot, root_ + "/ref1.img"}, std::pair{&b2->snapshot, root_ + "/ref2.img"}}) {
    std::string out = root_ + "/restored-" + snap->id.short_hex() + ".img";
    Progress progress;
    auto st = restore_block_volume(*repo_, *snap, out, &progress);
    ASSERT_TRUE(st.ok()) << st.error().to_string();
    expect_same_volume(ref, out);
    expect_clean_fsck(out);
  }

  // A mounted target is refused, as device and as image.
  auto onto_device = restore_block_volume(*repo_, b1->snapshot, dev, nullptr);
  ASSERT_FALSE(onto_device.ok());
  EXPECT_EQ(onto_device.error().code(), ErrorCode::kConflict);
  EXPECT_EQ(onto_device.error().object(), dev);
  EXPECT_NE(onto_device.error().hint().find("umount " + mnt), std::string::npos);
  auto onto_image = restore_block_volume(*repo_, b1->snapshot, image, nullptr);
  ASSERT_FALSE(onto_image.ok());
  EXPECT_EQ(onto_image.error().code(), ErrorCode::kConflict);
}

TEST_F(BlockVolumeTest, FreezeWhenTheImageHasNoReflinksAndNoneWhenUnmounted) {
  const std::string image = root_ + "/vol.img", mnt = root_ + "/mnt";  // /tmp: no reflinks on ext4
  std::string dev = ext4_volume(image, mnt);
  if (HasFatalFailure()) return;
  write_data(mnt, "data.bin", 8 << 20, 3);

  BlockVolumeBackupOptions reflink_only;
  reflink_only.consistency = Consistency::kReflink;
  auto refused = backup_block_volume(*repo_, dev, reflink_only);
  if (refused.ok()) GTEST_SKIP() << "the filesystem under /tmp has reflinks; the freeze path is not reached here";
  EXPECT_EQ(refused.error().code(), ErrorCode::kUnsupported);
  EXPECT_EQ(refused.error().object(), image);

  reference_copy(dev, mnt, root_ + "/ref.img");
  auto b = backup_block_volume(*repo_, dev, {});
  ASSERT_TRUE(b.ok()) << b.error().to_string();
  EXPECT_EQ(b->method, Consistency::kFreeze) << b->detail;
  EXPECT_EQ(b->frozen_mountpoint, mnt);
  EXPECT_GT(b->frozen_seconds, 0.0);
  EXPECT_TRUE(has_tag(b->snapshot, "block.consistency=freeze"));
  write_data(mnt, "after.txt", 100, 4);  // thawed: writes go through
  std::string out = root_ + "/restored.img";
  ASSERT_TRUE(restore_block_volume(*repo_, b->snapshot, out, nullptr).ok());
  expect_same_volume(root_ + "/ref.img", out);
  expect_clean_fsck(out);

  // A freeze window too short for the read: thawed by the watchdog, no snapshot kept.
  auto before = repo_->list_snapshots();
  ASSERT_TRUE(before.ok());
  BlockVolumeBackupOptions short_window;
  short_window.consistency = Consistency::kFreeze;
  short_window.max_freeze = std::chrono::milliseconds(1);
  auto too_long = backup_block_volume(*repo_, dev, short_window);
  ASSERT_FALSE(too_long.ok());
  EXPECT_EQ(too_long.error().code(), ErrorCode::kUnavailable) << too_long.error().to_string();
  EXPECT_NE(too_long.error().hint().find("freeze window"), std::string::npos);
  write_data(mnt, "after2.txt", 100, 5);  // would hang if still frozen
  auto after = repo_->list_snapshots();
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->size(), before->size());

  // Unmounted: nothing to freeze, read as is, and said so.
  run({"umount", mnt});
  BlockVolumeBackupOptions freeze_only;
  freeze_only.consistency = Consistency::kFreeze;
  auto nothing_mounted = backup_block_volume(*repo_, dev, freeze_only);
  ASSERT_FALSE(nothing_mounted.ok());
  EXPECT_EQ(nothing_mounted.error().code(), ErrorCode::kInvalidArgument);
  auto as_is = backup_block_volume(*repo_, dev, {});
  ASSERT_TRUE(as_is.ok()) << as_is.error().to_string();
  EXPECT_EQ(as_is->method, Consistency::kNone);
  EXPECT_NE(as_is->detail.find("not mounted"), std::string::npos) << as_is->detail;
  EXPECT_TRUE(has_tag(as_is->snapshot, "block.consistency=none"));
  // An unmounted device is a valid restore target.
  ASSERT_TRUE(restore_block_volume(*repo_, b->snapshot, dev, nullptr).ok());
  expect_same_bytes(out, dev);
}

TEST_F(BlockVolumeTest, BadInputs) {
  auto missing = backup_block_volume(*repo_, root_ + "/nope", {});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(missing.error().object(), root_ + "/nope");
  auto dir = backup_block_volume(*repo_, root_, {});
  ASSERT_FALSE(dir.ok());
  EXPECT_EQ(dir.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_FALSE(parse_consistency("sometimes").ok());
  EXPECT_EQ(*parse_consistency("reflink"), Consistency::kReflink);
}

}  // namespace
}  // namespace stowage::engine
