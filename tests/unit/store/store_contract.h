// The ObjectStore contract as a parameterised test suite: every backend (fs,
// memory here; MinIO and versitygw in tests/e2e) must pass the same tests.
// Include from exactly one .cpp per test binary and instantiate
// StoreContractTest there with INSTANTIATE_TEST_SUITE_P.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "store/object_store.h"
#include "store_test_support.h"

namespace stowage::store_test {

// How to get a fresh, isolated store of one backend.
struct StoreUnderTest {
  std::string name;  // the test-name suffix: letters, digits, '_'
  // Returns a store whose keys are private to `isolation` (a directory or key
  // prefix of its own), or an Error to fail the test with.
  std::function<Result<std::unique_ptr<ObjectStore>>(const std::string& isolation)> make;
  // Non-empty: the backend is not available here; the tests are skipped with this.
  std::string skip_reason;
  // Called after each test with the same isolation string (e.g. rm -r the dir).
  std::function<void(const std::string& isolation)> cleanup;
  // Keys written by the listing test: past 1000 for S3, where a listing has
  // pages of 1000; fewer where every put costs two fsyncs and pages don't exist.
  int many_keys = 1100;
};

// gtest prints the parameter of a failed test: show the backend's name.
inline void PrintTo(const StoreUnderTest& backend, std::ostream* out) { *out << backend.name; }

class StoreContractTest : public ::testing::TestWithParam<StoreUnderTest> {
 protected:
  void SetUp() override {
    const StoreUnderTest& backend = GetParam();
    if (!backend.skip_reason.empty()) GTEST_SKIP() << backend.skip_reason;
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string test_name = info->name();
    test_name = test_name.substr(0, test_name.find('/'));
    isolation_ = "contract-" + test_name + "-" + unique_suffix();
    auto made = backend.make(isolation_);
    ASSERT_TRUE(made.ok()) << made.error().to_string();
    store_ = std::move(made).value();
  }

  void TearDown() override {
    if (store_) {
      std::vector<std::string> keys;
      (void)store_->list("", [&](const ObjectInfo& info) { keys.push_back(info.key); });
      for (const std::string& key : keys) (void)store_->remove(key);
    }
    if (GetParam().cleanup && !isolation_.empty()) GetParam().cleanup(isolation_);
  }

  std::vector<std::string> keys_under(const std::string& prefix) {
    std::vector<std::string> keys;
    Status status = store_->list(prefix, [&](const ObjectInfo& info) { keys.push_back(info.key); });
    EXPECT_TRUE(status.ok()) << status.error().to_string();
    return keys;
  }

  std::string isolation_;
  std::unique_ptr<ObjectStore> store_;
};

TEST_P(StoreContractTest, PutThenGetReturnsTheSameBytes) {
  for (size_t size : {size_t(1), size_t(1000), size_t(300 * 1024)}) {
    const std::string key = "data/object-" + std::to_string(size);
    const Bytes data = random_bytes(size, size);
    STOWAGE_ASSERT_OK(store_->put(key, data));
    auto got = store_->get(key);
    STOWAGE_ASSERT_OK(got);
    EXPECT_EQ(got.value(), data) << key;
  }
}

TEST_P(StoreContractTest, EmptyObjectRoundTrips) {
  STOWAGE_ASSERT_OK(store_->put("empty", ByteView()));
  auto got = store_->get("empty");
  STOWAGE_ASSERT_OK(got);
  EXPECT_TRUE(got->empty());
  auto info = store_->stat("empty");
  STOWAGE_ASSERT_OK(info);
  EXPECT_EQ(info->size, 0u);
}

TEST_P(StoreContractTest, PutIsCreateOnlyAndKeepsTheFirstObject) {
  const Bytes first = to_bytes("the first object"), second = to_bytes("a second, different object");
  STOWAGE_ASSERT_OK(store_->put("locks/one", first));
  STOWAGE_EXPECT_CODE(store_->put("locks/one", second), ErrorCode::kAlreadyExists);
  STOWAGE_EXPECT_CODE(store_->put("locks/one", first), ErrorCode::kAlreadyExists);
  auto got = store_->get("locks/one");
  STOWAGE_ASSERT_OK(got);
  EXPECT_EQ(got.value(), first);
}

TEST_P(StoreContractTest, MissingKeyIsNotFound) {
  STOWAGE_EXPECT_CODE(store_->get("no/such/key"), ErrorCode::kNotFound);
  STOWAGE_EXPECT_CODE(store_->get_range("no/such/key", 0, 1), ErrorCode::kNotFound);
  STOWAGE_EXPECT_CODE(store_->stat("no/such/key"), ErrorCode::kNotFound);
  auto missing = store_->get("no/such/key");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().to_string().find("no/such/key"), std::string::npos) << missing.error().to_string();
}

