#include "crypto/aead.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>

#include <array>
#include <atomic>
#include <cstring>
#include <memory>

namespace stowage::crypto {

namespace {
struct CtxDeleter {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
using CtxPtr = std::unique_ptr<EVP_CIPHER_CTX, CtxDeleter>;

const EVP_CIPHER* cipher() {
  static EVP_CIPHER* c = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
  return c;
}

// One cipher context per thread and direction, keyed once and then given only
// a new nonce per object: the key schedule and GHASH tables cost more than
// sealing a small object. A context remembers its key so that objects sealed
// under another key (a second repository) re-key it.
struct KeyedCtx {
  CtxPtr ctx{EVP_CIPHER_CTX_new()};
  std::array<uint8_t, kAeadKeySize> key{};
  bool keyed = false;
  ~KeyedCtx() { OPENSSL_cleanse(key.data(), key.size()); }
};

EVP_CIPHER_CTX* keyed_ctx(bool encrypt, const Bytes& key, const uint8_t* nonce) {
  thread_local KeyedCtx contexts[2];
  KeyedCtx& k = contexts[encrypt ? 1 : 0];
  if (k.keyed && CRYPTO_memcmp(k.key.data(), key.data(), kAeadKeySize) == 0) {
    EVP_CipherInit_ex2(k.ctx.get(), nullptr, nullptr, nonce, encrypt, nullptr);
  } else {
    EVP_CipherInit_ex2(k.ctx.get(), cipher(), key.data(), nonce, encrypt, nullptr);
    std::memcpy(k.key.data(), key.data(), kAeadKeySize);
    k.keyed = true;
  }
  return k.ctx.get();
}

// Random nonces come from a per-thread pool filled a few KiB at a time: one
// RAND_bytes call per object cost more than sealing a small object. A forked
// child drops its copy of the pool, so parent and child never share nonces.
std::atomic<uint64_t> fork_generation{0};

void random_nonce(uint8_t* out) {
  static const int registered = pthread_atfork(nullptr, nullptr, [] { fork_generation++; });
  (void)registered;
  thread_local struct {
    uint8_t bytes[kAeadNonceSize * 340];
    size_t used = sizeof bytes;
    uint64_t generation = 0;
  } pool;
  uint64_t generation = fork_generation.load(std::memory_order_relaxed);
  if (pool.used == sizeof pool.bytes || pool.generation != generation) {
    if (RAND_bytes(pool.bytes, int(sizeof pool.bytes)) != 1) abort();  // no entropy: nothing safe to do
    pool.used = 0;
    pool.generation = generation;
  }
  std::memcpy(out, pool.bytes + pool.used, kAeadNonceSize);
  pool.used += kAeadNonceSize;
}
}  // namespace

Bytes random_bytes(size_t n) {
  Bytes out(n);
  if (RAND_bytes(out.data(), int(n)) != 1) abort();  // no entropy: nothing safe to do
  return out;
}

Aead::Aead(ByteView key) : key_(key.begin(), key.end()) {
  if (key_.size() != kAeadKeySize) abort();  // a programming error: keys come from the key slot
}

void Aead::seal(ByteView plaintext, ByteView associated, Bytes& out) const {
  size_t base = out.size();
  out.resize(base + kAeadNonceSize + plaintext.size() + kAeadTagSize);
  uint8_t* nonce = out.data() + base;
  random_nonce(nonce);
  EVP_CIPHER_CTX* ctx = keyed_ctx(true, key_, nonce);
  int len = 0;
  if (!associated.empty()) EVP_EncryptUpdate(ctx, nullptr, &len, associated.data(), int(associated.size()));
  uint8_t* ct = nonce + kAeadNonceSize;
  if (!plaintext.empty()) EVP_EncryptUpdate(ctx, ct, &len, plaintext.data(), int(plaintext.size()));
  EVP_EncryptFinal_ex(ctx, ct + plaintext.size(), &len);
  EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, kAeadTagSize, ct + plaintext.size());
}

Bytes Aead::seal(ByteView plaintext, ByteView associated) const {
  Bytes out;
  out.reserve(plaintext.size() + kAeadOverhead);
  seal(plaintext, associated, out);
  return out;
}

Result<Bytes> Aead::open(ByteView sealed, ByteView associated) const {
  if (sealed.size() < kAeadOverhead)
    return Error(ErrorCode::kCorrupt, "encrypted object is shorter than its nonce and tag (truncated)");
  const uint8_t* nonce = sealed.data();
  size_t ct_len = sealed.size() - kAeadOverhead;
  const uint8_t* ct = nonce + kAeadNonceSize;
  Bytes plain(ct_len);
  EVP_CIPHER_CTX* ctx = keyed_ctx(false, key_, nonce);
  int len = 0;
  if (!associated.empty()) EVP_DecryptUpdate(ctx, nullptr, &len, associated.data(), int(associated.size()));
  if (ct_len) EVP_DecryptUpdate(ctx, plain.data(), &len, ct, int(ct_len));
  EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, kAeadTagSize, const_cast<uint8_t*>(ct + ct_len));
  if (EVP_DecryptFinal_ex(ctx, plain.data() + ct_len, &len) != 1)
    return Error(ErrorCode::kCorrupt, "authentication failed: data was modified or encrypted with another key");
  return plain;
}

}  // namespace stowage::crypto
