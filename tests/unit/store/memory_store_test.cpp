// MemoryStore's fault injection hooks, which the upper layers' tests rely on.
#include "store/memory_store.h"

#include <gtest/gtest.h>

#include "store_test_support.h"

namespace stowage::store_test {
namespace {

TEST(MemoryStoreTest, FailNextFailsExactlyThatManyCallsOfThatVerb) {
  MemoryStore store;
  store.fail_next(StoreVerb::kPut, 2, ErrorCode::kUnavailable);
  STOWAGE_EXPECT_CODE(store.put("a", to_bytes("1")), ErrorCode::kUnavailable);
  STOWAGE_EXPECT_CODE(store.put("a", to_bytes("1")), ErrorCode::kUnavailable);
  EXPECT_EQ(store.object_count(), 0u);
  STOWAGE_ASSERT_OK(store.put("a", to_bytes("1")));
  STOWAGE_ASSERT_OK(store.get("a"));  // other verbs unaffected
  EXPECT_EQ(store.call_count(StoreVerb::kPut), 3u);
  EXPECT_EQ(store.call_count(StoreVerb::kGet), 1u);
}

TEST(MemoryStoreTest, InjectedErrorsSayTheyWereInjected) {
  MemoryStore store("unit");
  store.fail_next(StoreVerb::kGet, 1, ErrorCode::kIo);
  auto result = store.get("some/key");
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code(), ErrorCode::kIo);
  EXPECT_NE(result.error().message().find("injected"), std::string::npos);
  EXPECT_NE(result.error().message().find("some/key"), std::string::npos);
}

TEST(MemoryStoreTest, FailAfterEffectStoresTheObjectButReportsFailure) {
  MemoryStore store;
  store.fail_next_after_effect(StoreVerb::kPut, 1, ErrorCode::kUnavailable);
  STOWAGE_EXPECT_CODE(store.put("k", to_bytes("v")), ErrorCode::kUnavailable);
  auto got = store.get("k");
  STOWAGE_ASSERT_OK(got);
  EXPECT_EQ(as_string(got.value()), "v");
}

TEST(MemoryStoreTest, InterruptedListDeliversAPrefixOfTheKeys) {
  MemoryStore store;
  for (const char* key : {"a", "b", "c", "d"}) STOWAGE_ASSERT_OK(store.put(key, to_bytes(key)));
  store.fail_next_after_effect(StoreVerb::kList, 1, ErrorCode::kUnavailable);
  std::vector<std::string> keys;
  STOWAGE_EXPECT_CODE(store.list("", [&](const ObjectInfo& info) { keys.push_back(info.key); }),
                      ErrorCode::kUnavailable);
  EXPECT_EQ(keys, (std::vector<std::string>{"a", "b"}));
}

TEST(MemoryStoreTest, DamageHooksChangeStoredObjects) {
  MemoryStore store;
  STOWAGE_ASSERT_OK(store.put("pack", to_bytes("abcdef")));
  STOWAGE_ASSERT_OK(store.flip_byte("pack", 1));
  auto flipped = store.get("pack");
  STOWAGE_ASSERT_OK(flipped);
  EXPECT_EQ(flipped->at(1), uint8_t('b' ^ 0xFF));
  STOWAGE_ASSERT_OK(store.truncate_object("pack", 3));
  auto truncated = store.stat("pack");
  STOWAGE_ASSERT_OK(truncated);
  EXPECT_EQ(truncated->size, 3u);
  STOWAGE_EXPECT_CODE(store.flip_byte("pack", 3), ErrorCode::kInvalidArgument);
  STOWAGE_EXPECT_CODE(store.flip_byte("missing", 0), ErrorCode::kNotFound);
  store.overwrite_object("pack", to_bytes("new"));
  EXPECT_EQ(store.total_bytes(), 3u);
}

TEST(MemoryStoreTest, ListCallbackMayCallBackIntoTheStore) {
  MemoryStore store;
  STOWAGE_ASSERT_OK(store.put("a", to_bytes("1")));
  STOWAGE_ASSERT_OK(store.list("", [&](const ObjectInfo& info) { EXPECT_TRUE(store.get(info.key).ok()); }));
}

}  // namespace
}  // namespace stowage::store_test
