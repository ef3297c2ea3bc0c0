// The range planner of batched loads, and batched loads against a MemoryStore
// (call counts, damaged and truncated packs).
#include "repo/batch_load.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <random>

#include "repo/layout.h"
#include "repo_test_support.h"

namespace stowage {
namespace {

using testing::make_repo;

ObjectId pack_id(uint8_t n) {
  ObjectId id;
  id.bytes[0] = n;
  return id;
}

BlobLocation at(uint8_t pack, uint32_t offset, uint32_t length, uint8_t name) {
  BlobLocation loc;
  loc.pack = pack_id(pack);
  loc.entry.id.bytes[0] = name;
  loc.entry.id.bytes[1] = pack;
  loc.entry.offset = offset;
  loc.entry.length = length;
  loc.entry.raw_length = length;
  return loc;
}

RangeReadOptions limits(uint64_t max_gap, uint64_t max_range) {
  RangeReadOptions o;
  o.max_gap = max_gap;
  o.max_range = max_range;
  return o;
}

std::vector<uint32_t> offsets(const PackRange& range) {
  std::vector<uint32_t> out;
  for (const auto& e : range.blobs) out.push_back(e.offset);
  return out;
}

TEST(PlanPackRanges, MergesNeighboursWithinTheGapAndSplitsBeyondIt) {
  // 0..100, gap 50, 150..250, gap 51, 301..401
  auto ranges = plan_pack_ranges({at(1, 0, 100, 1), at(1, 150, 100, 2), at(1, 301, 100, 3)}, limits(50, 1 << 20));
  ASSERT_EQ(ranges.size(), 2u);
  EXPECT_EQ(ranges[0].offset, 0u);
  EXPECT_EQ(ranges[0].length, 250u);
  EXPECT_EQ(offsets(ranges[0]), (std::vector<uint32_t>{0, 150}));
  EXPECT_EQ(ranges[1].offset, 301u);
  EXPECT_EQ(ranges[1].length, 100u);
  // Adjacent blobs (no gap) merge even with max_gap 0.
  EXPECT_EQ(plan_pack_ranges({at(1, 0, 10, 1), at(1, 10, 10, 2)}, limits(0, 1 << 20)).size(), 1u);
  EXPECT_EQ(plan_pack_ranges({at(1, 0, 10, 1), at(1, 11, 10, 2)}, limits(0, 1 << 20)).size(), 2u);
}

TEST(PlanPackRanges, NeverGrowsARangeBeyondTheMaximumNorSplitsABlob) {
  // Ten adjacent 100-byte blobs, ranges of at most 350 bytes: 3 + 3 + 3 + 1.
  std::vector<BlobLocation> blobs;
  for (uint8_t i = 0; i < 10; i++) blobs.push_back(at(1, uint32_t(i) * 100, 100, i));
  auto ranges = plan_pack_ranges(blobs, limits(1 << 20, 350));
  ASSERT_EQ(ranges.size(), 4u);
  for (const auto& r : ranges) EXPECT_LE(r.length, 350u);
  EXPECT_EQ(ranges[3].blobs.size(), 1u);
  // A blob longer than the maximum is read whole, on its own.
  ranges = plan_pack_ranges({at(1, 0, 100, 1), at(1, 100, 1000, 2), at(1, 1100, 100, 3)}, limits(1 << 20, 350));
  ASSERT_EQ(ranges.size(), 3u);
  EXPECT_EQ(ranges[1].offset, 100u);
  EXPECT_EQ(ranges[1].length, 1000u);
  ASSERT_EQ(ranges[1].blobs.size(), 1u);
  EXPECT_EQ(ranges[1].blobs[0].length, 1000u);
}

TEST(PlanPackRanges, SortsByPackAndOffsetAndNeverMergesAcrossPacks) {
  auto ranges = plan_pack_ranges({at(2, 500, 10, 1), at(1, 20, 10, 2), at(2, 0, 10, 3), at(1, 0, 10, 4)},
                                 limits(1 << 20, 1 << 20));
  ASSERT_EQ(ranges.size(), 2u);
  EXPECT_EQ(ranges[0].pack, pack_id(1));
  EXPECT_EQ(offsets(ranges[0]), (std::vector<uint32_t>{0, 20}));
  EXPECT_EQ(ranges[0].length, 30u);
  EXPECT_EQ(ranges[1].pack, pack_id(2));
  EXPECT_EQ(offsets(ranges[1]), (std::vector<uint32_t>{0, 500}));
  EXPECT_EQ(ranges[1].length, 510u);
}

TEST(PlanPackRanges, ABlobAskedForTwiceIsReadOnce) {
  auto ranges = plan_pack_ranges({at(1, 100, 10, 1), at(1, 0, 10, 2), at(1, 100, 10, 1), at(1, 100, 10, 1)},
                                 limits(1 << 20, 1 << 20));
  ASSERT_EQ(ranges.size(), 1u);
  EXPECT_EQ(offsets(ranges[0]), (std::vector<uint32_t>{0, 100}));
  EXPECT_TRUE(plan_pack_ranges({}, {}).empty());
}

TEST(RangeReadOptions, RangesShrinkAsThreadsGrowWithinBounds) {
  EXPECT_EQ(range_read_options(4).max_range, 16u << 20);
  EXPECT_EQ(range_read_options(16).max_range, 8u << 20);
  EXPECT_EQ(range_read_options(64).max_range, 2u << 20);
  EXPECT_EQ(range_read_options(1000).max_range, 2u << 20);
  EXPECT_EQ(range_read_options(0).threads, 1u);
  EXPECT_EQ(range_read_options(0).max_range, 16u << 20);
}

TEST(PlanPackRanges, TheBlobsOfOneGroupShareOneRangeWhateverItsLength) {
  // Three blobs in one 1000-byte group, then a blob of its own: a maximum
  // of 350 bytes must not read the group three times.
  auto ranges = plan_pack_ranges({at(1, 0, 1000, 1), at(1, 0, 1000, 2), at(1, 1000, 100, 4), at(1, 0, 1000, 3)},
                                 limits(1 << 20, 350));
  ASSERT_EQ(ranges.size(), 2u);
  EXPECT_EQ(offsets(ranges[0]), (std::vector<uint32_t>{0, 0, 0}));
  EXPECT_EQ(ranges[0].length, 1000u);
  EXPECT_EQ(offsets(ranges[1]), (std::vector<uint32_t>{1000}));
}

// Blobs of this size are each sealed on their own; smaller ones are grouped.
constexpr size_t kSolo = kGroupBlobMax + 5000;

// A repository with `count` random blobs of `size` bytes in packs of 1 MiB.
class BatchLoadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = std::make_shared<MemoryStore>();
    repo_ = make_repo(store_);
    ASSERT_NE(repo_, nullptr);
  }
  void add_blobs(size_t count, size_t size) {
    std::mt19937_64 rng(count * 31 + size);
    for (size_t i = 0; i < count; i++) {
      Bytes data(size);
      for (auto& b : data) b = uint8_t(rng());
      BlobId id = repo_->blob_id(data);
      ASSERT_TRUE(repo_->save_blob(BlobType::kData, id, data).ok());
      ids_.push_back(id);
      blobs_[id] = std::move(data);
    }
    ASSERT_TRUE(repo_->flush().ok());
  }
  // Loads ids; returns the error, and every blob delivered (with how often).
  Status load(const std::vector<BlobId>& ids, std::map<BlobId, int>* seen, const RangeReadOptions& o = {}) {
    std::mutex mu;
    return load_blobs(*repo_, ids, [&](const BlobId& id, Result<Bytes>&& data) -> Status {
      if (!data.ok()) return std::move(data).error();
      std::lock_guard lock(mu);
      (*seen)[id]++;
      if (*data != blobs_.at(id)) return Error(ErrorCode::kInternal, "wrong content for " + id.short_hex());
      return ok_status();
    }, o);
  }
  std::string pack_of(const BlobId& id) { return layout::pack(repo_->index().find(id)->pack); }

