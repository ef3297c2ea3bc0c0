// S3Store's verbs: put (single or multipart, create-only), get, ranged get,
// stat, list (ListObjectsV2 pages), remove, and bucket creation.
#include <algorithm>
#include <ctime>

#include "store/s3_request.h"
#include "store/s3_xml.h"

namespace stowage {

using s3_detail::format_iso8601;
using s3_detail::md5_base64;
using s3_detail::parse_http_date;
using s3_detail::parse_iso8601;
using s3_detail::parse_uint64;
using s3_detail::uri_encode;

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

Status S3Store::put(const std::string& key, ByteView data) { return put_retained(key, data, Retention{}); }

namespace {
// MinIO: "Object is WORM protected and cannot be overwritten"; versitygw:
// "Access Denied because object protected by object lock."
bool mentions_object_lock(const std::string& message) {
  return message.find("WORM") != std::string::npos || message.find("object lock") != std::string::npos;
}

std::vector<std::string> lock_headers(const Retention& retention) {
  if (!retention.active()) return {};
  return {std::string("x-amz-object-lock-mode: ") + retention_mode_name(retention.mode),
          "x-amz-object-lock-retain-until-date: " + format_iso8601(retention.until_unix)};
}
}  // namespace

Status S3Store::put_retained(const std::string& key, ByteView data, const Retention& retention) {
  if (key.empty()) return Error(ErrorCode::kInvalidArgument, "empty object key", describe(), "pass a non-empty key");
  if (data.size() > config_.multipart_threshold) return put_multipart(key, data, retention);  // checks with HEAD first
  if (!config_.conditional_writes) TRY_STATUS(check_absent_before_put(key));
  return put_single(key, data, retention);
}

// Used before every multipart upload, to avoid sending tens of MiB for a key
// that exists (If-None-Match on CompleteMultipartUpload still decides races),
// and before every put on servers that ignore If-None-Match
// (conditional-writes=false). There it is racy: two writers may both see the
// key absent, and the later PUT silently replaces the earlier object. For
// content-addressed keys both wrote the same bytes, so no harm is done; for
// keys meant to exclude other writers (locks) exclusion is then only as good
// as this check-then-write window, which is why conditional writes are the
// default and both MinIO and versitygw are tested with them.
Status S3Store::check_absent_before_put(const std::string& key) {
  Result<ObjectInfo> existing = stat(key);
  if (existing.ok()) {
    return Error(ErrorCode::kAlreadyExists, "object " + location_of(key) + " already exists", key,
                 "objects are write-once; choose a new key");
  }
  if (existing.error().code() != ErrorCode::kNotFound) return std::move(existing).error();
  return ok_status();
}

Status S3Store::put_single(const std::string& key, ByteView data, const Retention& retention) {
  Request request{"PUT", config_.prefix + key, "", lock_headers(retention), data, "PutObject", key};
  // Content-MD5 lets the server verify the body; Object Lock buckets demand it.
  request.headers.push_back("Content-MD5: " + md5_base64(data));
  request.headers.push_back("Content-Type: application/octet-stream");
  if (config_.conditional_writes) request.headers.push_back("If-None-Match: *");
  Response response = TRY(perform(request));
  if (response.status == 200) return ok_status();
  Error error = http_error(response, "PutObject", key);
  // versitygw refuses a put over a locked object before If-None-Match: the
  // key exists all the same.
  if (response.status == 403 && mentions_object_lock(error.message()))
    return Error(ErrorCode::kAlreadyExists, error.message(), key, "objects are write-once; choose a new key");
  return error;
}

Status S3Store::put_multipart(const std::string& key, ByteView data, const Retention& retention) {
  TRY_STATUS(check_absent_before_put(key));
  Request initiate{"POST", config_.prefix + key, "uploads=", lock_headers(retention), {}, "CreateMultipartUpload", key};
  initiate.headers.push_back("Content-Type: application/octet-stream");
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
  // S3 allows at most 10,000 parts: grow the parts for very large objects.
  const uint64_t part_size = std::max<uint64_t>(config_.multipart_part_size, (data.size() + 9'999) / 10'000);
  int part_number = 1;
  for (uint64_t offset = 0; offset < data.size(); offset += part_size, part_number++) {
    ByteView part = data.subspan(offset, std::min<uint64_t>(part_size, data.size() - offset));
    // Query names sorted as SigV4 requires: partNumber before uploadId.
    Request upload{"PUT", config_.prefix + key, "partNumber=" + std::to_string(part_number) + "&uploadId=" + encoded_id,
                   {"Content-MD5: " + md5_base64(part)}, part, "UploadPart", key};
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
  request.expected_body = length;
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
    info.modified_unix = parse_http_date(modified);
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
  // HEAD names the current version. Deleting that version (not the key) is
  // what frees the space on a versioned bucket, and what Object Lock guards;
  // a plain DELETE there would only add a delete marker.
  Request head{"HEAD", config_.prefix + key, "", {}, {}, "HeadObject", key};
  Response found = TRY(perform(head));
  if (found.status == 404) return ok_status();  // already gone (idempotent)
  if (found.status != 200) return http_error(found, "HeadObject", key);
  std::string version = found.header("x-amz-version-id");
  if (version == "null") version.clear();
  std::string query = version.empty() ? "" : "versionId=" + uri_encode(version, false);
  Request request{"DELETE", config_.prefix + key, query, {}, {}, "DeleteObject", key};
  Response response = TRY(perform(request));
  if (response.status == 204 || response.status == 200) return ok_status();
  Error error = http_error(response, "DeleteObject", key);
  if (error.code() == ErrorCode::kNotFound && error.message().find("NoSuchBucket") == std::string::npos) {
    return ok_status();
  }
  if (response.status == 403 || response.status == 400) {
    // MinIO: AccessDenied "Object is WORM protected and cannot be overwritten".
    // AWS: AccessDenied as for a missing permission, so ask for the retention.
    bool locked = mentions_object_lock(error.message());
    int64_t until = 0;
    if (Result<Retention> retention = retention_of(key, version); retention.ok() && retention->active()) {
      until = retention->until_unix;
      if (until > int64_t(std::time(nullptr))) locked = true;
    }
    if (locked) {
      return Error(ErrorCode::kLocked,
                   error.message() + (until ? " (retained until " + format_iso8601(until) + ")" : ""), key,
                   "the object is under Object Lock retention; stowage records it and deletes it on a later run");
    }
  }
  return error;
}

Result<Retention> S3Store::retention_of(const std::string& key, const std::string& version_id) {
  std::string query = "retention=";
  if (!version_id.empty()) query += "&versionId=" + uri_encode(version_id, false);
  Request request{"GET", config_.prefix + key, query, {}, {}, "GetObjectRetention", key};
  Response response = TRY(perform(request));
  if (response.status == 404) {
    Error error = http_error(response, "GetObjectRetention", key);
    // No retention configured on the object: not an error for us.
    if (error.message().find("NoSuchObjectLockConfiguration") != std::string::npos) return Retention{};
    return error;
  }
  if (response.status != 200) return http_error(response, "GetObjectRetention", key);
  XmlElement xml = TRY(parse_xml(as_string(response.body), "GetObjectRetention answer for " + location_of(key)));
  Retention retention;
  retention.mode = TRY(parse_retention_mode(xml.child_text("Mode")));
  retention.until_unix = parse_iso8601(xml.child_text("RetainUntilDate"));
  return retention;
}

Status S3Store::extend_retention(const std::string& key, const Retention& retention) {
  if (!retention.active()) return ok_status();
  std::string body = std::string("<Retention xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Mode>") +
                     retention_mode_name(retention.mode) + "</Mode><RetainUntilDate>" +
                     format_iso8601(retention.until_unix) + "</RetainUntilDate></Retention>";
  Request request{"PUT", config_.prefix + key, "retention=", {}, as_bytes(body), "PutObjectRetention", key};
  request.headers.push_back("Content-MD5: " + md5_base64(as_bytes(body)));
  request.headers.push_back("Content-Type: application/xml");
  Response response = TRY(perform(request));
  if (response.status == 200 || response.status == 204) return ok_status();
  Error error = http_error(response, "PutObjectRetention", key);
  // Shortening a retention is refused; a later date already set is what we want.
  if (Result<Retention> current = retention_of(key); current.ok() && current->active() &&
                                                      current->until_unix >= retention.until_unix) {
    return ok_status();
  }
  return error;
}

Result<BucketLockState> S3Store::lock_state() {
  BucketLockState state;
  Request lock{"GET", "", "object-lock=", {}, {}, "GetObjectLockConfiguration", ""};
  Response locked = TRY(perform(lock));
  if (locked.status == 200) {
    XmlElement xml = TRY(parse_xml(as_string(locked.body), "GetObjectLockConfiguration answer for s3://" + config_.bucket));
    state.object_lock = xml.child_text("ObjectLockEnabled") == "Enabled";
    if (const XmlElement* rule = xml.child("Rule")) {
      if (const XmlElement* retention = rule->child("DefaultRetention")) {
        Result<RetentionMode> mode = parse_retention_mode(retention->child_text("Mode"));
        if (mode.ok()) state.default_mode = *mode;
        uint64_t days = 0, years = 0;
        if (parse_uint64(retention->child_text("Days"), days)) state.default_days = int64_t(days);
        if (parse_uint64(retention->child_text("Years"), years)) state.default_days = int64_t(years) * 365;
      }
    }
  } else {
    Error error = http_error(locked, "GetObjectLockConfiguration", "");
    // Buckets without Object Lock answer 404 ObjectLockConfigurationNotFoundError.
    if (error.message().find("ObjectLockConfigurationNotFound") == std::string::npos) return error;
  }
  Request versioning{"GET", "", "versioning=", {}, {}, "GetBucketVersioning", ""};
  Response answer = TRY(perform(versioning));
  if (answer.status != 200) return http_error(answer, "GetBucketVersioning", "");
  XmlElement xml = TRY(parse_xml(as_string(answer.body), "GetBucketVersioning answer for s3://" + config_.bucket));
  state.versioning = xml.child_text("Status");
  return state;
}

}  // namespace stowage
