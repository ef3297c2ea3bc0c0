// The key-derivation flags of every command that writes a key slot (repo
// init, repo key add, server, agent): --kdf, --kdf-memory-mib,
// --kdf-iterations, turned into crypto::KdfParams.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>

#include "crypto/kdf.h"
#include "util/result.h"

namespace stowage::cli {

struct KdfFlags {
  std::string name = "argon2id";
  uint64_t memory_mib = 0;  // 0: the function's default (Argon2id 46, scrypt 32)
  uint64_t iterations = 0;  // 0: the default (1); Argon2id only
};

// what: whose key slots the flags set ("the new slot", "repositories the
// agent creates").
void add_kdf_flags(CLI::App* cmd, KdfFlags& flags, const std::string& what);

Result<crypto::KdfParams> kdf_params(const KdfFlags& flags);

}  // namespace stowage::cli
