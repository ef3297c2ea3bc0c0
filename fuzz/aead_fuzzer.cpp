// Fuzzes Aead::open, which every stored object passes through first:
//   [u8 associated length][associated...][sealed...]
// Raw: open(sealed, associated) under the fixed key must fail cleanly (the
// fuzzer cannot forge a tag). Round trip: seal(sealed-as-plaintext) opens to
// the same bytes, and fails after any one-byte change, a truncation, or with
// other associated data.
#include <cstddef>
#include <cstdint>

#include "crypto/aead.h"
#include "fuzz_common.h"

using namespace stowage;

static const crypto::Aead& aead() {
  static const crypto::Aead a(fuzz::fixed_key());
  return a;
}

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::maybe_write_seeds("aead", [] {
    Bytes aad = to_bytes("stowage pack trailer v1");
    Bytes s1 = {uint8_t(aad.size())};
    s1.insert(s1.end(), aad.begin(), aad.end());
    Bytes sealed = aead().seal(to_bytes("a plaintext of some length"), aad);
    s1.insert(s1.end(), sealed.begin(), sealed.end());
    Bytes s2 = {0};
    Bytes sealed2 = aead().seal({}, {});
    s2.insert(s2.end(), sealed2.begin(), sealed2.end());
    return fuzz::Seeds{{"sealed_with_aad", s1}, {"sealed_empty", s2}};
  });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::Input in(data, size);
  ByteView associated = in.take(in.u8());
  ByteView sealed = in.rest();

  Result<Bytes> opened = aead().open(sealed, associated);
  if (opened.ok()) FUZZ_CHECK(opened->size() + crypto::kAeadOverhead == sealed.size());

  Bytes plain(sealed.begin(), sealed.end());
  Bytes box = aead().seal(plain, associated);
  FUZZ_CHECK(box.size() == plain.size() + crypto::kAeadOverhead);
  Result<Bytes> back = aead().open(box, associated);
  FUZZ_CHECK(back.ok() && *back == plain);

  size_t pos = size ? data[size - 1] % box.size() : 0;
  Bytes flipped = box;
  flipped[pos] ^= 0x01;
  FUZZ_CHECK(!aead().open(flipped, associated).ok());
  FUZZ_CHECK(!aead().open(ByteView(box).first(box.size() - 1), associated).ok());
  Bytes other(associated.begin(), associated.end());
  other.push_back(0);
  FUZZ_CHECK(!aead().open(box, other).ok());
  return 0;
}
