// Fuzzes decode_tree (directory tree blobs, JSON and binary). Every decoded
// name must be a single safe path component (is_safe_name), nodes strictly
// sorted, and the tree must re-encode in both encodings and decode to the
// same value.
#include <cstddef>
#include <cstdint>

#include "fuzz_common.h"
#include "repo/tree.h"

using namespace stowage;

static bool same(const Node& a, const Node& b) {
  if (a.name != b.name || a.type != b.type || a.mode != b.mode || a.uid != b.uid || a.gid != b.gid ||
      a.mtime_ns != b.mtime_ns || a.ctime_ns != b.ctime_ns || a.xattrs.size() != b.xattrs.size())
    return false;
  for (size_t i = 0; i < a.xattrs.size(); i++)
    if (a.xattrs[i].name != b.xattrs[i].name || a.xattrs[i].value != b.xattrs[i].value) return false;
  switch (a.type) {
    case NodeType::kFile:
      return a.size == b.size && a.inode == b.inode && a.device == b.device && a.links == b.links &&
             a.content == b.content;
    case NodeType::kDir: return a.subtree == b.subtree;
    case NodeType::kSymlink: return a.link_target == b.link_target;
    case NodeType::kCharDevice:
    case NodeType::kBlockDevice: return a.rdev == b.rdev;
    default: return true;
  }
}

static BlobId id_of(uint8_t seed) {
  BlobId id;
  for (size_t k = 0; k < id.bytes.size(); k++) id.bytes[k] = uint8_t(seed + k);
  return id;
}

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::maybe_write_seeds("tree", [] {
    Tree t;
    Node dir;
    dir.name = "data";
    dir.type = NodeType::kDir;
    dir.mode = 0755;
    dir.mtime_ns = 1714564800000000000;
    dir.subtree = id_of(9);
    Node file;
    file.name = "file.txt";
    file.mode = 0644;
    file.uid = file.gid = 1000;
    file.size = 8192;
    file.inode = 77;
    file.device = 2049;
    file.links = 2;
    file.content = {id_of(1), id_of(2)};
    file.xattrs = {{"user.note", to_bytes("hello")}, {"system.posix_acl_access", Bytes{2, 0, 0, 0, 1, 0, 6, 0}}};
    Node link;
    link.name = "link";
    link.type = NodeType::kSymlink;
    link.link_target = "../file.txt";
    Node dev;
    dev.name = "null";
    dev.type = NodeType::kCharDevice;
    dev.rdev = 259;
    Node odd;
    odd.name = std::string("\xff\xfe name", 7);  // not UTF-8: stored base64
    odd.type = NodeType::kFifo;
    t.nodes = {dir, file, link, dev, odd};
    return fuzz::Seeds{{"tree.json", encode_tree(t, TreeEncoding::kJson)},
                       {"empty.json", encode_tree(Tree{}, TreeEncoding::kJson)},
                       {"tree.bin", encode_tree(t, TreeEncoding::kBinary)},
                       {"empty.bin", encode_tree(Tree{}, TreeEncoding::kBinary)}};
  });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Result<Tree> tree = decode_tree(ByteView(data, size));
  if (!tree.ok()) return 0;
  for (size_t i = 0; i < tree->nodes.size(); i++) {
    FUZZ_CHECK(is_safe_name(tree->nodes[i].name));
    if (i) FUZZ_CHECK(tree->nodes[i - 1].name < tree->nodes[i].name);
  }
  for (TreeEncoding encoding : {TreeEncoding::kJson, TreeEncoding::kBinary}) {
    Result<Tree> again = decode_tree(encode_tree(*tree, encoding));
    FUZZ_CHECK(again.ok());
    FUZZ_CHECK(again->nodes.size() == tree->nodes.size());
    for (size_t i = 0; i < tree->nodes.size(); i++) FUZZ_CHECK(same(tree->nodes[i], again->nodes[i]));
  }
  return 0;
}
