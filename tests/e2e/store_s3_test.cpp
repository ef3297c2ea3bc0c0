// The ObjectStore contract and the S3-specific behaviour (multipart, create-only
// under races, errors, Object Lock, bucket creation) against the real MinIO and
// versitygw that `testbed/up minio versitygw` starts; see testbed/run/env.
#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <ctime>
#include <thread>

#include "../unit/store/store_contract.h"
#include "store/location.h"
#include "store/s3_store.h"

namespace stowage::store_test {
namespace {

// One S3 server of the testbed, as described by its environment variables.
struct S3Server {
  std::string name;
  std::string endpoint, bucket, region, access_key, secret_key;
  std::string lock_bucket;        // empty: the server has no Object Lock bucket in the testbed
  std::string lock_bucket_variable;
  std::string virtual_host_endpoint;  // endpoint for virtual-host addressing (bucket.localhost)
  std::string missing;            // first required variable that is unset
};

// gtest prints parameters of failed tests; show the name, not the bytes.
void PrintTo(const S3Server& server, std::ostream* out) { *out << server.name << " at " << server.endpoint; }

std::string env(const char* name, std::string& missing) {
  const char* value = std::getenv(name);
  if ((value == nullptr || *value == 0) && missing.empty()) missing = name;
  return value ? value : "";
}

std::string optional_env(const char* name) {
  const char* value = std::getenv(name);
  return value ? value : "";
}

S3Server minio_server() {
  S3Server server;
  server.name = "minio";
  server.endpoint = env("STOWAGE_TEST_S3_ENDPOINT", server.missing);
  server.bucket = env("STOWAGE_TEST_S3_BUCKET", server.missing);
  server.access_key = env("AWS_ACCESS_KEY_ID", server.missing);
  server.secret_key = env("AWS_SECRET_ACCESS_KEY", server.missing);
  server.region = optional_env("AWS_REGION");
  server.lock_bucket = optional_env("STOWAGE_TEST_S3_LOCK_BUCKET");
  server.lock_bucket_variable = "STOWAGE_TEST_S3_LOCK_BUCKET";
  server.virtual_host_endpoint = optional_env("STOWAGE_TEST_S3_VHOST_ENDPOINT");
  return server;
}

S3Server versitygw_server() {
  S3Server server;
  server.name = "versitygw";
  server.endpoint = env("STOWAGE_TEST_S3B_ENDPOINT", server.missing);
  server.bucket = env("STOWAGE_TEST_S3B_BUCKET", server.missing);
  server.access_key = env("STOWAGE_TEST_S3B_ACCESS_KEY", server.missing);
  server.secret_key = env("STOWAGE_TEST_S3B_SECRET_KEY", server.missing);
  server.region = optional_env("STOWAGE_TEST_S3B_REGION");
  server.lock_bucket_variable = "STOWAGE_TEST_S3B_LOCK_BUCKET";
  server.lock_bucket = optional_env("STOWAGE_TEST_S3B_LOCK_BUCKET");
  server.virtual_host_endpoint = optional_env("STOWAGE_TEST_S3B_VHOST_ENDPOINT");
  return server;
}

std::string skip_reason(const S3Server& server) {
  if (server.missing.empty()) return "";
  return server.name + " is not configured: " + server.missing +
         " is unset (run `testbed/up minio versitygw && source testbed/run/env`)";
}

std::string location_url(const S3Server& server, const std::string& bucket, const std::string& prefix,
                         const std::string& endpoint = "") {
  std::string url = "s3://" + bucket + "/" + prefix + "?endpoint=" + (endpoint.empty() ? server.endpoint : endpoint);
  if (!server.region.empty()) url += "&region=" + server.region;
  return url;
}

StoreOptions options_for(const S3Server& server) {
  StoreOptions options;
  options.s3_credentials = S3Credentials{server.access_key, server.secret_key, ""};
  options.retry.max_attempts = 4;
  options.retry.base_delay = std::chrono::milliseconds(50);
  return options;
}

StoreUnderTest contract_backend(const S3Server& server) {
  return {server.name,
          [server](const std::string& isolation) {
            return open_store(location_url(server, server.bucket, "e2e/" + isolation), options_for(server));
          },
          skip_reason(server), nullptr};
}

INSTANTIATE_TEST_SUITE_P(S3, StoreContractTest,
                         ::testing::Values(contract_backend(minio_server()), contract_backend(versitygw_server())),
                         [](const ::testing::TestParamInfo<StoreUnderTest>& info) { return info.param.name; });

// A port on 127.0.0.1 that nothing listens on: bound, read, then released.
int closed_loopback_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  socklen_t length = sizeof address;
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  close(fd);
  return ntohs(address.sin_port);
}

// Deletes a bucket with a raw signed request (the store has no such verb).
long delete_bucket(const S3Server& server, const std::string& bucket) {
  CURL* curl = curl_easy_init();
  std::string url = server.endpoint + "/" + bucket;
  std::string sigv4 = "aws:amz:" + (server.region.empty() ? std::string("us-east-1") : server.region) + ":s3";
  curl_slist* headers = curl_slist_append(nullptr, "x-amz-content-sha256: UNSIGNED-PAYLOAD");
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, "DELETE");
  curl_easy_setopt(curl, CURLOPT_AWS_SIGV4, sigv4.c_str());
  curl_easy_setopt(curl, CURLOPT_USERNAME, server.access_key.c_str());
  curl_easy_setopt(curl, CURLOPT_PASSWORD, server.secret_key.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, +[](char*, size_t size, size_t count, void*) { return size * count; });
  long status = 0;
  if (curl_easy_perform(curl) == CURLE_OK) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  return status;
}

