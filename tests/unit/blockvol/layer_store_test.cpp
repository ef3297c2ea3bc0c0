#include "blockvol/layer_store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

namespace stowage::blockvol {
namespace {

namespace fs = std::filesystem;
constexpr uint64_t kSize = 4 << 20;  // 1024 blocks

ErrorCode code_of(const Status& s) { return s.ok() ? ErrorCode::kInternal : s.error().code(); }

class LayerStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("blockvol-test-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<LayerStore> create(bool fenced = false) {
    auto store = LayerStore::create(dir_.string(), kSize, fenced);
    EXPECT_TRUE(store.ok()) << store.error().to_string();
    return std::move(*store);
  }
  std::unique_ptr<LayerStore> reopen() {
    auto store = LayerStore::open(dir_.string());
    EXPECT_TRUE(store.ok()) << store.error().to_string();
    return std::move(*store);
  }
  static std::vector<uint8_t> pattern(size_t n, uint8_t seed) {
    std::vector<uint8_t> out(n);
    std::mt19937 rng(seed);
    for (auto& b : out) b = uint8_t(rng());
    return out;
  }
  static std::vector<uint8_t> read(const LayerStore& store, uint64_t offset, size_t n) {
    std::vector<uint8_t> out(n);
    Status s = store.read(offset, out);
    EXPECT_TRUE(s.ok()) << s.error().to_string();
    return out;
  }
  static std::vector<uint8_t> read_snap(const LayerStore& store, uint64_t seq, uint64_t offset, size_t n) {
    std::vector<uint8_t> out(n);
    Status s = store.read_snapshot(seq, offset, out);
    EXPECT_TRUE(s.ok()) << s.error().to_string();
    return out;
  }

  fs::path dir_;
};

TEST_F(LayerStoreTest, NewVolumeReadsZerosAndRefusesBadSizes) {
  auto store = create();
  EXPECT_EQ(read(*store, 0, 8192), std::vector<uint8_t>(8192, 0));
  EXPECT_FALSE(LayerStore::create((dir_ / "x").string(), 1000, false).ok());
  EXPECT_FALSE(LayerStore::create((dir_ / "y").string(), 0, false).ok());
  EXPECT_EQ(LayerStore::create(dir_.string(), kSize, false).error().code(), ErrorCode::kAlreadyExists);
}

TEST_F(LayerStoreTest, WritesAndReadsAtAnyAlignment) {
  auto store = create();
  auto a = pattern(10000, 1);
  ASSERT_TRUE(store->write(1234, a, false).ok());
  EXPECT_EQ(read(*store, 1234, a.size()), a);
  auto around = read(*store, 0, 20000);
  EXPECT_EQ(around[1233], 0);
  EXPECT_EQ(around[1234 + a.size()], 0);
}

TEST_F(LayerStoreTest, RefusesRangesOutsideTheVolume) {
  auto store = create();
  std::vector<uint8_t> buf(4096);
  EXPECT_EQ(code_of(store->read(kSize - 100, buf)), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code_of(store->write(kSize, buf, false)), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code_of(store->write(UINT64_MAX - 10, buf, false)), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code_of(store->write_zeroes(kSize - 4096, 8192, false)), ErrorCode::kInvalidArgument);
  EXPECT_TRUE(store->write(kSize - 4096, buf, false).ok());
}

TEST_F(LayerStoreTest, SnapshotsKeepTheirContentWhileTheHeadChanges) {
  auto store = create();
  auto v1 = pattern(3 * 4096, 1);
  ASSERT_TRUE(store->write(0, v1, false).ok());
  ASSERT_TRUE(store->create_snapshot(5, "one").ok());
  auto v2 = pattern(100, 2);
  ASSERT_TRUE(store->write(4096 + 10, v2, false).ok());  // partial block: copy on write
  ASSERT_TRUE(store->create_snapshot(9, "two").ok());
  ASSERT_TRUE(store->write_zeroes(0, 4096, false).ok());

  EXPECT_EQ(read_snap(*store, 5, 0, v1.size()), v1);
  auto expected2 = v1;
  std::copy(v2.begin(), v2.end(), expected2.begin() + 4096 + 10);
  EXPECT_EQ(read_snap(*store, 9, 0, v1.size()), expected2);
  auto head = expected2;
  std::fill(head.begin(), head.begin() + 4096, 0);
  EXPECT_EQ(read(*store, 0, v1.size()), head);

  // Sequence numbers only go up; names are unique.
  EXPECT_EQ(code_of(store->create_snapshot(9, "three")), ErrorCode::kConflict);
  EXPECT_EQ(code_of(store->create_snapshot(10, "two")), ErrorCode::kAlreadyExists);
  EXPECT_EQ(code_of(store->create_snapshot(10, "bad/name")), ErrorCode::kInvalidArgument);
  std::vector<uint8_t> buf(10);
  EXPECT_EQ(code_of(store->read_snapshot(7, 0, buf)), ErrorCode::kNotFound);
  auto list = store->snapshots();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].name, "one");
  EXPECT_EQ(list[1].seq, 9u);
}

