// Key derivation: a memory-hard function turns a password into a key-wrapping
// key (Argon2id for new key slots; scrypt for slots written before it, and
// on request); derive_subkey() separates keys by purpose from one master secret.
#pragma once

#include <cstdint>
#include <string_view>
#include <variant>

#include "util/bytes.h"
#include "util/result.h"

namespace stowage::crypto {

// Argon2id (RFC 9106), one lane. The default, 46 MiB and one pass, is the
// configuration OWASP's password storage guidance lists first for Argon2id;
// by the same guidance the scrypt default below falls short of its minimum.
// It takes about half scrypt's time here (docs/repository-format.md).
struct Argon2idParams {
  uint64_t memory_kib = 46 * 1024;
  uint64_t iterations = 1;
};

// scrypt (RFC 7914). memory = 128 * n * r bytes (32 MiB by default).
struct ScryptParams {
  uint64_t n = 1 << 15;
  uint64_t r = 8;
  uint64_t p = 1;
};

using KdfParams = std::variant<Argon2idParams, ScryptParams>;

// The function's name as key slots record it: "argon2id" or "scrypt".
const char* kdf_name(const KdfParams& params);

Result<Bytes> derive_password_key(std::string_view password, ByteView salt, const KdfParams& params, size_t length);

// HMAC-SHA-256(master, label): a 32-byte key for one purpose.
Bytes derive_subkey(ByteView master, std::string_view label);

}  // namespace stowage::crypto