class S3ServerTest : public ::testing::TestWithParam<S3Server> {
 protected:
  void SetUp() override {
    if (std::string reason = skip_reason(GetParam()); !reason.empty()) GTEST_SKIP() << reason;
    prefix_ = "e2e/s3-" + unique_suffix();
  }
  void TearDown() override {
    for (auto& store : opened_) {
      std::vector<std::string> keys;
      (void)store->list("", [&](const ObjectInfo& info) { keys.push_back(info.key); });
      for (const std::string& key : keys) (void)store->remove(key);
    }
  }
  // Opens the test's own prefix of the server's bucket; removed after the test.
  ObjectStore* open(StoreOptions options, const std::string& bucket = "", const std::string& endpoint = "") {
    auto store = open_store(location_url(GetParam(), bucket.empty() ? GetParam().bucket : bucket, prefix_, endpoint),
                            options);
    EXPECT_TRUE(store.ok()) << store.error().to_string();
    if (!store.ok()) return nullptr;
    opened_.push_back(std::move(store).value());
    return opened_.back().get();
  }
  static StoreOptions small_multipart(StoreOptions options) {
    options.multipart_threshold = 5ull << 20;
    options.multipart_part_size = 5ull << 20;
    return options;
  }

  std::string prefix_;
  std::vector<std::unique_ptr<ObjectStore>> opened_;
};

TEST_P(S3ServerTest, MultipartUploadRoundTrips) {
  ObjectStore* store = open(small_multipart(options_for(GetParam())));
  ASSERT_NE(store, nullptr);
  const Bytes data = random_bytes(11 << 20, 11);  // parts of 5, 5 and 1 MiB
  STOWAGE_ASSERT_OK(store->put("packs/large", data));
  auto info = store->stat("packs/large");
  STOWAGE_ASSERT_OK(info);
  EXPECT_EQ(info->size, data.size());
  auto whole = store->get("packs/large");
  STOWAGE_ASSERT_OK(whole);
  EXPECT_TRUE(whole.value() == data);
  const uint64_t across = (5 << 20) - 100;  // a range spanning the first part boundary
  auto slice = store->get_range("packs/large", across, 200);
  STOWAGE_ASSERT_OK(slice);
  EXPECT_EQ(slice.value(), Bytes(data.begin() + across, data.begin() + across + 200));
  STOWAGE_EXPECT_CODE(store->put("packs/large", data), ErrorCode::kAlreadyExists);
}

