// Repository locks (locks/<id>): a backup holds a shared lock, prune an
// exclusive one, so that prune never deletes data a running backup is about
// to reference. Locks are refreshed by writing a new lock object and deleting
// the old one (never rewritten: write-once). A lock not refreshed for 30
// minutes is stale and ignored.
#pragma once

#include <condition_variable>
#include <memory>
#include <string>
#include <thread>

#include "repo/repository.h"

namespace stowage {

inline constexpr int64_t kLockStaleSeconds = 30 * 60;
inline constexpr int64_t kLockRefreshSeconds = 5 * 60;

struct LockInfo {
  std::string key;
  int64_t time = 0;
  std::string host;
  int pid = 0;
  bool exclusive = false;
};

class RepoLock {
 public:
  static Result<std::unique_ptr<RepoLock>> acquire(Repository& repo, bool exclusive);
  ~RepoLock();

 private:
  RepoLock(Repository& repo, bool exclusive) : repo_(repo), exclusive_(exclusive) {}
  Result<std::string> write_lock();
  void refresh_loop();

  Repository& repo_;
  bool exclusive_;
  std::string key_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread refresher_;
};

Result<std::vector<LockInfo>> list_locks(Repository& repo);
// Removes stale locks (all locks with force).
Result<size_t> remove_locks(Repository& repo, bool force);

}  // namespace stowage