  std::shared_ptr<MemoryStore> store_;
  std::unique_ptr<Repository> repo_;
  std::vector<BlobId> ids_;
  std::map<BlobId, Bytes> blobs_;
};

TEST_F(BatchLoadTest, EveryBlobOnceWithOneReadPerPack) {
  add_blobs(60, kSolo);  // about 4 MB: several packs of 1 MiB
  const size_t packs = repo_->index().pack_count();
  ASSERT_GE(packs, 3u);
  std::vector<BlobId> wanted = ids_;
  wanted.insert(wanted.end(), ids_.begin(), ids_.begin() + 50);  // asked for twice
  std::map<BlobId, int> seen;
  size_t reads_before = store_->call_count(StoreVerb::kGetRange);
  Status s = load(wanted, &seen);
  ASSERT_TRUE(s.ok()) << s.error().to_string();
  EXPECT_EQ(seen.size(), ids_.size());
  for (const auto& [id, n] : seen) EXPECT_EQ(n, 1) << id.short_hex();
  EXPECT_EQ(store_->call_count(StoreVerb::kGetRange) - reads_before, packs);
  // Smaller ranges: more reads, the same blobs.
  seen.clear();
  reads_before = store_->call_count(StoreVerb::kGetRange);
  s = load(ids_, &seen, limits(1 << 20, 100000));
  ASSERT_TRUE(s.ok()) << s.error().to_string();
  EXPECT_EQ(seen.size(), ids_.size());
  EXPECT_GT(store_->call_count(StoreVerb::kGetRange) - reads_before, 4 * packs);
}