TEST_P(S3ServerTest, ConcurrentMultipartPutsHaveExactlyOneWinner) {
  // All writers pass the HEAD pre-check together; If-None-Match on
  // CompleteMultipartUpload must then let exactly one of them win.
  ObjectStore* store = open(small_multipart(options_for(GetParam())));
  ASSERT_NE(store, nullptr);
  constexpr int kWriters = 3;
  std::vector<Bytes> payloads;
  for (int i = 0; i < kWriters; i++) payloads.push_back(random_bytes(6 << 20, 200 + i));
  std::vector<Status> results(kWriters);
  std::vector<std::thread> threads;
  for (int i = 0; i < kWriters; i++) threads.emplace_back([&, i] { results[i] = store->put("locks/race", payloads[i]); });
  for (auto& thread : threads) thread.join();
  int winners = 0, winner = -1;
  for (int i = 0; i < kWriters; i++) {
    if (results[i].ok()) winners++, winner = i;
    else EXPECT_EQ(results[i].error().code(), ErrorCode::kAlreadyExists) << results[i].error().to_string();
  }
  ASSERT_EQ(winners, 1);
  auto stored = store->get("locks/race");
  STOWAGE_ASSERT_OK(stored);
  EXPECT_TRUE(stored.value() == payloads[winner]);
}

TEST_P(S3ServerTest, WrongCredentialsArePermissionDeniedWithAHint) {
  StoreOptions options = options_for(GetParam());
  options.s3_credentials->secret_access_key = "not-the-secret";
  ObjectStore* wrong_secret = open(options);
  ASSERT_NE(wrong_secret, nullptr);
  auto put = wrong_secret->put("x", to_bytes("x"));
  ASSERT_FALSE(put.ok());
  EXPECT_EQ(put.error().code(), ErrorCode::kPermissionDenied) << put.error().to_string();
  EXPECT_NE(put.error().message().find("SignatureDoesNotMatch"), std::string::npos) << put.error().to_string();
  EXPECT_NE(put.error().hint().find("AWS_ACCESS_KEY_ID"), std::string::npos);

  options.s3_credentials->access_key_id = "no-such-access-key";
  ObjectStore* unknown_key = open(options);
  ASSERT_NE(unknown_key, nullptr);
  auto get = unknown_key->get("x");
  ASSERT_FALSE(get.ok());
  EXPECT_EQ(get.error().code(), ErrorCode::kPermissionDenied) << get.error().to_string();
  opened_.clear();  // nothing to clean up with wrong credentials
}

TEST_P(S3ServerTest, UnreachableEndpointIsUnavailableAfterRetries) {
  StoreOptions options = options_for(GetParam());
  options.retry.max_attempts = 3;
  options.retry.base_delay = std::chrono::milliseconds(10);
  auto store = open_store(location_url(GetParam(), GetParam().bucket, prefix_,
                                       "http://127.0.0.1:" + std::to_string(closed_loopback_port())),
                          options);
  STOWAGE_ASSERT_OK(store);
  auto result = (*store)->get("anything");
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code(), ErrorCode::kUnavailable) << result.error().to_string();
  EXPECT_NE(result.error().message().find("after 3 attempts"), std::string::npos) << result.error().to_string();
  EXPECT_NE(result.error().hint().find("127.0.0.1"), std::string::npos) << result.error().to_string();
}

TEST_P(S3ServerTest, MissingBucketIsNotFoundAndSuggestsRepoInit) {
  ObjectStore* store = open(options_for(GetParam()), "stowage-no-such-bucket");
  ASSERT_NE(store, nullptr);
  auto result = store->get("config");
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code(), ErrorCode::kNotFound);
  EXPECT_NE(result.error().to_string().find("NoSuchBucket"), std::string::npos) << result.error().to_string();
  EXPECT_NE(result.error().hint().find("repo init"), std::string::npos) << result.error().to_string();
  opened_.clear();
}

