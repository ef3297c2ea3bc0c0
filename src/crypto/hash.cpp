#include "crypto/hash.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>

#include <cstdlib>
#include <variant>

#include "blake3.h"

namespace stowage::crypto {

// OpenSSL 3 looks algorithms up by name behind a global lock on every
// implicit use (EVP_sha256(), HMAC()); fetching once and keeping one context
// per thread removes that lock and the allocations from the per-chunk path.
namespace {
EVP_MD* sha256_md() {
  static EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return md;
}
EVP_MAC* hmac_mac() {
  static EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  return mac;
}
}  // namespace

Digest sha256(ByteView data) {
  Digest out;
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), out.data(), &len, sha256_md(), nullptr);
  return out;
}

namespace {
Digest blake3_of(blake3_hasher& hasher, ByteView data) {  // hasher: initialised
  blake3_hasher_update(&hasher, data.data(), data.size());
  Digest out;
  blake3_hasher_finalize(&hasher, out.data(), out.size());
  return out;
}
}  // namespace

Digest blake3(ByteView data) {
  blake3_hasher hasher;
  blake3_hasher_init(&hasher);
  return blake3_of(hasher, data);
}

Digest blake3_keyed(const Digest& key, ByteView data) {
  blake3_hasher hasher;
  blake3_hasher_init_keyed(&hasher, key.data());
  Digest out = blake3_of(hasher, data);
  OPENSSL_cleanse(hasher.key, sizeof hasher.key);
  return out;
}

Digest digest(HashAlgorithm algorithm, ByteView data) {
  return algorithm == HashAlgorithm::kBlake3 ? blake3(data) : sha256(data);
}

struct DigestStream::State {
  std::variant<EVP_MD_CTX*, blake3_hasher> context;
};

DigestStream::DigestStream(HashAlgorithm algorithm) : state_(std::make_unique<State>()) {
  if (algorithm == HashAlgorithm::kBlake3) {
    blake3_hasher hasher;
    blake3_hasher_init(&hasher);
    state_->context = hasher;
  } else {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    if (!ctx || EVP_DigestInit_ex(ctx, sha256_md(), nullptr) != 1) abort();  // out of memory
    state_->context = ctx;
  }
}

DigestStream::~DigestStream() {
  if (auto* ctx = std::get_if<EVP_MD_CTX*>(&state_->context)) EVP_MD_CTX_free(*ctx);
}

void DigestStream::update(ByteView data) {
  if (auto* ctx = std::get_if<EVP_MD_CTX*>(&state_->context))
    EVP_DigestUpdate(*ctx, data.data(), data.size());
  else
    blake3_hasher_update(&std::get<blake3_hasher>(state_->context), data.data(), data.size());
}

Digest DigestStream::finish() {
  Digest out;
  if (auto* ctx = std::get_if<EVP_MD_CTX*>(&state_->context)) {
    unsigned int len = 0;
    EVP_DigestFinal_ex(*ctx, out.data(), &len);
  } else {
    blake3_hasher_finalize(&std::get<blake3_hasher>(state_->context), out.data(), out.size());
  }
  return out;
}

Digest hmac_sha256(ByteView key, ByteView data) {
  // The context keeps its key's inner and outer states between calls: with the
  // same key (a repository's id key, nearly always) it restarts from them
  // instead of looking the digest up and hashing the key again.
  thread_local struct Holder {
    EVP_MAC_CTX* ctx = EVP_MAC_CTX_new(hmac_mac());
    Bytes key;
    bool keyed = false;
    ~Holder() {
      OPENSSL_cleanse(key.data(), key.size());
      EVP_MAC_CTX_free(ctx);
    }
  } holder;
  int initialised = 0;
  if (holder.keyed && equal_constant_time(holder.key, key)) {
    initialised = EVP_MAC_init(holder.ctx, nullptr, 0, nullptr);
  } else {
    char digest_name[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest_name, 0),
                           OSSL_PARAM_construct_end()};
    initialised = EVP_MAC_init(holder.ctx, key.data(), key.size(), params);
    OPENSSL_cleanse(holder.key.data(), holder.key.size());
    holder.key.assign(key.begin(), key.end());
    holder.keyed = initialised == 1;
  }
  Digest out;
  size_t len = 0;
  if (initialised != 1 || EVP_MAC_update(holder.ctx, data.data(), data.size()) != 1 ||
      EVP_MAC_final(holder.ctx, out.data(), &len, out.size()) != 1)
    abort();  // cannot happen with a valid context; a wrong id would be worse
  return out;
}

bool equal_constant_time(ByteView a, ByteView b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace stowage::crypto
