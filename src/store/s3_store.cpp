#include "store/s3_store.h"

#include <curl/curl.h>
#include <openssl/evp.h>

#include <cstring>
#include <ctime>
#include <map>
#include <mutex>
#include <vector>

#include "store/s3_xml.h"

namespace stowage {

// ---------------------------------------------------------------------------
// Requests, answers and the pool of curl handles.

struct S3Store::Request {
  std::string method;                // GET, HEAD, PUT, POST, DELETE
  std::string full_key;              // object key with the store prefix; "" for the bucket
  std::string query;                 // canonical: sorted by name, encoded, every name with '='
  std::vector<std::string> headers;  // "Name: value"
  ByteView body;
  std::string operation;             // for errors: "PutObject", "ListObjectsV2", ...
  std::string key;                   // for errors: the key as the caller named it
};

struct S3Store::Response {
  long status = 0;
  Bytes body;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

// Idle curl easy handles. Reusing a handle reuses its connection (keep-alive)
// and TLS session; each handle is used by one thread at a time.
struct S3Store::HandlePool {
  std::mutex mutex;
  std::vector<CURL*> idle;

  CURL* acquire() {
    {
      std::lock_guard lock(mutex);
      if (!idle.empty()) {
        CURL* handle = idle.back();
        idle.pop_back();
        return handle;
      }
    }
    return curl_easy_init();
  }
  void release(CURL* handle) {
    curl_easy_reset(handle);  // drops options, keeps live connections
    std::lock_guard lock(mutex);
    idle.push_back(handle);
  }
  ~HandlePool() {
    for (CURL* handle : idle) curl_easy_cleanup(handle);
  }
};

namespace {

std::once_flag curl_global_once;

bool is_unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_' || c == '~';
}

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

std::string digest_hex(const EVP_MD* md, ByteView data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(data.data(), data.size(), digest, &length, md, nullptr);
  return hex_encode(ByteView(digest, length));
}

std::string digest_base64(const EVP_MD* md, ByteView data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(data.data(), data.size(), digest, &length, md, nullptr);
  return base64_encode(ByteView(digest, length));
}

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

size_t write_header(char* data, size_t size, size_t count, void* user_data) {
  auto* headers = static_cast<std::map<std::string, std::string>*>(user_data);
  std::string line(data, size * count);
  if (line.rfind("HTTP/", 0) == 0) {
    headers->clear();  // a new answer (after "100 Continue" or a redirect)
    return size * count;
  }
  size_t colon = line.find(':');
  if (colon == std::string::npos) return size * count;
  std::string name = line.substr(0, colon);
  for (char& c : name) c = char(std::tolower(static_cast<unsigned char>(c)));
  size_t begin = line.find_first_not_of(" \t", colon + 1);
  size_t end = line.find_last_not_of(" \t\r\n");
  (*headers)[name] = begin == std::string::npos || end < begin ? "" : line.substr(begin, end - begin + 1);
  return size * count;
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

bool parse_uint64(const std::string& text, uint64_t& value) {
  if (text.empty() || text.size() > 20) return false;
  value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + uint64_t(c - '0');
  }
  return true;
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
  std::call_once(curl_global_once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  std::unique_ptr<S3Store> store(new S3Store(std::move(config)));
  store->scheme_ = scheme;
  store->host_ = host;
  return store;
}

S3Store::S3Store(S3Config config) : config_(std::move(config)), handles_(std::make_unique<HandlePool>()) {}

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
    url += host_ + "/" + uri_encode(config_.bucket, false);
    if (!full_key.empty()) url += "/" + uri_encode(full_key, true);
  } else {
    url += config_.bucket + "." + host_ + "/" + uri_encode(full_key, true);
  }
  if (!query.empty()) url += "?" + query;
  return url;
}

Result<S3Store::Response> S3Store::perform(const Request& request) {
  CURL* curl = handles_->acquire();
  if (curl == nullptr) return Error(ErrorCode::kInternal, "cannot create a curl handle", request.key);
  struct Lease {
    HandlePool& pool;
    CURL* handle;
    ~Lease() { pool.release(handle); }
  } lease{*handles_, curl};

  Response response;
  char error_buffer[CURL_ERROR_SIZE] = {0};
  const std::string url = url_for(request.full_key, request.query);
  const std::string sigv4 = "aws:amz:" + config_.region + ":s3";
  const std::string payload_hash = digest_hex(EVP_sha256(), request.body);

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
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, write_header);
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
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, reinterpret_cast<const char*>(request.body.data()));
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

