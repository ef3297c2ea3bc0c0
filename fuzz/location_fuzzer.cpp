// Fuzzes parse_store_url, the URL parsing of open_store (backup-location URLs
// come from users and from BackupStorageLocation objects). Whatever parses
// must satisfy what location.h and the parser's own error messages promise:
//   file: an absolute directory path, no '..' component, no trailing '/',
//         no NUL byte (a path with a NUL is cut short by every system call,
//         which would let "/a/..%00" escape the '..' rule);
//   s3:   a valid bucket name, a prefix that is empty or ends in '/' and has
//         no empty path component, an endpoint of the form
//         http(s)://host[:port] (checked by character set: no path, query,
//         fragment or userinfo — whether given or derived from the region),
//         a non-empty region, a ca-bundle that is empty or absolute.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "fuzz_common.h"
#include "store/location.h"

using namespace stowage;

static bool valid_bucket(const std::string& b) {
  if (b.size() < 3 || b.size() > 63) return false;
  for (char c : b)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.')) return false;
  return b.front() != '-' && b.front() != '.' && b.back() != '-' && b.back() != '.';
}

// scheme://host[:port] with host a DNS name, IPv4 or [IPv6] literal.
static bool endpoint_form(const std::string& e) {
  size_t start;
  if (e.rfind("http://", 0) == 0) start = 7;
  else if (e.rfind("https://", 0) == 0) start = 8;
  else return false;
  if (start == e.size()) return false;
  for (size_t i = start; i < e.size(); i++) {
    char c = e[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
          c == '_' || c == ':' || c == '[' || c == ']'))
      return false;
  }
  return true;
}

static bool has_component(const std::string& path, const std::string& component) {
  size_t start = 0;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    if (slash == std::string::npos) slash = path.size();
    if (path.compare(start, slash - start, component) == 0 && slash - start == component.size()) return true;
    start = slash + 1;
  }
  return false;
}

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  unsetenv("AWS_REGION");
  unsetenv("AWS_DEFAULT_REGION");
  fuzz::maybe_write_seeds("location", [] {
    return fuzz::Seeds{
        {"file", to_bytes("file:///var/backups/stowage/")},
        {"file_escape", to_bytes("file:///tmp/with%20space")},
        {"s3_plain", to_bytes("s3://my-bucket/backups?region=eu-west-1")},
        {"s3_all", to_bytes("s3://stowage-test/team/repo?endpoint=http://127.0.0.1:9000&region=us-east-1"
                            "&path-style=false&ca-bundle=/etc/ssl/ca.pem&insecure=true&conditional-writes=no")},
        {"s3_bucket_only", to_bytes("s3://abc")}};
  });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string url(reinterpret_cast<const char*>(data), size);
  Result<StoreLocation> loc = parse_store_url(url);
  if (!loc.ok()) {
    FUZZ_CHECK(loc.error().code() == ErrorCode::kInvalidArgument);
    return 0;
  }
  if (loc->kind == StoreLocation::Kind::kFile) {
    const std::string& root = loc->file_root;
    FUZZ_CHECK(!root.empty() && root[0] == '/');
    FUZZ_CHECK(root == "/" || root.back() != '/');
    FUZZ_CHECK(!has_component(root, ".."));
    FUZZ_CHECK(root.find('\0') == std::string::npos);
  } else {
    const S3Config& s3 = loc->s3;
    FUZZ_CHECK(valid_bucket(s3.bucket));
    FUZZ_CHECK(s3.prefix.empty() || s3.prefix.back() == '/');
    if (!s3.prefix.empty()) {
      std::string body = s3.prefix.substr(0, s3.prefix.size() - 1);
      FUZZ_CHECK(!has_component(body, ""));
    }
    FUZZ_CHECK(endpoint_form(s3.endpoint));
    FUZZ_CHECK(!s3.region.empty());
    FUZZ_CHECK(s3.ca_bundle.empty() || s3.ca_bundle[0] == '/');
  }
  return 0;
}