TEST_P(S3ServerTest, CreateIfMissingMakesTheBucketAndIsIdempotent) {
  const std::string bucket = "stowage-e2e-" + unique_suffix();
  StoreOptions options = options_for(GetParam());
  options.create_if_missing = true;
  ObjectStore* store = open(options, bucket);
  ASSERT_NE(store, nullptr);
  STOWAGE_ASSERT_OK(store->put("config", to_bytes("repository config")));
  ObjectStore* again = open(options, bucket);  // the bucket exists now: still fine
  ASSERT_NE(again, nullptr);
  auto got = again->get("config");
  STOWAGE_ASSERT_OK(got);
  TearDown();
  opened_.clear();
  long status = delete_bucket(GetParam(), bucket);
  EXPECT_TRUE(status == 204 || status == 200) << "deleting bucket " << bucket << ": HTTP " << status;
}

TEST_P(S3ServerTest, PrefixesIsolateStoresSharingABucket) {
  ObjectStore* store = open(options_for(GetParam()));
  ASSERT_NE(store, nullptr);
  auto sibling = open_store(location_url(GetParam(), GetParam().bucket, prefix_ + "-sibling"), options_for(GetParam()));
  STOWAGE_ASSERT_OK(sibling);
  STOWAGE_ASSERT_OK(store->put("k", to_bytes("mine")));
  STOWAGE_ASSERT_OK((*sibling)->put("k", to_bytes("sibling's")));
  auto keys = list_all(*store, "");
  STOWAGE_ASSERT_OK(keys);
  ASSERT_EQ(keys->size(), 1u);
  EXPECT_EQ(keys->at(0).key, "k");
  auto mine = store->get("k");
  STOWAGE_ASSERT_OK(mine);
  EXPECT_EQ(as_string(mine.value()), "mine");
  STOWAGE_ASSERT_OK((*sibling)->remove("k"));
}

TEST_P(S3ServerTest, ObjectLockBucketAcceptsCreateOnlyPuts) {
  if (GetParam().lock_bucket.empty()) {
    GTEST_SKIP() << GetParam().name << " has no Object Lock bucket in the testbed: "
                 << GetParam().lock_bucket_variable << " is unset";
  }
  ObjectStore* store = open(small_multipart(options_for(GetParam())), GetParam().lock_bucket);
  ASSERT_NE(store, nullptr);
  STOWAGE_ASSERT_OK(store->put("snapshots/s1", to_bytes("snapshot")));
  STOWAGE_EXPECT_CODE(store->put("snapshots/s1", to_bytes("other")), ErrorCode::kAlreadyExists);
  const Bytes large = random_bytes(6 << 20, 5);
  STOWAGE_ASSERT_OK(store->put("packs/locked", large));
  auto got = store->get("packs/locked");
  STOWAGE_ASSERT_OK(got);
  EXPECT_TRUE(got.value() == large);
}

