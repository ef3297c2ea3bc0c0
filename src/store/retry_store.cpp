#include "store/retry_store.h"

#include <algorithm>
#include <random>
#include <thread>

namespace stowage {

namespace {

uint64_t random_below_or_equal(uint64_t limit) {
  thread_local std::mt19937_64 generator{std::random_device{}()};
  return std::uniform_int_distribution<uint64_t>(0, limit)(generator);
}

}  // namespace

RetryStore::RetryStore(std::unique_ptr<ObjectStore> inner, RetryPolicy policy)
    : inner_(std::move(inner)), policy_(std::move(policy)) {
  if (policy_.max_attempts < 1) policy_.max_attempts = 1;
  if (!policy_.sleep) policy_.sleep = [](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); };
}

std::string RetryStore::describe() const { return inner_->describe(); }

std::chrono::milliseconds RetryStore::backoff_delay(int retry) const {
  const uint64_t base = uint64_t(std::max<int64_t>(policy_.base_delay.count(), 0));
  const uint64_t cap = uint64_t(std::max<int64_t>(policy_.max_delay.count(), 0));
  uint64_t ceiling = base;
  for (int i = 0; i < retry && ceiling < cap; i++) ceiling *= 2;
  ceiling = std::min(ceiling, cap);
  return std::chrono::milliseconds(random_below_or_equal(ceiling));
}

template <class T>
Result<T> RetryStore::run(const std::string& what, const std::string& key,
                          const std::function<Result<T>()>& attempt) {
  for (int try_number = 1;; try_number++) {
    Result<T> result = attempt();
    if (result.ok() || result.error().code() != ErrorCode::kUnavailable) return result;
    if (try_number >= policy_.max_attempts) {
      Error error = std::move(result).error();
      error.set_object(key);
      if (error.hint().empty()) {
        error.set_hint("the object store " + describe() +
                       " is unreachable or overloaded; check the endpoint and the network, then run the command again");
      }
      return std::move(error).with_context(what + " " + key + " failed after " + std::to_string(try_number) +
                                           (try_number == 1 ? " attempt" : " attempts"));
    }
    policy_.sleep(backoff_delay(try_number - 1));
  }
}

namespace {
// Result<void> cannot hold a value; run() works on a unit type for Status verbs.
struct Unit {};
Status to_status(Result<Unit>&& result) {
  if (result.ok()) return ok_status();
  return std::move(result).error();
}
}  // namespace

Status RetryStore::put(const std::string& key, ByteView data) { return put_retained(key, data, Retention{}); }

Status RetryStore::put_retained(const std::string& key, ByteView data, const Retention& retention) {
  return put_with_retries(key, data, [&] {
    return retention.active() ? inner_->put_retained(key, data, retention) : inner_->put(key, data);
  });
}

Status RetryStore::put_transient(const std::string& key, ByteView data) {
  return put_with_retries(key, data, [&] { return inner_->put_transient(key, data); });
}

Status RetryStore::put_with_retries(const std::string& key, ByteView data, const std::function<Status()>& attempt) {
  bool may_have_landed = false;  // an earlier attempt failed ambiguously
  Result<Unit> result = run<Unit>("put of", key, [&]() -> Result<Unit> {
    Status status = attempt();
    if (status.ok()) return Unit{};
    if (status.error().code() == ErrorCode::kUnavailable) may_have_landed = true;
    return std::move(status).error();
  });
  if (result.ok() || result.error().code() != ErrorCode::kAlreadyExists || !may_have_landed) {
    return to_status(std::move(result));
  }
  // The key exists after an attempt whose outcome we never learned: if the
  // stored object is exactly ours, that attempt landed.
  Result<Bytes> stored = get(key);
  if (!stored.ok()) {
    return std::move(stored).error().with_context("put of " + key +
                                                  " found the key present after a failed attempt; reading it back");
  }
  if (stored->size() == data.size() && std::equal(stored->begin(), stored->end(), data.begin())) return ok_status();
  return Error(ErrorCode::kAlreadyExists,
               "put of " + key + " in " + describe() + ": a different object (" + std::to_string(stored->size()) +
                   " bytes, ours " + std::to_string(data.size()) + ") already exists under this key",
               key, "objects are write-once; another writer created this key first");
}

Result<Bytes> RetryStore::get(const std::string& key) {
  return run<Bytes>("get of", key, [&] { return inner_->get(key); });
}

Result<Bytes> RetryStore::get_range(const std::string& key, uint64_t offset, uint64_t length) {
  return run<Bytes>("ranged get of", key, [&] { return inner_->get_range(key, offset, length); });
}

Result<ObjectInfo> RetryStore::stat(const std::string& key) {
  return run<ObjectInfo>("stat of", key, [&] { return inner_->stat(key); });
}

Status RetryStore::list(const std::string& prefix, const std::function<void(const ObjectInfo&)>& fn) {
  bool delivered_any = false;
  std::string last_delivered;
  auto deliver_once = [&](const ObjectInfo& info) {
    if (delivered_any && info.key <= last_delivered) return;  // seen before the retry
    delivered_any = true;
    last_delivered = info.key;
    fn(info);
  };
  return to_status(run<Unit>("listing of prefix", prefix, [&]() -> Result<Unit> {
    Status status = inner_->list(prefix, deliver_once);
    if (!status.ok()) return std::move(status).error();
    return Unit{};
  }));
}

Status RetryStore::run_with_retries(const std::string& what, const std::string& object,
                                    const std::function<Status()>& call) {
  return to_status(run<Unit>(what, object, [&]() -> Result<Unit> {
    Status status = call();
    if (!status.ok()) return std::move(status).error();
    return Unit{};
  }));
}

Status RetryStore::extend_retention(const std::string& key, const Retention& retention) {
  return run_with_retries("retention extension of", key, [&] { return inner_->extend_retention(key, retention); });
}

Result<BucketLockState> RetryStore::lock_state() {
  return run<BucketLockState>("reading the Object Lock configuration of", describe(), [&] { return inner_->lock_state(); });
}

Status RetryStore::remove(const std::string& key) {
  return run_with_retries("removal of", key, [&] { return inner_->remove(key); });
}

Status RetryStore::remove_transient(const std::string& key) {
  return run_with_retries("removal of", key, [&] { return inner_->remove_transient(key); });
}

}  // namespace stowage
