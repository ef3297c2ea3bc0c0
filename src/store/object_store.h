// ObjectStore: the storage seam of stowage, a handful of verbs over flat keys
// ("data/ab/abcdef..."). Backends: a filesystem directory (fs_store.h) and any
// S3-compatible service (s3_store.h); retries live in a wrapper (retry_store.h).
//
// Contract shared by every backend:
// - put() is create-only: writing a key that exists fails with kAlreadyExists
//   and leaves the stored object untouched. stowage never overwrites an object
//   (docs/repository-format.md, "write once"), so S3 Object Lock works.
// - A put is atomic: readers see the whole object or nothing.
// - get() of a missing key fails with kNotFound; transient failures are
//   kUnavailable so the retry wrapper can tell them apart.
// - list() returns keys under a prefix in lexicographic order.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "util/bytes.h"
#include "util/result.h"

namespace stowage {

struct ObjectInfo {
  std::string key;
  uint64_t size = 0;
  int64_t modified_unix = 0;  // seconds since epoch, 0 if unknown
};

class ObjectStore {
 public:
  virtual ~ObjectStore() = default;

  // A human description of where this store points ("file:///x", "s3://b/p").
  virtual std::string describe() const = 0;

  virtual Status put(const std::string& key, ByteView data) = 0;
  virtual Result<Bytes> get(const std::string& key) = 0;
  // Reads length bytes at offset; a range past the end is kInvalidArgument.
  virtual Result<Bytes> get_range(const std::string& key, uint64_t offset, uint64_t length) = 0;
  virtual Result<ObjectInfo> stat(const std::string& key) = 0;
  // Calls fn for every object whose key starts with prefix, in key order.
  virtual Status list(const std::string& prefix, const std::function<void(const ObjectInfo&)>& fn) = 0;
  // Deleting a missing key succeeds (idempotent).
  virtual Status remove(const std::string& key) = 0;
};

// Convenience: list into a vector.
Result<std::vector<ObjectInfo>> list_all(ObjectStore& store, const std::string& prefix);

}  // namespace stowage
