// The replicated-volume adapter: its pure helpers, restores into three
// in-process replicas (real replica servers on loopback sockets), and local
// snapshots: kept through a real target's control port (in process), cloned
// into fresh replicas, deleted.
#include "engine/replicated_snapshot.h"
#include "engine/replicated_volume.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <random>
#include <thread>

#include "../repo/repo_test_support.h"
#include "blockvol/control.h"
#include "blockvol/layer_store.h"
#include "blockvol/replica_server.h"
#include "blockvol/replicated_volume.h"
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

Logger quiet_logger() {
  LoggerOptions quiet;
  quiet.level = LogLevel::kError;
  return Logger(quiet);
}

// A replica served on a loopback port by a thread of this process.
struct LiveReplica {
  std::unique_ptr<blockvol::LayerStore> store;
  std::unique_ptr<blockvol::ReplicaServer> server;
  std::thread thread;
  blockvol::HostPort address{"127.0.0.1", 0};
  // Serves the store on `address` (port 0 the first time: a free one, kept
  // for later starts).
  void start() {
    auto listener = blockvol::listen_tcp(address);
    ASSERT_TRUE(listener.ok()) << listener.error().to_string();
    address.port = blockvol::bound_port(*listener);
    server = std::make_unique<blockvol::ReplicaServer>(*store, quiet_logger());
    blockvol::ReplicaServer* s = server.get();
    thread = std::thread([s, l = std::move(*listener)]() mutable { s->serve(std::move(l)); });
  }
  // Stops accepting connections (those already open stay served).
  void stop() {
    if (!server) return;
    server->stop();
    thread.join();
    server.reset();
  }
  ~LiveReplica() { stop(); }
};

std::unique_ptr<LiveReplica> start_replica(const fs::path& dir, uint64_t size, bool fenced) {
  auto r = std::make_unique<LiveReplica>();
  auto store = blockvol::LayerStore::create(dir.string(), size, fenced);
  EXPECT_TRUE(store.ok()) << store.error().to_string();
  if (!store.ok()) return nullptr;
  r->store = std::move(*store);
  r->start();
  return r;
}

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
      auto r = start_replica(dir_ / std::to_string(i), kSize, /*fenced=*/false);
      ASSERT_NE(r, nullptr);
      // Old contents that the restore must drop.
      Bytes old(8192, uint8_t(0x55 + i));
      ASSERT_TRUE(r->store->write(kSize - 8192, old, false).ok());
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

TEST(ReplicatedVolumeHelpers, SnapshotReferencesRoundTripAndRejectMalformedOnes) {
  ReplicatedSnapshotRef ref{{{"127.0.0.1", 7001}, {"10.0.0.2", 7002}, {"node-3.example", 7003}}, "stowage-backup-1"};
  std::string text = format_replicated_snapshot(ref);
  EXPECT_EQ(text, "replicated:127.0.0.1:7001,10.0.0.2:7002,node-3.example:7003@stowage-backup-1");
  EXPECT_TRUE(is_replicated_snapshot(text));
  auto parsed = parse_replicated_snapshot(text);
  ASSERT_TRUE(parsed.ok()) << parsed.error().to_string();
  EXPECT_EQ(parsed->name, "stowage-backup-1");
  ASSERT_EQ(parsed->replicas.size(), 3u);
  for (size_t i = 0; i < 3; i++) EXPECT_EQ(parsed->replicas[i].to_string(), ref.replicas[i].to_string());
  EXPECT_EQ(format_replicated_snapshot(*parsed), text);
  auto one = parse_replicated_snapshot("replicated:h:1@s");
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->replicas.size(), 1u);

  EXPECT_FALSE(is_replicated_snapshot("pool/ds@snap"));
  for (const char* bad : {"pool/ds@snap", "replicated:h:1", "replicated:@snap", "replicated:h:1@", "replicated:h@snap",
                          "replicated:h:1,,h:2@snap", "replicated:h:1,@snap", "replicated:h:x@snap",
                          "replicated:h:1@.hidden", "replicated:h:1@a/b", "replicated:h:99999@snap", "replicated:"}) {
    auto r = parse_replicated_snapshot(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument) << bad;
    EXPECT_NE(r.error().hint().find("HOST:PORT"), std::string::npos) << bad;
  }
}

