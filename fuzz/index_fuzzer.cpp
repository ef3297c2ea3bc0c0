// Fuzzes decode_index (the plaintext of index/<id> objects, after the
// repository has opened them). The format is canonical: whatever decodes must
// re-encode to exactly the input bytes.
#include <cstddef>
#include <cstdint>

#include "fuzz_common.h"
#include "repo/index.h"

using namespace stowage;

static PackEntry entry(uint8_t seed, uint32_t offset, BlobType type, Compression c) {
  PackEntry e;
  e.type = type;
  for (size_t k = 0; k < e.id.bytes.size(); k++) e.id.bytes[k] = uint8_t(seed + k);
  e.offset = offset;
  e.length = 100 + seed;
  e.raw_length = 72 + seed;
  e.compression = c;
  return e;
}

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::maybe_write_seeds("index", [] {
    PackRecord a, b;
    for (size_t k = 0; k < a.id.bytes.size(); k++) a.id.bytes[k] = uint8_t(0x10 + k), b.id.bytes[k] = uint8_t(0x90 + k);
    a.entries = {entry(1, 0, BlobType::kData, Compression::kZstd), entry(2, 101, BlobType::kData, Compression::kNone)};
    b.entries = {entry(3, 0, BlobType::kTree, Compression::kZstd)};
    PackRecord grouped = a;  // two blobs of one group (format 4)
    for (auto& e : grouped.entries) {
      e.offset = 0;
      e.length = 300;
      e.compression = Compression::kZstd;
      e.group_length = 200;
    }
    grouped.entries[1].group_offset = grouped.entries[0].raw_length;
    PackRecord empty;
    return fuzz::Seeds{{"empty", encode_index({})},
                       {"two_packs", encode_index({a, b})},
                       {"grouped_blobs", encode_index({grouped, b})},
                       {"empty_pack", encode_index({empty})}};
  });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Result<std::vector<PackRecord>> packs = decode_index(ByteView(data, size));
  if (!packs.ok()) return 0;
  Bytes again = encode_index(*packs);
  FUZZ_CHECK(again == Bytes(data, data + size));
  Index index;
  for (const auto& p : *packs) index.add_pack(p.id, p.entries);
  for (const auto& p : *packs)
    for (const auto& e : p.entries) {
      Result<BlobLocation> found = index.find(e.id);
      FUZZ_CHECK(found.ok());
      FUZZ_CHECK(!found->entry.grouped() ||
                 uint64_t(found->entry.group_offset) + found->entry.raw_length <= found->entry.group_length);
    }
  return 0;
}