TEST_F(LayerStoreTest, DeletingASnapshotMergesItIntoTheNextLayer) {
  auto store = create();
  auto a = pattern(8192, 3);
  ASSERT_TRUE(store->write(0, a, false).ok());
  ASSERT_TRUE(store->create_snapshot(1, "a").ok());
  auto b = pattern(4096, 4);
  ASSERT_TRUE(store->write(4096, b, false).ok());   // overrides a's second block
  ASSERT_TRUE(store->write(40960, b, false).ok());
  ASSERT_TRUE(store->create_snapshot(2, "b").ok());
  auto c = pattern(4096, 5);
  ASSERT_TRUE(store->write(0, c, false).ok());
  auto before_b = read_snap(*store, 2, 0, 65536);
  auto before_head = read(*store, 0, 65536);

  ASSERT_TRUE(store->delete_snapshot(1).ok());
  EXPECT_EQ(read_snap(*store, 2, 0, 65536), before_b);
  EXPECT_EQ(read(*store, 0, 65536), before_head);
  ASSERT_TRUE(store->delete_snapshot(2).ok());  // into the head
  EXPECT_EQ(read(*store, 0, 65536), before_head);
  EXPECT_TRUE(store->snapshots().empty());
  EXPECT_EQ(code_of(store->delete_snapshot(2)), ErrorCode::kNotFound);
  // Merged layers' files are gone; the head survives a reopen.
  store.reset();
  size_t files = 0;
  for (const auto& e : fs::directory_iterator(dir_)) files += e.path().filename().string().rfind("layer-", 0) == 0;
  EXPECT_EQ(files, 2u);
  auto reopened = reopen();
  EXPECT_EQ(read(*reopened, 0, 65536), before_head);
}

// Every snapshot's content and the head's, read whole.
struct Views {
  std::vector<std::pair<uint64_t, std::vector<uint8_t>>> snapshots;
  std::vector<uint8_t> head;
  bool operator==(const Views&) const = default;
};

Views views_of(const LayerStore& store) {
  Views v;
  for (const auto& s : store.snapshots()) {
    std::vector<uint8_t> out(kSize);
    EXPECT_TRUE(store.read_snapshot(s.seq, 0, out).ok());
    v.snapshots.emplace_back(s.seq, std::move(out));
  }
  v.head.resize(kSize);
  EXPECT_TRUE(store.read(0, v.head).ok());
  return v;
}

Views without(Views v, uint64_t seq) {
  std::erase_if(v.snapshots, [seq](const auto& s) { return s.first == seq; });
  return v;
}

nlohmann::json manifest_of(const fs::path& dir) {
  std::ifstream in(dir / "volume.json");
  return nlohmann::json::parse(in);
}

size_t layer_files(const fs::path& dir) {
  size_t files = 0;
  for (const auto& e : fs::directory_iterator(dir)) files += e.path().filename().string().rfind("layer-", 0) == 0;
  return files;
}

