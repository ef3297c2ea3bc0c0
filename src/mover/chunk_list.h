// Saving and loading chunk lists (the block map of a block snapshot, the
// stream map of a stream snapshot) as segmented tree blobs.
#pragma once

#include <vector>

#include "repo/repository.h"
#include "repo/tree.h"

namespace stowage {

Result<BlobId> save_chunk_list(Repository& repo, const std::vector<ChunkRef>& refs, uint64_t size);
Result<std::vector<ChunkRef>> load_chunk_list(Repository& repo, const BlobId& root, uint64_t* size = nullptr);

}  // namespace stowage
