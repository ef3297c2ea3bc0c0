// Tree blobs: one per directory of a file snapshot, listing its entries with
// their metadata and content (data blob ids) or subtree id. Repository format
// 3 stores them in a binary encoding ("STWTREE1", decoded without a parse
// tree); formats 1 and 2 store JSON (names that are not valid UTF-8
// base64-encoded). The decoder reads both, whatever the repository's version.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "repo/blob.h"

namespace stowage {

enum class NodeType { kFile, kDir, kSymlink, kFifo, kCharDevice, kBlockDevice, kSocket };
const char* node_type_name(NodeType t);

struct Xattr {
  std::string name;
  Bytes value;
  friend bool operator==(const Xattr&, const Xattr&) = default;
};

struct Node {
  std::string name;
  NodeType type = NodeType::kFile;
  uint32_t mode = 0;  // permission bits incl. setuid/setgid/sticky (st_mode & 07777)
  uint32_t uid = 0, gid = 0;
  int64_t mtime_ns = 0;
  int64_t ctime_ns = 0;  // for change detection only; not restorable
  uint64_t size = 0;
  uint64_t inode = 0, device = 0;
  uint32_t links = 1;
  uint64_t rdev = 0;        // device nodes
  std::string link_target;  // symlinks
  std::vector<BlobId> content;  // files: data blobs in order
  BlobId subtree;               // dirs
  std::vector<Xattr> xattrs;    // includes system.posix_acl_* (ACLs)
  friend bool operator==(const Node&, const Node&) = default;
};

struct Tree {
  std::vector<Node> nodes;  // sorted by name
};

enum class TreeEncoding { kJson, kBinary };
// The encoding a repository of the given format version writes.
TreeEncoding tree_encoding_for_version(int repository_version);

Bytes encode_tree(const Tree& tree, TreeEncoding encoding);
// Either encoding. Rejects names that could escape a restore target ("", ".",
// "..", "/"), unsorted or repeated names, and truncated or trailing bytes.
Result<Tree> decode_tree(ByteView data);

// True when name is a single safe path component.
bool is_safe_name(std::string_view name);

// Chunk lists (block maps and stream maps): segments of (id, length) entries,
// stored as tree blobs of up to kChunkListSegment entries, under a root blob
// that lists the segments. A zero id marks an all-zero block (a hole).
inline constexpr size_t kChunkListSegment = 65536;
struct ChunkRef {
  BlobId id;
  uint32_t length = 0;
};
Bytes encode_chunk_segment(const std::vector<ChunkRef>& refs);
Result<std::vector<ChunkRef>> decode_chunk_segment(ByteView data);
struct ChunkListRoot {
  uint64_t size = 0;
  std::vector<BlobId> segments;
};
Bytes encode_chunk_root(const ChunkListRoot& root);
Result<ChunkListRoot> decode_chunk_root(ByteView data);

}  // namespace stowage
