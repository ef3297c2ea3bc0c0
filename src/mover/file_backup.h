// File-tree backup: walks a directory, stores every file's content as
// content-defined chunks and every directory as a tree blob, and writes a
// snapshot. With a parent snapshot, files whose size, mtime, ctime and inode
// are unchanged are reused without being read.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "mover/dir_prefetch.h"
#include "repo/repository.h"
#include "util/progress.h"

namespace stowage {

struct FileBackupOptions {
  std::vector<std::string> tags;
  std::optional<ObjectId> parent;  // none: a full read
  size_t read_workers = 2;          // threads reading and chunking files
  size_t save_workers = 0;          // threads compressing/encrypting (0: cores)
  Progress* progress = nullptr;
  // Count files and bytes in a second walk beside the backup, for a percent
  // and an ETA (worth it only when someone watches the progress).
  bool scan_totals = false;
  // Listings made ahead of the walk (the CLI lists while the repository
  // opens); stopped before the backup starts. Null: the walk lists everything.
  DirPrefetch* prefetch = nullptr;
};

Result<Snapshot> backup_files(Repository& repo, const std::string& path, const FileBackupOptions& options);

}  // namespace stowage
