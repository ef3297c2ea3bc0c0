// Repository check: verifies structure (every index entry's pack exists and
// its trailer agrees, every snapshot's trees and blobs are indexed) and, with
// read_data, decrypts and verifies every blob of every pack. Reports exactly
// which objects are damaged and which snapshots and files they affect.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "repo/repository.h"
#include "util/progress.h"

namespace stowage {

struct CheckOptions {
  bool read_data = false;
  Progress* progress = nullptr;
};

struct CheckReport {
  std::vector<std::string> errors;    // damage: something a snapshot needs is wrong
  std::vector<std::string> notices;   // harmless: e.g. unindexed packs of an interrupted backup
  // snapshot id → affected files (or "(metadata)") — capped per snapshot
  std::map<std::string, std::vector<std::string>> damaged_snapshots;
  uint64_t packs = 0, blobs = 0, snapshots = 0, bytes_read = 0;
  bool ok() const { return errors.empty(); }
};

Result<CheckReport> check_repository(Repository& repo, const CheckOptions& options);

}  // namespace stowage
