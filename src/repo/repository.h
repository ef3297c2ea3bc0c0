// Repository: an encrypted, deduplicating store of blobs and snapshots on top
// of an ObjectStore. Thread-safe: many threads may save and load blobs at
// once; many processes may write to one repository at once (each writes its
// own packs and index objects, never another's). Format: docs/repository-format.md.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <unordered_set>
#include <vector>

#include "chunk/fastcdc.h"
#include "crypto/aead.h"
#include "crypto/hash.h"
#include "repo/config.h"
#include "repo/index.h"
#include "repo/keys.h"
#include "repo/snapshot.h"
#include "repo/tree.h"
#include "store/object_store.h"
#include "util/work_queue.h"

namespace stowage {

struct InitOptions {
  crypto::KdfParams kdf;
  ChunkerParams chunker;
  uint32_t block_size = 1024 * 1024;
  uint32_t pack_size = 32 * 1024 * 1024;
  int compression_level = 1;
  LockPolicy lock;  // enabled: the store must have Object Lock (checked)
  // An older format (2 or later) for a repository that stowage releases
  // writing that version must also use; it lacks what came after (docs).
  int format_version = kRepositoryFormatVersion;
};

// What a removal did on a repository whose objects may be locked.
struct RemovalResult {
  size_t removed = 0;
  std::vector<std::string> deferred;  // locked: recorded in a tombstone, deleted by a later prune
};

// Counters of what this process added; read by progress reporting.
struct WriteStats {
  std::atomic<uint64_t> blobs_new{0};
  std::atomic<uint64_t> bytes_new{0};         // raw
  std::atomic<uint64_t> bytes_stored_new{0};  // sealed
  std::atomic<uint64_t> packs_written{0};
};

class Repository {
 public:
  static Status init(ObjectStore& store, std::string_view password, const InitOptions& options);
  // Creates a repository that shares source's master key and chunking
  // parameters (under its own password and id), so that snapshots can be
  // copied between the two by sending only the blobs the target lacks. The
  // lock policy is the target's own (the bucket's), none by default. Format
  // version 0: the newest whose blob ids are computed as the source's are
  // (newest_version_with_ids_of); copies need that.
  static Status init_sharing_keys(ObjectStore& store, std::string_view password, const Repository& source,
                                  const crypto::KdfParams& kdf, const LockPolicy& lock = {},
                                  int format_version = 0);
  // Opens with a password: checks the format version, finds a key slot that
  // opens, verifies the config, and loads the index. before_key, if given,
  // is called with the config as read, before the key derivation and before
  // the config is authenticated, to start work that needs only the config
  // (and that checks it against config() afterwards).
  static Result<std::unique_ptr<Repository>> open(
      std::shared_ptr<ObjectStore> store, std::string_view password,
      const std::function<void(const RepoConfig&)>& before_key = nullptr);
  ~Repository();

  ObjectStore& store() { return *store_; }
  const RepoConfig& config() const { return config_; }
  // How this repository's version stores new tree blobs.
  TreeEncoding tree_encoding() const { return tree_encoding_for_version(config_.version); }
  const FastCdc& chunker() const { return *chunker_; }
  const Index& index() const { return index_; }
  const WriteStats& write_stats() const { return stats_; }

  // A blob's id: keyed BLAKE3 of its plaintext from format 5, HMAC-SHA-256
  // before (docs/repository-format.md).
  BlobId blob_id(ByteView plaintext) const;
  // The digest a stored object (pack, index, snapshot) is named by: BLAKE3
  // of its bytes from format 5, SHA-256 before.
  crypto::HashAlgorithm name_hash() const {
    return uses_blake3_ids(config_.version) ? crypto::HashAlgorithm::kBlake3 : crypto::HashAlgorithm::kSha256;
  }
  crypto::Digest object_digest(ByteView stored) const { return crypto::digest(name_hash(), stored); }
  bool has_blob(const BlobId& id) const;

  // Stores a blob unless the repository already has it (or another thread is
  // storing it). Returns true when this call stored it. Thread-safe.
  Result<bool> save_blob(BlobType type, const BlobId& id, ByteView plaintext);
  // The same with the compression already done by the caller: `compressed`
  // is what compress(plaintext, config().compression_level) produced, with
  // `method` its result (kNone: plaintext is stored as it is).
  Result<bool> save_blob(BlobType type, const BlobId& id, ByteView plaintext, Compression method,
                         ByteView compressed);
  // Computes the id and saves a tree blob.
  Result<BlobId> save_tree(ByteView plaintext);
  // Loads, decrypts, decompresses and verifies a blob against its id (one
  // ranged read; many blobs at once: repo/batch_load.h).
  Result<Bytes> load_blob(const BlobId& id) const;
  // Decrypts, decompresses and verifies one sealed blob read from pack_key at
  // entry.offset (errors name the blob and the pack). sealed is the blob's
  // piece, for a grouped blob its whole group; a caller that reads the blobs
  // of one group one after another passes a cache, so the group is opened once.
  Result<Bytes> open_blob(const PackEntry& entry, ByteView sealed, const std::string& pack_key,
                          BlobGroupCache* groups = nullptr) const;
  // Seals the open packs and writes an index object for every pack this
  // process wrote that no index lists yet. Call before saving a snapshot.
  Status flush();

  Result<ObjectId> save_snapshot(const Snapshot& snapshot);
  Result<Snapshot> load_snapshot(const ObjectId& id);
  // All snapshots, oldest first; unreadable ones are reported in problems.
  Result<std::vector<Snapshot>> list_snapshots(std::vector<Error>* problems = nullptr);
  // "latest", a full id or a unique id prefix.
  Result<ObjectId> resolve_snapshot(const std::string& ref);
  // Deletes the snapshot; when its object is still locked, records it in a
  // tombstone instead (false): it is forgotten at once and deleted later.
  Result<bool> remove_snapshot(const ObjectId& id);

