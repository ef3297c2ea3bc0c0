// Runs the ObjectStore contract against the backends that need no server:
// a directory (FsStore) and memory (MemoryStore), both behind RetryStore too.
#include <cstdlib>
#include <filesystem>

#include "store/fs_store.h"
#include "store/location.h"
#include "store/memory_store.h"
#include "store/retry_store.h"
#include "store_contract.h"

namespace stowage::store_test {
namespace {

std::string scratch_dir(const std::string& isolation) {
  return (std::filesystem::temp_directory_path() / ("stowage-store-test-" + isolation)).string();
}

void remove_scratch_dir(const std::string& isolation) {
  std::error_code ignored;
  std::filesystem::remove_all(scratch_dir(isolation), ignored);
}

StoreUnderTest fs_backend() {
  return {"fs",
          [](const std::string& isolation) -> Result<std::unique_ptr<ObjectStore>> {
            return std::unique_ptr<ObjectStore>(std::make_unique<FsStore>(scratch_dir(isolation)));
          },
          "", remove_scratch_dir, 150};
}

StoreUnderTest fs_url_backend() {
  // The way the CLI opens it: file:// URL, retry wrapper, root created.
  return {"fs_url",
          [](const std::string& isolation) {
            StoreOptions options;
            options.create_if_missing = true;
            return open_store("file://" + scratch_dir(isolation), options);
          },
          "", remove_scratch_dir, 150};
}

StoreUnderTest memory_backend() {
  return {"memory",
          [](const std::string& isolation) -> Result<std::unique_ptr<ObjectStore>> {
            return std::unique_ptr<ObjectStore>(std::make_unique<MemoryStore>(isolation));
          },
          "", nullptr};
}

StoreUnderTest memory_retry_backend() {
  return {"memory_retry",
          [](const std::string& isolation) -> Result<std::unique_ptr<ObjectStore>> {
            return std::unique_ptr<ObjectStore>(
                std::make_unique<RetryStore>(std::make_unique<MemoryStore>(isolation)));
          },
          "", nullptr};
}

INSTANTIATE_TEST_SUITE_P(Local, StoreContractTest,
                         ::testing::Values(fs_backend(), fs_url_backend(), memory_backend(), memory_retry_backend()),
                         [](const ::testing::TestParamInfo<StoreUnderTest>& info) { return info.param.name; });

}  // namespace
}  // namespace stowage::store_test
