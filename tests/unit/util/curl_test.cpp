// libcurl opened on first use (util/curl.h): every kind of option and answer
// passes through the forwarding functions intact, against a real HTTP server
// on loopback (the metrics endpoint).
#include "util/curl.h"

#include <gtest/gtest.h>

#include "util/http_endpoint.h"

namespace stowage {
namespace {

size_t append_body(char* data, size_t size, size_t count, void* body) {
  static_cast<std::string*>(body)->append(data, size * count);
  return size * count;
}

class CurlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto requests = registry_.counter("stowage_curl_test_total", "Requests.", {"path"});
    ASSERT_TRUE(requests.ok());
    (*(*requests)->with({"/x"}))->increment(3);
    HttpEndpointOptions options;
    options.port = 0;
    endpoint_ = std::make_unique<HttpEndpoint>(registry_, options);
    ASSERT_TRUE(endpoint_->start().ok());
    url_ = "http://" + endpoint_->address() + "/metrics";
  }

  MetricsRegistry registry_;
  std::unique_ptr<HttpEndpoint> endpoint_;
  std::string url_;
};

TEST_F(CurlTest, LoadsOnceAndForwardsEveryArgumentType) {
  Status loaded = load_curl();
  ASSERT_TRUE(loaded.ok()) << loaded.error().to_string();
  EXPECT_TRUE(load_curl().ok());

  CURL* curl = curl_easy_init();
  ASSERT_NE(curl, nullptr);
  std::string body;
  // Pointer, function pointer and long options.
  ASSERT_EQ(curl_easy_setopt(curl, CURLOPT_URL, url_.c_str()), CURLE_OK);
  ASSERT_EQ(curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, append_body), CURLE_OK);
  ASSERT_EQ(curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body), CURLE_OK);
  ASSERT_EQ(curl_easy_setopt(curl, CURLOPT_TIMEOUT, 10L), CURLE_OK);
  ASSERT_EQ(curl_easy_setopt(curl, CURLOPT_NOPROXY, "*"), CURLE_OK);
  // A blob option: libcurl copies the bytes the struct points to.
  std::string pem = "not a certificate";
  curl_blob blob{pem.data(), pem.size(), CURL_BLOB_COPY};
  EXPECT_EQ(curl_easy_setopt(curl, CURLOPT_CAINFO_BLOB, &blob), CURLE_OK);
  ASSERT_EQ(curl_easy_perform(curl), CURLE_OK);
  long status = 0;
  ASSERT_EQ(curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status), CURLE_OK);
  EXPECT_EQ(status, 200);
  curl_off_t downloaded = -1;
  ASSERT_EQ(curl_easy_getinfo(curl, CURLINFO_SIZE_DOWNLOAD_T, &downloaded), CURLE_OK);
  EXPECT_EQ(downloaded, curl_off_t(body.size()));
  EXPECT_NE(body.find("stowage_curl_test_total{path=\"/x\"} 3"), std::string::npos) << body;

  // A curl_off_t option reaches libcurl as such: a size limit below the
  // answer's length fails the transfer.
  body.clear();
  ASSERT_EQ(curl_easy_setopt(curl, CURLOPT_MAXFILESIZE_LARGE, curl_off_t(8)), CURLE_OK);
  CURLcode limited = curl_easy_perform(curl);
  EXPECT_EQ(limited, CURLE_FILESIZE_EXCEEDED) << curl_easy_strerror(limited);
  EXPECT_NE(std::string(curl_easy_strerror(limited)), "");

  curl_slist* headers = curl_slist_append(nullptr, "X-Test: 1");
  ASSERT_NE(headers, nullptr);
  curl_slist_free_all(headers);
  EXPECT_EQ(curl_getdate("Thu, 01 Jan 1970 00:01:40 GMT", nullptr), time_t(100));
  curl_easy_cleanup(curl);
}

TEST_F(CurlTest, PoolHandsBackAReleasedHandle) {
  CurlHandlePool pool;
  CURL* first = nullptr;
  {
    CurlHandlePool::Lease lease(pool);
    first = lease.get();
    curl_easy_setopt(first, CURLOPT_MAXFILESIZE_LARGE, curl_off_t(8));  // must not outlive the lease
    ASSERT_NE(first, nullptr);
    CurlHandlePool::Lease second(pool);  // the first is busy: a new one
    ASSERT_NE(second.get(), nullptr);
    EXPECT_NE(second.get(), first);
  }
  // The last one parked comes back first, its options reset: it fetches
  // with only what is set now.
  CurlHandlePool::Lease again(pool);
  ASSERT_EQ(again.get(), first);
  std::string body;
  curl_easy_setopt(again.get(), CURLOPT_URL, url_.c_str());
  curl_easy_setopt(again.get(), CURLOPT_WRITEFUNCTION, append_body);
  curl_easy_setopt(again.get(), CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(again.get(), CURLOPT_NOPROXY, "*");
  ASSERT_EQ(curl_easy_perform(again.get()), CURLE_OK);
  EXPECT_NE(body.find("stowage_curl_test_total"), std::string::npos);
}

}  // namespace
}  // namespace stowage