// ---------------------------------------------------------------------------
// The verbs.

Status S3Store::ensure_bucket() {
  Request head{"HEAD", "", "", {}, {}, "HeadBucket", ""};
  Response found = TRY(perform(head));
  if (found.status == 200) return ok_status();
  if (found.status != 404) return http_error(found, "HeadBucket", "");
  std::string body;
  if (config_.region != "us-east-1") {
    body = "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><LocationConstraint>" +
           xml_escape(config_.region) + "</LocationConstraint></CreateBucketConfiguration>";
  }
  Request create{"PUT", "", "", {}, as_bytes(body), "CreateBucket", ""};
  Response created = TRY(perform(create));
  if (created.status == 200) return ok_status();
  Error error = http_error(created, "CreateBucket", "");
  if (error.code() == ErrorCode::kAlreadyExists && error.message().find("BucketAlreadyOwnedByYou") != std::string::npos) {
    return ok_status();  // someone else (or an earlier try) created it for us
  }
  return error;
}

Status S3Store::put(const std::string& key, ByteView data) {
  if (key.empty()) return Error(ErrorCode::kInvalidArgument, "empty object key", describe(), "pass a non-empty key");
  if (!config_.conditional_writes) TRY_STATUS(check_absent_before_put(key));
  if (data.size() > config_.multipart_threshold) return put_multipart(key, data);
  return put_single(key, data);
}

// Used for servers that ignore If-None-Match, and before a multipart upload to
// avoid sending tens of MiB for a key that exists. Without conditional writes
// this is racy: two writers may both see the key absent and the later PUT
// replaces the earlier object. stowage's keys are content-addressed or unique
// per writer, so such a race writes identical data or cannot happen.
Status S3Store::check_absent_before_put(const std::string& key) {
  Result<ObjectInfo> existing = stat(key);
  if (existing.ok()) {
    return Error(ErrorCode::kAlreadyExists, "object " + location_of(key) + " already exists", key,
                 "objects are write-once; choose a new key");
  }
  if (existing.error().code() != ErrorCode::kNotFound) return std::move(existing).error();
  return ok_status();
}

Status S3Store::put_single(const std::string& key, ByteView data) {
  Request request{"PUT", config_.prefix + key, "", {}, data, "PutObject", key};
  // Content-MD5 lets the server verify the body; Object Lock buckets demand it.
  request.headers.push_back("Content-MD5: " + digest_base64(EVP_md5(), data));
  request.headers.push_back("Content-Type: application/octet-stream");
  if (config_.conditional_writes) request.headers.push_back("If-None-Match: *");
  Response response = TRY(perform(request));
  if (response.status == 200) return ok_status();
  return http_error(response, "PutObject", key);
}

Status S3Store::put_multipart(const std::string& key, ByteView data) {
  TRY_STATUS(check_absent_before_put(key));
  Request initiate{"POST", config_.prefix + key, "uploads=", {"Content-Type: application/octet-stream"}, {},
                   "CreateMultipartUpload", key};
  Response started = TRY(perform(initiate));
  if (started.status != 200) return http_error(started, "CreateMultipartUpload", key);
  XmlElement xml = TRY(parse_xml(as_string(started.body), "CreateMultipartUpload answer for " + location_of(key)));
  std::string upload_id = xml.child_text("UploadId");
  if (upload_id.empty()) {
    return Error(ErrorCode::kIo, "CreateMultipartUpload of " + location_of(key) + " returned no UploadId", key,
                 "the server's answer was not understood; check that the endpoint is an S3 service");
  }
  Status status = upload_parts_and_complete(key, upload_id, data);
  if (!status.ok()) {
    // Free the parts already stored; failing to abort leaves only garbage that a
    // bucket lifecycle rule (AbortIncompleteMultipartUpload) cleans up.
    Request abort{"DELETE", config_.prefix + key, "uploadId=" + uri_encode(upload_id, false), {}, {},
                  "AbortMultipartUpload", key};
    (void)perform(abort);
  }
  return status;
}