TEST_F(LayerStoreTest, DeletingALargeOldSnapshotCopiesOnlyTheSmallerNewerLayer) {
  auto store = create();
  ASSERT_TRUE(store->write(8192, pattern(8192, 1), false).ok());
  ASSERT_TRUE(store->create_snapshot(1, "small-old").ok());          // 2 blocks
  ASSERT_TRUE(store->write(0, pattern(kSize, 2), false).ok());
  ASSERT_TRUE(store->create_snapshot(2, "base").ok());               // 1024 blocks
  ASSERT_TRUE(store->write(4096 * 7, pattern(4096, 3), false).ok());
  ASSERT_TRUE(store->write(4096 * 500 + 10, pattern(100, 4), false).ok());
  ASSERT_TRUE(store->write_zeroes(4096 * 900, 4096 * 3, false).ok());
  ASSERT_TRUE(store->create_snapshot(3, "incr").ok());               // 5 blocks
  ASSERT_TRUE(store->write(4096 * 8, pattern(4096 * 2, 5), false).ok());
  ASSERT_TRUE(store->write(4096 * 1000 + 1, pattern(5, 6), false).ok());  // head: 3 blocks
  auto before = views_of(*store);
  auto extents_before = store->changed_extents(1, 0);
  ASSERT_TRUE(extents_before.ok());

  // The base (1024 blocks) under a 5-block snapshot: the 5 blocks are copied
  // into the base's layer, which becomes snapshot 3.
  uint64_t copied = store->merge_copied_blocks();
  ASSERT_TRUE(store->delete_snapshot(2).ok());
  EXPECT_EQ(store->merge_copied_blocks() - copied, 5u);
  EXPECT_EQ(views_of(*store), without(before, 2));
  auto snaps = store->snapshots();
  ASSERT_EQ(snaps.size(), 2u);
  EXPECT_EQ(snaps[1].seq, 3u);
  EXPECT_EQ(snaps[1].name, "incr");
  EXPECT_EQ(code_of(store->delete_snapshot(2)), ErrorCode::kNotFound);

  // Snapshot 3 (now 1024 blocks) under the 3-block head: the head's blocks
  // are copied down and the old layer becomes the head.
  copied = store->merge_copied_blocks();
  ASSERT_TRUE(store->delete_snapshot(3).ok());
  EXPECT_EQ(store->merge_copied_blocks() - copied, 3u);
  EXPECT_EQ(views_of(*store), without(without(before, 2), 3));
  auto extents_after = store->changed_extents(1, 0);
  ASSERT_TRUE(extents_after.ok());
  EXPECT_EQ(*extents_after, *extents_before);
  EXPECT_EQ(layer_files(dir_), 4u);
  auto manifest = manifest_of(dir_);
  EXPECT_EQ(manifest["format"], 1);
  EXPECT_FALSE(manifest.contains("merge"));

  // Writes land in the new head (partial blocks copy on write correctly),
  // and snapshots and flushes keep working.
  auto expected = views_of(*store);
  auto w = pattern(6000, 7);
  ASSERT_TRUE(store->write(4096 * 300 + 50, w, true).ok());
  std::copy(w.begin(), w.end(), expected.head.begin() + 4096 * 300 + 50);
  ASSERT_TRUE(store->write_zeroes(4096 * 8, 4096, true).ok());
  std::fill_n(expected.head.begin() + 4096 * 8, 4096, 0);
  EXPECT_EQ(views_of(*store), expected);
  ASSERT_TRUE(store->create_snapshot(4, "after").ok());
  ASSERT_TRUE(store->write(0, pattern(4096, 8), true).ok());
  auto final_views = views_of(*store);
  EXPECT_EQ(read_snap(*store, 4, 0, kSize), expected.head);
  store.reset();
  EXPECT_EQ(views_of(*reopen()), final_views);
}

TEST_F(LayerStoreTest, DeletingASmallOldSnapshotStillCopiesIntoTheNewerLayer) {
  auto store = create();
  ASSERT_TRUE(store->write(0, pattern(4096 * 4, 1), false).ok());
  ASSERT_TRUE(store->create_snapshot(1, "small").ok());               // blocks 0-3
  ASSERT_TRUE(store->write(4096 * 2, pattern(4096 * 100, 2), false).ok());  // blocks 2-101
  auto before = views_of(*store);
  uint64_t copied = store->merge_copied_blocks();
  ASSERT_TRUE(store->delete_snapshot(1).ok());
  EXPECT_EQ(store->merge_copied_blocks() - copied, 2u);  // blocks 0 and 1: the head holds 2 and 3
  EXPECT_EQ(views_of(*store), without(before, 1));
  store.reset();
  EXPECT_EQ(views_of(*reopen()), without(before, 1));
  EXPECT_EQ(layer_files(dir_), 2u);
}

