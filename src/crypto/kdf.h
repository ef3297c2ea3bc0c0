// Key derivation: scrypt (memory-hard) turns a password into a key-wrapping
// key; derive_subkey() separates keys by purpose from one master secret.
#pragma once

#include <cstdint>
#include <string_view>

#include "util/bytes.h"
#include "util/result.h"

namespace stowage::crypto {

struct ScryptParams {
  uint64_t n = 1 << 15;  // CPU/memory cost; memory = 128 * n * r bytes (32 MiB)
  uint64_t r = 8;
  uint64_t p = 1;
};

Result<Bytes> scrypt(std::string_view password, ByteView salt, const ScryptParams& params, size_t length);

// HMAC-SHA-256(master, label): a 32-byte key for one purpose.
Bytes derive_subkey(ByteView master, std::string_view label);

}  // namespace stowage::crypto
