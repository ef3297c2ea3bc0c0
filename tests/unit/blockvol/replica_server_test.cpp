#include "blockvol/replica_server.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include "blockvol/replica_client.h"

namespace stowage::blockvol {
namespace {

namespace fs = std::filesystem;
using wire::Op;

class ReplicaServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("blockvol-server-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    auto store = LayerStore::create(dir_.string(), 1 << 20, /*fenced=*/true);
    ASSERT_TRUE(store.ok());
    store_ = std::move(*store);
    LoggerOptions quiet;
    quiet.level = LogLevel::kError;
    server_ = std::make_unique<ReplicaServer>(*store_, Logger(quiet));
  }
  void TearDown() override {
    server_.reset();
    store_.reset();
    fs::remove_all(dir_);
  }
  wire::Status call(Op op, uint64_t offset, uint32_t length, const std::vector<uint8_t>& payload = {}) {
    wire::RequestHeader h{op, 0, 1, offset, length, uint32_t(payload.size())};
    return server_->handle(h, payload).first;
  }

  fs::path dir_;
  std::unique_ptr<LayerStore> store_;
  std::unique_ptr<ReplicaServer> server_;
};

TEST_F(ReplicaServerTest, AFencedReplicaRefusesTargetIoButTakesAFill) {
  std::vector<uint8_t> data(4096, 7);
  EXPECT_EQ(call(Op::kRead, 0, 4096), wire::Status::kFenced);
  EXPECT_EQ(call(Op::kWrite, 0, 4096, data), wire::Status::kFenced);
  EXPECT_EQ(call(Op::kWriteZeroes, 0, 4096), wire::Status::kFenced);
  EXPECT_EQ(call(Op::kFlush, 0, 0), wire::Status::kFenced);
  EXPECT_EQ(call(Op::kFill, 0, 4096, data), wire::Status::kOk);
  EXPECT_EQ(call(Op::kReadSnapshot, 0, 4096, wire::encode_u64(1)), wire::Status::kNotFound);
  EXPECT_EQ(call(Op::kUnfence, 0, 0), wire::Status::kOk);
  EXPECT_FALSE(store_->fenced());
  EXPECT_EQ(call(Op::kFill, 0, 4096, data), wire::Status::kConflict);
  EXPECT_EQ(call(Op::kRead, 0, 4096), wire::Status::kOk);
  EXPECT_EQ(call(Op::kRead, (1 << 20) - 100, 4096), wire::Status::kInvalid);  // past the end
}

TEST_F(ReplicaServerTest, ServesAClientAndHangsUpOnABrokenFrame) {
  ASSERT_TRUE(store_->set_fenced(false).ok());
  auto listener = listen_tcp(HostPort{"127.0.0.1", 0});
  ASSERT_TRUE(listener.ok());
  HostPort address{"127.0.0.1", bound_port(*listener)};
  std::thread serving([&, l = std::move(*listener)]() mutable { server_->serve(std::move(l)); });
  {
    auto client = ReplicaClient::connect(address, std::chrono::milliseconds(5000));
    ASSERT_TRUE(client.ok());
    auto info = (*client)->hello();
    ASSERT_TRUE(info.ok());
    EXPECT_EQ(info->size, 1u << 20);
    std::vector<uint8_t> data(5000, 3), back(5000);
    ASSERT_TRUE((*client)->write(10, data, true).ok());
    ASSERT_TRUE((*client)->read(10, back).ok());
    EXPECT_EQ(back, data);
    ASSERT_TRUE((*client)->create_snapshot(2, "s").ok());
    EXPECT_EQ((*client)->create_snapshot(2, "t").error().code(), ErrorCode::kConflict);
    auto extents = (*client)->changed_extents(0, 2);
    ASSERT_TRUE(extents.ok());
    EXPECT_EQ(*extents, (std::vector<Extent>{{0, 8192}}));

    auto raw = connect_tcp(address, std::chrono::milliseconds(2000));
    ASSERT_TRUE(raw.ok());
    std::array<uint8_t, wire::kRequestHeaderSize> garbage{};
    garbage.fill(0xab);
    ASSERT_TRUE(write_full(raw->fd(), garbage).ok());
    std::array<uint8_t, wire::kReplyHeaderSize> reply{};
    ASSERT_TRUE(read_full(raw->fd(), reply).ok());
    auto header = wire::decode_reply(reply);
    ASSERT_TRUE(header.ok());
    EXPECT_EQ(header->status, wire::Status::kMalformed);
    ASSERT_TRUE(discard(raw->fd(), header->payload_length).ok());
    uint8_t byte;
    EXPECT_EQ(read_full(raw->fd(), std::span<uint8_t>(&byte, 1)).error().code(), ErrorCode::kNotFound);  // closed
    // The first connection still works.
    EXPECT_TRUE((*client)->flush().ok());
  }
  server_->stop();
  serving.join();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // connection threads see the clients leave
}

}  // namespace
}  // namespace stowage::blockvol
