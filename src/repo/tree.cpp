#include "repo/tree.h"

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>

namespace stowage {

using nlohmann::json;

static const char* kTypeNames[] = {"file", "dir", "symlink", "fifo", "chardev", "blockdev", "socket"};

const char* node_type_name(NodeType t) { return kTypeNames[int(t)]; }

// nlohmann::json refuses to serialize invalid UTF-8; ask it rather than
// keeping a second validator.
static bool valid_utf8(const std::string& s) {
  for (unsigned char c : s)
    if (c >= 0x80) {
      try {
        (void)json(s).dump();
        return true;
      } catch (const json::exception&) {
        return false;
      }
    }
  return true;
}

// Strings that may hold arbitrary bytes are stored as "x" or, when not UTF-8,
// as "x_b64".
static void put_bytes_field(json& j, const char* key, const std::string& value) {
  if (valid_utf8(value)) j[key] = value;
  else j[std::string(key) + "_b64"] = base64_encode(as_bytes(value));
}
static bool get_bytes_field(const json& j, const char* key, std::string& out) {
  if (auto it = j.find(key); it != j.end()) {
    out = it->get<std::string>();
    return true;
  }
  if (auto it = j.find(std::string(key) + "_b64"); it != j.end()) {
    Bytes raw;
    if (!base64_decode(it->get<std::string>(), raw)) return false;
    out.assign(raw.begin(), raw.end());
    return true;
  }
  return false;
}

bool is_safe_name(std::string_view name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string_view::npos &&
         name.find('\0') == std::string_view::npos;
}

TreeEncoding tree_encoding_for_version(int repository_version) {
  return repository_version >= 3 ? TreeEncoding::kBinary : TreeEncoding::kJson;
}

static constexpr char kTreeMagic[8] = {'S', 'T', 'W', 'T', 'R', 'E', 'E', '1'};

// Binary trees (docs/repository-format.md, "Trees"): little-endian fixed-width
// integers, length-prefixed byte strings, raw 32-byte ids.
static void put_string(Bytes& out, std::string_view s) {
  put_u32(out, uint32_t(s.size()));
  out.insert(out.end(), s.begin(), s.end());
}

static Bytes encode_tree_binary(const Tree& tree) {
  Bytes out(kTreeMagic, kTreeMagic + 8);
  put_u32(out, uint32_t(tree.nodes.size()));
  for (const Node& n : tree.nodes) {
    out.push_back(uint8_t(n.type));
    put_string(out, n.name);
    put_u32(out, n.mode);
    put_u32(out, n.uid);
    put_u32(out, n.gid);
    put_u64(out, uint64_t(n.mtime_ns));
    put_u64(out, uint64_t(n.ctime_ns));
    switch (n.type) {
      case NodeType::kFile:
        put_u64(out, n.size);
        put_u64(out, n.inode);
        put_u64(out, n.device);
        put_u32(out, n.links);
        put_u32(out, uint32_t(n.content.size()));
        for (const auto& id : n.content) out.insert(out.end(), id.bytes.begin(), id.bytes.end());
        break;
      case NodeType::kDir: out.insert(out.end(), n.subtree.bytes.begin(), n.subtree.bytes.end()); break;
      case NodeType::kSymlink: put_string(out, n.link_target); break;
      case NodeType::kCharDevice:
      case NodeType::kBlockDevice: put_u64(out, n.rdev); break;
      default: break;
    }
    put_u32(out, uint32_t(n.xattrs.size()));
    for (const auto& x : n.xattrs) {
      put_string(out, x.name);
      put_string(out, as_string(x.value));
    }
  }
  return out;
}

namespace {

// Bounds-checked reads over a binary tree; any short read marks it failed.
class TreeReader {
 public:
  explicit TreeReader(ByteView data) : p_(data.data()), end_(data.data() + data.size()) {}
  bool ok() const { return ok_; }
  bool at_end() const { return p_ == end_; }
  size_t left() const { return size_t(end_ - p_); }
  const uint8_t* take(size_t n) {
    if (!ok_ || left() < n) {
      ok_ = false;
      return nullptr;
    }
    const uint8_t* at = p_;
    p_ += n;
    return at;
  }
  uint8_t u8() {
    const uint8_t* at = take(1);
    return at ? *at : 0;
  }
  uint32_t u32() {
    const uint8_t* at = take(4);
    return at ? get_u32(at) : 0;
  }
  uint64_t u64() {
    const uint8_t* at = take(8);
    return at ? get_u64(at) : 0;
  }
  void string(std::string& out) {
    uint32_t n = u32();
    if (const uint8_t* at = take(n)) out.assign(reinterpret_cast<const char*>(at), n);
  }
  void id(BlobId& out) {
    if (const uint8_t* at = take(32)) std::memcpy(out.bytes.data(), at, 32);
  }

