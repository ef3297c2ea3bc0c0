#include "store/memory_store.h"

#include <ctime>

namespace stowage {

const char* store_verb_name(StoreVerb verb) {
  switch (verb) {
    case StoreVerb::kPut: return "put";
    case StoreVerb::kGet: return "get";
    case StoreVerb::kGetRange: return "get_range";
    case StoreVerb::kStat: return "stat";
    case StoreVerb::kList: return "list";
    case StoreVerb::kRemove: return "remove";
  }
  return "call";
}

MemoryStore::MemoryStore(std::string name) : name_(std::move(name)) {}

std::string MemoryStore::describe() const { return "memory://" + name_; }

bool MemoryStore::take_fault(std::array<Fault, 6>& faults, StoreVerb verb, ErrorCode& code) {
  Fault& fault = faults[static_cast<size_t>(verb)];
  if (fault.remaining <= 0) return false;
  fault.remaining--;
  code = fault.code;
  return true;
}

Error MemoryStore::injected_error(StoreVerb verb, ErrorCode code, const std::string& key) const {
  return Error(code,
               std::string("injected fault: ") + store_verb_name(verb) + " of " + key + " in " + describe() +
                   " failed (" + error_code_name(code) + ")",
               key, "this failure was requested by a test through MemoryStore::fail_next");
}

Status MemoryStore::put(const std::string& key, ByteView data) {
  std::lock_guard lock(mutex_);
  calls_[size_t(StoreVerb::kPut)]++;
  ErrorCode code;
  if (take_fault(faults_before_, StoreVerb::kPut, code)) return injected_error(StoreVerb::kPut, code, key);
  if (key.empty()) return Error(ErrorCode::kInvalidArgument, "empty object key", describe(), "pass a non-empty key");
  auto [it, inserted] = objects_.try_emplace(key);
  if (!inserted) {
    return Error(ErrorCode::kAlreadyExists, "object " + key + " already exists in " + describe(), key,
                 "objects are write-once; choose a new key");
  }
  it->second.data.assign(data.begin(), data.end());
  it->second.modified_unix = std::time(nullptr);
  if (take_fault(faults_after_, StoreVerb::kPut, code)) return injected_error(StoreVerb::kPut, code, key);
  return ok_status();
}

Result<Bytes> MemoryStore::get(const std::string& key) {
  std::lock_guard lock(mutex_);
  calls_[size_t(StoreVerb::kGet)]++;
  ErrorCode code;
  if (take_fault(faults_before_, StoreVerb::kGet, code)) return injected_error(StoreVerb::kGet, code, key);
  auto it = objects_.find(key);
  if (it == objects_.end()) {
    return Error(ErrorCode::kNotFound, "object " + key + " not found in " + describe(), key,
                 "check the key, or whether the object was removed");
  }
  Bytes copy = it->second.data;
  if (take_fault(faults_after_, StoreVerb::kGet, code)) return injected_error(StoreVerb::kGet, code, key);
  return copy;
}

Result<Bytes> MemoryStore::get_range(const std::string& key, uint64_t offset, uint64_t length) {
  std::lock_guard lock(mutex_);
  calls_[size_t(StoreVerb::kGetRange)]++;
  ErrorCode code;
  if (take_fault(faults_before_, StoreVerb::kGetRange, code)) return injected_error(StoreVerb::kGetRange, code, key);
  auto it = objects_.find(key);
  if (it == objects_.end()) {
    return Error(ErrorCode::kNotFound, "object " + key + " not found in " + describe(), key,
                 "check the key, or whether the object was removed");
  }
  const Bytes& data = it->second.data;
  if (offset > data.size() || length > data.size() - offset) {
    return Error(ErrorCode::kInvalidArgument,
                 "range [" + std::to_string(offset) + ", +" + std::to_string(length) + ") is past the end of object " +
                     key + " (" + std::to_string(data.size()) + " bytes)",
                 key, "the object is shorter than the caller expected: it may be truncated; run a repository check");
  }
  Bytes slice(data.begin() + offset, data.begin() + offset + length);
  if (take_fault(faults_after_, StoreVerb::kGetRange, code)) return injected_error(StoreVerb::kGetRange, code, key);
  return slice;
}

Result<ObjectInfo> MemoryStore::stat(const std::string& key) {
  std::lock_guard lock(mutex_);
  calls_[size_t(StoreVerb::kStat)]++;
  ErrorCode code;
  if (take_fault(faults_before_, StoreVerb::kStat, code)) return injected_error(StoreVerb::kStat, code, key);
  auto it = objects_.find(key);
  if (it == objects_.end()) {
    return Error(ErrorCode::kNotFound, "object " + key + " not found in " + describe(), key,
                 "check the key, or whether the object was removed");
  }
  ObjectInfo info{key, it->second.data.size(), it->second.modified_unix};
  if (take_fault(faults_after_, StoreVerb::kStat, code)) return injected_error(StoreVerb::kStat, code, key);
  return info;
}

Status MemoryStore::list(const std::string& prefix, const std::function<void(const ObjectInfo&)>& fn) {
  std::vector<ObjectInfo> matches;
  {
    std::lock_guard lock(mutex_);
    calls_[size_t(StoreVerb::kList)]++;
    ErrorCode code;
    if (take_fault(faults_before_, StoreVerb::kList, code)) return injected_error(StoreVerb::kList, code, prefix);
    for (auto it = objects_.lower_bound(prefix); it != objects_.end(); ++it) {
      if (it->first.compare(0, prefix.size(), prefix) != 0) break;
      matches.push_back(ObjectInfo{it->first, it->second.data.size(), it->second.modified_unix});
    }
    if (take_fault(faults_after_, StoreVerb::kList, code)) {
      // Deliver the first half, then fail: a listing interrupted mid-way.
      matches.resize(matches.size() / 2);
      for (const ObjectInfo& info : matches) fn(info);
      return injected_error(StoreVerb::kList, code, prefix);
    }
  }
  // The callback runs without the lock so that it may call back into the store.
  for (const ObjectInfo& info : matches) fn(info);
  return ok_status();
}

Status MemoryStore::remove(const std::string& key) {
  std::lock_guard lock(mutex_);
  calls_[size_t(StoreVerb::kRemove)]++;
  ErrorCode code;
  if (take_fault(faults_before_, StoreVerb::kRemove, code)) return injected_error(StoreVerb::kRemove, code, key);
  if (auto it = objects_.find(key); it != objects_.end() && it->second.retention.active() &&
                                     it->second.retention.until_unix > now()) {
    return Error(ErrorCode::kLocked,
                 "object " + key + " in " + describe() + " is locked (" + retention_mode_name(it->second.retention.mode) +
                     ") until " + std::to_string(it->second.retention.until_unix),
                 key, "its retention has not ended; retry after it does");
  }
  objects_.erase(key);
  if (take_fault(faults_after_, StoreVerb::kRemove, code)) return injected_error(StoreVerb::kRemove, code, key);
  return ok_status();
}

int64_t MemoryStore::now() const { return now_ ? now_ : int64_t(std::time(nullptr)); }

void MemoryStore::enable_object_lock() {
  std::lock_guard lock(mutex_);
  object_lock_ = true;
}

void MemoryStore::set_now(int64_t unix_seconds) {
  std::lock_guard lock(mutex_);
  now_ = unix_seconds;
}

Status MemoryStore::put_retained(const std::string& key, ByteView data, const Retention& retention) {
  if (!retention.active()) return put(key, data);
  bool enabled;
  {
    std::lock_guard lock(mutex_);
    enabled = object_lock_;
  }
  if (!enabled) return ObjectStore::put_retained(key, data, retention);
  TRY_STATUS(put(key, data));
  std::lock_guard lock(mutex_);
  if (auto it = objects_.find(key); it != objects_.end()) it->second.retention = retention;
  return ok_status();
}

Status MemoryStore::extend_retention(const std::string& key, const Retention& retention) {
  std::lock_guard lock(mutex_);
  if (!object_lock_) {
    return Error(ErrorCode::kUnsupported, describe() + " has no Object Lock", key, "enable_object_lock() in the test");
  }
  auto it = objects_.find(key);
  if (it == objects_.end()) return Error(ErrorCode::kNotFound, "object " + key + " not found in " + describe(), key);
  Retention& stored = it->second.retention;
  if (retention.until_unix > stored.until_unix) stored.until_unix = retention.until_unix;
  if (stored.mode == RetentionMode::kNone) stored.mode = retention.mode;
  return ok_status();
}

Result<BucketLockState> MemoryStore::lock_state() {
  std::lock_guard lock(mutex_);
  BucketLockState state;
  state.object_lock = object_lock_;
  if (object_lock_) state.versioning = "Enabled";
  return state;
}

Result<Retention> MemoryStore::retention_of(const std::string& key) const {
  std::lock_guard lock(mutex_);
  auto it = objects_.find(key);
  if (it == objects_.end()) return Error(ErrorCode::kNotFound, "object " + key + " not found in " + describe(), key);
  return it->second.retention;
}

void MemoryStore::fail_next(StoreVerb verb, int count, ErrorCode code) {
  std::lock_guard lock(mutex_);
  faults_before_[size_t(verb)] = Fault{count, code};
}

void MemoryStore::fail_next_after_effect(StoreVerb verb, int count, ErrorCode code) {
  std::lock_guard lock(mutex_);
  faults_after_[size_t(verb)] = Fault{count, code};
}

Status MemoryStore::truncate_object(const std::string& key, uint64_t new_size) {
  std::lock_guard lock(mutex_);
  auto it = objects_.find(key);
  if (it == objects_.end()) return Error(ErrorCode::kNotFound, "cannot truncate missing object " + key, key);
  if (new_size < it->second.data.size()) it->second.data.resize(new_size);
  return ok_status();
}

Status MemoryStore::flip_byte(const std::string& key, uint64_t offset) {
  std::lock_guard lock(mutex_);
  auto it = objects_.find(key);
  if (it == objects_.end()) return Error(ErrorCode::kNotFound, "cannot damage missing object " + key, key);
  if (offset >= it->second.data.size()) {
    return Error(ErrorCode::kInvalidArgument, "offset " + std::to_string(offset) + " is past the end of " + key, key);
  }
  it->second.data[offset] ^= 0xFF;
  return ok_status();
}

void MemoryStore::overwrite_object(const std::string& key, ByteView data) {
  std::lock_guard lock(mutex_);
  StoredObject& object = objects_[key];
  object.data.assign(data.begin(), data.end());
  object.modified_unix = std::time(nullptr);
}

size_t MemoryStore::call_count(StoreVerb verb) const {
  std::lock_guard lock(mutex_);
  return calls_[size_t(verb)];
}

size_t MemoryStore::object_count() const {
  std::lock_guard lock(mutex_);
  return objects_.size();
}

uint64_t MemoryStore::total_bytes() const {
  std::lock_guard lock(mutex_);
  uint64_t total = 0;
  for (const auto& [key, object] : objects_) total += object.data.size();
  return total;
}

}  // namespace stowage
