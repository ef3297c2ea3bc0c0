// The block mover's source/sink seam: a backup from memory that reads only
// what it must, a restore into memory that writes each stored block once and
// the holes as zero ranges, and a round trip through both.
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "../repo/repo_test_support.h"
#include "mover/block.h"
#include "mover/block_prefetch.h"
#include "store/memory_store.h"

namespace stowage {
namespace {

// A volume in memory that counts what was read.
class MemorySource : public BlockSource {
 public:
  explicit MemorySource(Bytes data) : data_(std::move(data)) {}
  std::string name() const override { return "memory"; }
  uint64_t size() const override { return data_.size(); }
  Status read(uint64_t offset, std::span<uint8_t> out) override {
    if (offset + out.size() > data_.size()) return Error(ErrorCode::kInvalidArgument, "read past the end");
    std::memcpy(out.data(), data_.data() + offset, out.size());
    std::lock_guard lock(mu_);
    reads_.push_back(offset);
    bytes_read_ += out.size();
    return ok_status();
  }
  Bytes data_;
  std::mutex mu_;
  std::vector<uint64_t> reads_;
  uint64_t bytes_read_ = 0;
};

// A restore target in memory that records each call.
class MemorySink : public BlockSink {
 public:
  std::string name() const override { return "memory"; }
  Status prepare(uint64_t size) override {
    data_.assign(size, 0xEE);  // garbage: holes must be written as zeros
    prepared_ = true;
    return ok_status();
  }
  Status write(uint64_t offset, std::span<const uint8_t> data) override {
    std::lock_guard lock(mu_);
    if (!prepared_ || finished_) return Error(ErrorCode::kInternal, "write outside prepare/finish");
    std::memcpy(data_.data() + offset, data.data(), data.size());
    writes_[offset]++;
    if (fail_at_ && *fail_at_ == offset) return Error(ErrorCode::kUnavailable, "replica gone");
    return ok_status();
  }
  Status write_zeroes(uint64_t offset, uint64_t length) override {
    std::lock_guard lock(mu_);
    std::memset(data_.data() + offset, 0, length);
    zeroed_ += length;
    return ok_status();
  }
  Status finish() override {
    finished_ = true;
    return ok_status();
  }
  Bytes data_;
  std::mutex mu_;
  std::map<uint64_t, int> writes_;
  uint64_t zeroed_ = 0;
  bool prepared_ = false, finished_ = false;
  std::optional<uint64_t> fail_at_;
};

class BlockSeamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    repo_ = testing::make_repo(std::make_shared<MemoryStore>());
    ASSERT_NE(repo_, nullptr);
    bs_ = repo_->config().block_size;
  }
  Bytes random_bytes(size_t n, uint64_t seed) {
    std::mt19937_64 rng(seed);
    Bytes b(n);
    for (auto& c : b) c = uint8_t(rng());
    return b;
  }
  std::unique_ptr<Repository> repo_;
  uint64_t bs_ = 0;
};

TEST_F(BlockSeamTest, AllocationListReadsOnlyAllocatedBlocksAndRoundTrips) {
  const uint64_t size = 40 * bs_;
  Bytes data(size, 0);
  Bytes a = random_bytes(2 * bs_, 1), b = random_bytes(100, 2);
  std::memcpy(data.data() + 3 * bs_, a.data(), a.size());         // blocks 3-4
  std::memcpy(data.data() + 20 * bs_ + 7, b.data(), b.size());    // block 20
  MemorySource source(data);
  BlockBackupOptions o;
  o.source = "memory:volume";
  o.changed = std::vector<Extent>{{3 * bs_, 2 * bs_}, {20 * bs_, 4096}};
  o.changed_lists_allocation = true;
  auto snap = backup_block(*repo_, source, o);
  ASSERT_TRUE(snap.ok()) << snap.error().to_string();
  EXPECT_EQ(source.bytes_read_, 3 * bs_);
  EXPECT_EQ(snap->summary.bytes_read, 3 * bs_);
  EXPECT_EQ(snap->source, "memory:volume");
  EXPECT_EQ(snap->size, size);

  MemorySink sink;
  ASSERT_TRUE(restore_block(*repo_, *snap, sink, {}).ok());
  EXPECT_TRUE(sink.finished_);
  EXPECT_EQ(sink.data_, data);
  EXPECT_EQ(sink.writes_.size(), 3u);  // each stored block once
  for (const auto& [offset, count] : sink.writes_) EXPECT_EQ(count, 1) << offset;
  EXPECT_EQ(sink.zeroed_, size - 3 * bs_);
}

TEST_F(BlockSeamTest, IncrementalFromASourceTakesTheRestFromTheParent) {
  const uint64_t size = 16 * bs_ + 4096;  // a partial last block
  Bytes data = random_bytes(size, 3);
  MemorySource first(data);
  auto full = backup_block(*repo_, first, {});
  ASSERT_TRUE(full.ok()) << full.error().to_string();
  EXPECT_EQ(first.bytes_read_, size);
  EXPECT_EQ(full->source, "memory");  // the source's name by default

  Bytes patch = random_bytes(10, 4);
  std::memcpy(data.data() + 16 * bs_ + 5, patch.data(), patch.size());
  MemorySource second(data);
  BlockBackupOptions o;
  o.parent = full->id;
  o.changed = std::vector<Extent>{{16 * bs_ + 5, 10}};
  auto incr = backup_block(*repo_, second, o);
  ASSERT_TRUE(incr.ok()) << incr.error().to_string();
  EXPECT_EQ(second.bytes_read_, 4096u);  // only the partial last block
  MemorySink sink;
  ASSERT_TRUE(restore_block(*repo_, *incr, sink, {}).ok());
  EXPECT_EQ(sink.data_, data);
}

