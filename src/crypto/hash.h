// Cryptographic hashes used by the repository: SHA-256 for object names and
// HMAC-SHA-256 for keyed chunk ids (so chunk ids reveal nothing without the key).
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "util/bytes.h"

namespace stowage::crypto {

using Digest = std::array<uint8_t, 32>;

Digest sha256(ByteView data);
Digest hmac_sha256(ByteView key, ByteView data);

// SHA-256 of data that arrives in pieces (a streamed object).
class Sha256Stream {
 public:
  Sha256Stream();
  ~Sha256Stream();
  Sha256Stream(const Sha256Stream&) = delete;
  Sha256Stream& operator=(const Sha256Stream&) = delete;
  void update(ByteView data);
  Digest finish();  // once

 private:
  void* context_;  // EVP_MD_CTX
};

// Constant-time comparison for MACs and tags.
bool equal_constant_time(ByteView a, ByteView b);

}  // namespace stowage::crypto