// A TCP relay on loopback in front of one replica that cuts every
// connection, and refuses new ones, once more than `limit` bytes went
// through it (either way): to its clients the replica dies mid-way.
class CuttingProxy {
 public:
  CuttingProxy(blockvol::HostPort backend, uint64_t limit) : backend_(std::move(backend)), limit_(limit) {
    auto listener = blockvol::listen_tcp(blockvol::HostPort{"127.0.0.1", 0});
    EXPECT_TRUE(listener.ok());
    address = blockvol::HostPort{"127.0.0.1", blockvol::bound_port(*listener)};
    accepting_ = std::thread([this, l = std::move(*listener)]() mutable { accept_loop(std::move(l)); });
  }
  ~CuttingProxy() {
    stopping_ = true;
    accepting_.join();
    for (auto& t : relays_) t.join();
  }
  bool cut() const { return cut_; }
  blockvol::HostPort address;

 private:
  void accept_loop(blockvol::Socket listener) {
    while (!stopping_ && !cut_) {
      auto client = blockvol::accept_tcp(listener, std::chrono::milliseconds(50));
      if (!client.ok()) continue;
      auto server = blockvol::connect_tcp(backend_, std::chrono::milliseconds(2000));
      if (!server.ok()) continue;
      relays_.emplace_back([this, c = std::move(*client), s = std::move(*server)]() mutable { relay(c, s); });
    }
  }  // the listener closes: connections are refused from now on
  void relay(blockvol::Socket& client, blockvol::Socket& server) {
    Bytes buf(64 * 1024);
    pollfd fds[2] = {{client.fd(), POLLIN, 0}, {server.fd(), POLLIN, 0}};
    while (!stopping_ && !cut_) {
      if (::poll(fds, 2, 50) <= 0) continue;
      for (int i = 0; i < 2; i++) {
        if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        ssize_t got = ::read(fds[i].fd, buf.data(), buf.size());
        if (got <= 0) return;
        if ((forwarded_ += uint64_t(got)) > limit_) {
          cut_ = true;
          return;
        }
        std::span<const uint8_t> data(buf.data(), size_t(got));
        if (!blockvol::write_full(fds[1 - i].fd, data).ok()) return;
      }
    }
  }  // both sockets close when the thread's lambda is destroyed

  blockvol::HostPort backend_;
  uint64_t limit_;
  std::atomic<uint64_t> forwarded_{0};
  std::atomic<bool> cut_{false};
  std::atomic<bool> stopping_{false};
  std::thread accepting_;
  std::vector<std::thread> relays_;
};

// Three source replicas holding one volume snapshot "kept-1" (taken on the
// stores directly, as the target would: one sequence on all), written again
// after it, and three destination replicas with old contents.
class ReplicatedCloneTest : public ::testing::Test {
 protected:
  static constexpr uint64_t kSize = 8 << 20;
  static constexpr uint64_t kSeq = 3;
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("stowage-repl-clone-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    snapshot_data_.assign(kSize, 0);
    std::mt19937_64 rng(11);
    for (uint64_t i = 4096; i < (3 << 20); i++) snapshot_data_[i] = uint8_t(rng());
    for (uint64_t i = 5 << 20; i < (5 << 20) + 100; i++) snapshot_data_[i] = uint8_t(rng());
    for (int i = 0; i < 3; i++) {
      auto r = start_replica(dir_ / ("source" + std::to_string(i)), kSize, /*fenced=*/false);
      ASSERT_NE(r, nullptr);
      ASSERT_TRUE(r->store->write(4096, std::span(snapshot_data_).subspan(4096, (3 << 20) - 4096), false).ok());
      ASSERT_TRUE(r->store->write(5 << 20, std::span(snapshot_data_).subspan(5 << 20, 100), false).ok());
      // Allocated but zero: read and hashed, not sent.
      ASSERT_TRUE(r->store->write_zeroes(6 << 20, 64 << 10, false).ok());
      ASSERT_TRUE(r->store->create_snapshot(kSeq, "kept-1").ok());
      // Head writes after the snapshot: not part of a clone.
      ASSERT_TRUE(r->store->write(0, Bytes(1 << 20, 0xEE), false).ok());
      ASSERT_TRUE(r->store->write(7 << 20, Bytes(4096, 0xEF), false).ok());
      sources_.push_back(std::move(r));
    }
    for (int i = 0; i < 3; i++) {
      auto r = start_replica(dir_ / ("dest" + std::to_string(i)), kSize, /*fenced=*/false);
      ASSERT_NE(r, nullptr);
      // Old contents that the clone must drop.
      ASSERT_TRUE(r->store->write(kSize - 8192, Bytes(8192, uint8_t(0x55 + i)), false).ok());
      destinations_.push_back(std::move(r));
    }
    ReplicatedSnapshotRef ref;
    for (const auto& r : sources_) ref.replicas.push_back(r->address);
    ref.name = "kept-1";
    reference_ = format_replicated_snapshot(ref);
  }
  void TearDown() override {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    sources_.clear();
    destinations_.clear();
    fs::remove_all(dir_);
  }
  static std::vector<blockvol::HostPort> addresses(const std::vector<std::unique_ptr<LiveReplica>>& replicas) {
    std::vector<blockvol::HostPort> out;
    for (const auto& r : replicas) out.push_back(r->address);
    return out;
  }
  static Bytes head(const LiveReplica& r) {
    Bytes got(r.store->size());
    EXPECT_TRUE(r.store->read(0, got).ok());
    return got;
  }