TEST_F(BlockSeamTest, AChangedListWithoutParentOrAllocationFlagIsRefused) {
  MemorySource source(Bytes(4 * bs_, 1));
  BlockBackupOptions o;
  o.changed = std::vector<Extent>{};
  auto r = backup_block(*repo_, source, o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(source.bytes_read_, 0u);
}

// Blocks read and compressed ahead (BlockPrefetch, while the repository
// opens) are stored exactly as if the backup had read them, and are not
// read again; anything not prefetched is read as usual.
TEST_F(BlockSeamTest, PrefetchedBlocksAreStoredAsIfReadAndNotReadAgain) {
  const uint64_t size = 16 * bs_ + 4096;
  Bytes data = random_bytes(size, 5);
  MemorySource first(data);
  auto full = backup_block(*repo_, first, {});
  ASSERT_TRUE(full.ok()) << full.error().to_string();

  Bytes patch = random_bytes(bs_ + 10, 6);
  std::memcpy(data.data() + 2 * bs_ + 7, patch.data(), patch.size());  // blocks 2-3
  std::memset(data.data() + 9 * bs_, 0, bs_);                           // block 9 becomes a hole
  data[16 * bs_ + 1] ^= 0xFF;                                          // the partial last block
  // Overlapping and unsorted, as a list may be.
  std::vector<Extent> changed{{16 * bs_, 2}, {2 * bs_ + 7, bs_ + 10}, {9 * bs_, bs_}, {3 * bs_, 5}};

  MemorySource ahead(data);
  BlockPrefetch prefetch(ahead, changed, bs_, repo_->config().compression_level);
  prefetch.stop();  // at once: it may not have read everything yet
  uint64_t prefetched = ahead.bytes_read_;
  MemorySource second(data);
  BlockBackupOptions o;
  o.parent = full->id;
  o.changed = changed;
  o.prefetch = &prefetch;
  auto incr = backup_block(*repo_, second, o);
  ASSERT_TRUE(incr.ok()) << incr.error().to_string();
  EXPECT_EQ(prefetched + second.bytes_read_, 3 * bs_ + 4096) << "a block was read twice or not at all";
  EXPECT_EQ(prefetch.blocks(), 0u) << "a prefetched block was left unused";

  // The same backup without the prefetch stores the same block map.
  MemorySource third(data);
  o.prefetch = nullptr;
  auto plain = backup_block(*repo_, third, o);
  ASSERT_TRUE(plain.ok()) << plain.error().to_string();
  EXPECT_EQ(plain->root, incr->root);
  MemorySink sink;
  ASSERT_TRUE(restore_block(*repo_, *incr, sink, {}).ok());
  EXPECT_EQ(sink.data_, data);
}

TEST_F(BlockSeamTest, PrefetchKeepsItsBoundAndIsIgnoredForOtherParameters) {
  const uint64_t size = 12 * bs_;
  Bytes data = random_bytes(size, 7);
  MemorySource first(data);
  auto full = backup_block(*repo_, first, {});
  ASSERT_TRUE(full.ok()) << full.error().to_string();
  for (uint64_t b = 1; b < 6; b++) data[b * bs_] ^= 0x5A;
  std::vector<Extent> changed{{bs_, 5 * bs_}};
  const int level = repo_->config().compression_level;

  MemorySource bounded_source(data);
  BlockPrefetch bounded(bounded_source, changed, bs_, level, 2 * bs_);
  bounded.stop();
  MemorySource ahead(data);
  BlockPrefetch whole(ahead, changed, bs_, level);
  // Let it finish: stop() is called only once all five blocks are held.
  for (int i = 0; i < 5000 && whole.blocks() < 5; i++) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  whole.stop();
  EXPECT_LE(bounded.blocks(), 2u);
  EXPECT_EQ(whole.blocks(), 5u);

  // Another block size or compression level: not used, everything is read.
  BlockPrefetch other_size(ahead, changed, 2 * bs_, level);
  other_size.stop();
  BlockPrefetch other_level(ahead, changed, bs_, level + 1);
  other_level.stop();
  EXPECT_FALSE(other_size.matches(bs_, level));
  EXPECT_FALSE(other_level.matches(bs_, level));
  for (BlockPrefetch* ignored : {&other_size, &other_level}) {
    MemorySource source(data);
    BlockBackupOptions o;
    o.parent = full->id;
    o.changed = changed;
    o.prefetch = ignored;
    auto incr = backup_block(*repo_, source, o);
    ASSERT_TRUE(incr.ok()) << incr.error().to_string();
    EXPECT_EQ(source.bytes_read_, 5 * bs_);
  }
  MemorySource source(data);
  BlockBackupOptions o;
  o.parent = full->id;
  o.changed = changed;
  o.prefetch = &whole;
  auto incr = backup_block(*repo_, source, o);
  ASSERT_TRUE(incr.ok()) << incr.error().to_string();
  EXPECT_EQ(source.bytes_read_, 0u);
  MemorySink sink;
  ASSERT_TRUE(restore_block(*repo_, *incr, sink, {}).ok());
  EXPECT_EQ(sink.data_, data);
}

TEST_F(BlockSeamTest, ASinkFailureFailsTheRestoreWithoutFinishing) {
  Bytes data = random_bytes(8 * bs_, 5);
  MemorySource source(data);
  auto snap = backup_block(*repo_, source, {});
  ASSERT_TRUE(snap.ok());
  MemorySink sink;
  sink.fail_at_ = 5 * bs_;
  auto r = restore_block(*repo_, *snap, sink, {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kUnavailable);
  EXPECT_FALSE(sink.finished_);
}

}  // namespace
}  // namespace stowage
