// FsStore: an ObjectStore in a local directory (`file:///path`). Keys map to
// nested paths; puts are atomic and create-only (temp file + fsync + link()).
#pragma once

#include <cstdint>
#include <cstdlib>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "store/object_store.h"
#include "util/work_queue.h"

namespace stowage {

class FsStore : public ObjectStore {
 public:
  // `root` is an absolute directory path; it is created by the first put.
  explicit FsStore(std::string root);

  // Creates the root directory (and its parents) if missing.
  Status ensure_root();

  std::string describe() const override;
  Status put(const std::string& key, ByteView data) override;
  Result<Bytes> get(const std::string& key) override;
  Result<Bytes> get_range(const std::string& key, uint64_t offset, uint64_t length) override;
  Result<ObjectInfo> stat(const std::string& key) override;
  Status list(const std::string& prefix, const std::function<void(const ObjectInfo&)>& fn) override;
  Status remove(const std::string& key) override;
  // Without the fsyncs of the file and its directory.
  Status put_transient(const std::string& key, ByteView data) override;
  Status remove_transient(const std::string& key) override;
  // Streams into a temporary file in the root directory, with O_DIRECT
  // where the filesystem allows it (written behind, on the store's
  // write-behind threads) and else through the page cache with its
  // writeback started as it grows; commit() fsyncs it and links it under
  // the key.
  Result<std::unique_ptr<ObjectWriter>> open_writer() override;

  const std::string& root() const { return root_; }

  // Names of in-flight temporary files start with this; list() skips them and
  // keys may not use it.
  static constexpr const char* kTempPrefix = ".stowage-tmp-";

 private:
  friend class FsStoreWriter;
  // A writer whose temporary file is in dir; key (if known) names errors.
  Result<std::unique_ptr<ObjectWriter>> create_temp(const std::string& dir, const std::string& key,
                                                    bool durable = true);
  Status put_object(const std::string& key, ByteView data, bool durable);
  // The end of every put, once the key is checked and its directories
  // exist: fsyncs (if durable) and closes the temporary file, then links it
  // under the key (create-only), removes the temporary name and fsyncs the
  // directory (if durable).
  Status commit_temp(int fd, const std::string& temp_path, const std::string& key, bool durable);
  Status remove_object(const std::string& key, bool durable);
  std::string path_of(const std::string& key) const;
  Status check_key(const std::string& key) const;
  Status make_parent_dirs(const std::string& key, const std::string& path);
  Status list_dir(const std::string& dir_key, const std::string& prefix,
                  const std::function<void(const ObjectInfo&)>& fn);

  // Ranged reads (a restore reads thousands of blobs from one pack) reuse
  // open descriptors: objects never change once written, and remove() drops
  // a key's entry. At most kOpenFiles stay open.
  struct OpenFile {
    std::string key;
    std::shared_ptr<const int> fd;  // closed when the last user drops it
    uint64_t size = 0;
  };
  static constexpr size_t kOpenFiles = 32;
  Result<OpenFile> open_for_read(const std::string& key);
  void forget_open(const std::string& key);

  // Aligned buffers for O_DIRECT slices, kept for reuse (fresh memory costs
  // a page fault per 4 KiB), and the threads that write them: an O_DIRECT
  // write returns only once the device has the data, so the thread that
  // streams a pack hands its slices over and goes on sealing blobs.
  struct FreeDeleter {
    void operator()(uint8_t* p) const { std::free(p); }
  };
  using SliceBuffer = std::unique_ptr<uint8_t, FreeDeleter>;
  SliceBuffer take_slice_buffer();
  void give_back(SliceBuffer buffer);
  WorkQueue& write_behind();

  std::string root_;
  std::mutex open_mu_;
  std::list<OpenFile> open_files_;  // most recently used first
  std::mutex buffers_mu_;
  std::vector<SliceBuffer> buffers_;
  std::once_flag write_behind_started_;
  std::unique_ptr<WorkQueue> write_behind_;  // last: its threads end before the buffers go
};

}  // namespace stowage