  fs::path dir_;
  Bytes snapshot_data_;
  std::vector<std::unique_ptr<LiveReplica>> sources_;
  std::vector<std::unique_ptr<LiveReplica>> destinations_;
  std::string reference_;
};

TEST_F(ReplicatedCloneTest, CopiesTheSnapshotBitForBitIntoEveryDestinationAndUnfencesThem) {
  auto r = clone_replicated_snapshot(reference_, addresses(destinations_), {});
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(r->size, kSize);
  EXPECT_EQ(r->volume_snapshot, "kept-1");
  EXPECT_EQ(r->replica, sources_[0]->address.to_string());
  EXPECT_TRUE(r->replica_failures.empty());
  const uint64_t allocated = ((3 << 20) - 4096) + 4096 + (64 << 10);  // the 100 bytes occupy one block
  EXPECT_EQ(r->bytes_copied, allocated);
  EXPECT_EQ(r->bytes_written, allocated - (64 << 10));  // the zero piece is not sent
  EXPECT_EQ(r->bytes_verified, allocated);
  for (const auto& d : destinations_) {
    EXPECT_FALSE(d->store->fenced()) << d->address.to_string();
    EXPECT_EQ(head(*d), snapshot_data_) << d->address.to_string();
    auto snaps = d->store->snapshots();
    ASSERT_EQ(snaps.size(), 1u);
    EXPECT_EQ(snaps[0].name, "kept-1");
    Bytes at_snapshot(kSize);
    ASSERT_TRUE(d->store->read_snapshot(snaps[0].seq, 0, at_snapshot).ok());
    EXPECT_EQ(at_snapshot, snapshot_data_);
  }
  // The source is untouched: its snapshot and its newer head.
  for (const auto& s : sources_) {
    EXPECT_FALSE(s->store->fenced());
    ASSERT_EQ(s->store->snapshots().size(), 1u);
    Bytes live = head(*s);
    EXPECT_EQ(live[0], 0xEE);
  }
}

TEST_F(ReplicatedCloneTest, HeadWritesMadeAfterTheSnapshotAreNotInTheClone) {
  auto r = clone_replicated_snapshot(reference_, addresses(destinations_), {});
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  for (const auto& d : destinations_) {
    Bytes got = head(*d);
    EXPECT_TRUE(std::equal(got.begin(), got.begin() + (1 << 20), snapshot_data_.begin()));
    EXPECT_NE(got[0], 0xEE);
    EXPECT_TRUE(all_zero(std::span(got).subspan(7 << 20, 4096)));
    auto allocated = d->store->changed_extents(0, 0);
    ASSERT_TRUE(allocated.ok());
    for (const auto& e : *allocated) EXPECT_LT(e.offset, uint64_t(7 << 20)) << e.offset;
  }
}

TEST_F(ReplicatedCloneTest, ALostSourceReplicaIsSkippedForTheNextOneHoldingTheSnapshot) {
  sources_[0]->stop();
  auto r = clone_replicated_snapshot(reference_, addresses(destinations_), {});
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(r->replica, sources_[1]->address.to_string());
  ASSERT_FALSE(r->replica_failures.empty());
  EXPECT_NE(r->replica_failures[0].find(sources_[0]->address.to_string()), std::string::npos);
  for (const auto& d : destinations_) EXPECT_EQ(head(*d), snapshot_data_);
}

TEST_F(ReplicatedCloneTest, ASourceReplicaLostMidCloneIsReplacedByTheNextOne) {
  CuttingProxy dying(sources_[0]->address, 1 << 20);
  ReplicatedSnapshotRef ref{{dying.address, sources_[1]->address, sources_[2]->address}, "kept-1"};
  auto r = clone_replicated_snapshot(format_replicated_snapshot(ref), addresses(destinations_), {});
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_TRUE(dying.cut());
  EXPECT_EQ(r->replica, sources_[1]->address.to_string());
  ASSERT_EQ(r->replica_failures.size(), 1u);
  EXPECT_NE(r->replica_failures[0].find(dying.address.to_string()), std::string::npos) << r->replica_failures[0];
  for (const auto& d : destinations_) {
    EXPECT_FALSE(d->store->fenced());
    EXPECT_EQ(head(*d), snapshot_data_);
  }
}

