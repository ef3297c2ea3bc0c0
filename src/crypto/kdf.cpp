#include "crypto/kdf.h"

#include <sodium.h>

#include "crypto/hash.h"

namespace stowage::crypto {

const char* kdf_name(const KdfParams& params) {
  return std::holds_alternative<Argon2idParams>(params) ? "argon2id" : "scrypt";
}

// libsodium for both functions. Its scrypt rather than OpenSSL's: the same
// RFC 7914 function (the test vectors check it), about 20% faster here
// (vectorised Salsa20/8). Its Argon2id is the reference algorithm with one
// lane, the only one libsodium offers.
static Result<Bytes> derive(std::string_view password, ByteView salt, const Argon2idParams& params, size_t length) {
  Bytes out(length);
  if (salt.size() != crypto_pwhash_argon2id_SALTBYTES || params.memory_kib > SIZE_MAX / 1024 ||
      crypto_pwhash_argon2id(out.data(), out.size(), password.data(), password.size(), salt.data(),
                             params.iterations, size_t(params.memory_kib) * 1024,
                             crypto_pwhash_argon2id_ALG_ARGON2ID13) != 0)
    return Error(ErrorCode::kInvalidArgument,
                 "Argon2id key derivation failed (salt not 16 bytes, memory below 8 KiB, no passes, or not enough "
                 "memory for them)");
  return out;
}

static Result<Bytes> derive(std::string_view password, ByteView salt, const ScryptParams& params, size_t length) {
  Bytes out(length);
  if (params.r > UINT32_MAX || params.p > UINT32_MAX ||
      crypto_pwhash_scryptsalsa208sha256_ll(reinterpret_cast<const uint8_t*>(password.data()), password.size(),
                                            salt.data(), salt.size(), params.n, uint32_t(params.r),
                                            uint32_t(params.p), out.data(), out.size()) != 0)
    return Error(ErrorCode::kInvalidArgument,
                 "scrypt key derivation failed (invalid parameters n/r/p, or not enough memory for them)");
  return out;
}

Result<Bytes> derive_password_key(std::string_view password, ByteView salt, const KdfParams& params, size_t length) {
  static const bool ready = sodium_init() >= 0;
  if (!ready) return Error(ErrorCode::kInternal, "libsodium failed to initialise (no usable random source?)");
  return std::visit([&](const auto& p) { return derive(password, salt, p, length); }, params);
}

Bytes derive_subkey(ByteView master, std::string_view label) {
  auto d = hmac_sha256(master, as_bytes(label));
  return Bytes(d.begin(), d.end());
}

}  // namespace stowage::crypto
