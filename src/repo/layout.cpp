#include "repo/layout.h"

namespace stowage::layout {

std::string key_slot(const std::string& id) { return kKeysPrefix + id; }
std::string pack(const ObjectId& id) {
  std::string hex = id.hex();
  return kDataPrefix + hex.substr(0, 2) + "/" + hex;
}
std::string index(const ObjectId& id) { return kIndexPrefix + id.hex(); }
std::string snapshot(const ObjectId& id) { return kSnapshotsPrefix + id.hex(); }
std::string lock(const std::string& id) { return kLocksPrefix + id; }
std::string tombstone(const ObjectId& id) { return kTombstonesPrefix + id.hex(); }
std::string retention_record(const ObjectId& id) { return kRetentionPrefix + id.hex(); }

std::string id_of(const std::string& key) {
  auto slash = key.rfind('/');
  return slash == std::string::npos ? key : key.substr(slash + 1);
}

}  // namespace stowage::layout