TEST_F(LayerStoreTest, AnInterruptedMergeFinishesOnOpen) {
  auto store = create();
  ASSERT_TRUE(store->write(0, pattern(4096 * 10, 1), false).ok());
  ASSERT_TRUE(store->create_snapshot(1, "keep").ok());
  ASSERT_TRUE(store->write(0, pattern(kSize, 2), false).ok());
  ASSERT_TRUE(store->create_snapshot(2, "base").ok());
  for (uint64_t b = 3; b < 1024; b += 20)  // 51 separate runs
    ASSERT_TRUE(store->write(b * 4096 + 7, pattern(300, uint8_t(b)), false).ok());
  auto before = views_of(*store);
  auto expected = without(before, 2);

  store->set_merge_fail_after_runs_for_test(10);
  EXPECT_FALSE(store->delete_snapshot(2).ok());
  // The intent is recorded; the snapshot being overwritten is gone, the
  // other views are intact.
  store->set_merge_fail_after_runs_for_test(0);
  EXPECT_EQ(store->snapshots().size(), 1u);
  std::vector<uint8_t> buf(4096);
  EXPECT_EQ(code_of(store->read_snapshot(2, 0, buf)), ErrorCode::kNotFound);
  EXPECT_EQ(views_of(*store), expected);
  auto manifest = manifest_of(dir_);
  EXPECT_EQ(manifest["format"], 2);
  ASSERT_TRUE(manifest.contains("merge"));
  EXPECT_EQ(manifest["merge"]["into"], 2);  // layer 2 holds snapshot 2

  // A crash now: the files as they are, with no flush.
  fs::path crashed = dir_.string() + "-crashed";
  fs::remove_all(crashed);
  fs::copy(dir_, crashed);
  {
    auto opened = LayerStore::open(crashed.string());
    ASSERT_TRUE(opened.ok()) << opened.error().to_string();
    EXPECT_EQ(views_of(**opened), expected);
    auto m = manifest_of(crashed);
    EXPECT_EQ(m["format"], 1);
    EXPECT_FALSE(m.contains("merge"));
    EXPECT_EQ(m["layers"].size(), 2u);
    EXPECT_EQ(layer_files(crashed), 4u);
    auto w = pattern(4096, 9);
    ASSERT_TRUE((*opened)->write(4096 * 3, w, true).ok());
    std::copy(w.begin(), w.end(), expected.head.begin() + 4096 * 3);
    EXPECT_EQ(views_of(**opened), expected);
  }
  fs::remove_all(crashed);

  // The store that failed finishes the merge on its next deletion.
  ASSERT_TRUE(store->write(4096 * 3, pattern(4096, 9), false).ok());
  ASSERT_TRUE(store->delete_snapshot(1).ok());
  EXPECT_TRUE(store->snapshots().empty());
  EXPECT_EQ(views_of(*store).head, expected.head);
  store.reset();
  EXPECT_EQ(views_of(*reopen()).head, expected.head);
  EXPECT_EQ(layer_files(dir_), 2u);
}

TEST_F(LayerStoreTest, ChangedExtentsBetweenSnapshots) {
  auto store = create();
  ASSERT_TRUE(store->write(0, pattern(8192, 1), false).ok());
  ASSERT_TRUE(store->create_snapshot(1, "s1").ok());
  ASSERT_TRUE(store->write(65536 + 100, pattern(10, 2), false).ok());
  ASSERT_TRUE(store->write(4096, pattern(4096, 3), false).ok());
  ASSERT_TRUE(store->create_snapshot(2, "s2").ok());
  ASSERT_TRUE(store->write_zeroes(1 << 20, 3 * 4096, false).ok());

  auto all = store->changed_extents(0, 1);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(*all, (std::vector<Extent>{{0, 8192}}));
  auto delta = store->changed_extents(1, 2);
  ASSERT_TRUE(delta.ok());
  EXPECT_EQ(*delta, (std::vector<Extent>{{4096, 4096}, {65536, 4096}}));
  auto head = store->changed_extents(2, 0);
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(*head, (std::vector<Extent>{{1 << 20, 3 * 4096}}));
  auto everything = store->changed_extents(0, 0);
  ASSERT_TRUE(everything.ok());
  EXPECT_EQ(*everything, (std::vector<Extent>{{0, 8192}, {65536, 4096}, {1 << 20, 3 * 4096}}));
  EXPECT_FALSE(store->changed_extents(2, 1).ok());
  EXPECT_EQ(store->changed_extents(3, 0).error().code(), ErrorCode::kNotFound);
}

