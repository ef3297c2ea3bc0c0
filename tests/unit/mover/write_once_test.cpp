// The write-once rule (docs/repository-format.md): no code path writes a key
// that already exists. A recording store wraps a MemoryStore and counts every
// put of an existing key across a whole workflow: init, backups of all three
// kinds, key changes, locks, forget, prune and check.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "../repo/repo_test_support.h"
#include "mover/block.h"
#include "mover/file_backup.h"
#include "repo/check.h"
#include "repo/lock.h"
#include "repo/maintenance.h"

namespace stowage {
namespace {

class RecordingStore : public ObjectStore {
 public:
  std::string describe() const override { return inner_.describe(); }
  Status put(const std::string& key, ByteView data) override {
    if (inner_.stat(key).ok()) overwrites.push_back(key);
    return inner_.put(key, data);
  }
  Result<Bytes> get(const std::string& key) override { return inner_.get(key); }
  Result<Bytes> get_range(const std::string& key, uint64_t offset, uint64_t length) override {
    return inner_.get_range(key, offset, length);
  }
  Result<ObjectInfo> stat(const std::string& key) override { return inner_.stat(key); }
  Status list(const std::string& prefix, const std::function<void(const ObjectInfo&)>& fn) override {
    return inner_.list(prefix, fn);
  }
  Status remove(const std::string& key) override { return inner_.remove(key); }

  std::vector<std::string> overwrites;

 private:
  MemoryStore inner_;
};

TEST(WriteOnce, NoWorkflowStepWritesAnExistingKey) {
  namespace fs = std::filesystem;
  auto store = std::make_shared<RecordingStore>();
  auto repo = testing::make_repo(store);
  ASSERT_NE(repo, nullptr);
  std::string dir = fs::temp_directory_path() / "stowage-write-once";
  fs::remove_all(dir);
  fs::create_directories(dir);
  for (int i = 0; i < 50; i++) std::ofstream(dir + "/f" + std::to_string(i)) << std::string(size_t(i) * 999, char('a' + i % 26));
  auto first = backup_files(*repo, dir, {});
  ASSERT_TRUE(first.ok());
  FileBackupOptions incr;
  incr.parent = first->id;
  ASSERT_TRUE(backup_files(*repo, dir, incr).ok());
  std::ofstream(dir + "/f1") << "changed";
  ASSERT_TRUE(backup_files(*repo, dir, {}).ok());  // full re-read: every blob is a dedup hit
  std::ofstream(dir + "/img", std::ios::binary) << std::string(300000, 'x');
  auto block = backup_block(*repo, dir + "/img", {});
  ASSERT_TRUE(block.ok());
  BlockBackupOptions bo;
  bo.parent = block->id;
  bo.changed = std::vector<Extent>{{0, 10}};
  ASSERT_TRUE(backup_block(*repo, dir + "/img", bo).ok());
  ASSERT_TRUE(repo->add_key("other", crypto::ScryptParams{1024, 8, 1}).ok());
  { auto lock = RepoLock::acquire(*repo, false); ASSERT_TRUE(lock.ok()); }
  ASSERT_TRUE(repo->remove_snapshot(first->id).ok());
  ASSERT_TRUE(prune(*repo, PruneOptions{}).ok());
  ASSERT_TRUE(check_repository(*repo, CheckOptions{true, nullptr}).ok());
  ASSERT_TRUE(backup_files(*repo, dir, {}).ok());  // after prune, again
  fs::remove_all(dir);
  EXPECT_TRUE(store->overwrites.empty()) << "overwrote " << store->overwrites.front();
}

}  // namespace
}  // namespace stowage