TEST_P(StoreContractTest, GetRangeReturnsTheSlice) {
  const Bytes data = random_bytes(10000, 7);
  STOWAGE_ASSERT_OK(store_->put("packs/p1", data));
  struct Case { uint64_t offset, length; };
  for (Case c : {Case{0, 1}, Case{0, 10000}, Case{1234, 5678}, Case{9999, 1}, Case{10000, 0}, Case{500, 0}}) {
    auto got = store_->get_range("packs/p1", c.offset, c.length);
    STOWAGE_ASSERT_OK(got);
    EXPECT_EQ(got.value(), Bytes(data.begin() + c.offset, data.begin() + c.offset + c.length))
        << "offset " << c.offset << " length " << c.length;
  }
}

TEST_P(StoreContractTest, GetRangePastTheEndIsInvalidArgument) {
  STOWAGE_ASSERT_OK(store_->put("packs/short", random_bytes(100, 1)));
  STOWAGE_EXPECT_CODE(store_->get_range("packs/short", 50, 51), ErrorCode::kInvalidArgument);
  STOWAGE_EXPECT_CODE(store_->get_range("packs/short", 100, 1), ErrorCode::kInvalidArgument);
  STOWAGE_EXPECT_CODE(store_->get_range("packs/short", 200, 10), ErrorCode::kInvalidArgument);
  STOWAGE_EXPECT_CODE(store_->get_range("packs/short", 101, 0), ErrorCode::kInvalidArgument);
  auto error = store_->get_range("packs/short", 90, 20);
  ASSERT_FALSE(error.ok());
  EXPECT_NE(error.error().to_string().find("packs/short"), std::string::npos) << error.error().to_string();
}

TEST_P(StoreContractTest, StatReportsSizeAndTime) {
  STOWAGE_ASSERT_OK(store_->put("index/i1", random_bytes(4321, 3)));
  auto info = store_->stat("index/i1");
  STOWAGE_ASSERT_OK(info);
  EXPECT_EQ(info->key, "index/i1");
  EXPECT_EQ(info->size, 4321u);
  const int64_t now = int64_t(std::time(nullptr));
  EXPECT_NEAR(double(info->modified_unix), double(now), 24 * 3600.0);
}

TEST_P(StoreContractTest, ListReturnsKeysUnderPrefixInLexicographicOrder) {
  // '-' (0x2d) < '/' (0x2f) < '0' (0x30): a directory walk sorted by name alone
  // would put "idx/a/..." before "idx/a-c".
  const std::vector<std::string> keys = {"idx/a0", "idx/b", "idx/a/b", "idx/a-c", "idx/a/a", "other/x", "idx2"};
  for (const std::string& key : keys) STOWAGE_ASSERT_OK(store_->put(key, to_bytes(key)));
  EXPECT_EQ(keys_under("idx/"), (std::vector<std::string>{"idx/a-c", "idx/a/a", "idx/a/b", "idx/a0", "idx/b"}));
  EXPECT_EQ(keys_under("idx/a"), (std::vector<std::string>{"idx/a-c", "idx/a/a", "idx/a/b", "idx/a0"}));
  EXPECT_EQ(keys_under("idx/a/"), (std::vector<std::string>{"idx/a/a", "idx/a/b"}));
  EXPECT_EQ(keys_under("idx"),
            (std::vector<std::string>{"idx/a-c", "idx/a/a", "idx/a/b", "idx/a0", "idx/b", "idx2"}));
  EXPECT_EQ(keys_under("nothing-here/"), std::vector<std::string>{});
  std::vector<std::string> all = keys;
  std::sort(all.begin(), all.end());
  EXPECT_EQ(keys_under(""), all);
  std::vector<ObjectInfo> infos;
  STOWAGE_ASSERT_OK(store_->list("other/", [&](const ObjectInfo& info) { infos.push_back(info); }));
  ASSERT_EQ(infos.size(), 1u);
  EXPECT_EQ(infos[0].size, std::string("other/x").size());
}

