// RetryStore: which failures are retried, how long it waits, and the
// ambiguous-put rule (an earlier attempt may have landed).
#include "store/retry_store.h"

#include <gtest/gtest.h>

#include "store/memory_store.h"
#include "store/prefix_store.h"
#include "store_test_support.h"

namespace stowage::store_test {
namespace {

class RetryStoreTest : public ::testing::Test {
 protected:
  RetryStoreTest() {
    auto memory = std::make_unique<MemoryStore>("retry-test");
    memory_ = memory.get();
    RetryPolicy policy;
    policy.max_attempts = 4;
    policy.sleep = [this](std::chrono::milliseconds delay) { sleeps_.push_back(delay); };
    store_ = std::make_unique<RetryStore>(std::move(memory), policy);
  }
  MemoryStore* memory_;
  std::vector<std::chrono::milliseconds> sleeps_;
  std::unique_ptr<RetryStore> store_;
};

TEST_F(RetryStoreTest, RetriesUnavailableUntilItSucceeds) {
  memory_->fail_next(StoreVerb::kGet, 3, ErrorCode::kUnavailable);
  STOWAGE_ASSERT_OK(store_->put("k", to_bytes("v")));
  auto got = store_->get("k");
  STOWAGE_ASSERT_OK(got);
  EXPECT_EQ(memory_->call_count(StoreVerb::kGet), 4u);
  EXPECT_EQ(sleeps_.size(), 3u);
}

TEST_F(RetryStoreTest, GivesUpAfterMaxAttemptsAndSaysSo) {
  memory_->fail_next(StoreVerb::kStat, 10, ErrorCode::kUnavailable);
  auto result = store_->stat("k");
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code(), ErrorCode::kUnavailable);
  EXPECT_NE(result.error().message().find("after 4 attempts"), std::string::npos) << result.error().message();
  EXPECT_EQ(memory_->call_count(StoreVerb::kStat), 4u);
  EXPECT_EQ(sleeps_.size(), 3u);
}

TEST_F(RetryStoreTest, DoesNotRetryPermanentErrors) {
  for (ErrorCode code : {ErrorCode::kNotFound, ErrorCode::kPermissionDenied, ErrorCode::kIo,
                         ErrorCode::kInvalidArgument}) {
    memory_->fail_next(StoreVerb::kRemove, 1, code);
    STOWAGE_EXPECT_CODE(store_->remove("k"), code);
  }
  EXPECT_EQ(memory_->call_count(StoreVerb::kRemove), 4u);
  EXPECT_TRUE(sleeps_.empty());
}

TEST_F(RetryStoreTest, PutThatLandedBeforeItsAnswerWasLostSucceeds) {
  memory_->fail_next_after_effect(StoreVerb::kPut, 1, ErrorCode::kUnavailable);
  STOWAGE_ASSERT_OK(store_->put("packs/p", to_bytes("payload")));
  EXPECT_EQ(memory_->call_count(StoreVerb::kPut), 2u);  // the retry met kAlreadyExists
  EXPECT_EQ(memory_->call_count(StoreVerb::kGet), 1u);  // and compared the content
}

TEST_F(RetryStoreTest, AmbiguousPutMeetingDifferentContentIsAlreadyExists) {
  memory_->overwrite_object("packs/p", to_bytes("someone else's"));
  memory_->fail_next(StoreVerb::kPut, 1, ErrorCode::kUnavailable);
  auto result = store_->put("packs/p", to_bytes("ours"));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code(), ErrorCode::kAlreadyExists) << result.error().to_string();
}

TEST_F(RetryStoreTest, AmbiguousPutMeetingSameSizeDifferentBytesIsAlreadyExists) {
  memory_->overwrite_object("packs/p", to_bytes("abcd"));
  memory_->fail_next(StoreVerb::kPut, 1, ErrorCode::kUnavailable);
  STOWAGE_EXPECT_CODE(store_->put("packs/p", to_bytes("abce")), ErrorCode::kAlreadyExists);
}

TEST_F(RetryStoreTest, FirstAttemptAlreadyExistsIsNotSecondGuessed) {
  STOWAGE_ASSERT_OK(store_->put("k", to_bytes("v")));
  STOWAGE_EXPECT_CODE(store_->put("k", to_bytes("v")), ErrorCode::kAlreadyExists);
  EXPECT_EQ(memory_->call_count(StoreVerb::kGet), 0u);
}

TEST_F(RetryStoreTest, InterruptedListResumesWithoutDuplicates) {
  for (const char* key : {"a", "b", "c", "d", "e", "f"}) STOWAGE_ASSERT_OK(store_->put(key, to_bytes(key)));
  memory_->fail_next_after_effect(StoreVerb::kList, 1, ErrorCode::kUnavailable);
  std::vector<std::string> keys;
  STOWAGE_ASSERT_OK(store_->list("", [&](const ObjectInfo& info) { keys.push_back(info.key); }));
  EXPECT_EQ(keys, (std::vector<std::string>{"a", "b", "c", "d", "e", "f"}));
}

// put_transient and remove_transient reach the backend as themselves (a
// file store then skips its fsyncs) through the prefix and retry wrappers,
// and are retried like put and remove.
TEST(TransientForwardingTest, ReachesTheBackendThroughPrefixAndRetry) {
  struct Recording : MemoryStore {
    std::vector<std::string> calls;
    Status put_transient(const std::string& key, ByteView data) override {
      calls.push_back("put " + key);
      return MemoryStore::put(key, data);
    }
    Status remove_transient(const std::string& key) override {
      calls.push_back("remove " + key);
      return MemoryStore::remove(key);
    }
  };
  auto recording = std::make_shared<Recording>();
  RetryPolicy policy;
  policy.sleep = [](std::chrono::milliseconds) {};
  RetryStore store(std::make_unique<PrefixStore>(recording, "repo/"), policy);
  recording->fail_next(StoreVerb::kPut, 1, ErrorCode::kUnavailable);
  STOWAGE_ASSERT_OK(store.put_transient("locks/a", to_bytes("x")));
  STOWAGE_ASSERT_OK(store.remove_transient("locks/a"));
  EXPECT_EQ(recording->calls,
            (std::vector<std::string>{"put repo/locks/a", "put repo/locks/a", "remove repo/locks/a"}));
  STOWAGE_EXPECT_CODE(recording->stat("repo/locks/a"), ErrorCode::kNotFound);
}

TEST(RetryBackoffTest, FullJitterStaysWithinTheExponentialCap) {
  RetryPolicy policy;  // base 200 ms, cap 10 s
  RetryStore store(std::make_unique<MemoryStore>(), policy);
  for (int retry = 0; retry < 12; retry++) {
    const int64_t ceiling = std::min<int64_t>(10'000, int64_t(200) << retry);
    int64_t largest = 0;
    for (int sample = 0; sample < 200; sample++) {
      int64_t delay = store.backoff_delay(retry).count();
      ASSERT_GE(delay, 0);
      ASSERT_LE(delay, ceiling) << "retry " << retry;
      largest = std::max(largest, delay);
    }
    EXPECT_GT(largest, ceiling / 2) << "jitter should spread over [0, " << ceiling << "]";
  }
}

TEST(RetryPolicyTest, DefaultsAreEightAttemptsFrom200msTo10s) {
  RetryPolicy policy;
  EXPECT_EQ(policy.max_attempts, 8);
  EXPECT_EQ(policy.base_delay.count(), 200);
  EXPECT_EQ(policy.max_delay.count(), 10'000);
}

}  // namespace
}  // namespace stowage::store_test
