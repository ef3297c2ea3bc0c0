// Fuzzes the repository config parser: decode_config (unauthenticated, read
// before any key is opened, so fully attacker-controlled) and verify_config.
// Round trip: a config that decodes must re-encode (with the fixed key),
// decode to the same value and verify under that key.
#include <cstddef>
#include <cstdint>

#include "fuzz_common.h"
#include "repo/config.h"

using namespace stowage;

static const MasterKey& key() {
  static const MasterKey k{fuzz::fixed_key(), fuzz::fixed_id_key()};
  return k;
}

static bool same(const RepoConfig& a, const RepoConfig& b) {
  return a.version == b.version && a.id == b.id && a.created == b.created &&
         a.chunker.min_size == b.chunker.min_size && a.chunker.avg_size == b.chunker.avg_size &&
         a.chunker.max_size == b.chunker.max_size && a.block_size == b.block_size && a.pack_size == b.pack_size &&
         a.compression_level == b.compression_level;
}

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::maybe_write_seeds("config", [] {
    RepoConfig c;
    c.id = "0123456789abcdef0123456789abcdef";
    c.created = "2024-05-01T12:00:00Z";
    RepoConfig small = c;
    small.chunker = {4096, 16384, 65536};
    small.block_size = 4096;
    small.pack_size = 1 << 20;
    small.compression_level = 0;
    return fuzz::Seeds{{"default.json", encode_config(c, key())},
                       {"small.json", encode_config(small, key())},
                       {"minimal.json", to_bytes(R"({"format":"stowage-repository","version":1,"id":"x",)"
                                                 R"("chunker":{"min":1,"avg":2,"max":3},"block_size":4096,)"
                                                 R"("pack_size":1048576,"compression":{"level":1}})")}};
  });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ByteView input(data, size);
  (void)verify_config(input, key());
  Result<RepoConfig> decoded = decode_config(input);
  if (!decoded.ok()) return 0;
  Bytes again = encode_config(*decoded, key());
  Result<RepoConfig> redecoded = decode_config(again);
  FUZZ_CHECK(redecoded.ok());
  FUZZ_CHECK(same(*decoded, *redecoded));
  FUZZ_CHECK(verify_config(again, key()).ok());
  return 0;
}
