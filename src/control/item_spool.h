// ItemSpool: the validated items of an archive, kept in an unnamed temporary
// file while a restore runs, so that everything is checked before anything
// is created without holding the whole archive in memory (about 150 bytes of
// memory per item; the JSON stays on disk).
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "archive/item_path.h"
#include "util/result.h"

namespace stowage::control {

struct SpooledItem {
  archive::ItemPath path;
  std::string api_version;
  std::string kind;
  std::string uid;  // metadata.uid in the backup (owner references point at it)
  uint64_t offset = 0;
  uint64_t length = 0;
};

class ItemSpool {
 public:
  static Result<std::unique_ptr<ItemSpool>> create();
  ~ItemSpool();

  Status add(const archive::ItemPath& path, const nlohmann::json& object);
  Result<nlohmann::json> load(const SpooledItem& item) const;
  std::vector<SpooledItem>& items() { return items_; }

 private:
  explicit ItemSpool(FILE* file) : file_(file) {}
  FILE* file_;
  uint64_t size_ = 0;
  std::vector<SpooledItem> items_;
};

}  // namespace stowage::control
