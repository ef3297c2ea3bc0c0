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
// - Retention (S3 Object Lock): put_retained() writes an object that nobody
//   can delete or overwrite before its retain-until date; extend_retention()
//   moves that date later, never earlier. Stores without Object Lock (fs)
//   refuse both with kUnsupported. remove() of an object whose retention has
//   not ended fails with kLocked ("retry later"), distinct from
//   kPermissionDenied ("this identity may not delete").
// - remove() deletes the object for good. On a versioned bucket that means
//   deleting the object's version(s), not adding a delete marker: a marker
//   would hide the object and free nothing, and the version under it is what
//   the lock protects. Since stowage never overwrites a key, every key has
//   exactly one version.
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

// S3 Object Lock retention modes. GOVERNANCE: identities with
// s3:BypassGovernanceRetention may still delete; COMPLIANCE: nobody may.
enum class RetentionMode { kNone, kGovernance, kCompliance };
const char* retention_mode_name(RetentionMode mode);  // "GOVERNANCE", "COMPLIANCE", "" for none
// "GOVERNANCE"/"COMPLIANCE" (any case); "" and "none" give kNone.
Result<RetentionMode> parse_retention_mode(const std::string& text);

struct Retention {
  RetentionMode mode = RetentionMode::kNone;
  int64_t until_unix = 0;  // retain-until, seconds since the epoch
  bool active() const { return mode != RetentionMode::kNone && until_unix > 0; }
};

// The bucket's Object Lock and versioning configuration.
struct BucketLockState {
  bool object_lock = false;    // Object Lock enabled on the bucket
  std::string versioning;      // "Enabled", "Suspended", or "" (never enabled / no such notion)
  RetentionMode default_mode = RetentionMode::kNone;  // the bucket's default retention rule, if any
  int64_t default_days = 0;                           // its period in days (years are converted)
};

// Writes one object whose bytes arrive over time (a pack as blobs are
// added), so that a store can take them as they come instead of at the end.
// Dropping a writer that was not committed leaves nothing behind.
class ObjectWriter {
 public:
  virtual ~ObjectWriter() = default;
  virtual Status append(ByteView data) = 0;
  // Makes everything appended the object `key`, with put()'s guarantees:
  // create-only (kAlreadyExists), atomic and durable. Once, last.
  virtual Status commit(const std::string& key) = 0;
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

  // A create-only put that locks the object until retention.until_unix. An
  // inactive retention makes it a plain put(). Default: kUnsupported.
  virtual Status put_retained(const std::string& key, ByteView data, const Retention& retention);
  // Makes an existing object's retention last at least until
  // retention.until_unix (a later date already set is kept). Default: kUnsupported.
  virtual Status extend_retention(const std::string& key, const Retention& retention);
  // The bucket's Object Lock and versioning state. Default: no Object Lock.
  virtual Result<BucketLockState> lock_state();

  // put() and remove() for an object that matters only while the process
  // that wrote it runs (a repository lock): neither needs to survive a
  // crash of the machine, which ends that process too, so a store may skip
  // what makes them durable (fsync). Default: put() and remove().
  virtual Status put_transient(const std::string& key, ByteView data);
  virtual Status remove_transient(const std::string& key);

  // A writer that hands the store an object's bytes as they are appended,
  // or null when the store takes only whole objects (the caller then buffers
  // and calls put()). Streamed writes carry no retention. Default: null.
  virtual Result<std::unique_ptr<ObjectWriter>> open_writer();
};

// Convenience: list into a vector.
Result<std::vector<ObjectInfo>> list_all(ObjectStore& store, const std::string& prefix);

}  // namespace stowage