TEST_F(LayerStoreTest, FlushedDataAndSnapshotsSurviveReopen) {
  auto a = pattern(5000, 7);
  auto b = pattern(4096, 8);
  {
    auto store = create();
    ASSERT_TRUE(store->write(100, a, false).ok());
    ASSERT_TRUE(store->create_snapshot(3, "keep").ok());
    ASSERT_TRUE(store->write(8192, b, true).ok());  // FUA
    ASSERT_TRUE(store->set_epoch(42).ok());
  }
  auto store = reopen();
  EXPECT_EQ(store->epoch(), 42u);
  EXPECT_EQ(store->max_seq(), 3u);
  EXPECT_EQ(read_snap(*store, 3, 100, a.size()), a);
  EXPECT_EQ(read(*store, 8192, b.size()), b);
}

TEST_F(LayerStoreTest, TheMapNamesOnlyFlushedBlocks) {
  // The block map reaches the disk only in a flush, after the data: a crash
  // before the flush leaves the block unmapped (it reads as before), never
  // mapped to data that was not written. Simulate the crash by copying the
  // files while the store is open, before and after a flush.
  auto store = create();
  auto a = pattern(4096, 9);
  ASSERT_TRUE(store->write(0, a, false).ok());
  fs::path crashed = dir_.string() + "-crashed";
  fs::remove_all(crashed);
  fs::copy(dir_, crashed);
  ASSERT_TRUE(store->flush().ok());
  fs::path flushed = dir_.string() + "-flushed";
  fs::remove_all(flushed);
  fs::copy(dir_, flushed);
  {
    auto before = LayerStore::open(crashed.string());
    ASSERT_TRUE(before.ok());
    EXPECT_EQ(read(**before, 0, 4096), std::vector<uint8_t>(4096, 0));
    auto after = LayerStore::open(flushed.string());
    ASSERT_TRUE(after.ok());
    EXPECT_EQ(read(**after, 0, 4096), a);
  }
  fs::remove_all(crashed);
  fs::remove_all(flushed);
}

TEST_F(LayerStoreTest, OpenRemovesLeftoversAndRefusesDamage) {
  {
    auto store = create();
    ASSERT_TRUE(store->write(0, pattern(4096, 1), true).ok());
  }
  std::ofstream(dir_ / "layer-000099.data") << "orphan";
  std::ofstream(dir_ / "volume.json.tmp") << "half";
  {
    auto store = reopen();
    EXPECT_FALSE(fs::exists(dir_ / "layer-000099.data"));
    EXPECT_FALSE(fs::exists(dir_ / "volume.json.tmp"));
  }
  fs::resize_file(dir_ / "layer-000001.map", 3);
  EXPECT_EQ(LayerStore::open(dir_.string()).error().code(), ErrorCode::kCorrupt);
  std::ofstream(dir_ / "volume.json") << "{not json";
  EXPECT_EQ(LayerStore::open(dir_.string()).error().code(), ErrorCode::kCorrupt);
  EXPECT_EQ(LayerStore::open((dir_ / "nothing").string()).error().code(), ErrorCode::kNotFound);
}

TEST_F(LayerStoreTest, FenceFlagPersists) {
  {
    auto store = create(true);
    EXPECT_TRUE(store->fenced());
  }
  {
    auto store = reopen();
    EXPECT_TRUE(store->fenced());
    ASSERT_TRUE(store->set_fenced(false).ok());
  }
  EXPECT_FALSE(reopen()->fenced());
}

TEST_F(LayerStoreTest, ResetDropsDataAndSnapshots) {
  auto store = create();
  ASSERT_TRUE(store->write(0, pattern(4096, 1), false).ok());
  ASSERT_TRUE(store->create_snapshot(4, "x").ok());
  ASSERT_TRUE(store->reset().ok());
  EXPECT_TRUE(store->snapshots().empty());
  EXPECT_EQ(read(*store, 0, 4096), std::vector<uint8_t>(4096, 0));
  EXPECT_TRUE(store->create_snapshot(1, "again").ok());  // a rebuild replays from sequence 1
}

}  // namespace
}  // namespace stowage::blockvol
