#include "mover/tree_cache.h"

#include <unordered_set>

#include "repo/batch_load.h"

namespace stowage {

void TreeCache::prefetch(const BlobId& root) {
  std::vector<BlobId> level{root};
  std::unordered_set<BlobId, BlobIdHash> seen{root};
  uint64_t planned = 0;  // encoded bytes of the trees asked for
  while (!level.empty()) {
    // Cut the level where the budget ends (the index knows every tree's size).
    bool cut = false;
    for (size_t i = 0; i < level.size(); i++) {
      auto loc = repo_.index().find(level[i]);
      uint64_t raw = loc.ok() ? loc->entry.raw_length : 0;
      if (planned + raw > budget_) {
        level.resize(i);
        cut = true;
        break;
      }
      planned += raw;
    }
    std::vector<std::shared_ptr<const Tree>> loaded;
    Status status = load_blobs(repo_, level, [&](const BlobId& id, Result<Bytes>&& data) -> Status {
      if (!data.ok()) return ok_status();  // left for the walk to load and report
      auto tree = decode_tree(*data);
      if (!tree.ok()) return ok_status();
      auto shared = std::make_shared<const Tree>(std::move(tree).value());
      std::lock_guard lock(mu_);
      trees_.emplace(id, shared);
      loaded.push_back(std::move(shared));
      return ok_status();
    });
    if (!status.ok() || cut) return;  // e.g. a tree in no index: the walk reports it
    level.clear();
    for (const auto& tree : loaded)
      for (const Node& node : tree->nodes)
        if (node.type == NodeType::kDir && seen.insert(node.subtree).second) level.push_back(node.subtree);
  }
}

std::shared_ptr<const Tree> TreeCache::find(const BlobId& id) const {
  std::lock_guard lock(mu_);
  auto it = trees_.find(id);
  return it == trees_.end() ? nullptr : it->second;
}

size_t TreeCache::size() const {
  std::lock_guard lock(mu_);
  return trees_.size();
}

}  // namespace stowage
