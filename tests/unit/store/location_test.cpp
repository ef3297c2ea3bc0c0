// Location URLs (file:// and s3://) and S3 credential lookup.
#include "store/location.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <optional>

#include "store/s3_store.h"
#include "store_test_support.h"

namespace stowage::store_test {
namespace {

// Sets or unsets an environment variable for the lifetime of the object.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = getenv(name)) old_ = old;
    if (value) setenv(name, value, 1);
    else unsetenv(name);
  }
  ~ScopedEnv() {
    if (old_) setenv(name_, old_->c_str(), 1);
    else unsetenv(name_);
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST(LocationTest, ParsesFileUrls) {
  auto location = parse_store_url("file:///var/backups/stowage/");
  STOWAGE_ASSERT_OK(location);
  EXPECT_EQ(location->kind, StoreLocation::Kind::kFile);
  EXPECT_EQ(location->file_root, "/var/backups/stowage");
  auto escaped = parse_store_url("file:///tmp/with%20space");
  STOWAGE_ASSERT_OK(escaped);
  EXPECT_EQ(escaped->file_root, "/tmp/with space");
}

TEST(LocationTest, ParsesS3UrlsWithAllParameters) {
  auto location = parse_store_url(
      "s3://my-bucket/team/repo?endpoint=http://127.0.0.1:9000&region=eu-west-1&path-style=false"
      "&ca-bundle=/etc/ssl/ca.pem&insecure=true&conditional-writes=false");
  STOWAGE_ASSERT_OK(location);
  EXPECT_EQ(location->kind, StoreLocation::Kind::kS3);
  const S3Config& config = location->s3;
  EXPECT_EQ(config.bucket, "my-bucket");
  EXPECT_EQ(config.prefix, "team/repo/");
  EXPECT_EQ(config.endpoint, "http://127.0.0.1:9000");
  EXPECT_EQ(config.region, "eu-west-1");
  EXPECT_FALSE(config.path_style);
  EXPECT_EQ(config.ca_bundle, "/etc/ssl/ca.pem");
  EXPECT_TRUE(config.insecure);
  EXPECT_FALSE(config.conditional_writes);
}

TEST(LocationTest, S3DefaultsFollowAwsConventions) {
  ScopedEnv region("AWS_REGION", "ap-south-1");
  auto aws = parse_store_url("s3://my-bucket");
  STOWAGE_ASSERT_OK(aws);
  EXPECT_EQ(aws->s3.region, "ap-south-1");
  EXPECT_EQ(aws->s3.endpoint, "https://s3.ap-south-1.amazonaws.com");
  EXPECT_FALSE(aws->s3.path_style);
  EXPECT_EQ(aws->s3.prefix, "");
  EXPECT_FALSE(aws->s3.insecure);
  EXPECT_TRUE(aws->s3.conditional_writes);

  auto custom = parse_store_url("s3://my-bucket/p/?endpoint=http://127.0.0.1:9000/");
  STOWAGE_ASSERT_OK(custom);
  EXPECT_TRUE(custom->s3.path_style);  // an explicit endpoint means path-style unless told otherwise
  EXPECT_EQ(custom->s3.endpoint, "http://127.0.0.1:9000");
  EXPECT_EQ(custom->s3.prefix, "p/");
}

TEST(LocationTest, RegionFallsBackToUsEast1) {
  ScopedEnv region("AWS_REGION", nullptr);
  ScopedEnv default_region("AWS_DEFAULT_REGION", nullptr);
  auto location = parse_store_url("s3://my-bucket/x");
  STOWAGE_ASSERT_OK(location);
  EXPECT_EQ(location->s3.region, "us-east-1");
}

TEST(LocationTest, MalformedUrlsAreRejectedWithTheUrlAndAnExample) {
  for (const std::string& url :
       {std::string("s3://"), std::string("s3://Bad_Bucket/x"), std::string("s3://ab"), std::string("file://relative/x"),
        std::string("file:///x?y=1"), std::string("ftp://host/x"), std::string("/plain/path"), std::string(""),
        std::string("s3://bucket/x?unknown=1"), std::string("s3://bucket/x?insecure=maybe"),
        std::string("s3://bucket/x?endpoint=127.0.0.1:9000"), std::string("s3://bucket/x?endpoint=http://h:1/path"),
        std::string("s3://bucket/x?region"), std::string("s3://bucket/x?region=a&region=b"),
        std::string("s3://bucket/a//b"), std::string("s3://bucket/x?ca-bundle=relative.pem"),
        std::string("file:///a/../b"), std::string("s3://bucket/%zz")}) {
    auto result = parse_store_url(url);
    ASSERT_FALSE(result.ok()) << "accepted: " << url;
    EXPECT_EQ(result.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(result.error().message().find("\"" + url + "\""), std::string::npos) << result.error().message();
    EXPECT_NE(result.error().hint().find("file:///"), std::string::npos);
    EXPECT_NE(result.error().hint().find("s3://"), std::string::npos);
  }
}

TEST(LocationTest, OpenStoreGivesAWorkingRetryWrappedFsStore) {
  const std::string root =
      (std::filesystem::temp_directory_path() / ("stowage-location-test-" + unique_suffix())).string();
  StoreOptions options;
  options.create_if_missing = true;
  auto store = open_store("file://" + root, options);
  STOWAGE_ASSERT_OK(store);
  EXPECT_NE(dynamic_cast<RetryStore*>(store->get()), nullptr);
  EXPECT_TRUE(std::filesystem::is_directory(root));
  STOWAGE_ASSERT_OK((*store)->put("config", to_bytes("c")));
  EXPECT_EQ((*store)->describe(), "file://" + root);
  std::filesystem::remove_all(root);
}

TEST(LocationTest, OpenStoreForS3NeedsNoNetworkAndKeepsThePrefix) {
  StoreOptions options;
  options.s3_credentials = S3Credentials{"key", "secret", ""};
  auto store = open_store("s3://my-bucket/some/prefix?endpoint=http://127.0.0.1:9", options);
  STOWAGE_ASSERT_OK(store);
  auto* retry = dynamic_cast<RetryStore*>(store->get());
  ASSERT_NE(retry, nullptr);
  auto* s3 = dynamic_cast<S3Store*>(&retry->inner());
  ASSERT_NE(s3, nullptr);
  EXPECT_EQ(s3->config().prefix, "some/prefix/");
  EXPECT_EQ(s3->config().bucket, "my-bucket");
  EXPECT_NE((*store)->describe().find("s3://my-bucket/some/prefix"), std::string::npos);
}

TEST(LocationTest, OpenStoreForS3WithoutCredentialsExplainsWhereToPutThem) {
  ScopedEnv key("AWS_ACCESS_KEY_ID", nullptr), secret("AWS_SECRET_ACCESS_KEY", nullptr);
  ScopedEnv file("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/stowage/credentials");
  auto store = open_store("s3://my-bucket/x?endpoint=http://127.0.0.1:9");
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(store.error().hint().find("AWS_ACCESS_KEY_ID"), std::string::npos) << store.error().to_string();
}

class CredentialsFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = (std::filesystem::temp_directory_path() / ("stowage-credentials-" + unique_suffix())).string();
    std::ofstream(path_) << "# comment\n[default]\naws_access_key_id = DEFAULTKEY\naws_secret_access_key=DEFAULTSECRET\n"
                            "\n[profile backup]\naws_access_key_id=BACKUPKEY\n aws_secret_access_key = BACKUPSECRET \n"
                            "aws_session_token = TOKEN\n[broken]\naws_access_key_id=ONLYKEY\n";
  }
  void TearDown() override { std::filesystem::remove(path_); }
  std::string path_;
};

TEST_F(CredentialsFileTest, EnvironmentWinsOverTheFile) {
  ScopedEnv key("AWS_ACCESS_KEY_ID", "ENVKEY"), secret("AWS_SECRET_ACCESS_KEY", "ENVSECRET");
  ScopedEnv token("AWS_SESSION_TOKEN", nullptr), file("AWS_SHARED_CREDENTIALS_FILE", path_.c_str());
  auto credentials = load_s3_credentials();
  STOWAGE_ASSERT_OK(credentials);
  EXPECT_EQ(credentials->access_key_id, "ENVKEY");
  EXPECT_EQ(credentials->secret_access_key, "ENVSECRET");
}

TEST_F(CredentialsFileTest, FileProfileFromAwsProfile) {
  ScopedEnv key("AWS_ACCESS_KEY_ID", nullptr), secret("AWS_SECRET_ACCESS_KEY", nullptr);
  ScopedEnv file("AWS_SHARED_CREDENTIALS_FILE", path_.c_str());
  {
    ScopedEnv profile("AWS_PROFILE", nullptr);
    auto credentials = load_s3_credentials();
    STOWAGE_ASSERT_OK(credentials);
    EXPECT_EQ(credentials->access_key_id, "DEFAULTKEY");
    EXPECT_EQ(credentials->secret_access_key, "DEFAULTSECRET");
  }
  {
    ScopedEnv profile("AWS_PROFILE", "backup");
    auto credentials = load_s3_credentials();
    STOWAGE_ASSERT_OK(credentials);
    EXPECT_EQ(credentials->access_key_id, "BACKUPKEY");
    EXPECT_EQ(credentials->secret_access_key, "BACKUPSECRET");
    EXPECT_EQ(credentials->session_token, "TOKEN");
  }
  {
    ScopedEnv profile("AWS_PROFILE", "broken");
    STOWAGE_EXPECT_CODE(load_s3_credentials(), ErrorCode::kInvalidArgument);
  }
  {
    ScopedEnv profile("AWS_PROFILE", "absent");
    auto missing = load_s3_credentials();
    ASSERT_FALSE(missing.ok());
    EXPECT_NE(missing.error().message().find("absent"), std::string::npos);
  }
}

TEST_F(CredentialsFileTest, HalfSetEnvironmentIsAnError) {
  ScopedEnv key("AWS_ACCESS_KEY_ID", "ENVKEY"), secret("AWS_SECRET_ACCESS_KEY", nullptr);
  STOWAGE_EXPECT_CODE(load_s3_credentials(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace stowage::store_test

namespace stowage::store_test {
namespace {

TEST(LocationTest, ProfileParameterReadsThatProfileAndIgnoresTheEnvironment) {
  std::string path = std::filesystem::temp_directory_path() / "stowage-profile-credentials";
  std::ofstream(path) << "[default]\naws_access_key_id = D\naws_secret_access_key = DS\n"
                         "[second]\naws_access_key_id = S\naws_secret_access_key = SS\n";
  ScopedEnv file("AWS_SHARED_CREDENTIALS_FILE", path.c_str());
  ScopedEnv key("AWS_ACCESS_KEY_ID", "ENV");
  ScopedEnv secret("AWS_SECRET_ACCESS_KEY", "ENVS");
  auto location = parse_store_url("s3://my-bucket/x?endpoint=http://127.0.0.1:9&profile=second");
  STOWAGE_ASSERT_OK(location);
  EXPECT_EQ(location->s3.profile, "second");
  auto credentials = load_s3_credentials("second");
  STOWAGE_ASSERT_OK(credentials);
  EXPECT_EQ(credentials->access_key_id, "S");
  EXPECT_EQ(load_s3_credentials()->access_key_id, "ENV");
  EXPECT_FALSE(load_s3_credentials("missing").ok());
  std::filesystem::remove(path);
}

TEST(LocationTest, RefusesUrlsThatCouldRedirectRequestsOrCutPaths) {
  for (const char* url : {"file:///srv/backups/..%00", "s3://my-bucket/p?region=attacker.example%23",
                          "s3://my-bucket/p?region=evil/x", "s3://my-bucket/p?endpoint=http://host%3Fx%3D1",
                          "s3://my-bucket/p?endpoint=http://user@host", "s3://my-bucket//repo",
                          "s3://my-bucket/p?region=EU"})
    EXPECT_FALSE(parse_store_url(url).ok()) << url;
  std::string with_nul = std::string("file:///srv/a") + '\0' + "b";
  EXPECT_FALSE(parse_store_url(with_nul).ok());
}

}  // namespace
}  // namespace stowage::store_test
