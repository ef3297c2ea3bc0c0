// DirPrefetch (mover/dir_prefetch.h): listings made ahead of a file backup
// match what the walk would list, are refused for a directory that was
// replaced or changed since, stay bounded, and a backup using them stores
// the same trees as one that lists everything itself and includes entries
// added after the prefetch.
#include <sys/stat.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "../repo/repo_test_support.h"
#include "mover/dir_prefetch.h"
#include "mover/file_backup.h"
#include "mover/file_restore.h"
#include "store/memory_store.h"

namespace fs = std::filesystem;

namespace stowage {
namespace {

class DirPrefetchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/stowage-prefetch-XXXXXX";
    root_ = mkdtemp(tmpl);
    for (int d = 0; d < 4; d++)
      for (int f = 0; f < 6; f++) {
        fs::create_directories(root_ + "/d" + std::to_string(d) + "/e");
        std::ofstream(root_ + "/d" + std::to_string(d) + "/e/f" + std::to_string(f)) << "file " << d << f;
      }
    std::ofstream(root_ + "/top") << "top";
    fs::create_symlink("top", root_ + "/link");
  }
  void TearDown() override { fs::remove_all(root_); }

  // Waits (bounded) until the prefetch holds n listings, then stops it.
  static void settle(DirPrefetch& prefetch, size_t n) {
    for (int i = 0; i < 1000 && prefetch.directories() < n; i++) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    prefetch.stop();
  }

  static struct stat lstat_of(const std::string& path) {
    struct stat st {};
    EXPECT_EQ(lstat(path.c_str(), &st), 0) << path;
    return st;
  }

  std::string root_;
};

TEST_F(DirPrefetchTest, ListsEveryDirectoryOnceAndChecksItsIdentity) {
  DirPrefetch prefetch(root_);
  settle(prefetch, 9);
  EXPECT_EQ(prefetch.directories(), 9u);  // root, d0..d3, d0/e..d3/e

  struct stat root = lstat_of(root_);
  auto listing = prefetch.take("", root);
  ASSERT_TRUE(listing.has_value());
  EXPECT_EQ(listing->names, (std::vector<std::string>{"d0", "d1", "d2", "d3", "link", "top"}));
  ASSERT_EQ(listing->stats.size(), 6u);
  EXPECT_TRUE(S_ISLNK(listing->stats[4].st_mode));  // not followed
  EXPECT_EQ(listing->stats[5].st_size, 3);
  EXPECT_EQ(listing->errors, std::vector<int>(6, 0));
  EXPECT_FALSE(prefetch.take("", root).has_value());  // handed out once

  struct stat d1 = lstat_of(root_ + "/d1/e");
  d1.st_ino++;  // another directory now
  EXPECT_FALSE(prefetch.take("d1/e", d1).has_value());
  d1.st_ino--;
  EXPECT_FALSE(prefetch.take("d1/e", d1).has_value());  // dropped with the refusal
  std::ofstream(root_ + "/d0/e/late") << "late";  // changes d0/e's mtime and ctime
  EXPECT_FALSE(prefetch.take("d0/e", lstat_of(root_ + "/d0/e")).has_value());
  auto d2 = prefetch.take("d2/e", lstat_of(root_ + "/d2/e"));
  ASSERT_TRUE(d2.has_value());
  EXPECT_EQ(d2->names.size(), 6u);
  EXPECT_FALSE(prefetch.take("nope", root).has_value());
}

TEST_F(DirPrefetchTest, KeepsNoPartialListingBeyondItsBound) {
  DirPrefetch prefetch(root_, 8);  // the root has 6 entries, d0 1 more, d0/e 6 more: over
  settle(prefetch, 2);
  EXPECT_EQ(prefetch.directories(), 2u);
  EXPECT_FALSE(prefetch.take("d0/e", lstat_of(root_ + "/d0/e")).has_value());
  EXPECT_TRUE(prefetch.take("d0", lstat_of(root_ + "/d0")).has_value());
}

TEST_F(DirPrefetchTest, BackupWithPrefetchStoresTheSameTreesAndSeesLaterChanges) {
  auto repo = testing::make_repo(std::make_shared<MemoryStore>());
  ASSERT_NE(repo, nullptr);
  auto plain = backup_files(*repo, root_, {});
  ASSERT_TRUE(plain.ok()) << plain.error().to_string();

  DirPrefetch prefetch(root_);
  settle(prefetch, 9);
  FileBackupOptions with;
  with.prefetch = &prefetch;
  auto same = backup_files(*repo, root_, with);
  ASSERT_TRUE(same.ok()) << same.error().to_string();
  EXPECT_EQ(same->root, plain->root);
  EXPECT_EQ(same->summary.files, plain->summary.files);
  EXPECT_EQ(same->summary.errors, 0u);
  EXPECT_EQ(prefetch.directories(), 0u);  // every listing was used

  // Listed ahead, then changed: d3 is replaced by a new directory (another
  // inode) and a file is added to d0/e; neither stale listing may be used.
  DirPrefetch stale(root_);
  settle(stale, 9);
  fs::remove_all(root_ + "/d3");
  fs::create_directories(root_ + "/d3/e");
  std::ofstream(root_ + "/d3/e/new") << "new";
  std::ofstream(root_ + "/d0/e/late") << "late";
  FileBackupOptions after;
  after.prefetch = &stale;
  auto changed = backup_files(*repo, root_, after);
  ASSERT_TRUE(changed.ok()) << changed.error().to_string();
  EXPECT_EQ(changed->summary.files, plain->summary.files - 6 + 1 + 1);
  // (Entries of directories that did not change keep the metadata they had
  // when listed, as in any walk that reaches them earlier; content is what
  // the restore shows.)
  std::string dst = root_ + "-restored";
  auto restored = restore_files(*repo, *changed, dst, {});
  ASSERT_TRUE(restored.ok()) << restored.error().to_string();
  auto text = [](const std::string& path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  EXPECT_EQ(text(dst + "/d3/e/new"), "new");
  EXPECT_EQ(text(dst + "/d0/e/late"), "late");
  EXPECT_FALSE(fs::exists(dst + "/d3/e/f0"));
  EXPECT_EQ(text(dst + "/d1/e/f2"), "file 12");
  fs::remove_all(dst);
}

}  // namespace
}  // namespace stowage
