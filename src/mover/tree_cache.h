// TreeCache: the directory trees of a file snapshot loaded ahead of a walk,
// breadth first, one batched load (repo/batch_load.h) per level, so that
// walking a tree on S3 costs a few requests per level instead of one per
// directory. Bounded: prefetching stops once the cached trees' encoded size
// reaches the budget; trees beyond it are loaded one by one when the walk
// reaches them, exactly as without the cache (and so are trees that failed to
// load or decode here: the walk then reports the error with its path).
#pragma once

#include <memory>
#include <mutex>
#include <unordered_map>

#include "repo/repository.h"
#include "repo/tree.h"

namespace stowage {

class TreeCache {
 public:
  static constexpr uint64_t kDefaultBudget = 64ull << 20;

  explicit TreeCache(Repository& repo, uint64_t budget_bytes = kDefaultBudget)
      : repo_(repo), budget_(budget_bytes) {}

  // Loads the trees below root (root included), a level at a time, until the
  // budget is used up. Never fails: what it could not load stays uncached.
  void prefetch(const BlobId& root);
  // The cached tree, or null.
  std::shared_ptr<const Tree> find(const BlobId& id) const;
  size_t size() const;  // trees cached

 private:
  Repository& repo_;
  const uint64_t budget_;
  mutable std::mutex mu_;
  std::unordered_map<BlobId, std::shared_ptr<const Tree>, BlobIdHash> trees_;
};

}  // namespace stowage
