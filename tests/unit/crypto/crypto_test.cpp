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

// Expected values from b3sum (the Rust implementation, independent of the C
// code built here): inputs of the BLAKE3 test-vector pattern (byte i is
// i % 251), lengths across the one-chunk, many-chunk and SIMD paths; the
// key is the bytes 0..31.
TEST(Hash, Blake3MatchesB3sum) {
  struct Case {
    size_t length;
    const char* hash;
    const char* keyed;
  };
  const Case cases[] = {
      {0, "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262",
       "73492b19995d71cdb1e9d74decc09809eb732f1b00bc95c27cb15f9dd4d6478f"},
      {1, "2d3adedff11b61f14c886e35afa036736dcd87a74d27b5c1510225d0f592e213",
       "d08b45c6b127ee94f3f8527a0b82a5f80be1695a0eaec6022e772c0eb95a7e8b"},
      {1023, "10108970eeda3eb932baac1428c7a2163b0e924c9a9e25b35bba72b28f70bd11",
       "da1f18069871512af22af9f13dc005800dfd52c55f42753b5ae718086fe2ee44"},
      {1024, "42214739f095a406f3fc83deb889744ac00df831c10daa55189b5d121c855af7",
       "f45a9249a627fdf1fcf13c0e6376f6a9a9b2056d6e1b5693a4b119a3453665f9"},
      {1025, "d00278ae47eb27b34faecf67b4fe263f82d5412916c1ffd97c8cb7fb814b8444",
       "82223147a9b804a0c3f9a921b8d8aee250d1a51bb76be72152e6d5e8f27349b3"},
      {16384, "f875d6646de28985646f34ee13be9a576fd515f76b5b0a26bb324735041ddde4",
       "8880ce020ab0459420eee7e95f173d8a0d55c9b499d857880b0c661eb4162bae"},
      {102401, "cd6e6909a2c0672dc92e3b29f057547558147345290589966fdd79341d76cd98",
       "f65ba9ffedcca4166b34660d691ed515edaf4de791e176983baca414d973b72a"},
  };
  Digest key;
  for (size_t i = 0; i < key.size(); i++) key[i] = uint8_t(i);
  for (const Case& c : cases) {
    Bytes input(c.length);
    for (size_t i = 0; i < input.size(); i++) input[i] = uint8_t(i % 251);
    EXPECT_EQ(hex_encode(blake3(input)), c.hash) << c.length;
    EXPECT_EQ(hex_encode(blake3_keyed(key, input)), c.keyed) << c.length;
    EXPECT_EQ(hex_encode(digest(HashAlgorithm::kBlake3, input)), c.hash) << c.length;
  }
}

TEST(Hash, DigestStreamEqualsTheDigestOfTheWhole) {
  Bytes input(300000);
  for (size_t i = 0; i < input.size(); i++) input[i] = uint8_t(i * 7 + i / 1000);
  for (HashAlgorithm algorithm : {HashAlgorithm::kSha256, HashAlgorithm::kBlake3}) {
    DigestStream stream(algorithm);
    ByteView rest(input);
    for (size_t piece : {0u, 1u, 1023u, 65536u, 4096u}) {
      stream.update(rest.subspan(0, piece));
      rest = rest.subspan(piece);
    }
    stream.update(rest);
    EXPECT_EQ(stream.finish(), digest(algorithm, input));
  }
  EXPECT_EQ(digest(HashAlgorithm::kSha256, input), sha256(input));
  EXPECT_NE(digest(HashAlgorithm::kSha256, input), digest(HashAlgorithm::kBlake3, input));
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
  auto a = derive_password_key("pw", salt, p, 32), b = derive_password_key("pw", salt, p, 32),
       c = derive_password_key("pw2", salt, p, 32);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(*a, *b);
  EXPECT_NE(*a, *c);
  EXPECT_NE(*a, *derive_password_key("pw", random_bytes(16), p, 32));
  EXPECT_FALSE(derive_password_key("pw", salt, ScryptParams{1000, 8, 1}, 32).ok());  // N must be a power of two
}

TEST(Kdf, Argon2idIsDeterministicAndDependsOnEveryInput) {
  Argon2idParams p{1024, 1};
  Bytes salt = random_bytes(16);
  auto a = derive_password_key("pw", salt, p, 32);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(*a, *derive_password_key("pw", salt, p, 32));
  EXPECT_NE(*a, *derive_password_key("pw2", salt, p, 32));
  EXPECT_NE(*a, *derive_password_key("pw", random_bytes(16), p, 32));
  EXPECT_NE(*a, *derive_password_key("pw", salt, Argon2idParams{2048, 1}, 32));
  EXPECT_NE(*a, *derive_password_key("pw", salt, Argon2idParams{1024, 2}, 32));
  // Not scrypt under another name: the same password, salt and memory differ.
  EXPECT_NE(*a, *derive_password_key("pw", salt, ScryptParams{1024, 8, 1}, 32));
  EXPECT_EQ(derive_password_key("pw", random_bytes(8), p, 32).error().code(), ErrorCode::kInvalidArgument);
  EXPECT_FALSE(derive_password_key("pw", salt, Argon2idParams{1024, 0}, 32).ok());  // at least one pass
  EXPECT_STREQ(kdf_name(p), "argon2id");
  EXPECT_STREQ(kdf_name(ScryptParams{}), "scrypt");
}

// Argon2id version 1.3 with one lane, as the reference implementation of its
// authors computes it (Debian's `argon2` tool, 0~20171227:
// `echo -n password | argon2 stowage-salt-16b -id -t 2 -m 10 -p 1 -l 32 -r`),
// so key slots do not depend on libsodium's copy of the algorithm.
TEST(Kdf, Argon2idMatchesTheReferenceImplementation) {
  auto hex = [](const Result<Bytes>& b) { return b.ok() ? hex_encode(*b) : b.error().to_string(); };
  EXPECT_EQ(hex(derive_password_key("password", as_bytes("stowage-salt-16b"), Argon2idParams{1024, 2}, 32)),
            "3ea1a1bd955afe8aa94f1187fbc89c54e5ea264be6ddb2d92ca1e38b64475da9");
  // The default parameters (46 MiB, one pass): -t 1 -k 47104.
  EXPECT_EQ(hex(derive_password_key("password", as_bytes("stowage-salt-16b"), Argon2idParams{}, 32)),
            "2363f288b8e60fb869ff0722ea560337ec5efdc5f6e8aae1a254d8a54efaf971");
}

// RFC 7914, section 12: the key derivation is standard scrypt, so key slots
// written with any implementation of it stay readable.
TEST(Kdf, ScryptMatchesTheRfc7914TestVectors) {
  auto hex = [](const Result<Bytes>& b) { return b.ok() ? hex_encode(*b) : b.error().to_string(); };
  EXPECT_EQ(hex(derive_password_key("", as_bytes(""), ScryptParams{16, 1, 1}, 64)),
            "77d6576238657b203b19ca42c18a0497f16b4844e3074ae8dfdffa3fede21442"
            "fcd0069ded0948f8326a753a0fc81f17e8d3e0fb2e0d3628cf35e20c38d18906");
  EXPECT_EQ(hex(derive_password_key("password", as_bytes("NaCl"), ScryptParams{1024, 8, 16}, 64)),
            "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162"
            "2eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640");
}

}  // namespace
}  // namespace stowage::crypto
