// MemoryStore: a thread-safe in-memory ObjectStore for fast unit tests of the
// layers above store, with fault injection (failing calls, damaged objects).
#pragma once

#include <array>
#include <cstddef>
#include <map>
#include <mutex>
#include <string>

#include "store/object_store.h"

namespace stowage {

// The verbs of ObjectStore, for fault injection and call counting.
enum class StoreVerb { kPut, kGet, kGetRange, kStat, kList, kRemove };
const char* store_verb_name(StoreVerb verb);

class MemoryStore : public ObjectStore {
 public:
  explicit MemoryStore(std::string name = "memory");

  std::string describe() const override;
  Status put(const std::string& key, ByteView data) override;
  Result<Bytes> get(const std::string& key) override;
  Result<Bytes> get_range(const std::string& key, uint64_t offset, uint64_t length) override;
  Result<ObjectInfo> stat(const std::string& key) override;
  Status list(const std::string& prefix, const std::function<void(const ObjectInfo&)>& fn) override;
  Status remove(const std::string& key) override;

  // Object Lock emulation (off by default: then retention is kUnsupported,
  // as on a filesystem). On: retained objects refuse removal with kLocked
  // until their retain-until date, judged by set_now() or the real clock.
  Status put_retained(const std::string& key, ByteView data, const Retention& retention) override;
  Status extend_retention(const std::string& key, const Retention& retention) override;
  Result<BucketLockState> lock_state() override;
  void enable_object_lock();
  void set_now(int64_t unix_seconds);  // 0: the real clock
  Result<Retention> retention_of(const std::string& key) const;

  // Fault injection. The next `count` calls of `verb` fail with `code` without
  // touching the stored objects.
  void fail_next(StoreVerb verb, int count, ErrorCode code);
  // The next `count` calls of `verb` do their work and then report failure with
  // `code`: the ambiguous "request landed but the answer was lost" case.
  void fail_next_after_effect(StoreVerb verb, int count, ErrorCode code);
  // Damage a stored object in place (bypassing create-only).
  Status truncate_object(const std::string& key, uint64_t new_size);
  Status flip_byte(const std::string& key, uint64_t offset);
  // Replaces (or creates) an object, bypassing create-only: sets up states that
  // a real store could reach only through another writer.
  void overwrite_object(const std::string& key, ByteView data);

  // Observation.
  size_t call_count(StoreVerb verb) const;
  size_t object_count() const;
  uint64_t total_bytes() const;

 private:
  struct Fault {
    int remaining = 0;
    ErrorCode code = ErrorCode::kUnavailable;
  };
  struct StoredObject {
    Bytes data;
    int64_t modified_unix = 0;
    Retention retention;
  };
  int64_t now() const;  // with mutex_ held
  bool object_lock_ = false;
  int64_t now_ = 0;
  // Counts the call and returns the injected failure to report before or after
  // the effect, if any. Called with mutex_ held.
  bool take_fault(std::array<Fault, 6>& faults, StoreVerb verb, ErrorCode& code);
  Error injected_error(StoreVerb verb, ErrorCode code, const std::string& key) const;

  const std::string name_;
  mutable std::mutex mutex_;
  std::map<std::string, StoredObject> objects_;
  std::array<Fault, 6> faults_before_{};
  std::array<Fault, 6> faults_after_{};
  std::array<size_t, 6> calls_{};
};

}  // namespace stowage
