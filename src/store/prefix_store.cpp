#include "store/prefix_store.h"

namespace stowage {

PrefixStore::PrefixStore(std::shared_ptr<ObjectStore> inner, std::string prefix)
    : inner_(std::move(inner)), prefix_(std::move(prefix)) {}

std::string PrefixStore::describe() const { return inner_->describe() + "/" + prefix_; }

Status PrefixStore::put(const std::string& key, ByteView data) { return inner_->put(prefix_ + key, data); }

namespace {
// Commits under the prefix.
class PrefixWriter : public ObjectWriter {
 public:
  PrefixWriter(std::unique_ptr<ObjectWriter> inner, const std::string& prefix)
      : inner_(std::move(inner)), prefix_(prefix) {}
  Status append(ByteView data) override { return inner_->append(data); }
  Status commit(const std::string& key) override { return inner_->commit(prefix_ + key); }

 private:
  std::unique_ptr<ObjectWriter> inner_;
  std::string prefix_;
};
}  // namespace

Result<std::unique_ptr<ObjectWriter>> PrefixStore::open_writer() {
  std::unique_ptr<ObjectWriter> inner = TRY(inner_->open_writer());
  if (!inner) return inner;
  return std::unique_ptr<ObjectWriter>(std::make_unique<PrefixWriter>(std::move(inner), prefix_));
}

Result<Bytes> PrefixStore::get(const std::string& key) { return inner_->get(prefix_ + key); }

Result<Bytes> PrefixStore::get_range(const std::string& key, uint64_t offset, uint64_t length) {
  return inner_->get_range(prefix_ + key, offset, length);
}

Result<ObjectInfo> PrefixStore::stat(const std::string& key) {
  ObjectInfo info = TRY(inner_->stat(prefix_ + key));
  info.key = key;
  return info;
}

Status PrefixStore::list(const std::string& prefix, const std::function<void(const ObjectInfo&)>& fn) {
  return inner_->list(prefix_ + prefix, [&](const ObjectInfo& info) {
    ObjectInfo inner_info = info;
    inner_info.key = info.key.substr(prefix_.size());
    fn(inner_info);
  });
}

Status PrefixStore::remove(const std::string& key) { return inner_->remove(prefix_ + key); }

Status PrefixStore::put_transient(const std::string& key, ByteView data) {
  return inner_->put_transient(prefix_ + key, data);
}

Status PrefixStore::remove_transient(const std::string& key) { return inner_->remove_transient(prefix_ + key); }

Status PrefixStore::put_retained(const std::string& key, ByteView data, const Retention& retention) {
  return inner_->put_retained(prefix_ + key, data, retention);
}

Status PrefixStore::extend_retention(const std::string& key, const Retention& retention) {
  return inner_->extend_retention(prefix_ + key, retention);
}

Result<BucketLockState> PrefixStore::lock_state() { return inner_->lock_state(); }

}  // namespace stowage
