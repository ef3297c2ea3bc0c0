#include "crypto/kdf.h"

#include <openssl/evp.h>

#include "crypto/hash.h"

namespace stowage::crypto {

Result<Bytes> scrypt(std::string_view password, ByteView salt, const ScryptParams& params, size_t length) {
  Bytes out(length);
  uint64_t max_mem = 128 * params.n * params.r * params.p + (64 << 20);
  if (EVP_PBE_scrypt(password.data(), password.size(), salt.data(), salt.size(), params.n, params.r, params.p,
                     max_mem, out.data(), out.size()) != 1)
    return Error(ErrorCode::kInvalidArgument, "scrypt key derivation failed (invalid parameters n/r/p)");
  return out;
}

Bytes derive_subkey(ByteView master, std::string_view label) {
  auto d = hmac_sha256(master, as_bytes(label));
  return Bytes(d.begin(), d.end());
}

}  // namespace stowage::crypto
