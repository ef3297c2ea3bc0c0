// S3Store's transport: construction, one signed
// request (libcurl's CURLOPT_AWS_SIGV4) and the mapping of S3 errors.
#include <curl/curl.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <ctime>
#include <map>
#include <vector>

#include "store/s3_request.h"
#include "store/s3_xml.h"
#include "util/curl.h"
#include "util/http_headers.h"

namespace stowage {

namespace s3_detail {

namespace {
bool is_unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_' || c == '~';
}
}  // namespace

// RFC 3986 percent-encoding as SigV4 wants it: upper-case hex, unreserved kept.
std::string uri_encode(std::string_view text, bool keep_slash) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (is_unreserved(c) || (keep_slash && c == '/')) {
      out.push_back(char(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::string sha256_hex(ByteView data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(data.data(), data.size(), digest, &length, EVP_sha256(), nullptr);
  return hex_encode(ByteView(digest, length));
}

std::string md5_base64(ByteView data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(data.data(), data.size(), digest, &length, EVP_md5(), nullptr);
  return base64_encode(ByteView(digest, length));
}

bool parse_uint64(const std::string& text, uint64_t& value) {
  if (text.empty() || text.size() > 20) return false;
  value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + uint64_t(c - '0');
  }
  return true;
}

// "2026-02-12T20:18:48.000Z" (ListObjectsV2) to seconds since the epoch.
int64_t parse_iso8601(const std::string& text) {
  struct tm parts {};
  if (sscanf(text.c_str(), "%d-%d-%dT%d:%d:%d", &parts.tm_year, &parts.tm_mon, &parts.tm_mday, &parts.tm_hour,
             &parts.tm_min, &parts.tm_sec) != 6) {
    return 0;
  }
  parts.tm_year -= 1900;
  parts.tm_mon -= 1;
  return int64_t(timegm(&parts));
}

std::string format_iso8601(int64_t unix_seconds) {
  time_t t = time_t(unix_seconds);
  struct tm parts {};
  gmtime_r(&t, &parts);
  char buffer[32];
  strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &parts);
  return buffer;
}

int64_t parse_http_date(const std::string& text) {
  time_t when = curl_getdate(text.c_str(), nullptr);
  return when > 0 ? int64_t(when) : 0;
}

}  // namespace s3_detail

namespace {

// The body of a PUT, handed to curl piece by piece.
struct UploadSource {
  ByteView data;
  size_t offset = 0;
};

size_t read_body(char* buffer, size_t size, size_t count, void* user_data) {
  auto* source = static_cast<UploadSource*>(user_data);
  size_t n = std::min(size * count, source->data.size() - source->offset);
  std::memcpy(buffer, source->data.data() + source->offset, n);
  source->offset += n;
  return n;
}

size_t write_body(char* data, size_t size, size_t count, void* user_data) {
  auto* body = static_cast<Bytes*>(user_data);
  body->insert(body->end(), data, data + size * count);
  return size * count;
}

const char* kCredentialsHint =
    "check the credentials (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or the shared credentials file) and that "
    "the bucket policy grants this identity access";

}  // namespace

// ---------------------------------------------------------------------------
// Construction and transport.

Result<std::unique_ptr<S3Store>> S3Store::open(S3Config config) {
  const std::string example = "s3://my-bucket/backups?endpoint=http://127.0.0.1:9000&region=us-east-1";
  if (config.bucket.empty()) {
    return Error(ErrorCode::kInvalidArgument, "S3 location has no bucket name", config.endpoint,
                 "name a bucket, e.g. " + example);
  }
  size_t scheme_end = config.endpoint.find("://");
  std::string scheme = scheme_end == std::string::npos ? "" : config.endpoint.substr(0, scheme_end);
  if (scheme != "http" && scheme != "https") {
    return Error(ErrorCode::kInvalidArgument, "S3 endpoint \"" + config.endpoint + "\" is not an http:// or https:// URL",
                 config.endpoint, "use e.g. endpoint=http://127.0.0.1:9000 or https://s3.us-east-1.amazonaws.com");
  }
  std::string host = config.endpoint.substr(scheme_end + 3);
  while (!host.empty() && host.back() == '/') host.pop_back();
  if (host.empty() || host.find('/') != std::string::npos || host.find('?') != std::string::npos) {
    return Error(ErrorCode::kInvalidArgument,
                 "S3 endpoint \"" + config.endpoint + "\" must be scheme://host[:port] without a path", config.endpoint,
                 "use e.g. endpoint=http://127.0.0.1:9000");
  }
  if (config.credentials.access_key_id.empty() || config.credentials.secret_access_key.empty()) {
    return Error(ErrorCode::kInvalidArgument, "no S3 credentials for s3://" + config.bucket, config.bucket,
                 "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or use a shared credentials file");
  }
  if (!config.prefix.empty() && config.prefix.back() != '/') config.prefix += '/';
  if (config.multipart_part_size < kMinimumPartSize) config.multipart_part_size = kMinimumPartSize;
  if (config.multipart_threshold < config.multipart_part_size) config.multipart_threshold = config.multipart_part_size;
  TRY_STATUS(load_curl());
  std::unique_ptr<S3Store> store(new S3Store(std::move(config)));
  store->scheme_ = scheme;
  store->host_ = host;
  return store;
}

S3Store::S3Store(S3Config config) : config_(std::move(config)), handles_(std::make_unique<CurlHandlePool>()) {}

S3Store::~S3Store() = default;

std::string S3Store::describe() const {
  std::string where = "s3://" + config_.bucket;
  if (!config_.prefix.empty()) where += "/" + config_.prefix.substr(0, config_.prefix.size() - 1);
  return where + " at " + config_.endpoint;
}

std::string S3Store::location_of(const std::string& key) const {
  return "s3://" + config_.bucket + "/" + config_.prefix + key;
}

std::string S3Store::url_for(const std::string& full_key, const std::string& query) const {
  std::string url = scheme_ + "://";
  if (config_.path_style) {
    url += host_ + "/" + s3_detail::uri_encode(config_.bucket, false);
    if (!full_key.empty()) url += "/" + s3_detail::uri_encode(full_key, true);
  } else {
    url += config_.bucket + "." + host_ + "/" + s3_detail::uri_encode(full_key, true);
  }
  if (!query.empty()) url += "?" + query;
  return url;
}

Result<S3Store::Response> S3Store::perform(const Request& request) {
  CurlHandlePool::Lease lease(*handles_);
  CURL* curl = lease.get();
  if (curl == nullptr) return Error(ErrorCode::kInternal, "cannot create a curl handle", request.key);

  Response response;
  response.body.reserve(request.expected_body);
  char error_buffer[CURL_ERROR_SIZE] = {0};
  const std::string url = url_for(request.full_key, request.query);
  const std::string sigv4 = "aws:amz:" + config_.region + ":s3";
  const std::string payload_hash = s3_detail::sha256_hex(request.body);

  struct curl_slist* header_list = nullptr;
  std::vector<std::string> headers = request.headers;
  // versitygw and AWS refuse requests without it; curl signs it like any header.
  headers.push_back("x-amz-content-sha256: " + payload_hash);
  if (!config_.credentials.session_token.empty()) {
    headers.push_back("x-amz-security-token: " + config_.credentials.session_token);
  }
  for (const std::string& header : headers) header_list = curl_slist_append(header_list, header.c_str());
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> header_guard(header_list, &curl_slist_free_all);

  UploadSource upload{request.body, 0};
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_PATH_AS_IS, 1L);  // the signed path must be the sent path
  curl_easy_setopt(curl, CURLOPT_AWS_SIGV4, sigv4.c_str());
  curl_easy_setopt(curl, CURLOPT_USERNAME, config_.credentials.access_key_id.c_str());
  curl_easy_setopt(curl, CURLOPT_PASSWORD, config_.credentials.secret_access_key.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, header_list);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, long(config_.connect_timeout.count()));
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, long(config_.stall_timeout.count()));
  curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, write_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &response.body);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, collect_http_header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &response.headers);
  if (!config_.ca_bundle.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, config_.ca_bundle.c_str());
  if (config_.insecure) {
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  if (request.method == "HEAD") {
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  } else if (request.method == "PUT") {
    curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(curl, CURLOPT_READFUNCTION, read_body);
    curl_easy_setopt(curl, CURLOPT_READDATA, &upload);
    curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, curl_off_t(request.body.size()));
  } else if (request.method == "POST") {
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    // An empty body still needs a non-null pointer, or curl reads from stdin.
    const char* post_body = request.body.empty() ? "" : reinterpret_cast<const char*>(request.body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, post_body);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(request.body.size()));
  } else if (request.method != "GET") {
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }

  CURLcode code = curl_easy_perform(curl);
  if (code != CURLE_OK) {
    std::string detail = error_buffer[0] ? error_buffer : curl_easy_strerror(code);
    std::string message = request.operation + " of " + location_of(request.key) + " failed: " + detail;
    switch (code) {
      case CURLE_SSL_CACERT_BADFILE:
        return Error(ErrorCode::kInvalidArgument, message, request.key,
                     "the CA bundle " + config_.ca_bundle + " cannot be read; check the ca-bundle= path");
      case CURLE_PEER_FAILED_VERIFICATION:
      case CURLE_SSL_CERTPROBLEM:
        return Error(ErrorCode::kPermissionDenied, message, request.key,
                     "the server's TLS certificate is not trusted; pass ca-bundle=/path/to/ca.pem (or, only for a "
                     "test server, insecure=true)");
      case CURLE_UNSUPPORTED_PROTOCOL:
      case CURLE_URL_MALFORMAT:
        return Error(ErrorCode::kInvalidArgument, message, request.key, "check the endpoint URL " + config_.endpoint);
      default:
        // Connection refused, DNS, timeouts, resets: transient from here.
        return Error(ErrorCode::kUnavailable, message, request.key,
                     "check that the S3 endpoint " + config_.endpoint + " is up and reachable");
    }
  }
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
  return response;
}

