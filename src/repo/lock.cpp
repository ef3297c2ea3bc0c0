#include "repo/lock.h"

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "crypto/aead.h"
#include "repo/layout.h"
#include "util/clock.h"

namespace stowage {

using nlohmann::json;

// A lock is written and removed without fsync (put_transient): it only has
// to be seen by other processes while its holder runs, and a crash of the
// machine ends the holder too. A lock that a crash brings back, or leaves
// empty, counts as stale after kLockStaleSeconds, like one of a process that
// died.
Result<std::string> RepoLock::write_lock() {
  json j = {{"time", now_unix()}, {"host", host_name()}, {"pid", int(getpid())}, {"exclusive", exclusive_}};
  std::string key = layout::lock(hex_encode(crypto::random_bytes(16)));
  TRY_STATUS(repo_.store().put_transient(key, repo_.seal_object(to_bytes(j.dump()), "lock")));
  return key;
}

Result<std::vector<LockInfo>> list_locks(Repository& repo) {
  auto objects = TRY(list_all(repo.store(), layout::kLocksPrefix));
  std::vector<LockInfo> out;
  for (const auto& o : objects) {
    auto sealed = repo.store().get(o.key);
    if (!sealed.ok()) continue;  // removed meanwhile
    auto plain = repo.open_object(*sealed, "lock", o.key);
    LockInfo info;
    info.key = o.key;
    if (plain.ok()) {
      json j = json::parse(as_string(*plain), nullptr, false);
      try {
        if (j.is_object()) {
          info.time = j.value("time", int64_t(0));
          info.host = j.value("host", "");
          info.pid = j.value("pid", 0);
          info.exclusive = j.value("exclusive", false);
        }
      } catch (const json::exception&) {
        info.time = 0;  // an unreadable lock counts as stale
      }
    }
    out.push_back(info);
  }
  return out;
}

Result<std::unique_ptr<RepoLock>> RepoLock::acquire(Repository& repo, bool exclusive) {
  std::unique_ptr<RepoLock> lock(new RepoLock(repo, exclusive));
  lock->key_ = TRY(lock->write_lock());
  auto locks = list_locks(repo);
  if (!locks.ok()) {
    (void)repo.store().remove_transient(lock->key_);
    return std::move(locks).error();
  }
  int64_t now = now_unix();
  for (const auto& other : *locks) {
    if (other.key == lock->key_ || now - other.time > kLockStaleSeconds) continue;
    if (exclusive || other.exclusive) {
      (void)repo.store().remove_transient(lock->key_);
      lock->key_.clear();
      return Error(ErrorCode::kConflict,
                   std::string("the repository is locked ") + (other.exclusive ? "exclusively " : "") + "by " +
                       other.host + " (pid " + std::to_string(other.pid) + ") since " + format_time_utc(other.time),
                   other.key,
                   "wait for that operation to finish; if it died, run 'stowage repo unlock' (stale after 30 min)");
    }
  }
  lock->refresher_ = std::thread([l = lock.get()] { l->refresh_loop(); });
  return lock;
}

void RepoLock::refresh_loop() {
  std::unique_lock guard(mu_);
  while (!cv_.wait_for(guard, std::chrono::seconds(kLockRefreshSeconds), [&] { return stop_; })) {
    guard.unlock();
    auto fresh = write_lock();
    guard.lock();
    if (fresh.ok()) {
      std::string old = key_;
      key_ = *fresh;
      (void)repo_.store().remove_transient(old);
    }
  }
}

RepoLock::~RepoLock() {
  {
    std::lock_guard guard(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (refresher_.joinable()) refresher_.join();
  if (!key_.empty()) (void)repo_.store().remove_transient(key_);
}

Result<size_t> remove_locks(Repository& repo, bool force) {
  auto locks = TRY(list_locks(repo));
  size_t removed = 0;
  int64_t now = now_unix();
  for (const auto& l : locks) {
    if (!force && now - l.time <= kLockStaleSeconds) continue;
    TRY_STATUS(repo.store().remove(l.key));
    removed++;
  }
  return removed;
}

}  // namespace stowage