TEST_F(BatchLoadTest, RangesStartInTheCallersOrder) {
  add_blobs(60, kSolo);
  std::vector<BlobId> wanted(ids_.rbegin(), ids_.rend());  // last pack first
  std::vector<std::string> packs_in_order;                  // of first appearance in wanted
  for (const auto& id : wanted)
    if (std::find(packs_in_order.begin(), packs_in_order.end(), pack_of(id)) == packs_in_order.end())
      packs_in_order.push_back(pack_of(id));
  ASSERT_GE(packs_in_order.size(), 3u);
  RangeReadOptions o;  // one range per pack, one thread: ranges in start order
  o.threads = 1;
  std::vector<std::string> delivered;
  Status s = load_blobs(*repo_, wanted, [&](const BlobId& id, Result<Bytes>&& data) -> Status {
    if (!data.ok()) return std::move(data).error();
    if (delivered.empty() || delivered.back() != pack_of(id)) delivered.push_back(pack_of(id));
    return ok_status();
  }, o);
  ASSERT_TRUE(s.ok()) << s.error().to_string();
  EXPECT_EQ(delivered, packs_in_order);
}

TEST_F(BatchLoadTest, OnlyTheWantedBlobsAreDelivered) {
  add_blobs(100, 10000);
  std::vector<BlobId> some;
  for (size_t i = 0; i < ids_.size(); i += 7) some.push_back(ids_[i]);
  std::map<BlobId, int> seen;
  ASSERT_TRUE(load(some, &seen).ok());
  EXPECT_EQ(seen.size(), some.size());
  for (const auto& id : some) EXPECT_EQ(seen.count(id), 1u);
}

TEST_F(BatchLoadTest, FlippedByteFailsNamingThePack) {
  add_blobs(30, kSolo);
  std::string pack = pack_of(ids_[10]);
  uint32_t offset = repo_->index().find(ids_[10])->entry.offset;
  ASSERT_TRUE(store_->flip_byte(pack, offset + 100).ok());
  std::map<BlobId, int> seen;
  Status s = load(ids_, &seen);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), ErrorCode::kCorrupt);
  EXPECT_NE(s.error().to_string().find(pack), std::string::npos) << s.error().to_string();
  EXPECT_NE(s.error().to_string().find("check --read-data"), std::string::npos) << s.error().to_string();
  EXPECT_NE(s.error().to_string().find(ids_[10].short_hex()), std::string::npos) << s.error().to_string();
  EXPECT_EQ(seen.count(ids_[10]), 0u);
  // The blobs around it, asked for alone, still load: the damage is in one blob.
  seen.clear();
  ASSERT_TRUE(load({ids_[9], ids_[11]}, &seen).ok());
}

