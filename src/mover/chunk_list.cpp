#include "mover/chunk_list.h"

namespace stowage {

Result<BlobId> save_chunk_list(Repository& repo, const std::vector<ChunkRef>& refs, uint64_t size) {
  ChunkListRoot root;
  root.size = size;
  for (size_t i = 0; i < refs.size(); i += kChunkListSegment) {
    std::vector<ChunkRef> seg(refs.begin() + long(i), refs.begin() + long(std::min(refs.size(), i + kChunkListSegment)));
    root.segments.push_back(TRY(repo.save_tree(encode_chunk_segment(seg))));
  }
  return repo.save_tree(encode_chunk_root(root));
}

Result<std::vector<ChunkRef>> load_chunk_list(Repository& repo, const BlobId& root_id, uint64_t* size) {
  Bytes root_bytes = TRY(repo.load_blob(root_id));
  ChunkListRoot root = TRY(decode_chunk_root(root_bytes));
  std::vector<ChunkRef> refs;
  uint64_t total = 0;
  for (const auto& seg_id : root.segments) {
    Bytes seg = TRY(repo.load_blob(seg_id));
    auto part = decode_chunk_segment(seg);
    if (!part.ok()) return std::move(part).error().with_context("chunk-list segment " + seg_id.short_hex());
    for (const auto& r : *part) total += r.length;
    refs.insert(refs.end(), part->begin(), part->end());
  }
  if (total != root.size)
    return Error(ErrorCode::kCorrupt, "chunk list " + root_id.short_hex() + " covers " + std::to_string(total) +
                                          " bytes but records a size of " + std::to_string(root.size));
  if (size) *size = root.size;
  return refs;
}

}  // namespace stowage