 private:
  const uint8_t* p_;
  const uint8_t* end_;
  bool ok_ = true;
};

// The smallest encoded node: type, empty name, mode/uid/gid, two times, no xattrs.
constexpr size_t kMinBinaryNode = 1 + 4 + 12 + 16 + 4;

Result<Tree> decode_tree_binary(ByteView data) {
  TreeReader in(data.subspan(8));
  uint32_t count = in.u32();
  if (!in.ok() || uint64_t(count) * kMinBinaryNode > in.left())
    return Error(ErrorCode::kCorrupt, "binary tree blob is truncated (its node count exceeds its length)");
  Tree tree;
  tree.nodes.reserve(count);
  auto truncated = [](const std::string& name) {
    return Error(ErrorCode::kCorrupt, "binary tree blob is truncated in node '" + name + "'");
  };
  for (uint32_t i = 0; i < count; i++) {
    Node n;
    uint8_t type = in.u8();
    in.string(n.name);
    if (!in.ok()) return truncated(n.name);
    if (type > uint8_t(NodeType::kSocket))
      return Error(ErrorCode::kCorrupt, "tree node '" + n.name + "' has unknown type " + std::to_string(type));
    if (!is_safe_name(n.name))
      return Error(ErrorCode::kCorrupt, "tree node has an unsafe name '" + n.name + "' (path traversal attempt?)");
    n.type = NodeType(type);
    n.mode = in.u32() & 07777;
    n.uid = in.u32();
    n.gid = in.u32();
    n.mtime_ns = int64_t(in.u64());
    n.ctime_ns = int64_t(in.u64());
    switch (n.type) {
      case NodeType::kFile: {
        n.size = in.u64();
        n.inode = in.u64();
        n.device = in.u64();
        n.links = std::max<uint32_t>(1, in.u32());
        uint32_t chunks = in.u32();
        if (!in.ok() || uint64_t(chunks) * 32 > in.left()) return truncated(n.name);
        n.content.resize(chunks);
        for (auto& id : n.content) in.id(id);
        break;
      }
      case NodeType::kDir: in.id(n.subtree); break;
      case NodeType::kSymlink: in.string(n.link_target); break;
      case NodeType::kCharDevice:
      case NodeType::kBlockDevice: n.rdev = in.u64(); break;
      default: break;
    }
    uint32_t xattrs = in.u32();
    if (!in.ok() || uint64_t(xattrs) * 8 > in.left()) return truncated(n.name);
    n.xattrs.resize(xattrs);
    for (auto& x : n.xattrs) {
      in.string(x.name);
      std::string value;
      in.string(value);
      x.value.assign(value.begin(), value.end());
    }
    if (!in.ok()) return truncated(n.name);
    if (!tree.nodes.empty() && !(tree.nodes.back().name < n.name))
      return Error(ErrorCode::kCorrupt, "tree nodes are not sorted or repeat the name '" + n.name + "'");
    tree.nodes.push_back(std::move(n));
  }
  if (!in.at_end())
    return Error(ErrorCode::kCorrupt, "binary tree blob has " + std::to_string(in.left()) + " bytes after its last node");
  return tree;
}

}  // namespace

Bytes encode_tree(const Tree& tree, TreeEncoding encoding) {
  if (encoding == TreeEncoding::kBinary) return encode_tree_binary(tree);
  json nodes = json::array();
  for (const Node& n : tree.nodes) {
    json j = {{"type", node_type_name(n.type)}, {"mode", n.mode}, {"uid", n.uid}, {"gid", n.gid},
              {"mtime_ns", n.mtime_ns}, {"ctime_ns", n.ctime_ns}};
    put_bytes_field(j, "name", n.name);
    switch (n.type) {
      case NodeType::kFile: {
        j["size"] = n.size;
        j["inode"] = n.inode;
        j["device"] = n.device;
        if (n.links > 1) j["links"] = n.links;
        json c = json::array();
        for (const auto& id : n.content) c.push_back(id.hex());
        j["content"] = std::move(c);
        break;
      }
      case NodeType::kDir: j["subtree"] = n.subtree.hex(); break;
      case NodeType::kSymlink: put_bytes_field(j, "target", n.link_target); break;
      case NodeType::kCharDevice:
      case NodeType::kBlockDevice: j["rdev"] = n.rdev; break;
      default: break;
    }
    if (!n.xattrs.empty()) {
      json xs = json::array();
      for (const auto& x : n.xattrs) {
        json xj = {{"value", base64_encode(x.value)}};
        put_bytes_field(xj, "name", x.name);
        xs.push_back(std::move(xj));
      }
      j["xattrs"] = std::move(xs);
    }
    nodes.push_back(std::move(j));
  }
  return to_bytes(json{{"nodes", std::move(nodes)}}.dump());
}

Result<Tree> decode_tree(ByteView data) {
  if (data.size() >= 8 && std::memcmp(data.data(), kTreeMagic, 8) == 0) return decode_tree_binary(data);
  json j = json::parse(as_string(data), nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("nodes") || !j["nodes"].is_array())
    return Error(ErrorCode::kCorrupt, "tree blob is not valid JSON with a 'nodes' array");
  Tree tree;
  try {
    for (const json& nj : j["nodes"]) {
      Node n;
      if (!get_bytes_field(nj, "name", n.name)) return Error(ErrorCode::kCorrupt, "tree node without a name");
      if (!is_safe_name(n.name))
        return Error(ErrorCode::kCorrupt, "tree node has an unsafe name '" + n.name + "' (path traversal attempt?)");
      std::string type = nj.at("type").get<std::string>();
      int t = 0;
      while (t < 7 && type != kTypeNames[t]) t++;
      if (t == 7) return Error(ErrorCode::kCorrupt, "tree node '" + n.name + "' has unknown type '" + type + "'");
      n.type = NodeType(t);
      n.mode = nj.at("mode").get<uint32_t>() & 07777;
      n.uid = nj.at("uid").get<uint32_t>();
      n.gid = nj.at("gid").get<uint32_t>();
      n.mtime_ns = nj.at("mtime_ns").get<int64_t>();
      n.ctime_ns = nj.value("ctime_ns", int64_t(0));
      if (n.type == NodeType::kFile) {
        n.size = nj.at("size").get<uint64_t>();
        n.inode = nj.value("inode", uint64_t(0));
        n.device = nj.value("device", uint64_t(0));
        n.links = std::max<uint32_t>(1, nj.value("links", uint32_t(1)));
        for (const auto& c : nj.at("content")) n.content.push_back(TRY(BlobId::parse(c.get<std::string>())));
      } else if (n.type == NodeType::kDir) {
        n.subtree = TRY(BlobId::parse(nj.at("subtree").get<std::string>()));
      } else if (n.type == NodeType::kSymlink) {
        if (!get_bytes_field(nj, "target", n.link_target))
          return Error(ErrorCode::kCorrupt, "symlink '" + n.name + "' has no target");
      } else if (n.type == NodeType::kCharDevice || n.type == NodeType::kBlockDevice) {
        n.rdev = nj.at("rdev").get<uint64_t>();
      }
      if (nj.contains("xattrs")) {
        for (const auto& xj : nj["xattrs"]) {
          Xattr x;
          if (!get_bytes_field(xj, "name", x.name) || !base64_decode(xj.at("value").get<std::string>(), x.value))
            return Error(ErrorCode::kCorrupt, "tree node '" + n.name + "' has a malformed extended attribute");
          n.xattrs.push_back(std::move(x));
        }
      }
      if (!tree.nodes.empty() && !(tree.nodes.back().name < n.name))
        return Error(ErrorCode::kCorrupt, "tree nodes are not sorted or repeat the name '" + n.name + "'");
      tree.nodes.push_back(std::move(n));
    }
  } catch (const json::exception& e) {
    return Error(ErrorCode::kCorrupt, std::string("tree blob has missing or mistyped fields: ") + e.what());
  }
  return tree;
}

static constexpr char kSegmentMagic[8] = {'S', 'T', 'W', 'L', 'I', 'S', 'T', '1'};

Bytes encode_chunk_segment(const std::vector<ChunkRef>& refs) {
  Bytes out(kSegmentMagic, kSegmentMagic + 8);
  put_u32(out, uint32_t(refs.size()));
  for (const auto& r : refs) {
    out.insert(out.end(), r.id.bytes.begin(), r.id.bytes.end());
    put_u32(out, r.length);
  }
  return out;
}

Result<std::vector<ChunkRef>> decode_chunk_segment(ByteView data) {
  if (data.size() < 12 || std::memcmp(data.data(), kSegmentMagic, 8) != 0)
    return Error(ErrorCode::kCorrupt, "chunk-list segment does not start with its magic");
  uint32_t count = get_u32(data.data() + 8);
  if (uint64_t(count) * 36 + 12 != data.size())
    return Error(ErrorCode::kCorrupt, "chunk-list segment length does not match its entry count");
  std::vector<ChunkRef> refs(count);
  const uint8_t* p = data.data() + 12;
  for (auto& r : refs) {
    std::memcpy(r.id.bytes.data(), p, 32);
    r.length = get_u32(p + 32);
    p += 36;
  }
  return refs;
}

Bytes encode_chunk_root(const ChunkListRoot& root) {
  json segs = json::array();
  for (const auto& s : root.segments) segs.push_back(s.hex());
  return to_bytes(json{{"size", root.size}, {"segments", segs}}.dump());
}

Result<ChunkListRoot> decode_chunk_root(ByteView data) {
  json j = json::parse(as_string(data), nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Error(ErrorCode::kCorrupt, "chunk-list root is not valid JSON");
  try {
    ChunkListRoot root;
    root.size = j.at("size").get<uint64_t>();
    for (const auto& s : j.at("segments")) root.segments.push_back(TRY(BlobId::parse(s.get<std::string>())));
    return root;
  } catch (const json::exception& e) {
    return Error(ErrorCode::kCorrupt, std::string("chunk-list root has missing or mistyped fields: ") + e.what());
  }
}

}  // namespace stowage
