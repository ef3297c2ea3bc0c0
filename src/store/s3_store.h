// S3Store: an ObjectStore on any S3-compatible service (AWS, MinIO, versitygw)
// through libcurl with SigV4 signing; create-only puts via If-None-Match.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "store/object_store.h"

namespace stowage {

class CurlHandlePool;  // util/curl.h

struct S3Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // empty unless temporary credentials
};

// Credentials the way the AWS tools find them: AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN, else the shared credentials file
// (AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials), profile AWS_PROFILE or
// "default".
// A non-empty profile skips the environment and reads that profile of the file.
Result<S3Credentials> load_s3_credentials(const std::string& profile = "");
// Reads one profile of a shared credentials file (INI format).
Result<S3Credentials> load_s3_credentials_file(const std::string& path, const std::string& profile);
// The same from the text of a credentials file (e.g. a Kubernetes Secret);
// `source` names it in errors.
Result<S3Credentials> parse_s3_credentials(const std::string& text, const std::string& profile,
                                           const std::string& source);

struct S3Config {
  std::string bucket;
  std::string prefix;    // prepended to every key: "" or ending in '/'
  std::string region = "us-east-1";
  std::string endpoint;  // scheme://host[:port], e.g. https://s3.us-east-1.amazonaws.com
  bool path_style = false;  // endpoint/bucket/key instead of bucket.endpoint/key
  std::string ca_bundle;    // PEM file of trusted CAs; empty = system default
  bool insecure = false;    // disables TLS certificate verification (explicit opt-in only)
  S3Credentials credentials;
  uint64_t multipart_threshold = 64ull << 20;  // objects larger than this use multipart upload
  uint64_t multipart_part_size = 16ull << 20;  // raised to the S3 minimum of 5 MiB if smaller
  // true: the server honours `If-None-Match: *` on PutObject and
  // CompleteMultipartUpload (AWS since 2024, MinIO, versitygw). false: check
  // with HEAD before the put, which is racy (see S3Store::put).
  bool conditional_writes = true;
  std::string profile;  // credentials from this profile of the shared credentials file (URL: profile=NAME)
  std::chrono::milliseconds connect_timeout{10'000};
  std::chrono::seconds stall_timeout{60};  // a transfer moving no data this long fails
};

class S3Store : public ObjectStore {
 public:
  static constexpr uint64_t kMinimumPartSize = 5ull << 20;

  // Validates the configuration (bucket, endpoint, credentials present).
  static Result<std::unique_ptr<S3Store>> open(S3Config config);
  ~S3Store() override;
  S3Store(const S3Store&) = delete;
  S3Store& operator=(const S3Store&) = delete;

  // Creates the bucket if it does not exist (used by `repo init`).
  Status ensure_bucket();

  std::string describe() const override;
  Status put(const std::string& key, ByteView data) override;
  Result<Bytes> get(const std::string& key) override;
  Result<Bytes> get_range(const std::string& key, uint64_t offset, uint64_t length) override;
  Result<ObjectInfo> stat(const std::string& key) override;
  Status list(const std::string& prefix, const std::function<void(const ObjectInfo&)>& fn) override;
  // On a versioned bucket: deletes the object's version (HEAD names it), so
  // no delete marker is left; a version still under retention gives kLocked.
  Status remove(const std::string& key) override;
  // x-amz-object-lock-mode and -retain-until-date on PutObject (or
  // CreateMultipartUpload), with Content-MD5 as Object Lock requires.
  Status put_retained(const std::string& key, ByteView data, const Retention& retention) override;
  // PutObjectRetention (?retention); a refusal because a later date is already
  // set counts as success.
  Status extend_retention(const std::string& key, const Retention& retention) override;
  // GetObjectLockConfiguration (?object-lock) and GetBucketVersioning (?versioning).
  Result<BucketLockState> lock_state() override;
  // The retention of the key's current version (GetObjectRetention); an
  // inactive Retention when it has none.
  Result<Retention> retention_of(const std::string& key, const std::string& version_id = "");

  const S3Config& config() const { return config_; }

  struct Request;
  struct Response;

 private:
  explicit S3Store(S3Config config);

  // Sends one signed request. Fails only when no HTTP answer came back
  // (kUnavailable for connection trouble); HTTP errors are the caller's to map.
  Result<Response> perform(const Request& request);
  // Maps an HTTP error answer to an Error naming the operation and object.
  Error http_error(const Response& response, const std::string& operation, const std::string& key) const;
  std::string url_for(const std::string& full_key, const std::string& query) const;
  std::string location_of(const std::string& key) const;  // s3://bucket/prefix/key

  Status put_single(const std::string& key, ByteView data, const Retention& retention);
  Status put_multipart(const std::string& key, ByteView data, const Retention& retention);
  Status upload_parts_and_complete(const std::string& key, const std::string& upload_id, ByteView data);
  Status check_absent_before_put(const std::string& key);

  S3Config config_;
  std::string scheme_;  // "http" or "https"
  std::string host_;    // host[:port] of the endpoint
  std::unique_ptr<CurlHandlePool> handles_;
};

}  // namespace stowage
