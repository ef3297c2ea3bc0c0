// Object Lock in the repository, on MemoryStore's Object Lock emulation:
// every object is written locked, forget and prune defer what is still
// locked (tombstones) and finish the job once retention has ended, and the
// retention refresh extends live objects.
#include <gtest/gtest.h>
#include <unistd.h>

#include <thread>

#include "mover/stream.h"
#include "repo/check.h"
#include "repo/layout.h"
#include "repo/maintenance.h"
#include "repo_test_support.h"
#include "util/clock.h"

namespace stowage {
namespace {

constexpr int64_t kDay = 86400;

InitOptions locked_options() {
  InitOptions o = testing::fast_init_options();
  o.lock.mode = RetentionMode::kCompliance;
  o.lock.period_seconds = 30 * kDay;
  o.lock.margin_seconds = 7 * kDay;
  return o;
}

Result<Snapshot> backup_text(Repository& repo, const std::string& content, const std::string& name) {
  int p[2];
  if (pipe(p) != 0) return Error(ErrorCode::kIo, "pipe");
  std::thread writer([&] {
    (void)!::write(p[1], content.data(), content.size());
    close(p[1]);
  });
  StreamBackupOptions options;
  options.name = name;
  auto snap = backup_stream(repo, p[0], options);
  writer.join();
  close(p[0]);
  return snap;
}

std::string text(size_t n, char seed) {
  std::string out(n, ' ');
  uint32_t x = uint32_t(seed) * 2654435761u + 1;
  for (auto& c : out) {
    x = x * 1103515245u + 12345u;
    c = char('a' + (x >> 16) % 26);
  }
  return out;
}

TEST(ObjectLock, InitRefusedWhenTheStoreHasNoObjectLock) {
  auto store = std::make_shared<MemoryStore>();
  Status s = Repository::init(*store, "pw", locked_options());
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), ErrorCode::kUnsupported);
  EXPECT_NE(s.error().message().find("has no Object Lock"), std::string::npos) << s.error().to_string();
  EXPECT_EQ(store->object_count(), 0u);
}

TEST(ObjectLock, OpenSaysSoWhenTheBucketLostItsLock) {
  auto locked = std::make_shared<MemoryStore>();
  locked->enable_object_lock();
  ASSERT_TRUE(Repository::init(*locked, "pw", locked_options()).ok());
  auto plain = std::make_shared<MemoryStore>();
  auto objects = list_all(*locked, "");
  ASSERT_TRUE(objects.ok());
  for (const auto& info : *objects) plain->overwrite_object(info.key, *locked->get(info.key));
  auto opened = Repository::open(plain, "pw");
  ASSERT_FALSE(opened.ok());
  EXPECT_NE(opened.error().message().find("requires Object Lock (COMPLIANCE)"), std::string::npos)
      << opened.error().to_string();
}

TEST(ObjectLock, EveryObjectIsWrittenLockedAndTheConfigRecordsThePolicy) {
  auto store = std::make_shared<MemoryStore>();
  store->enable_object_lock();
  ASSERT_TRUE(Repository::init(*store, "pw", locked_options()).ok());
  auto repo = Repository::open(store, "pw");
  ASSERT_TRUE(repo.ok()) << repo.error().to_string();
  EXPECT_EQ((*repo)->config().version, kRepositoryFormatVersion);
  EXPECT_EQ((*repo)->config().lock.mode, RetentionMode::kCompliance);
  EXPECT_EQ((*repo)->config().lock.period_seconds, 30 * kDay);
  auto snap = backup_text(**repo, text(300000, 1), "one");
  ASSERT_TRUE(snap.ok()) << snap.error().to_string();
  const int64_t now = now_unix();
  auto objects = list_all(*store, "");
  ASSERT_TRUE(objects.ok());
  for (const auto& info : *objects) {
    if (info.key.rfind(layout::kLocksPrefix, 0) == 0) continue;
    auto retention = store->retention_of(info.key);
    ASSERT_TRUE(retention.ok());
    EXPECT_EQ(retention->mode, RetentionMode::kCompliance) << info.key;
    EXPECT_GE(retention->until_unix, now + 37 * kDay - 60) << info.key;
  }
  // Lock objects are not retained: they are deleted when released.
  EXPECT_TRUE(list_all(*store, layout::kLocksPrefix)->empty());
}

