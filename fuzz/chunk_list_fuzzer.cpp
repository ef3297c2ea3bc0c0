// Fuzzes the chunk-list formats of block and stream snapshots: the binary
// segment (decode_chunk_segment) and the JSON root (decode_chunk_root). Each
// input goes to both. Segments are canonical (re-encode to the input bytes);
// roots must re-encode and decode to the same value.
#include <cstddef>
#include <cstdint>

#include "fuzz_common.h"
#include "repo/tree.h"

using namespace stowage;

static BlobId id_of(uint8_t seed) {
  BlobId id;
  for (size_t k = 0; k < id.bytes.size(); k++) id.bytes[k] = uint8_t(seed * 3 + k);
  return id;
}

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::maybe_write_seeds("chunk_list", [] {
    std::vector<ChunkRef> refs = {{id_of(1), 4096}, {BlobId{}, 4096}, {id_of(2), 100}};
    ChunkListRoot root{8292, {id_of(7), id_of(8)}};
    return fuzz::Seeds{{"segment", encode_chunk_segment(refs)},
                       {"segment_empty", encode_chunk_segment({})},
                       {"root.json", encode_chunk_root(root)},
                       {"root_empty.json", encode_chunk_root(ChunkListRoot{})}};
  });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ByteView input(data, size);
  Result<std::vector<ChunkRef>> refs = decode_chunk_segment(input);
  if (refs.ok()) FUZZ_CHECK(encode_chunk_segment(*refs) == Bytes(data, data + size));

  Result<ChunkListRoot> root = decode_chunk_root(input);
  if (root.ok()) {
    Result<ChunkListRoot> again = decode_chunk_root(encode_chunk_root(*root));
    FUZZ_CHECK(again.ok());
    FUZZ_CHECK(again->size == root->size && again->segments == root->segments);
  }
  return 0;
}
