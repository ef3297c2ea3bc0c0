// Fuzzes decompress (blob and object payloads after decryption):
//   [u8 method][u32 raw size][u8 level][payload...]
// decompress(method, payload, raw size) must fail or yield exactly raw size
// bytes, whatever the payload (zstd bombs are bounded by raw size; the fuzzer
// caps raw size at 1 MiB to keep runs fast). Round trip: compress(payload)
// must decompress to the payload.
#include <cstddef>
#include <cstdint>

#include "fuzz_common.h"
#include "repo/compress.h"

using namespace stowage;

static constexpr uint32_t kRawCap = (1u << 20) + 1;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::maybe_write_seeds("decompress", [] {
    fuzz::Seeds seeds;
    Bytes text;
    for (int i = 0; i < 200; i++) {
      std::string line = "line " + std::to_string(i) + " of a compressible text\n";
      text.insert(text.end(), line.begin(), line.end());
    }
    Bytes z;
    if (compress(text, 3, z) != Compression::kZstd) abort();
    auto header = [](uint8_t method, uint32_t raw, uint8_t level) {
      Bytes h = {method};
      put_u32(h, raw);
      h.push_back(level);
      return h;
    };
    Bytes s1 = header(1, uint32_t(text.size()), 1);
    s1.insert(s1.end(), z.begin(), z.end());
    seeds.push_back({"zstd_text", s1});
    Bytes s2 = header(0, 5, 1);
    s2.insert(s2.end(), {'h', 'e', 'l', 'l', 'o'});
    seeds.push_back({"none_hello", s2});
    Bytes zeros(4096, 0), zz;
    if (compress(zeros, 1, zz) != Compression::kZstd) abort();
    Bytes s3 = header(1, 4096, 2);
    s3.insert(s3.end(), zz.begin(), zz.end());
    seeds.push_back({"zstd_zeros", s3});
    return seeds;
  });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::Input in(data, size);
  auto method = Compression(in.u8());
  size_t raw_size = in.u32() % kRawCap;
  int level = int(in.u8() % 10) - 3;  // -3 .. 6
  ByteView payload = in.rest();

  Result<Bytes> out = decompress(method, payload, raw_size);
  if (out.ok()) FUZZ_CHECK(out->size() == raw_size);

  Bytes packed;
  Compression c = compress(payload, level, packed);
  if (c == Compression::kZstd) {
    FUZZ_CHECK(packed.size() < payload.size());
    Result<Bytes> back = decompress(c, packed, payload.size());
    FUZZ_CHECK(back.ok() && *back == Bytes(payload.begin(), payload.end()));
  } else {
    FUZZ_CHECK(c == Compression::kNone && packed.empty());
    Result<Bytes> back = decompress(c, payload, payload.size());
    FUZZ_CHECK(back.ok() && *back == Bytes(payload.begin(), payload.end()));
  }
  return 0;
}
