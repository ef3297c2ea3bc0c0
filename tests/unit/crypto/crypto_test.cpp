#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <sys/wait.h>
#include <unistd.h>

#include "crypto/aead.h"
#include "crypto/hash.h"
#include "crypto/kdf.h"

namespace stowage::crypto {
namespace {

TEST(Hash, Sha256KnownVector) {
  EXPECT_EQ(hex_encode(sha256(as_bytes("abc"))),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Hash, HmacKnownVector) {  // RFC 4231 test case 2
  EXPECT_EQ(hex_encode(hmac_sha256(as_bytes("Jefe"), as_bytes("what do ya want for nothing?"))),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

// The context keeps the last key's state; other keys in between must not leak
// into the result.
TEST(Hash, HmacIsRightWhenKeysAlternate) {  // RFC 4231 test cases 1 and 2
  Bytes key1(20, 0x0b);
  for (int i = 0; i < 3; i++) {
    EXPECT_EQ(hex_encode(hmac_sha256(key1, as_bytes("Hi There"))),
              "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    EXPECT_EQ(hex_encode(hmac_sha256(as_bytes("Jefe"), as_bytes("what do ya want for nothing?"))),
              "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    EXPECT_EQ(hex_encode(hmac_sha256(as_bytes("Jefe"), as_bytes("what do ya want for nothing?"))),
              "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  }
}

// Decrypts a sealed object with a fresh OpenSSL context, independent of Aead.
Bytes open_independently(ByteView key, ByteView sealed) {
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  size_t n = sealed.size() - kAeadOverhead;
  Bytes plain(n);
  int len = 0;
  EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), nullptr, key.data(), sealed.data());
  EVP_DecryptUpdate(ctx, plain.data(), &len, sealed.data() + kAeadNonceSize, int(n));
  EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, kAeadTagSize, const_cast<uint8_t*>(sealed.data() + kAeadNonceSize + n));
  bool ok = EVP_DecryptFinal_ex(ctx, plain.data() + n, &len) == 1;
  EVP_CIPHER_CTX_free(ctx);
  return ok ? plain : Bytes{};
}

// A thread's cipher contexts stay keyed between objects and only take a new
// nonce: each object must still be standard AES-GCM under the nonce it
// carries, and objects of two keys sealed in turn must not mix.
TEST(Aead, EachObjectIsStandardGcmUnderItsOwnNonceWhenKeysAlternate) {
  Bytes key_a = random_bytes(32), key_b = random_bytes(32);
  Aead a(key_a), b(key_b);
  Bytes payload = to_bytes("the same payload, sealed again and again");
  std::vector<Bytes> sealed_a, sealed_b;
  for (int i = 0; i < 4; i++) {
    sealed_a.push_back(a.seal(payload));
    sealed_b.push_back(b.seal(payload));
  }
  for (int i = 0; i < 4; i++) {
    EXPECT_EQ(open_independently(key_a, sealed_a[i]), payload) << i;
    EXPECT_EQ(open_independently(key_b, sealed_b[i]), payload) << i;
    EXPECT_EQ(*a.open(sealed_a[i]), payload);
    EXPECT_EQ(*b.open(sealed_b[i]), payload);
    EXPECT_FALSE(a.open(sealed_b[i]).ok());
    EXPECT_FALSE(b.open(sealed_a[i]).ok());
    // A new nonce each time, so a new ciphertext: no keystream is reused.
    if (i > 0) {
      EXPECT_FALSE(std::equal(sealed_a[i].begin(), sealed_a[i].begin() + kAeadNonceSize, sealed_a[i - 1].begin()));
      EXPECT_FALSE(std::equal(sealed_a[i].begin() + kAeadNonceSize, sealed_a[i].end(),
                              sealed_a[i - 1].begin() + kAeadNonceSize));
    }
  }
}

// Nonces are drawn from a per-thread pool; a forked child must not draw the
// ones its parent draws next.
TEST(Aead, AForkedChildDoesNotReuseTheParentsNonces) {
  Aead aead(random_bytes(32));
  aead.seal(as_bytes("fill the pool"));
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    Bytes sealed = aead.seal(as_bytes("child"));
    _exit(write(fds[1], sealed.data(), kAeadNonceSize) == ssize_t(kAeadNonceSize) ? 0 : 1);
  }
  Bytes parent = aead.seal(as_bytes("parent"));
  Bytes child(kAeadNonceSize);
  ASSERT_EQ(read(fds[0], child.data(), child.size()), ssize_t(child.size()));
  int status = 0;
  waitpid(pid, &status, 0);
  close(fds[0]);
  close(fds[1]);
  EXPECT_NE(child, Bytes(parent.begin(), parent.begin() + kAeadNonceSize));
}

TEST(Aead, RoundTripAndTamperDetection) {
  Bytes key = random_bytes(32);
  Aead aead(key);
  Bytes sealed = aead.seal(as_bytes("secret payload"), as_bytes("kind"));
  ASSERT_EQ(sealed.size(), 14 + kAeadOverhead);
  auto opened = aead.open(sealed, as_bytes("kind"));
  ASSERT_TRUE(opened.ok());
  EXPECT_EQ(as_string(*opened), "secret payload");
  // Wrong associated data, flipped byte, truncation, other key: all refused.
  EXPECT_EQ(aead.open(sealed, as_bytes("other")).error().code(), ErrorCode::kCorrupt);
  for (size_t i = 0; i < sealed.size(); i++) {
    Bytes bad = sealed;
    bad[i] ^= 0x01;
    EXPECT_FALSE(aead.open(bad, as_bytes("kind")).ok()) << "flip at " << i;
  }
  EXPECT_FALSE(aead.open(ByteView(sealed).first(sealed.size() - 1), as_bytes("kind")).ok());
  EXPECT_FALSE(aead.open(ByteView(sealed).first(5), as_bytes("kind")).ok());
  EXPECT_FALSE(Aead(random_bytes(32)).open(sealed, as_bytes("kind")).ok());
}

TEST(Aead, NoncesDiffer) {
  Aead aead(random_bytes(32));
  EXPECT_NE(aead.seal(as_bytes("same")), aead.seal(as_bytes("same")));
}

TEST(Kdf, ScryptIsDeterministicAndSaltDependent) {
  ScryptParams p{1024, 8, 1};
  Bytes salt = random_bytes(16);
  auto a = scrypt("pw", salt, p, 32), b = scrypt("pw", salt, p, 32), c = scrypt("pw2", salt, p, 32);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(*a, *b);
  EXPECT_NE(*a, *c);
  EXPECT_NE(*a, *scrypt("pw", random_bytes(16), p, 32));
  EXPECT_FALSE(scrypt("pw", salt, ScryptParams{1000, 8, 1}, 32).ok());  // N must be a power of two
}

// RFC 7914, section 12: the key derivation is standard scrypt, so key slots
// written with any implementation of it stay readable.
TEST(Kdf, ScryptMatchesTheRfc7914TestVectors) {
  auto hex = [](const Result<Bytes>& b) { return b.ok() ? hex_encode(*b) : b.error().to_string(); };
  EXPECT_EQ(hex(scrypt("", as_bytes(""), ScryptParams{16, 1, 1}, 64)),
            "77d6576238657b203b19ca42c18a0497f16b4844e3074ae8dfdffa3fede21442"
            "fcd0069ded0948f8326a753a0fc81f17e8d3e0fb2e0d3628cf35e20c38d18906");
  EXPECT_EQ(hex(scrypt("password", as_bytes("NaCl"), ScryptParams{1024, 8, 16}, 64)),
            "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162"
            "2eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640");
}

}  // namespace
}  // namespace stowage::crypto
