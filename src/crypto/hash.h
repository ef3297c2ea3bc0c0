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

// Constant-time comparison for MACs and tags.
bool equal_constant_time(ByteView a, ByteView b);

}  // namespace stowage::crypto
