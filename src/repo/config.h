// Repository config (the object "config"): format version, repository id and
// the parameters every writer must agree on. Stored as plain JSON so that the
// version can be checked before any key is opened, and authenticated with an
// HMAC under the master id key so that a changed parameter is detected.
#pragma once

#include <cstdint>
#include <string>

#include "chunk/fastcdc.h"
#include "repo/keys.h"
#include "store/object_store.h"
#include "util/bytes.h"
#include "util/result.h"

namespace stowage {

// 2: adds the Object Lock policy ("object_lock"), tombstones/ and retention/.
// 3: tree blobs in the binary encoding (repo/tree.h).
// 4: small data blobs compressed and sealed in groups (repo/pack.h).
// 5: blob ids are keyed BLAKE3 (was HMAC-SHA-256), object names BLAKE3 of the
//    object's bytes (was SHA-256); crypto/hash.h, Repository::blob_id.
// Older repositories stay readable and are written to in their own version
// (their config is never rewritten); new repositories are version 5.
inline constexpr int kRepositoryFormatVersion = 5;

// Blob ids (and object names) up to version 4: HMAC-SHA-256 (SHA-256); from
// version 5: keyed BLAKE3 (BLAKE3). Snapshots can only be copied between
// repositories whose blob ids are computed alike.
inline bool uses_blake3_ids(int repository_version) { return repository_version >= 5; }
// The newest version whose blob ids are computed as version's are: what a
// copy target sharing keys with a repository of that version is created as.
inline int newest_version_with_ids_of(int repository_version) {
  return uses_blake3_ids(repository_version) ? kRepositoryFormatVersion : 4;
}

// A repository on an S3 bucket with Object Lock: every object is written with
// a retain-until date and kept locked while any snapshot that may need it is
// younger than `period` (docs/repository-format.md, "Object Lock").
struct LockPolicy {
  RetentionMode mode = RetentionMode::kNone;
  int64_t period_seconds = 0;  // every snapshot stays undeletable this long after it is taken
  int64_t margin_seconds = 0;  // extra retention; also the longest gap between retention refreshes
  bool enabled() const { return mode != RetentionMode::kNone; }
};

struct RepoConfig {
  int version = kRepositoryFormatVersion;
  std::string id;  // 32 hex digits, random
  std::string created;
  ChunkerParams chunker;
  uint32_t block_size = 1024 * 1024;      // fixed blocks for block devices
  uint32_t pack_size = 32 * 1024 * 1024;  // target size of a pack object
  int compression_level = 1;              // zstd level; 0 disables compression
  LockPolicy lock;                         // version 2+
};

Bytes encode_config(const RepoConfig& config, const MasterKey& key);
// Parses without verifying (to learn the version); kUnsupported for newer versions.
Result<RepoConfig> decode_config(ByteView data);
// Verifies the config's MAC under the master key.
Status verify_config(ByteView data, const MasterKey& key);

}  // namespace stowage
