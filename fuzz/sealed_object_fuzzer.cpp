// Fuzzes what a backup location reads back: sealed or plain objects through
// ObjectReader (streamed, segment by segment, against an expected digest),
// and the backup manifest parser. Properties: no crash or hang on any bytes;
// a sealed object that opens gives back exactly what was sealed.
#include <cstddef>
#include <cstdint>

#include "backupstore/backup_location.h"
#include "backupstore/sealed_object.h"
#include "fuzz_common.h"
#include "store/memory_store.h"

using namespace stowage;
using namespace stowage::backupstore;

static const char* kKey = "backups/b/b.tar.gz";

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::maybe_write_seeds("sealed_object", [] {
    crypto::Aead aead(fuzz::fixed_key());
    Bytes small(100, 'x');
    Bytes multi(3 * 4096 + 17);
    for (size_t i = 0; i < multi.size(); ++i) multi[i] = uint8_t(i * 31);
    fuzz::Seeds seeds;
    seeds.push_back({"sealed-small", seal_object(aead, kKey, small, 4096)});
    seeds.push_back({"sealed-multi", seal_object(aead, kKey, multi, 4096)});
    seeds.push_back({"sealed-empty", seal_object(aead, kKey, {}, 4096)});
    std::string manifest = R"({"formatVersion":1,"archiveFormat":"Encrypted","objects":{"b.tar.gz":{"size":7,"sha256":"00"}}})";
    seeds.push_back({"manifest", Bytes(manifest.begin(), manifest.end())});
    return seeds;
  });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ByteView input(data, size);
  crypto::Aead aead(fuzz::fixed_key());
  MemoryStore store;
  if (!store.put(kKey, input).ok()) return 0;
  for (bool require_sealed : {false, true}) {
    ReadPolicy policy;
    policy.aead = &aead;
    policy.require_sealed = require_sealed;
    if (size % 2) policy.expected = digest_of(input);
    auto reader = ObjectReader::open(store, kKey, policy);
    if (!reader.ok()) continue;
    auto plain = read_remaining(*reader.value());
    if (plain.ok() && reader.value()->sealed()) {
      // What opened must seal back to an object that opens to the same bytes.
      Bytes again = seal_object(aead, kKey, plain.value(), 4096);
      MemoryStore other;
      FUZZ_CHECK(other.put(kKey, again).ok());
      auto reread = read_object(other, kKey, ReadPolicy{&aead, true, std::nullopt, UINT64_MAX});
      FUZZ_CHECK(reread.ok() && reread.value() == plain.value());
    }
    if (plain.ok() && !reader.value()->sealed()) FUZZ_CHECK(!require_sealed && plain.value() == Bytes(input.begin(), input.end()));
  }
  auto json = nlohmann::json::parse(input.begin(), input.end(), nullptr, false);
  if (!json.is_discarded()) (void)manifest_from_json(json, kKey);
  return 0;
}
