// open_store: turns a backup-location URL (file:///path or
// s3://bucket/prefix?endpoint=...) into a ready ObjectStore wrapped in retries.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "store/object_store.h"
#include "store/retry_store.h"
#include "store/s3_store.h"

namespace stowage {

struct StoreOptions {
  RetryPolicy retry;                            // attempts and backoff of the retry wrapper
  std::optional<S3Credentials> s3_credentials;  // overrides the environment / shared credentials file
  uint64_t multipart_threshold = 64ull << 20;   // S3 objects larger than this use multipart upload
  uint64_t multipart_part_size = 16ull << 20;   // at least 5 MiB
  bool create_if_missing = false;               // create the bucket or root directory (repo init)
};

// A parsed location URL, before credentials are looked up.
struct StoreLocation {
  enum class Kind { kFile, kS3 };
  Kind kind = Kind::kFile;
  std::string file_root;  // kFile: absolute directory path
  S3Config s3;            // kS3: everything but credentials and multipart sizes
};

// Accepted forms:
//   file:///absolute/path
//   s3://bucket[/prefix][?endpoint=URL&region=R&path-style=BOOL&ca-bundle=PATH
//                       &insecure=BOOL&conditional-writes=BOOL]
// region defaults to AWS_REGION (then AWS_DEFAULT_REGION, then us-east-1); the
// endpoint to https://s3.REGION.amazonaws.com; path-style to true exactly when
// an endpoint is given.
Result<StoreLocation> parse_store_url(const std::string& url);

Result<std::unique_ptr<ObjectStore>> open_store(const std::string& url, const StoreOptions& options = {});

}  // namespace stowage
