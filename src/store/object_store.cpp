#include "store/object_store.h"

#include <algorithm>
#include <cctype>

namespace stowage {

const char* retention_mode_name(RetentionMode mode) {
  switch (mode) {
    case RetentionMode::kGovernance: return "GOVERNANCE";
    case RetentionMode::kCompliance: return "COMPLIANCE";
    case RetentionMode::kNone: break;
  }
  return "";
}

Result<RetentionMode> parse_retention_mode(const std::string& text) {
  std::string upper = text;
  std::transform(upper.begin(), upper.end(), upper.begin(), [](unsigned char c) { return char(std::toupper(c)); });
  if (upper.empty() || upper == "NONE") return RetentionMode::kNone;
  if (upper == "GOVERNANCE") return RetentionMode::kGovernance;
  if (upper == "COMPLIANCE") return RetentionMode::kCompliance;
  return Error(ErrorCode::kInvalidArgument, "unknown Object Lock mode \"" + text + "\"", text,
               "use GOVERNANCE or COMPLIANCE");
}

Status ObjectStore::put_retained(const std::string& key, ByteView data, const Retention& retention) {
  if (!retention.active()) return put(key, data);
  return Error(ErrorCode::kUnsupported, describe() + " cannot lock objects (no Object Lock): " + key, key,
               "use an S3 bucket created with Object Lock enabled, or a repository without a lock policy");
}

Status ObjectStore::extend_retention(const std::string& key, const Retention&) {
  return Error(ErrorCode::kUnsupported, describe() + " cannot lock objects (no Object Lock): " + key, key,
               "use an S3 bucket created with Object Lock enabled, or a repository without a lock policy");
}

Result<BucketLockState> ObjectStore::lock_state() { return BucketLockState{}; }

Status ObjectStore::put_transient(const std::string& key, ByteView data) { return put(key, data); }

Status ObjectStore::remove_transient(const std::string& key) { return remove(key); }

Result<std::unique_ptr<ObjectWriter>> ObjectStore::open_writer() { return std::unique_ptr<ObjectWriter>(); }

Result<std::vector<ObjectInfo>> list_all(ObjectStore& store, const std::string& prefix) {
  std::vector<ObjectInfo> out;
  TRY_STATUS(store.list(prefix, [&](const ObjectInfo& info) { out.push_back(info); }));
  return out;
}

}  // namespace stowage