TEST(ObjectLock, ForgetAndPruneDeferLockedObjectsAndFinishAfterRetention) {
  auto store = std::make_shared<MemoryStore>();
  store->enable_object_lock();
  ASSERT_TRUE(Repository::init(*store, "pw", locked_options()).ok());
  auto repo = std::move(Repository::open(store, "pw")).value();
  auto first = backup_text(*repo, text(400000, 1), "first");
  auto second = backup_text(*repo, text(400000, 2), "second");
  ASSERT_TRUE(first.ok() && second.ok());

  // forget: the snapshot object is locked, so it is recorded, not deleted.
  auto removed = repo->remove_snapshot(first->id);
  ASSERT_TRUE(removed.ok()) << removed.error().to_string();
  EXPECT_FALSE(*removed);
  EXPECT_TRUE(store->get(layout::snapshot(first->id)).ok());
  ASSERT_EQ(repo->list_snapshots()->size(), 1u);  // forgotten all the same
  EXPECT_EQ(repo->resolve_snapshot(first->id.hex()).error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(list_all(*store, layout::kTombstonesPrefix)->size(), 1u);

  // prune: the first snapshot's packs are unused but locked: recorded, no failure.
  PruneOptions options;
  options.unindexed_grace_seconds = 0;
  auto pruned = prune(*repo, options);
  ASSERT_TRUE(pruned.ok()) << pruned.error().to_string();
  EXPECT_GT(pruned->objects_locked, 0u);
  EXPECT_GT(pruned->packs_deleted, 0u);
  auto stats = repository_stats(*repo);
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->snapshots, 1u);
  EXPECT_GT(stats->pending_deletion_objects, 0u);
  // A fresh open sees the same: the replaced index and forgotten snapshot stay ignored.
  auto reopened = std::move(Repository::open(store, "pw")).value();
  EXPECT_EQ(reopened->list_snapshots()->size(), 1u);
  auto checked = check_repository(*reopened, CheckOptions{true, nullptr});
  ASSERT_TRUE(checked.ok());
  EXPECT_TRUE(checked->ok()) << (checked->errors.empty() ? "" : checked->errors.front());

  // After the retention has ended, the next prune deletes what was recorded.
  store->set_now(now_unix() + 40 * kDay);
  auto later = prune(*reopened, options);
  ASSERT_TRUE(later.ok()) << later.error().to_string();
  EXPECT_EQ(later->objects_locked, 0u);
  EXPECT_GT(later->tombstoned_deleted, 0u);
  EXPECT_FALSE(store->get(layout::snapshot(first->id)).ok());
  auto after = repository_stats(*reopened);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->pending_deletion_objects, 0u);
  auto final_check = check_repository(*reopened, CheckOptions{true, nullptr});
  ASSERT_TRUE(final_check.ok());
  EXPECT_TRUE(final_check->ok()) << (final_check->errors.empty() ? "" : final_check->errors.front());
}

TEST(ObjectLock, RefreshExtendsEveryLiveObject) {
  auto store = std::make_shared<MemoryStore>();
  store->enable_object_lock();
  InitOptions o = locked_options();
  o.lock.period_seconds = 100;
  o.lock.margin_seconds = 10;
  ASSERT_TRUE(Repository::init(*store, "pw", o).ok());
  auto repo = std::move(Repository::open(store, "pw")).value();
  ASSERT_TRUE(backup_text(*repo, text(200000, 3), "x").ok());
  auto before = store->retention_of("config");
  ASSERT_TRUE(before.ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  auto extended = repo->refresh_retention();
  ASSERT_TRUE(extended.ok()) << extended.error().to_string();
  EXPECT_GE(*extended, 4u);  // config, key, pack(s), index, snapshot
  EXPECT_GT(store->retention_of("config")->until_unix, before->until_unix);
  auto last = repo->last_retention_refresh();
  ASSERT_TRUE(last.ok());
  EXPECT_GE(*last, now_unix() - 5);
}

TEST(ObjectLock, StoresWithoutObjectLockRefuseRetention) {
  MemoryStore store;
  Retention r{RetentionMode::kGovernance, now_unix() + 60};
  EXPECT_EQ(store.put_retained("k", as_bytes("v"), r).error().code(), ErrorCode::kUnsupported);
  EXPECT_TRUE(store.put_retained("k", as_bytes("v"), Retention{}).ok());  // inactive: a plain put
  EXPECT_EQ(store.extend_retention("k", r).error().code(), ErrorCode::kUnsupported);
  EXPECT_FALSE(store.lock_state()->object_lock);
  store.enable_object_lock();
  ASSERT_TRUE(store.put_retained("locked", as_bytes("v"), r).ok());
  EXPECT_EQ(store.remove("locked").error().code(), ErrorCode::kLocked);
  store.set_now(now_unix() + 120);
  EXPECT_TRUE(store.remove("locked").ok());
}

}  // namespace
}  // namespace stowage