TEST_F(BatchLoadTest, GroupedBlobsLoadWithOneReadPerGroupAndDamageStaysInTheGroup) {
  add_blobs(150, 20000);  // groups of about 1 MiB: 53 blobs each, one group per pack
  std::map<uint32_t, std::vector<BlobId>> by_piece;  // the blobs of the first pack, by group
  const std::string first_pack = pack_of(ids_[0]);
  for (const auto& id : ids_) {
    auto loc = repo_->index().find(id);
    ASSERT_TRUE(loc.ok());
    ASSERT_TRUE(loc->entry.grouped()) << id.short_hex();
    if (pack_of(id) == first_pack) by_piece[loc->entry.offset].push_back(id);
  }
  ASSERT_EQ(by_piece.size(), 1u);
  ASSERT_GE(by_piece.begin()->second.size(), 40u);
  const size_t packs = repo_->index().pack_count();
  ASSERT_GE(packs, 3u);
  std::map<BlobId, int> seen;
  size_t reads_before = store_->call_count(StoreVerb::kGetRange);
  Status s = load(ids_, &seen, limits(1 << 20, 100000));  // ranges shorter than a group
  ASSERT_TRUE(s.ok()) << s.error().to_string();
  EXPECT_EQ(seen.size(), ids_.size());
  EXPECT_EQ(store_->call_count(StoreVerb::kGetRange) - reads_before, packs);
  // One flipped byte fails every blob of its group, naming the pack, and no other.
  const auto& group = by_piece.begin()->second;
  ASSERT_TRUE(store_->flip_byte(first_pack, by_piece.begin()->first + 500).ok());
  for (const BlobId& id : {group.front(), group.back()}) {
    seen.clear();
    s = load({id}, &seen);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().code(), ErrorCode::kCorrupt);
    EXPECT_NE(s.error().to_string().find(first_pack), std::string::npos) << s.error().to_string();
    EXPECT_NE(s.error().to_string().find(id.short_hex()), std::string::npos) << s.error().to_string();
    EXPECT_EQ(repo_->load_blob(id).error().code(), ErrorCode::kCorrupt);
  }
  std::vector<BlobId> others;
  for (const auto& id : ids_)
    if (pack_of(id) != first_pack) others.push_back(id);
  seen.clear();
  s = load(others, &seen);
  ASSERT_TRUE(s.ok()) << s.error().to_string();
  EXPECT_EQ(seen.size(), others.size());
}

TEST_F(BatchLoadTest, TruncatedPackFailsNamingThePack) {
  add_blobs(30, 10000);
  std::string pack = pack_of(ids_.back());
  uint32_t offset = repo_->index().find(ids_.back())->entry.offset;
  ASSERT_TRUE(store_->truncate_object(pack, offset + 10).ok());
  std::map<BlobId, int> seen;
  Status s = load(ids_, &seen);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().to_string().find(pack), std::string::npos) << s.error().to_string();
  EXPECT_NE(s.error().to_string().find("truncated"), std::string::npos) << s.error().to_string();
}

TEST_F(BatchLoadTest, UnknownBlobFailsBeforeAnyRead) {
  add_blobs(5, 1000);
  std::vector<BlobId> wanted = ids_;
  wanted.push_back(repo_->blob_id(as_bytes("never stored")));
  std::map<BlobId, int> seen;
  size_t reads_before = store_->call_count(StoreVerb::kGetRange);
  bool done = false;
  BlobBatchLoader loader(*repo_);
  Status s = loader.submit(wanted, [](const BlobId&, Result<Bytes>&&) { return ok_status(); }, [&] { done = true; });
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), ErrorCode::kNotFound);
  EXPECT_TRUE(done) << "done runs even when submit fails";
  EXPECT_EQ(store_->call_count(StoreVerb::kGetRange), reads_before);
}

TEST_F(BatchLoadTest, SinkErrorStopsTheLoaderAndEveryBatchStillFinishes) {
  add_blobs(200, 20000);
  RangeReadOptions o = limits(0, 50000);  // many small ranges
  o.threads = 2;
  o.queued = 2;
  BlobBatchLoader loader(*repo_, o);
  std::atomic<int> delivered{0}, done{0};
  auto sink = [&](const BlobId&, Result<Bytes>&& data) -> Status {
    if (!data.ok()) return std::move(data).error();
    if (++delivered == 20) return Error(ErrorCode::kIo, "disk full (test)");
    return ok_status();
  };
  int submitted = 0;
  for (size_t i = 0; i < ids_.size(); i += 50) {
    std::vector<BlobId> batch(ids_.begin() + long(i), ids_.begin() + long(std::min(ids_.size(), i + 50)));
    submitted++;
    if (!loader.submit(batch, sink, [&] { done++; }).ok()) break;
  }
  Status s = loader.wait();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message().find("disk full (test)"), std::string::npos);
  EXPECT_TRUE(loader.failed());
  EXPECT_LT(delivered.load(), int(ids_.size()));
  EXPECT_EQ(done.load(), submitted);
}

}  // namespace
}  // namespace stowage
