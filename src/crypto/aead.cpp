#include "crypto/aead.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

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

// One cipher context per thread, re-initialised for each object.
EVP_CIPHER_CTX* thread_ctx() {
  thread_local CtxPtr ctx(EVP_CIPHER_CTX_new());
  return ctx.get();
}
}  // namespace

Bytes random_bytes(size_t n) {
  Bytes out(n);
  if (RAND_bytes(out.data(), int(n)) != 1) abort();  // no entropy: nothing safe to do
  return out;
}

Aead::Aead(ByteView key) : key_(key.begin(), key.end()) {}

void Aead::seal(ByteView plaintext, ByteView associated, Bytes& out) const {
  size_t base = out.size();
  out.resize(base + kAeadNonceSize + plaintext.size() + kAeadTagSize);
  uint8_t* nonce = out.data() + base;
  if (RAND_bytes(nonce, kAeadNonceSize) != 1) abort();
  EVP_CIPHER_CTX* ctx = thread_ctx();
  int len = 0;
  EVP_EncryptInit_ex2(ctx, cipher(), key_.data(), nonce, nullptr);
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
  EVP_CIPHER_CTX* ctx = thread_ctx();
  int len = 0;
  EVP_DecryptInit_ex2(ctx, cipher(), key_.data(), nonce, nullptr);
  if (!associated.empty()) EVP_DecryptUpdate(ctx, nullptr, &len, associated.data(), int(associated.size()));
  if (ct_len) EVP_DecryptUpdate(ctx, plain.data(), &len, ct, int(ct_len));
  EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, kAeadTagSize, const_cast<uint8_t*>(ct + ct_len));
  if (EVP_DecryptFinal_ex(ctx, plain.data() + ct_len, &len) != 1)
    return Error(ErrorCode::kCorrupt, "authentication failed: data was modified or encrypted with another key");
  return plain;
}

}  // namespace stowage::crypto
