// Walks everything a snapshot references: its tree blobs (or chunk-list
// segments) and data blobs, with the path of the file each blob belongs to.
// Used by check (what is damaged, and which files it affects) and prune (what
// must be kept).
#pragma once

#include <functional>
#include <string>

#include "repo/repository.h"

namespace stowage {

// Called for every referenced blob; path is the file (or "" for metadata).
using ReferenceVisitor = std::function<void(const BlobId& id, BlobType type, const std::string& path)>;

// Visits every blob the snapshot needs. A tree that cannot be loaded is
// reported as an error naming its path; the walk continues past it when
// keep_going is set (check), and stops otherwise (prune must never guess).
Status visit_references(Repository& repo, const Snapshot& snapshot, const ReferenceVisitor& visit, bool keep_going,
                        std::vector<Error>* problems);

}  // namespace stowage
