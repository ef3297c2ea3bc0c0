// Helpers for repository tests: a fast-KDF repository on a MemoryStore.
#pragma once

#include <memory>

#include "repo/repository.h"
#include "store/memory_store.h"

namespace stowage::testing {

inline InitOptions fast_init_options() {
  InitOptions o;
  o.kdf = crypto::Argon2idParams{1024, 1};
  o.chunker = ChunkerParams{16 * 1024, 64 * 1024, 256 * 1024};
  o.pack_size = 1 << 20;
  o.block_size = 64 * 1024;
  return o;
}

inline std::unique_ptr<Repository> make_repo(const std::shared_ptr<ObjectStore>& store, const char* password = "pw",
                                             int format_version = kRepositoryFormatVersion) {
  InitOptions options = fast_init_options();
  options.format_version = format_version;
  auto init = Repository::init(*store, password, options);
  if (!init.ok()) return nullptr;
  auto repo = Repository::open(store, password);
  return repo.ok() ? std::move(repo).value() : nullptr;
}

}  // namespace stowage::testing
