// The replicated-volume adapter: its pure helpers, and restores into three
// in-process replicas (real replica servers on loopback sockets).
#include "engine/replicated_volume.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <random>
#include <thread>

#include "../repo/repo_test_support.h"
#include "blockvol/layer_store.h"
#include "blockvol/replica_server.h"
#include "store/memory_store.h"

namespace stowage::engine {
namespace {

namespace fs = std::filesystem;

TEST(ReplicatedVolumeHelpers, NamesTagsAndSources) {
  std::string a = new_volume_snapshot_name(), b = new_volume_snapshot_name();
  EXPECT_NE(a, b);
  EXPECT_EQ(a.rfind("stowage-", 0), 0u);
  EXPECT_TRUE(blockvol::valid_snapshot_name(a)) << a;
  EXPECT_EQ(tag_value({"x=1", "blockvol.snapshot=stowage-1-ab", "blockvol.size=4096"}, kVolumeSnapshotTag),
            "stowage-1-ab");
  EXPECT_EQ(tag_value({"blockvol.snapshot="}, kVolumeSnapshotTag), "");
  EXPECT_EQ(tag_value({}, kVolumeSizeTag), "");
  EXPECT_EQ(replicated_source(blockvol::HostPort{"127.0.0.1", 7200}), "replicated:127.0.0.1:7200");
}

TEST(ReplicatedVolumeHelpers, HealthyReplicasHoldingTheSnapshot) {
  auto status = nlohmann::json::parse(R"({"replicas": [
      {"address": "h:1", "state": "healthy"}, {"address": "h:2", "state": "offline"},
      {"address": "h:3", "state": "healthy"}, {"address": "h:4", "state": "rebuilding"}]})");
  EXPECT_EQ(healthy_replicas_holding(status, {"h:1", "h:2", "h:3"}), (std::vector<std::string>{"h:1", "h:3"}));
  EXPECT_EQ(healthy_replicas_holding(status, {"h:3", "h:4"}), (std::vector<std::string>{"h:3"}));
  EXPECT_EQ(healthy_replicas_holding(status, {}), (std::vector<std::string>{"h:1", "h:3"}));
  EXPECT_TRUE(healthy_replicas_holding(nlohmann::json::object(), {}).empty());
}

class MemorySource : public BlockSource {
 public:
  explicit MemorySource(Bytes data) : data_(std::move(data)) {}
  std::string name() const override { return "memory"; }
  uint64_t size() const override { return data_.size(); }
  Status read(uint64_t offset, std::span<uint8_t> out) override {
    std::memcpy(out.data(), data_.data() + offset, out.size());
    return ok_status();
  }
  Bytes data_;
};

// A replica served on a loopback port by a thread of this process.
struct LiveReplica {
  std::unique_ptr<blockvol::LayerStore> store;
  std::unique_ptr<blockvol::ReplicaServer> server;
  std::thread thread;
  blockvol::HostPort address;
  void stop() {
    if (!server) return;
    server->stop();
    thread.join();
    server.reset();
  }
  ~LiveReplica() { stop(); }
};

class ReplicatedRestoreTest : public ::testing::Test {
 protected:
  static constexpr uint64_t kSize = 1 << 20;
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("stowage-repl-restore-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    repo_ = testing::make_repo(std::make_shared<MemoryStore>());
    ASSERT_NE(repo_, nullptr);
    for (int i = 0; i < 3; i++) {
      auto r = std::make_unique<LiveReplica>();
      auto store = blockvol::LayerStore::create((dir_ / std::to_string(i)).string(), kSize, /*fenced=*/false);
      ASSERT_TRUE(store.ok()) << store.error().to_string();
      r->store = std::move(*store);
      // Old contents that the restore must drop.
      Bytes old(8192, uint8_t(0x55 + i));
      ASSERT_TRUE(r->store->write(kSize - 8192, old, false).ok());
      auto listener = blockvol::listen_tcp(blockvol::HostPort{"127.0.0.1", 0});
      ASSERT_TRUE(listener.ok());
      r->address = blockvol::HostPort{"127.0.0.1", blockvol::bound_port(*listener)};
      LoggerOptions quiet;
      quiet.level = LogLevel::kError;
      r->server = std::make_unique<blockvol::ReplicaServer>(*r->store, Logger(quiet));
      blockvol::ReplicaServer* server = r->server.get();
      r->thread = std::thread([server, l = std::move(*listener)]() mutable { server->serve(std::move(l)); });
      replicas_.push_back(std::move(r));
    }
    data_.assign(kSize, 0);
    std::mt19937_64 rng(9);
    for (uint64_t i = 4096; i < 200000; i++) data_[i] = uint8_t(rng());
    for (uint64_t i = 600000; i < 600100; i++) data_[i] = uint8_t(rng());
    MemorySource source(data_);
    BlockBackupOptions o;
    o.tags = {std::string(kVolumeSnapshotTag) + "stowage-7-0000abcd"};
    auto snap = backup_block(*repo_, source, o);
    ASSERT_TRUE(snap.ok()) << snap.error().to_string();
    snap_ = *snap;
  }
  void TearDown() override {
    // The servers' connection threads end once they see our clients' EOF.
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    replicas_.clear();
    fs::remove_all(dir_);
  }
  std::vector<blockvol::HostPort> addresses() const {
    std::vector<blockvol::HostPort> out;
    for (const auto& r : replicas_) out.push_back(r->address);
    return out;
  }

  fs::path dir_;
  std::unique_ptr<Repository> repo_;
  std::vector<std::unique_ptr<LiveReplica>> replicas_;
  Bytes data_;
  Snapshot snap_;
};

TEST_F(ReplicatedRestoreTest, FillsVerifiesAndUnfencesEveryReplica) {
  auto r = restore_replicated_volume(*repo_, snap_, addresses(), {});
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(r->size, kSize);
  EXPECT_EQ(r->volume_snapshot, "stowage-7-0000abcd");
  EXPECT_GT(r->bytes_written, 0u);
  EXPECT_LT(r->bytes_written, kSize);  // holes are not sent
  for (const auto& replica : replicas_) {
    EXPECT_FALSE(replica->store->fenced());
    Bytes got(kSize);
    ASSERT_TRUE(replica->store->read(0, got).ok());
    EXPECT_EQ(got, data_) << replica->address.to_string();
    auto snaps = replica->store->snapshots();
    ASSERT_EQ(snaps.size(), 1u);
    EXPECT_EQ(snaps[0].name, "stowage-7-0000abcd");
  }
}

TEST_F(ReplicatedRestoreTest, ADeadReplicaFailsTheRestoreAndLeavesTheOthersFenced) {
  replicas_[1]->stop();
  auto r = restore_replicated_volume(*repo_, snap_, addresses(), {});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().to_string().find(replicas_[1]->address.to_string()), std::string::npos)
      << r.error().to_string();
  // Nothing was touched: every replica is checked before any is fenced.
  EXPECT_FALSE(replicas_[0]->store->fenced());
  EXPECT_FALSE(replicas_[2]->store->fenced());
}

TEST_F(ReplicatedRestoreTest, AReplicaTooSmallIsRefusedBeforeAnythingIsWritten) {
  Snapshot bigger = snap_;
  bigger.size = kSize * 2;
  auto r = restore_replicated_volume(*repo_, bigger, addresses(), {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(r.error().hint().find("--size"), std::string::npos);
}

}  // namespace
}  // namespace stowage::engine