  // Writes a new object (create-only) with the retention the lock policy
  // asks for; every repository object except locks goes through here.
  Status write_object(const std::string& key, ByteView data);
  // The retention a new object gets now (inactive without a lock policy).
  Retention new_object_retention() const;
  // Removes keys; locked ones are recorded in one new tombstone object
  // (keys already recorded are not recorded again). Other failures stop it.
  Result<RemovalResult> remove_objects(const std::vector<std::string>& keys);
  // Keys logically deleted but still present because they were locked.
  bool is_tombstoned(const std::string& key) const;
  std::vector<std::string> tombstoned_keys() const;
  Status reload_tombstones();
  // Deletes the bookkeeping that is no longer needed: tombstones whose keys
  // are all gone, and retention refresh records but the latest. Records
  // still under their own retention stay for a later call. Returns how many
  // objects were deleted. Called by prune.
  Result<uint64_t> remove_settled_records();

  // Object Lock retention refresh (docs/repository-format.md): extends every
  // live object's retention to now + period + margin and records the time.
  // Returns the number of objects extended.
  Result<uint64_t> refresh_retention();
  // Runs refresh_retention() when the last one is older than half the margin.
  // Called before every snapshot is saved.
  Status refresh_retention_if_due();
  // Time of the latest retention refresh record (0 when none).
  Result<int64_t> last_retention_refresh();

  // Encrypted, content-named standalone objects (index, snapshots, locks).
  Result<ObjectId> put_object(std::string (*key_of)(const ObjectId&), ByteView plaintext, std::string_view kind);
  Bytes seal_object(ByteView plaintext, std::string_view kind) const;
  Result<Bytes> open_object(ByteView sealed, std::string_view kind, const std::string& key) const;
  // Gets key, checks that its digest (object_digest) matches the id in its name, opens it.
  Result<Bytes> get_object(const std::string& key, std::string_view kind) const;

  // Reads the whole index again (after another process changed it).
  Status reload_index();

  // Key slots.
  Status add_key(std::string_view password, const crypto::KdfParams& params);
  Result<std::vector<KeySlotInfo>> list_keys();
  Status remove_key(const std::string& id);
  const std::string& key_slot_id() const { return key_slot_; }
  // Identifies the master key without revealing it: equal for repositories
  // that share keys (init_sharing_keys).
  std::string key_fingerprint() const;
  // A 32-byte key for one purpose outside the repository's own objects (the
  // backup location's sealed archives), derived from the master key: whoever
  // can open the repository can derive it, and nobody else.
  Bytes derive_key(std::string_view purpose) const;

  const crypto::Aead& aead() const { return aead_; }

 private:
  Repository(std::shared_ptr<ObjectStore> store, RepoConfig config, MasterKey key, std::string key_slot);
  static Status write_new(ObjectStore& store, std::string_view password, const MasterKey& key, RepoConfig config,
                          const crypto::KdfParams& kdf);
  struct OpenPack;
  // Whether this call is to store id: not stored, not being stored by
  // another thread (then it is marked as being stored).
  Result<bool> claim_blob(const BlobId& id, size_t size);
  // Appends a claimed blob's payload to the open pack of its type; a grouped
  // blob's payload is its plaintext, added to the pack's open group.
  Status add_blob(BlobType type, const BlobId& id, size_t raw_size, ByteView payload, Compression method,
                  bool grouped = false);
  // Format 4 compresses and seals small data blobs in groups (repo/pack.h).
  bool groups_small_blobs() const { return config_.version >= 4 && config_.compression_level > 0; }
  // A new pack: streamed into the store when it takes bytes as they come
  // (ObjectStore::open_writer) and objects are not locked, else buffered.
  Result<std::shared_ptr<OpenPack>> new_pack();
  Status upload_pack(OpenPack& pack);
  // Hands a full pack to the upload threads; fails with the first upload error.
  Status submit_upload(std::shared_ptr<OpenPack> pack);
  Status write_pending_index(bool force);

  std::shared_ptr<ObjectStore> store_;
  RepoConfig config_;
  MasterKey key_;
  std::string key_slot_;
  crypto::Aead aead_;
  crypto::Digest blob_key_{};  // format 5: the keyed BLAKE3 key of blob ids, derived from the id key
  std::unique_ptr<FastCdc> chunker_;
  Index index_;
  WriteStats stats_;

  std::mutex mu_;  // guards everything below
  std::unordered_set<BlobId, BlobIdHash> pending_;
  // Packs being filled, by BlobType, while no thread holds them. A thread
  // adding a blob takes one out (or starts one) and puts it back, so threads
  // saving at the same time fill packs of their own and seal, copy and
  // stream without waiting for each other; flush() uploads them all.
  std::vector<std::shared_ptr<OpenPack>> idle_[2];
  std::vector<PackRecord> unindexed_;  // uploaded packs not yet in an index object
  std::mutex index_write_mu_;
  mutable std::mutex tombstones_mu_;
  std::set<std::string> tombstoned_;
  // Full packs upload on their own threads, so that the threads filling packs
  // never wait for the store (an fsync, an S3 round trip). At most
  // kUploadThreads + 1 packs wait in memory.
  static constexpr size_t kUploadThreads = 3;
  std::unique_ptr<WorkQueue> uploads_;
};

}  // namespace stowage
