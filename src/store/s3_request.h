// S3Store's internals shared by its two source files: one signed HTTP exchange
// (Request/Response) and the encoding and digest helpers. Not a public header.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "store/s3_store.h"

namespace stowage {

struct S3Store::Request {
  std::string method;                // GET, HEAD, PUT, POST, DELETE
  std::string full_key;              // object key with the store prefix; "" for the bucket
  std::string query;                 // canonical: sorted by name, encoded, every name with '='
  std::vector<std::string> headers;  // "Name: value"
  ByteView body;
  std::string operation;             // for errors: "PutObject", "ListObjectsV2", ...
  std::string key;                   // for errors: the key as the caller named it
  uint64_t expected_body = 0;        // size of the answer's body when known: reserved, never regrown
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

namespace s3_detail {

// RFC 3986 percent-encoding as SigV4 wants it: upper-case hex, unreserved kept.
std::string uri_encode(std::string_view text, bool keep_slash);
std::string sha256_hex(ByteView data);
std::string md5_base64(ByteView data);  // for Content-MD5
bool parse_uint64(const std::string& text, uint64_t& value);
int64_t parse_iso8601(const std::string& text);  // "2026-02-12T20:18:48.000Z" to seconds
std::string format_iso8601(int64_t unix_seconds);  // "2026-02-12T20:18:48Z"
int64_t parse_http_date(const std::string& text);  // "Thu, 12 Feb 2026 20:18:48 GMT" to seconds, 0 if bad

}  // namespace s3_detail
}  // namespace stowage
