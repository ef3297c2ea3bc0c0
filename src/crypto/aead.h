// AES-256-GCM authenticated encryption of every object stowage stores.
// Sealed layout: nonce (12 bytes, random) | ciphertext | tag (16 bytes).
#pragma once

#include "util/bytes.h"
#include "util/result.h"

namespace stowage::crypto {

inline constexpr size_t kAeadKeySize = 32;
inline constexpr size_t kAeadNonceSize = 12;
inline constexpr size_t kAeadTagSize = 16;
inline constexpr size_t kAeadOverhead = kAeadNonceSize + kAeadTagSize;

class Aead {
 public:
  explicit Aead(ByteView key);  // key must be 32 bytes

  // Appends the sealed form of plaintext to out.
  void seal(ByteView plaintext, ByteView associated, Bytes& out) const;
  Bytes seal(ByteView plaintext, ByteView associated = {}) const;
  // Fails with kCorrupt when the tag does not verify (tampered, truncated, or
  // sealed under another key).
  Result<Bytes> open(ByteView sealed, ByteView associated = {}) const;

 private:
  Bytes key_;
};

Bytes random_bytes(size_t n);

}  // namespace stowage::crypto