Error S3Store::http_error(const Response& response, const std::string& operation, const std::string& key) const {
  std::string code, message;
  if (!response.body.empty()) {
    Result<XmlElement> xml = parse_xml(as_string(response.body), operation + " error answer");
    if (xml.ok() && xml->name == "Error") {
      code = xml->child_text("Code");
      message = xml->child_text("Message");
    } else {
      // Not an S3 error document (a proxy's HTML page, say): quote its start.
      for (unsigned char c : as_string(response.body).substr(0, 160)) message.push_back(c >= 0x20 && c < 0x7f ? char(c) : ' ');
    }
  }
  const long status = response.status;
  if (code.empty()) {
    // HEAD answers carry no body; name the usual code for the status.
    code = status == 404 ? "NoSuchKey" : status == 403 ? "AccessDenied" : status == 412 ? "PreconditionFailed" : "";
  }
  std::string what = operation + " of " + location_of(key) + " failed: HTTP " + std::to_string(status);
  if (!code.empty()) what += " " + code;
  if (!message.empty()) what += " \"" + message + "\"";

  if (code == "NoSuchBucket") {
    return Error(ErrorCode::kNotFound, what, key,
                 "the bucket " + config_.bucket + " does not exist: create it (stowage repo init) or fix the bucket name");
  }
  if (code == "RequestTimeTooSkewed") {
    return Error(ErrorCode::kPermissionDenied, what, key, "this machine's clock is off; synchronise it (NTP)");
  }
  // versitygw answers an unknown access key with 404 XAdminUserNotFound.
  if (status == 403 || code == "InvalidAccessKeyId" || code == "SignatureDoesNotMatch" || code == "ExpiredToken" ||
      code == "InvalidToken" || code == "XAdminUserNotFound") {
    return Error(ErrorCode::kPermissionDenied, what, key, kCredentialsHint);
  }
  if (status == 404 || code == "NoSuchKey" || code == "NoSuchUpload") {
    return Error(ErrorCode::kNotFound, what, key, "check the key, or whether the object was removed");
  }
  if (status == 412 || code == "BucketAlreadyOwnedByYou" || code == "BucketAlreadyExists") {
    return Error(ErrorCode::kAlreadyExists, what, key, "objects are write-once; choose a new key");
  }
  if (code == "ConditionalRequestConflict" || code == "OperationAborted") {
    // A concurrent conditional write on the same key: retrying settles it.
    return Error(ErrorCode::kUnavailable, what, key, "another writer raced for this key; retry");
  }
  if (status == 409) return Error(ErrorCode::kConflict, what, key, "another operation on this object is in progress");
  if (status == 416 || code == "InvalidRange") {
    return Error(ErrorCode::kInvalidArgument, what, key, "the requested range is past the end of the object");
  }
  if (status == 501 || code == "NotImplemented") {
    return Error(ErrorCode::kUnsupported, what, key, "this S3 server lacks a feature stowage needs");
  }
  if (status >= 500 || status == 429 || code == "SlowDown" || code == "RequestTimeout" || code == "InternalError") {
    return Error(ErrorCode::kUnavailable, what, key, "the S3 service is overloaded or failing; retry later");
  }
  return Error(ErrorCode::kIo, what, key, "see the S3 error code and message above");
}

}  // namespace stowage