TEST_P(S3ServerTest, ObjectLockRetentionRefusesDeletesUntilItEndsAndOnlyGrows) {
  if (GetParam().lock_bucket.empty()) {
    GTEST_SKIP() << GetParam().name << " has no Object Lock bucket in the testbed: "
                 << GetParam().lock_bucket_variable << " is unset";
  }
  ObjectStore* plain = open(options_for(GetParam()));
  ASSERT_NE(plain, nullptr);
  auto plain_state = plain->lock_state();
  STOWAGE_ASSERT_OK(plain_state);
  EXPECT_FALSE(plain_state->object_lock);
  ObjectStore* store = open(small_multipart(options_for(GetParam())), GetParam().lock_bucket);
  ASSERT_NE(store, nullptr);
  auto state = store->lock_state();
  STOWAGE_ASSERT_OK(state);
  EXPECT_TRUE(state->object_lock);
  if (GetParam().name == "minio") {
    EXPECT_EQ(state->versioning, "Enabled");  // versitygw locks without versioning
  }

  const int64_t until = int64_t(std::time(nullptr)) + 4;
  const Retention retention{RetentionMode::kGovernance, until};
  STOWAGE_ASSERT_OK(store->put_retained("snapshots/locked", to_bytes("snapshot"), retention));
  STOWAGE_EXPECT_CODE(store->put_retained("snapshots/locked", to_bytes("other"), retention), ErrorCode::kAlreadyExists);
  const Bytes large = random_bytes(6 << 20, 6);  // multipart: the lock headers go on CreateMultipartUpload
  STOWAGE_ASSERT_OK(store->put_retained("data/locked", large, retention));
  STOWAGE_EXPECT_CODE(store->remove("snapshots/locked"), ErrorCode::kLocked);
  STOWAGE_EXPECT_CODE(store->remove("data/locked"), ErrorCode::kLocked);
  // Extending works; asking for an earlier date keeps the later one.
  STOWAGE_ASSERT_OK(store->extend_retention("snapshots/locked", Retention{RetentionMode::kGovernance, until + 3}));
  STOWAGE_ASSERT_OK(store->extend_retention("snapshots/locked", Retention{RetentionMode::kGovernance, until - 2}));
  std::this_thread::sleep_for(std::chrono::seconds(until + 1 - int64_t(std::time(nullptr))));
  STOWAGE_ASSERT_OK(store->remove("data/locked"));  // its retention has ended
  STOWAGE_EXPECT_CODE(store->stat("data/locked"), ErrorCode::kNotFound);
  STOWAGE_EXPECT_CODE(store->remove("snapshots/locked"), ErrorCode::kLocked);  // extended
  std::this_thread::sleep_for(std::chrono::seconds(4));
  STOWAGE_ASSERT_OK(store->remove("snapshots/locked"));
  STOWAGE_EXPECT_CODE(store->get("snapshots/locked"), ErrorCode::kNotFound);
  // A bucket without Object Lock refuses a locked put.
  EXPECT_FALSE(plain->put_retained("k", to_bytes("v"), retention).ok());
}

TEST_P(S3ServerTest, HeadCheckFallbackStillRefusesExistingKeys) {
  // conditional-writes=false: for servers that ignore If-None-Match.
  auto store = open_store(location_url(GetParam(), GetParam().bucket, prefix_) + "&conditional-writes=false",
                          options_for(GetParam()));
  STOWAGE_ASSERT_OK(store);
  opened_.push_back(std::move(store).value());
  ObjectStore* fallback = opened_.back().get();
  STOWAGE_ASSERT_OK(fallback->put("k", to_bytes("first")));
  STOWAGE_EXPECT_CODE(fallback->put("k", to_bytes("second")), ErrorCode::kAlreadyExists);
  auto got = fallback->get("k");
  STOWAGE_ASSERT_OK(got);
  EXPECT_EQ(as_string(got.value()), "first");
}

TEST_P(S3ServerTest, VirtualHostAddressingWorks) {
  if (GetParam().virtual_host_endpoint.empty()) {
    GTEST_SKIP() << GetParam().name << " has no virtual-host endpoint in the testbed";
  }
  auto store = open_store(location_url(GetParam(), GetParam().bucket, prefix_, GetParam().virtual_host_endpoint) +
                              "&path-style=false",
                          options_for(GetParam()));
  STOWAGE_ASSERT_OK(store);
  opened_.push_back(std::move(store).value());
  ObjectStore* vhost = opened_.back().get();
  STOWAGE_ASSERT_OK(vhost->put("dir/v", to_bytes("virtual host")));
  auto got = vhost->get("dir/v");
  STOWAGE_ASSERT_OK(got);
  EXPECT_EQ(as_string(got.value()), "virtual host");
  auto keys = list_all(*vhost, "dir/");
  STOWAGE_ASSERT_OK(keys);
  ASSERT_EQ(keys->size(), 1u);
}

INSTANTIATE_TEST_SUITE_P(Servers, S3ServerTest, ::testing::Values(minio_server(), versitygw_server()),
                         [](const ::testing::TestParamInfo<S3Server>& info) { return info.param.name; });

}  // namespace
}  // namespace stowage::store_test