Status S3Store::upload_parts_and_complete(const std::string& key, const std::string& upload_id, ByteView data) {
  const std::string encoded_id = uri_encode(upload_id, false);
  std::string manifest = "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">";
  const uint64_t part_size = config_.multipart_part_size;
  int part_number = 1;
  for (uint64_t offset = 0; offset < data.size(); offset += part_size, part_number++) {
    ByteView part = data.subspan(offset, std::min<uint64_t>(part_size, data.size() - offset));
    // Query names sorted as SigV4 requires: partNumber before uploadId.
    Request upload{"PUT", config_.prefix + key, "partNumber=" + std::to_string(part_number) + "&uploadId=" + encoded_id,
                   {"Content-MD5: " + digest_base64(EVP_md5(), part)}, part, "UploadPart", key};
    Response uploaded = TRY(perform(upload));
    if (uploaded.status != 200) return http_error(uploaded, "UploadPart " + std::to_string(part_number), key);
    std::string etag = uploaded.header("etag");
    if (etag.empty()) {
      return Error(ErrorCode::kIo, "UploadPart " + std::to_string(part_number) + " of " + location_of(key) +
                   " returned no ETag", key, "the server's answer was not understood");
    }
    manifest += "<Part><PartNumber>" + std::to_string(part_number) + "</PartNumber><ETag>" + xml_escape(etag) +
                "</ETag></Part>";
  }
  manifest += "</CompleteMultipartUpload>";
  Request complete{"POST", config_.prefix + key, "uploadId=" + encoded_id, {"Content-Type: application/xml"},
                   as_bytes(manifest), "CompleteMultipartUpload", key};
  if (config_.conditional_writes) complete.headers.push_back("If-None-Match: *");
  Response completed = TRY(perform(complete));
  if (completed.status != 200) return http_error(completed, "CompleteMultipartUpload", key);
  // S3 may answer 200 and still report an error in the body.
  XmlElement result = TRY(parse_xml(as_string(completed.body), "CompleteMultipartUpload answer for " + location_of(key)));
  if (result.name == "Error") {
    completed.status = 500;
    return http_error(completed, "CompleteMultipartUpload", key);
  }
  return ok_status();
}

Result<Bytes> S3Store::get(const std::string& key) {
  Request request{"GET", config_.prefix + key, "", {}, {}, "GetObject", key};
  Response response = TRY(perform(request));
  if (response.status != 200) return http_error(response, "GetObject", key);
  uint64_t expected = 0;
  if (parse_uint64(response.header("content-length"), expected) && expected != response.body.size()) {
    return Error(ErrorCode::kUnavailable,
                 "GetObject of " + location_of(key) + " returned " + std::to_string(response.body.size()) +
                     " bytes instead of " + std::to_string(expected),
                 key, "the connection was cut short; retry");
  }
  return std::move(response.body);
}

Result<Bytes> S3Store::get_range(const std::string& key, uint64_t offset, uint64_t length) {
  auto past_end = [&](const std::string& size) {
    return Error(ErrorCode::kInvalidArgument,
                 "range [" + std::to_string(offset) + ", +" + std::to_string(length) + ") is past the end of " +
                     location_of(key) + (size.empty() ? "" : " (" + size + " bytes)"),
                 key, "the object is shorter than the caller expected: it may be truncated; run a repository check");
  };
  if (length == 0) {  // HTTP cannot express an empty range
    ObjectInfo info = TRY(stat(key));
    if (offset > info.size) return past_end(std::to_string(info.size));
    return Bytes();
  }
  Request request{"GET", config_.prefix + key, "", {}, {}, "GetObject (range)", key};
  request.headers.push_back("Range: bytes=" + std::to_string(offset) + "-" + std::to_string(offset + length - 1));
  Response response = TRY(perform(request));
  // "Content-Range: bytes 0-9/1234" or "bytes */1234"
  std::string content_range = response.header("content-range");
  size_t slash = content_range.rfind('/');
  std::string total = slash == std::string::npos ? "" : content_range.substr(slash + 1);
  if (response.status == 416) return past_end(total);
  if (response.status == 200) {  // the server ignored the range and sent everything
    if (offset > response.body.size() || length > response.body.size() - offset) {
      return past_end(std::to_string(response.body.size()));
    }
    return Bytes(response.body.begin() + offset, response.body.begin() + offset + length);
  }
  if (response.status != 206) return http_error(response, "GetObject (range)", key);
  if (response.body.size() != length) {
    uint64_t total_size = 0;
    if (parse_uint64(total, total_size) && offset + length > total_size) return past_end(total);
    return Error(ErrorCode::kUnavailable,
                 "ranged GetObject of " + location_of(key) + " returned " + std::to_string(response.body.size()) +
                     " bytes instead of " + std::to_string(length),
                 key, "the connection was cut short; retry");
  }
  return std::move(response.body);
}

