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

Bytes encode_tree(const Tree& tree) {
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
