// RetryStore: wraps any ObjectStore and retries transient failures
// (kUnavailable) with exponential backoff and full jitter, so callers never
// sprinkle retry loops of their own.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "store/object_store.h"

namespace stowage {

struct RetryPolicy {
  int max_attempts = 8;                            // total tries, the first included
  std::chrono::milliseconds base_delay{200};       // cap of the first backoff
  std::chrono::milliseconds max_delay{10'000};     // cap of any single backoff
  // How to wait; tests replace it to run without sleeping.
  std::function<void(std::chrono::milliseconds)> sleep;
};

class RetryStore : public ObjectStore {
 public:
  RetryStore(std::unique_ptr<ObjectStore> inner, RetryPolicy policy = {});

  std::string describe() const override;
  // A put retried after an ambiguous failure that then finds the key present
  // compares the stored object with `data`: equal means the earlier attempt
  // landed, and the put succeeds.
  Status put(const std::string& key, ByteView data) override;
  Result<Bytes> get(const std::string& key) override;
  Result<Bytes> get_range(const std::string& key, uint64_t offset, uint64_t length) override;
  Result<ObjectInfo> stat(const std::string& key) override;
  // A listing interrupted by a transient failure resumes after the last key
  // already delivered, so fn sees every key exactly once.
  Status list(const std::string& prefix, const std::function<void(const ObjectInfo&)>& fn) override;
  Status remove(const std::string& key) override;
  Status put_transient(const std::string& key, ByteView data) override;
  Status remove_transient(const std::string& key) override;
  // Like put(): an ambiguous failure followed by kAlreadyExists compares bytes.
  Status put_retained(const std::string& key, ByteView data, const Retention& retention) override;
  Status extend_retention(const std::string& key, const Retention& retention) override;
  Result<BucketLockState> lock_state() override;
  // The wrapped store's writer, unretried: only a local store streams, and
  // its failures are not transient.
  Result<std::unique_ptr<ObjectWriter>> open_writer() override { return inner_->open_writer(); }

  ObjectStore& inner() { return *inner_; }

  // Runs any other call on the wrapped store (e.g. S3Store::ensure_bucket)
  // under this policy; `what` and `object` name it in the final error.
  Status run_with_retries(const std::string& what, const std::string& object, const std::function<Status()>& call);

  // The random backoff before retry number `retry` (0 for the first retry):
  // uniform in [0, min(max_delay, base_delay * 2^retry)].
  std::chrono::milliseconds backoff_delay(int retry) const;

 private:
  // put(), put_retained() and put_transient(): `attempt` is one try.
  Status put_with_retries(const std::string& key, ByteView data, const std::function<Status()>& attempt);
  // Runs attempt() until it returns something other than kUnavailable or the
  // attempts are used up; `what` names the operation for the final error.
  template <class T>
  Result<T> run(const std::string& what, const std::string& key, const std::function<Result<T>()>& attempt);

  std::unique_ptr<ObjectStore> inner_;
  RetryPolicy policy_;
};

}  // namespace stowage