Result<ObjectInfo> S3Store::stat(const std::string& key) {
  Request request{"HEAD", config_.prefix + key, "", {}, {}, "HeadObject", key};
  Response response = TRY(perform(request));
  if (response.status != 200) return http_error(response, "HeadObject", key);
  ObjectInfo info{key, 0, 0};
  if (!parse_uint64(response.header("content-length"), info.size)) {
    return Error(ErrorCode::kIo, "HeadObject of " + location_of(key) + " returned no Content-Length", key,
                 "the server's answer was not understood");
  }
  std::string modified = response.header("last-modified");
  if (!modified.empty()) {
    time_t when = curl_getdate(modified.c_str(), nullptr);
    if (when > 0) info.modified_unix = int64_t(when);
  }
  return info;
}

Status S3Store::list(const std::string& prefix, const std::function<void(const ObjectInfo&)>& fn) {
  const std::string full_prefix = config_.prefix + prefix;
  std::string token;
  for (int page = 1;; page++) {
    // Query names sorted as SigV4 requires.
    std::string query;
    if (!token.empty()) query += "continuation-token=" + uri_encode(token, false) + "&";
    query += "list-type=2&max-keys=1000&prefix=" + uri_encode(full_prefix, false);
    Request request{"GET", "", query, {}, {}, "ListObjectsV2", prefix};
    Response response = TRY(perform(request));
    if (response.status != 200) return http_error(response, "ListObjectsV2", prefix);
    const std::string what = "ListObjectsV2 answer (page " + std::to_string(page) + ") for " + location_of(prefix);
    XmlElement xml = TRY(parse_xml(as_string(response.body), what));
    if (xml.name != "ListBucketResult") {
      return Error(ErrorCode::kIo, "the " + what + " is a <" + xml.name + "> element, not <ListBucketResult>", prefix,
                   "check that the endpoint is an S3 service");
    }
    for (const XmlElement& entry : xml.children) {
      if (entry.name != "Contents") continue;
      std::string full_key = entry.child_text("Key");
      if (full_key.compare(0, config_.prefix.size(), config_.prefix) != 0) continue;
      ObjectInfo info;
      info.key = full_key.substr(config_.prefix.size());
      if (!parse_uint64(entry.child_text("Size"), info.size)) {
        return Error(ErrorCode::kIo, "the " + what + " has no valid <Size> for " + full_key, prefix,
                     "the server's answer was not understood");
      }
      info.modified_unix = parse_iso8601(entry.child_text("LastModified"));
      fn(info);
    }
    if (xml.child_text("IsTruncated") != "true") return ok_status();
    token = xml.child_text("NextContinuationToken");
    if (token.empty()) {
      return Error(ErrorCode::kIo, "the " + what + " is truncated but has no NextContinuationToken", prefix,
                   "the server does not implement ListObjectsV2 paging correctly");
    }
  }
}

Status S3Store::remove(const std::string& key) {
  Request request{"DELETE", config_.prefix + key, "", {}, {}, "DeleteObject", key};
  Response response = TRY(perform(request));
  if (response.status == 204 || response.status == 200) return ok_status();
  Error error = http_error(response, "DeleteObject", key);
  if (error.code() == ErrorCode::kNotFound && error.message().find("NoSuchBucket") == std::string::npos) {
    return ok_status();
  }
  return error;
}

}  // namespace stowage