TEST_P(StoreContractTest, RemoveDeletesAndIsIdempotent) {
  STOWAGE_ASSERT_OK(store_->put("snapshots/s1", to_bytes("snapshot")));
  STOWAGE_ASSERT_OK(store_->remove("snapshots/s1"));
  STOWAGE_EXPECT_CODE(store_->get("snapshots/s1"), ErrorCode::kNotFound);
  STOWAGE_ASSERT_OK(store_->remove("snapshots/s1"));
  STOWAGE_ASSERT_OK(store_->remove("never/existed"));
  EXPECT_EQ(keys_under("snapshots/"), std::vector<std::string>{});
  // The key is free again after removal.
  STOWAGE_ASSERT_OK(store_->put("snapshots/s1", to_bytes("again")));
}

TEST_P(StoreContractTest, KeysWithUnusualCharactersRoundTrip) {
  const std::vector<std::string> keys = {"odd/with space", "odd/plus+equals=amp&", "odd/percent%20tilde~",
                                         "odd/caf\xc3\xa9", "odd/quote'paren(x)"};
  for (const std::string& key : keys) STOWAGE_ASSERT_OK(store_->put(key, to_bytes(key)));
  for (const std::string& key : keys) {
    auto got = store_->get(key);
    STOWAGE_ASSERT_OK(got);
    EXPECT_EQ(as_string(got.value()), key);
  }
  std::vector<std::string> sorted = keys;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(keys_under("odd/"), sorted);
}

TEST_P(StoreContractTest, ConcurrentPutsOfOneKeyHaveExactlyOneWinner) {
  constexpr int kWriters = 6;
  std::vector<Status> results(kWriters);
  std::vector<std::thread> threads;
  for (int i = 0; i < kWriters; i++) {
    threads.emplace_back([&, i] { results[i] = store_->put("locks/exclusive", random_bytes(64 * 1024, 100 + i)); });
  }
  for (auto& thread : threads) thread.join();
  int winner = -1, winners = 0;
  for (int i = 0; i < kWriters; i++) {
    if (results[i].ok()) {
      winner = i;
      winners++;
    } else {
      EXPECT_EQ(results[i].error().code(), ErrorCode::kAlreadyExists) << results[i].error().to_string();
    }
  }
  ASSERT_EQ(winners, 1);
  auto got = store_->get("locks/exclusive");
  STOWAGE_ASSERT_OK(got);
  EXPECT_EQ(got.value(), random_bytes(64 * 1024, 100 + winner));
}

TEST_P(StoreContractTest, ListPagesThroughMoreThanAThousandKeys) {
  const int kKeys = GetParam().many_keys, kThreads = 8;
  std::atomic<int> next{0}, failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([&] {
      for (int i = next++; i < kKeys; i = next++) {
        char key[32];
        snprintf(key, sizeof key, "many/%05d", i);
        if (!store_->put(key, to_bytes(key)).ok()) failures++;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  ASSERT_EQ(failures.load(), 0);
  std::vector<std::string> keys = keys_under("many/");
  ASSERT_EQ(keys.size(), size_t(kKeys));
  EXPECT_TRUE(std::is_sorted(keys.begin(), keys.end()));
  EXPECT_EQ(std::set<std::string>(keys.begin(), keys.end()).size(), size_t(kKeys));
  EXPECT_EQ(keys.front(), "many/00000");
  char last[32];
  snprintf(last, sizeof last, "many/%05d", kKeys - 1);
  EXPECT_EQ(keys.back(), last);
}

}  // namespace stowage::store_test
