#include "repo/references.h"

#include "repo/tree.h"

namespace stowage {

namespace {

struct Walker {
  Repository& repo;
  const ReferenceVisitor& visit;
  bool keep_going;
  std::vector<Error>* problems;
  std::unordered_set<BlobId, BlobIdHash> seen_trees;  // shared subtrees are walked once

  Status fail(Error e) {
    if (problems) problems->push_back(e);
    if (keep_going) return ok_status();
    return e;
  }

  Status tree(const BlobId& id, const std::string& path) {
    visit(id, BlobType::kTree, path);
    if (!seen_trees.insert(id).second) return ok_status();
    auto bytes = repo.load_blob(id);
    if (!bytes.ok()) return fail(std::move(bytes).error().with_context("directory '/" + path + "'"));
    auto t = decode_tree(*bytes);
    if (!t.ok()) return fail(std::move(t).error().with_context("directory '/" + path + "'"));
    for (const Node& n : t->nodes) {
      std::string child = path.empty() ? n.name : path + "/" + n.name;
      if (n.type == NodeType::kDir) TRY_STATUS(tree(n.subtree, child));
      for (const auto& c : n.content) visit(c, BlobType::kData, child);
    }
    return ok_status();
  }

  Status chunk_list(const BlobId& root, const std::string& source) {
    visit(root, BlobType::kTree, "");
    auto bytes = repo.load_blob(root);
    if (!bytes.ok()) return fail(std::move(bytes).error().with_context("chunk list of " + source));
    auto r = decode_chunk_root(*bytes);
    if (!r.ok()) return fail(std::move(r).error().with_context("chunk list of " + source));
    for (const auto& seg : r->segments) {
      visit(seg, BlobType::kTree, "");
      auto sb = repo.load_blob(seg);
      if (!sb.ok()) {
        TRY_STATUS(fail(std::move(sb).error().with_context("chunk-list segment of " + source)));
        continue;
      }
      auto refs = decode_chunk_segment(*sb);
      if (!refs.ok()) {
        TRY_STATUS(fail(std::move(refs).error().with_context("chunk-list segment of " + source)));
        continue;
      }
      for (const auto& ref : *refs)
        if (!ref.id.is_zero()) visit(ref.id, BlobType::kData, source);
    }
    return ok_status();
  }
};

}  // namespace

Status visit_references(Repository& repo, const Snapshot& snapshot, const ReferenceVisitor& visit, bool keep_going,
                        std::vector<Error>* problems) {
  Walker w{repo, visit, keep_going, problems, {}};
  if (snapshot.kind == SnapshotKind::kFiles) return w.tree(snapshot.root, "");
  return w.chunk_list(snapshot.root, snapshot.source);
}

}  // namespace stowage