TEST_F(ReplicatedCloneTest, DestinationsThatAreSourceReplicasAreRefusedWithNothingWritten) {
  std::vector<blockvol::HostPort> overlapping = {destinations_[0]->address, sources_[1]->address,
                                                 destinations_[2]->address};
  Bytes source_head = head(*sources_[1]);
  auto r = clone_replicated_snapshot(reference_, overlapping, {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(r.error().message().find(sources_[1]->address.to_string()), std::string::npos) << r.error().to_string();
  EXPECT_NE(r.error().hint().find("new replicas"), std::string::npos) << r.error().to_string();
  EXPECT_FALSE(sources_[1]->store->fenced());
  EXPECT_EQ(head(*sources_[1]), source_head);
  EXPECT_EQ(sources_[1]->store->snapshots().size(), 1u);
  for (size_t i = 0; i < destinations_.size(); i++) {
    EXPECT_FALSE(destinations_[i]->store->fenced());
    EXPECT_EQ(head(*destinations_[i])[kSize - 1], uint8_t(0x55 + i));  // the old contents are still there
  }
}

TEST_F(ReplicatedCloneTest, ADestinationKilledMidCloneFailsItAndLeavesEveryDestinationFenced) {
  // Destination 1 as the clone sees it: a relay that dies after 1 MiB.
  CuttingProxy dying(destinations_[1]->address, 1 << 20);
  std::vector<blockvol::HostPort> targets = {destinations_[0]->address, dying.address, destinations_[2]->address};
  auto r = clone_replicated_snapshot(reference_, targets, {});
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(dying.cut());
  EXPECT_NE(r.error().to_string().find(dying.address.to_string()), std::string::npos) << r.error().to_string();
  EXPECT_NE(r.error().message().find("stays fenced"), std::string::npos) << r.error().to_string();
  for (const auto& d : destinations_) EXPECT_TRUE(d->store->fenced()) << d->address.to_string();
}

TEST_F(ReplicatedCloneTest, ADestinationSmallerThanTheSourceIsRefusedBeforeAnythingIsTouched) {
  auto small = start_replica(dir_ / "small", kSize / 2, /*fenced=*/false);
  ASSERT_NE(small, nullptr);
  std::vector<blockvol::HostPort> targets = {destinations_[0]->address, small->address};
  auto r = clone_replicated_snapshot(reference_, targets, {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(r.error().to_string().find(small->address.to_string()), std::string::npos) << r.error().to_string();
  EXPECT_NE(r.error().hint().find("--size " + std::to_string(kSize)), std::string::npos) << r.error().to_string();
  EXPECT_FALSE(destinations_[0]->store->fenced());
  EXPECT_FALSE(small->store->fenced());
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
}

TEST_F(ReplicatedCloneTest, ASnapshotNoReplicaHoldsAnyMoreIsNotFound) {
  ReplicatedSnapshotRef gone;
  for (const auto& s : sources_) gone.replicas.push_back(s->address);
  gone.name = "never-taken";
  auto r = clone_replicated_snapshot(format_replicated_snapshot(gone), addresses(destinations_), {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kNotFound);
  for (const auto& d : destinations_) EXPECT_FALSE(d->store->fenced());
}

TEST_F(ReplicatedCloneTest, DeleteRemovesTheSnapshotEverywhereAndCanBeRepeated) {
  std::vector<Bytes> heads;
  for (const auto& s : sources_) heads.push_back(head(*s));
  // An unreachable replica fails the deletion and is named; the others are done.
  sources_[2]->stop();
  auto partial = delete_replicated_snapshot(reference_);
  ASSERT_FALSE(partial.ok());
  EXPECT_NE(partial.error().code(), ErrorCode::kNotFound);
  EXPECT_NE(partial.error().to_string().find(sources_[2]->address.to_string()), std::string::npos)
      << partial.error().to_string();
  EXPECT_TRUE(sources_[0]->store->snapshots().empty());
  EXPECT_TRUE(sources_[1]->store->snapshots().empty());
  EXPECT_EQ(sources_[2]->store->snapshots().size(), 1u);
  // Back again: the retry deletes it there, and skips the others.
  sources_[2]->start();
  auto retried = delete_replicated_snapshot(reference_);
  ASSERT_TRUE(retried.ok()) << retried.error().to_string();
  EXPECT_EQ(*retried, std::vector<std::string>{sources_[2]->address.to_string()});
  for (size_t i = 0; i < sources_.size(); i++) {
    EXPECT_TRUE(sources_[i]->store->snapshots().empty());
    EXPECT_EQ(head(*sources_[i]), heads[i]);  // the live volume is unchanged
  }
  auto again = delete_replicated_snapshot(reference_);
  ASSERT_TRUE(again.ok()) << again.error().to_string();
  EXPECT_TRUE(again->empty());
  // A clone of a deleted snapshot is refused, nothing touched.
  auto clone = clone_replicated_snapshot(reference_, addresses(destinations_), {});
  ASSERT_FALSE(clone.ok());
  EXPECT_EQ(clone.error().code(), ErrorCode::kNotFound);
}

// A real target (ReplicatedVolume) with its control port, in process, over
// three live replicas: keep a snapshot through it, write on, clone, delete.
TEST_F(ReplicatedCloneTest, KeepsASnapshotThroughTheTargetsControlPortAndClonesIt) {
  const fs::path volume_dir = dir_ / "volume";
  fs::create_directories(volume_dir);
  std::vector<std::unique_ptr<LiveReplica>> replicas;
  for (int i = 0; i < 3; i++) {
    auto r = start_replica(volume_dir / std::to_string(i), kSize, /*fenced=*/false);
    ASSERT_NE(r, nullptr);
    replicas.push_back(std::move(r));
  }
  blockvol::VolumeOptions vo;
  vo.replicas = addresses(replicas);
  vo.quorum = 2;
  vo.size = kSize;
  auto volume = std::make_unique<blockvol::ReplicatedVolume>(vo, quiet_logger());
  volume->start();
  ASSERT_TRUE(volume->wait_ready(std::chrono::milliseconds(20000)).ok());
  blockvol::ControlServer control(*volume, quiet_logger());
  auto listener = blockvol::listen_tcp(blockvol::HostPort{"127.0.0.1", 0});
  ASSERT_TRUE(listener.ok());
  blockvol::HostPort control_address{"127.0.0.1", blockvol::bound_port(*listener)};
  std::thread control_thread([&control, l = std::move(*listener)]() mutable { control.serve(std::move(l)); });

  Bytes written(kSize, 0);
  std::mt19937_64 rng(5);
  for (uint64_t i = 0; i < (2 << 20); i++) written[i] = uint8_t(rng());
  ASSERT_TRUE(volume->write(0, std::span(written).subspan(0, 2 << 20), false).ok());
  auto kept = keep_replicated_snapshot(control_address, "stowage-backup-a");
  ASSERT_TRUE(kept.ok()) << kept.error().to_string();
  auto ref = parse_replicated_snapshot(*kept);
  ASSERT_TRUE(ref.ok()) << *kept;
  EXPECT_EQ(ref->name, "stowage-backup-a");
  ASSERT_EQ(ref->replicas.size(), 3u);
  for (size_t i = 0; i < 3; i++) EXPECT_EQ(ref->replicas[i].to_string(), replicas[i]->address.to_string());
  // Writes after the snapshot stay out of the clone.
  ASSERT_TRUE(volume->write(0, Bytes(4096, 0xAB), true).ok());
  auto invalid = keep_replicated_snapshot(control_address, "../bad");
  ASSERT_FALSE(invalid.ok());
  EXPECT_EQ(invalid.error().code(), ErrorCode::kInvalidArgument);

  auto cloned = clone_replicated_snapshot(*kept, addresses(destinations_), {});
  ASSERT_TRUE(cloned.ok()) << cloned.error().to_string();
  for (const auto& d : destinations_) {
    EXPECT_FALSE(d->store->fenced());
    EXPECT_EQ(head(*d), written);
  }
  auto deleted = delete_replicated_snapshot(*kept);
  ASSERT_TRUE(deleted.ok()) << deleted.error().to_string();
  EXPECT_EQ(deleted->size(), 3u);
  auto listed = blockvol::control_call(control_address, {{"op", "snapshots"}}, std::chrono::milliseconds(10000));
  ASSERT_TRUE(listed.ok());
  EXPECT_TRUE((*listed)["snapshots"].empty()) << listed->dump();

  control.stop();
  control_thread.join();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // detached control connections end
  volume.reset();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  replicas.clear();
}

}  // namespace
}  // namespace stowage::engine
