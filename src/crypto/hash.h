// Cryptographic hashes used by the repository. Chunk ids are keyed, so they
// reveal nothing without the key: HMAC-SHA-256 up to repository format 4,
// keyed BLAKE3 from format 5. Object names are a digest of the object's bytes:
// SHA-256 up to format 4, BLAKE3 from format 5. BLAKE3 is the reference C
// implementation (Debian's librust-blake3-dev ships it; CMakeLists.txt), about
// four times as fast as SHA-256 with SHA-NI on inputs of 16 KiB and more.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>

#include "util/bytes.h"

namespace stowage::crypto {

using Digest = std::array<uint8_t, 32>;

enum class HashAlgorithm { kSha256, kBlake3 };

Digest sha256(ByteView data);
Digest hmac_sha256(ByteView key, ByteView data);
Digest blake3(ByteView data);
Digest blake3_keyed(const Digest& key, ByteView data);
Digest digest(HashAlgorithm algorithm, ByteView data);

// A digest of data that arrives in pieces (a streamed object).
class DigestStream {
 public:
  explicit DigestStream(HashAlgorithm algorithm);
  ~DigestStream();
  DigestStream(const DigestStream&) = delete;
  DigestStream& operator=(const DigestStream&) = delete;
  void update(ByteView data);
  Digest finish();  // once

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// Constant-time comparison for MACs and tags.
bool equal_constant_time(ByteView a, ByteView b);

}  // namespace stowage::crypto
