#include <gtest/gtest.h>

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
