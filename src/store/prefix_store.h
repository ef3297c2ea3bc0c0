// PrefixStore: a view of another ObjectStore in which every key lives under a
// fixed prefix ("repository/"), so that one location can hold several kinds
// of content (a backup location keeps its repository beside backups/).
#pragma once

#include <memory>
#include <string>

#include "store/object_store.h"

namespace stowage {

class PrefixStore : public ObjectStore {
 public:
  // prefix must end in '/'.
  PrefixStore(std::shared_ptr<ObjectStore> inner, std::string prefix);

  std::string describe() const override;
  Status put(const std::string& key, ByteView data) override;
  Result<Bytes> get(const std::string& key) override;
  Result<Bytes> get_range(const std::string& key, uint64_t offset, uint64_t length) override;
  Result<ObjectInfo> stat(const std::string& key) override;
  Status list(const std::string& prefix, const std::function<void(const ObjectInfo&)>& fn) override;
  Status remove(const std::string& key) override;
  Status put_transient(const std::string& key, ByteView data) override;
  Status remove_transient(const std::string& key) override;
  Status put_retained(const std::string& key, ByteView data, const Retention& retention) override;
  Status extend_retention(const std::string& key, const Retention& retention) override;
  Result<BucketLockState> lock_state() override;
  Result<std::unique_ptr<ObjectWriter>> open_writer() override;

 private:
  std::shared_ptr<ObjectStore> inner_;
  std::string prefix_;
};

}  // namespace stowage
