#include "store/object_store.h"

namespace stowage {

Result<std::vector<ObjectInfo>> list_all(ObjectStore& store, const std::string& prefix) {
  std::vector<ObjectInfo> out;
  TRY_STATUS(store.list(prefix, [&](const ObjectInfo& info) { out.push_back(info); }));
  return out;
}

}  // namespace stowage
