#include "repo/repository.h"

#include <algorithm>
#include <set>

#include <nlohmann/json.hpp>

#include "crypto/hash.h"
#include "repo/compress.h"
#include "repo/layout.h"
#include "util/clock.h"
#include "util/work_queue.h"

namespace stowage {

// A streamed pack goes to the store in pieces of this size as it grows, so
// that little is left to write (and fsync) when it is full, and the disk
// starts on the first piece (one O_DIRECT slice, store/fs_store.cpp): with
// 4 MiB pieces an extent-list backup's first write waited ~5 ms longer.
constexpr size_t kStreamStep = 1 << 20;

struct Repository::OpenPack {
  OpenPack(const crypto::Aead& aead, crypto::HashAlgorithm names) : builder(aead), digest(names) {}
  PackBuilder builder;
  std::vector<BlobId> ids;  // pending ids held by this pack
  // Streamed packs only: the pieces taken from the builder go to the writer
  // in order (one thread at a time holds a pack) and into the digest that
  // names the pack.
  std::unique_ptr<ObjectWriter> writer;
  crypto::DigestStream digest;
  Status stream_status;  // the first failure, reported by every later piece

  Status stream(ByteView piece) {
    if (!stream_status.ok()) return stream_status;
    digest.update(piece);
    stream_status = writer->append(piece);
    return stream_status;
  }
};

Repository::Repository(std::shared_ptr<ObjectStore> store, RepoConfig config, MasterKey key, std::string key_slot)
    : store_(std::move(store)),
      config_(std::move(config)),
      key_(std::move(key)),
      key_slot_(std::move(key_slot)),
      aead_(key_.encryption) {
  chunker_ = std::make_unique<FastCdc>(config_.chunker, crypto::derive_subkey(key_.id_key, "chunker gear table"));
  if (uses_blake3_ids(config_.version)) {
    Bytes k = crypto::derive_subkey(key_.id_key, "blob ids (keyed BLAKE3)");
    std::copy_n(k.begin(), blob_key_.size(), blob_key_.begin());
    std::fill(k.begin(), k.end(), 0);
  }
  uploads_ = std::make_unique<WorkQueue>(kUploadThreads, 1);
}

namespace {

constexpr size_t kRefreshRequestsInFlight = 8;  // retention refresh: PutObjectRetention requests at once

// A repository with a lock policy needs a bucket with Object Lock: say so
// plainly rather than failing on the first locked put.
Status check_lock_support(ObjectStore& store, const LockPolicy& policy) {
  if (!policy.enabled()) return ok_status();
  auto state = store.lock_state();
  if (!state.ok())
    return std::move(state).error().with_context(
        "the repository requires Object Lock (" + std::string(retention_mode_name(policy.mode)) +
        "); reading the bucket's Object Lock configuration of " + store.describe() + " failed");
  if (!state->object_lock)
    return Error(ErrorCode::kUnsupported,
                 "the repository requires Object Lock (" + std::string(retention_mode_name(policy.mode)) +
                     ") but " + store.describe() + " has no Object Lock enabled",
                 "config",
                 "use a bucket created with Object Lock enabled (x-amz-bucket-object-lock-enabled: true); the lock "
                 "policy of a repository cannot be removed");
  return ok_status();
}

}  // namespace

Repository::~Repository() {
  (void)uploads_->wait();  // never leave a pack upload running past the repository
}

Status Repository::init(ObjectStore& store, std::string_view password, const InitOptions& options) {
  RepoConfig config;
  config.chunker = options.chunker;
  config.block_size = options.block_size;
  config.pack_size = options.pack_size;
  config.compression_level = options.compression_level;
  config.lock = options.lock;
  config.version = options.format_version;
  if (config.lock.enabled() && (config.lock.period_seconds <= 0 || config.lock.margin_seconds <= 0))
    return Error(ErrorCode::kInvalidArgument, "an Object Lock policy needs a positive period and margin", "config",
                 "pass e.g. --lock-period 30d --lock-margin 7d");
  TRY_STATUS(check_lock_support(store, config.lock));
  return write_new(store, password, MasterKey::generate(), config, options.kdf);
}

Status Repository::init_sharing_keys(ObjectStore& store, std::string_view password, const Repository& source,
                                     const crypto::KdfParams& kdf, const LockPolicy& lock, int format_version) {
  // The lock policy belongs to the bucket a repository lives on, not to its
  // keys: the source's is not inherited. The format version is the caller's,
  // or the newest whose blob ids are computed as the source's are.
  RepoConfig config = source.config_;
  config.version = format_version ? format_version : newest_version_with_ids_of(source.config_.version);
  config.lock = lock;
  TRY_STATUS(check_lock_support(store, config.lock));
  return write_new(store, password, source.key_, config, kdf);
}

Status Repository::write_new(ObjectStore& store, std::string_view password, const MasterKey& key, RepoConfig config,
                             const crypto::KdfParams& kdf) {
  auto existing = store.stat(layout::kConfig);
  if (existing.ok())
    return Error(ErrorCode::kAlreadyExists, "a repository already exists at " + store.describe(), "config",
                 "use it as it is, or choose another location");
  if (existing.error().code() != ErrorCode::kNotFound) return std::move(existing).error();
  if (password.empty()) return Error(ErrorCode::kInvalidArgument, "the repository password is empty");
  if (config.version < 2 || config.version > kRepositoryFormatVersion)
    return Error(ErrorCode::kInvalidArgument,
                 "repository format version " + std::to_string(config.version) + " cannot be created", "config",
                 "choose a version from 2 to " + std::to_string(kRepositoryFormatVersion));
  config.id = hex_encode(crypto::random_bytes(16));
  config.created = format_time_utc(now_unix());
  Bytes encoded = encode_config(config, key);
  TRY(decode_config(encoded));  // validates the parameters
  Bytes slot = TRY(seal_key_slot(key, password, kdf));
  Retention retention;
  if (config.lock.enabled())
    retention = {config.lock.mode, now_unix() + config.lock.period_seconds + config.lock.margin_seconds};
  // Key first: a config without a key slot would be an unopenable repository.
  TRY_STATUS(store.put_retained(layout::key_slot(hex_encode(crypto::sha256(slot))), slot, retention));
  TRY_STATUS(store.put_retained(layout::kConfig, encoded, retention));
  return ok_status();
}

std::string Repository::key_fingerprint() const {
  return hex_encode(crypto::hmac_sha256(key_.id_key, as_bytes("stowage key fingerprint"))).substr(0, 32);
}

Bytes Repository::derive_key(std::string_view purpose) const {
  return crypto::derive_subkey(key_.encryption, "stowage derived key: " + std::string(purpose));
}

Result<std::unique_ptr<Repository>> Repository::open(std::shared_ptr<ObjectStore> store, std::string_view password,
                                                     const std::function<void(const RepoConfig&)>& before_key) {
  auto config_bytes = store->get(layout::kConfig);
  if (!config_bytes.ok()) {
    if (config_bytes.error().code() == ErrorCode::kNotFound)
      return Error(ErrorCode::kNotFound, "no repository at " + store->describe() + " (there is no config object)",
                   "config", "create one with 'stowage repo init', or check the repository URL");
    return std::move(config_bytes).error().with_context("reading the repository config");
  }
  RepoConfig config = TRY(decode_config(*config_bytes));
  TRY_STATUS(check_lock_support(*store, config.lock));
  if (before_key) before_key(config);
  auto slots = TRY(list_all(*store, layout::kKeysPrefix));
  if (slots.empty())
    return Error(ErrorCode::kCorrupt, "the repository has no key slots", "keys/",
                 "restore the keys/ objects from a copy of the repository");
  // A slot that cannot be read, is damaged or comes from a newer release
  // must not lock out the others; the first such error is reported if no
  // slot opens.
  std::optional<Error> untried;
  size_t tried = 0, untried_count = 0;
  auto skip = [&](Error e, const std::string& name) {
    untried_count++;
    if (!untried) untried = std::move(e).with_context("key slot " + layout::id_of(name).substr(0, 12));
  };
  std::vector<std::pair<std::string, Bytes>> fetched;
  for (const auto& info : slots) {
    auto slot = store->get(info.key);
    if (slot.ok()) fetched.emplace_back(info.key, std::move(slot).value());
    else skip(std::move(slot).error(), info.key);
  }
  // Argon2id slots are tried first: they cost less to try, and after `repo
  // key add` with the same password the session opens with the new slot, so
  // the scrypt one it replaces can be removed.
  std::stable_partition(fetched.begin(), fetched.end(), [](const auto& slot) {
    auto info = key_slot_info(slot.second);
    return info.ok() && info->kdf_params && std::holds_alternative<crypto::Argon2idParams>(*info->kdf_params);
  });
  for (const auto& [name, slot] : fetched) {
    auto key = open_key_slot(slot, password);
    if (!key.ok()) {
      if (key.error().code() == ErrorCode::kWrongKey) tried++;
      else skip(std::move(key).error(), name);
      continue;
    }
    TRY_STATUS(verify_config(*config_bytes, *key));
    std::unique_ptr<Repository> repo(
        new Repository(std::move(store), std::move(config), std::move(key).value(), layout::id_of(name)));
    TRY_STATUS(repo->reload_tombstones());
    TRY_STATUS(repo->reload_index());
    return repo;
  }
  if (untried && !tried)
    return Error(untried->code(), "no key slot of " + store->describe() + " could be tried: " + untried->message(),
                 "keys/",
                 "a slot of a newer version needs a newer stowage; a damaged one, the keys/ objects of a copy");
  std::string note;
  if (untried) note = " (" + std::to_string(untried_count) + " could not be tried: " + untried->message() + ")";
  return Error(ErrorCode::kWrongKey, "wrong password: no key slot of " + store->describe() + " opens with it" + note,
               "keys/", "check STOWAGE_PASSWORD or --password-file");
}

BlobId Repository::blob_id(ByteView plaintext) const {
  BlobId id;
  id.bytes = uses_blake3_ids(config_.version) ? crypto::blake3_keyed(blob_key_, plaintext)
                                              : crypto::hmac_sha256(key_.id_key, plaintext);
  return id;
}

bool Repository::has_blob(const BlobId& id) const { return index_.contains(id); }

Result<bool> Repository::claim_blob(const BlobId& id, size_t size) {
  if (size > kMaxBlobSize) return Error(ErrorCode::kInvalidArgument, "blob larger than 64 MiB", id.hex());
  if (index_.contains(id)) return false;
  std::lock_guard lock(mu_);
  return pending_.insert(id).second;
}

Result<bool> Repository::save_blob(BlobType type, const BlobId& id, ByteView plaintext) {
  bool claimed = TRY(claim_blob(id, plaintext.size()));
  if (!claimed) return false;
  if (groups_small_blobs() && type == BlobType::kData && !plaintext.empty() && plaintext.size() < kGroupBlobMax) {
    TRY_STATUS(add_blob(type, id, plaintext.size(), plaintext, Compression::kNone, true));
    return true;
  }
  Bytes compressed;
  Compression method = config_.compression_level > 0 ? compress(plaintext, config_.compression_level, compressed)
                                                     : Compression::kNone;
  TRY_STATUS(add_blob(type, id, plaintext.size(), method == Compression::kNone ? plaintext : ByteView(compressed),
                      method));
  return true;
}

Result<bool> Repository::save_blob(BlobType type, const BlobId& id, ByteView plaintext, Compression method,
                                   ByteView compressed) {
  bool claimed = TRY(claim_blob(id, plaintext.size()));
  if (!claimed) return false;
  TRY_STATUS(add_blob(type, id, plaintext.size(), method == Compression::kNone ? plaintext : compressed, method));
  return true;
}

Status Repository::add_blob(BlobType type, const BlobId& id, size_t raw_size, ByteView payload,
                            Compression method, bool grouped) {
  // Take a pack of this type that no other thread is filling, or start one:
  // sealing the blob into it and streaming its pieces need no lock.
  std::shared_ptr<OpenPack> pack;
  {
    std::lock_guard lock(mu_);
    auto& idle = idle_[int(type)];
    if (!idle.empty()) {
      pack = std::move(idle.back());
      idle.pop_back();
    }
  }
  if (!pack) {
    auto created = new_pack();
    if (!created.ok()) {
      std::lock_guard lock(mu_);
      pending_.erase(id);
      return std::move(created).error();
    }
    pack = std::move(created).value();
  }
  size_t before = pack->builder.size();
  if (grouped) pack->builder.add_to_group(type, id, payload, config_.compression_level);
  else pack->builder.add(type, id, payload, uint32_t(raw_size), method);
  pack->ids.push_back(id);
  stats_.blobs_new++;
  stats_.bytes_new += raw_size;
  stats_.bytes_stored_new += pack->builder.size() - before;
  if (pack->builder.size() >= config_.pack_size) return submit_upload(std::move(pack));
  Status streamed = ok_status();
  if (pack->writer && pack->builder.buffered().size() >= kStreamStep) {
    streamed = pack->stream(pack->builder.buffered());
    pack->builder.drop_buffered();
  }
  std::lock_guard lock(mu_);
  idle_[int(type)].push_back(std::move(pack));  // a failed stream fails its upload, which releases the ids
  return streamed;
}

Result<std::shared_ptr<Repository::OpenPack>> Repository::new_pack() {
  auto pack = std::make_shared<OpenPack>(aead_, name_hash());
  if (!new_object_retention().active()) pack->writer = TRY(store_->open_writer());
  pack->builder.reserve(pack->writer ? 2 * kStreamStep : config_.pack_size + kMaxBlobSize / 8 + (1 << 20));
  return pack;
}

Status Repository::submit_upload(std::shared_ptr<OpenPack> pack) {
  if (uploads_->submit([this, pack]() -> Status { return upload_pack(*pack); })) return ok_status();
  return uploads_->wait();  // failed earlier: report that error
}

Result<BlobId> Repository::save_tree(ByteView plaintext) {
  BlobId id = blob_id(plaintext);
  TRY(save_blob(BlobType::kTree, id, plaintext));
  return id;
}

Status Repository::upload_pack(OpenPack& pack) {
  std::vector<PackEntry> entries;
  ObjectId pack_id;
  Status put;
  {
    Bytes rest = pack.builder.finish(entries);
    if (pack.writer) {
      put = pack.stream(rest);
      pack_id.bytes = pack.digest.finish();
      if (put.ok()) put = pack.writer->commit(layout::pack(pack_id));
      pack.writer.reset();  // removes what was not committed
    } else {
      pack_id.bytes = object_digest(rest);
      put = write_object(layout::pack(pack_id), rest);
    }
  }
  if (!put.ok() && put.error().code() != ErrorCode::kAlreadyExists) {
    std::lock_guard lock(mu_);
    for (const auto& id : pack.ids) pending_.erase(id);
    return std::move(put).error().with_context("uploading pack " + pack_id.short_hex());
  }
  index_.add_pack(pack_id, entries);
  stats_.packs_written++;
  {
    std::lock_guard lock(mu_);
    for (const auto& id : pack.ids) pending_.erase(id);
    unindexed_.push_back(PackRecord{pack_id, std::move(entries)});
  }
  return write_pending_index(false);
}

Status Repository::write_pending_index(bool force) {
  std::lock_guard write_lock(index_write_mu_);
  std::vector<PackRecord> batch;
  {
    std::lock_guard lock(mu_);
    // Index objects are written every 32 packs so that a crash loses little
    // index (and the packs' trailers can rebuild it anyway).
    if (unindexed_.empty() || (!force && unindexed_.size() < 32)) return ok_status();
    batch.swap(unindexed_);
  }
  auto written = put_object(layout::index, encode_index(batch), "index");
  if (!written.ok()) {
    std::lock_guard lock(mu_);
    unindexed_.insert(unindexed_.end(), batch.begin(), batch.end());
    return std::move(written).error();
  }
  return ok_status();
}

Status Repository::flush() {
  std::vector<std::shared_ptr<OpenPack>> packs;
  {
    std::lock_guard lock(mu_);
    for (auto& idle : idle_) {
      for (auto& p : idle) packs.push_back(std::move(p));
      idle.clear();
    }
  }
  for (auto& p : packs)
    if (!p->builder.empty()) TRY_STATUS(submit_upload(std::move(p)));
  TRY_STATUS(uploads_->wait());
  return write_pending_index(true);
}

Result<Bytes> Repository::load_blob(const BlobId& id) const {
  BlobLocation loc = TRY(index_.find(id));
  std::string key = layout::pack(loc.pack);
  auto sealed = store_->get_range(key, loc.entry.offset, loc.entry.length);
  if (!sealed.ok()) return std::move(sealed).error().with_context("reading blob " + id.short_hex() + " from " + key);
  return open_blob(loc.entry, *sealed, key);
}

Result<Bytes> Repository::open_blob(const PackEntry& entry, ByteView sealed, const std::string& key,
                                    BlobGroupCache* groups) const {
  const BlobId& id = entry.id;
  // The sealed piece is the blob itself, or (format 4) the group holding it.
  const std::string piece = (entry.grouped() ? "the group holding blob " : "blob ") + id.short_hex();
  auto open_piece = [&](ByteView aad, uint32_t raw_length) -> Result<Bytes> {
    auto payload = aead_.open(sealed, aad);
    if (!payload.ok())
      return Error(ErrorCode::kCorrupt, piece + " in pack " + key + " failed authentication", key,
                   "the pack is damaged; run 'stowage repo check --read-data'");
    auto plain = decompress(entry.compression, *payload, raw_length);
    if (!plain.ok()) return std::move(plain).error().with_context(piece + " in " + key);
    return plain;
  };
  Bytes own;             // the plaintext of a blob sealed on its own
  BlobGroupCache local;  // the group's, when the caller keeps none
  ByteView blob;
  if (entry.grouped()) {
    BlobGroupCache& group = groups ? *groups : local;
    if (group.pack_key != key || group.offset != entry.offset || group.plaintext.size() != entry.group_length) {
      group.pack_key.clear();  // nothing cached until this group opens
      group.plaintext = TRY(open_piece(group_aad(), entry.group_length));
      group.pack_key = key;
      group.offset = entry.offset;
    }
    blob = ByteView(group.plaintext).subspan(entry.group_offset, entry.raw_length);  // inside: decode_entry checked
  } else {
    own = TRY(open_piece(id.bytes, entry.raw_length));
    blob = own;
  }
  if (blob_id(blob) != id)
    return Error(ErrorCode::kCorrupt, "blob " + id.short_hex() + " in " + key + " does not match its id", key,
                 "the pack is damaged; run 'stowage repo check --read-data'");
  if (entry.grouped()) return Bytes(blob.begin(), blob.end());
  return own;
}

Bytes Repository::seal_object(ByteView plaintext, std::string_view kind) const {
  Bytes framed;
  Bytes compressed;
  Compression method = compress(plaintext, 3, compressed);
  framed.push_back(uint8_t(method));
  put_u64(framed, plaintext.size());
  if (method == Compression::kNone) framed.insert(framed.end(), plaintext.begin(), plaintext.end());
  else framed.insert(framed.end(), compressed.begin(), compressed.end());
  return aead_.seal(framed, as_bytes(kind));
}

Result<Bytes> Repository::open_object(ByteView sealed, std::string_view kind, const std::string& key) const {
  auto framed = aead_.open(sealed, as_bytes(kind));
  if (!framed.ok())
    return Error(ErrorCode::kCorrupt, std::string(kind) + " object " + key + " failed authentication", key,
                 "it was modified or damaged; run 'stowage repo check'");
  if (framed->size() < 9) return Error(ErrorCode::kCorrupt, std::string(kind) + " object " + key + " is too short", key);
  uint64_t raw = get_u64(framed->data() + 1);
  if (raw > (1ull << 30)) return Error(ErrorCode::kCorrupt, std::string(kind) + " object claims more than 1 GiB", key);
  auto plain = decompress(Compression((*framed)[0]), ByteView(*framed).subspan(9), raw);
  if (!plain.ok()) return std::move(plain).error().with_context(std::string(kind) + " object " + key);
  return plain;
}

Result<ObjectId> Repository::put_object(std::string (*key_of)(const ObjectId&), ByteView plaintext,
                                        std::string_view kind) {
  Bytes sealed = seal_object(plaintext, kind);
  ObjectId id;
  id.bytes = object_digest(sealed);
  TRY_STATUS(write_object(key_of(id), sealed));
  return id;
}

Result<Bytes> Repository::get_object(const std::string& key, std::string_view kind) const {
  Bytes sealed = TRY(store_->get(key));
  auto named = BlobId::parse(layout::id_of(key));
  if (!named.ok() || named->bytes != object_digest(sealed))
    return Error(ErrorCode::kCorrupt, std::string(kind) + " object " + key + " does not match its name (damaged)", key,
                 "run 'stowage repo check'");
  return open_object(sealed, kind, key);
}

Status Repository::reload_index() {
  auto objects = TRY(list_all(*store_, layout::kIndexPrefix));
  for (const auto& info : objects) {
    if (is_tombstoned(info.key)) continue;  // replaced by prune, deletion pending
    Bytes plain = TRY(get_object(info.key, "index"));
    auto packs = decode_index(plain);
    if (!packs.ok()) return std::move(packs).error().with_context("index object " + info.key);
    for (const auto& p : *packs) index_.add_pack(p.id, p.entries);
  }
  return ok_status();
}

Result<ObjectId> Repository::save_snapshot(const Snapshot& snapshot) {
  TRY_STATUS(refresh_retention_if_due());
  return put_object(layout::snapshot, encode_snapshot(snapshot), "snapshot");
}

Result<Snapshot> Repository::load_snapshot(const ObjectId& id) {
  std::string key = layout::snapshot(id);
  Bytes plain = TRY(get_object(key, "snapshot"));
  auto s = decode_snapshot(plain);
  if (!s.ok()) return std::move(s).error().with_context("snapshot " + id.short_hex());
  s->id = id;
  return s;
}

Result<std::vector<Snapshot>> Repository::list_snapshots(std::vector<Error>* problems) {
  auto objects = TRY(list_all(*store_, layout::kSnapshotsPrefix));
  std::vector<Snapshot> out;
  for (const auto& info : objects) {
    auto id = BlobId::parse(layout::id_of(info.key));
    if (!id.ok() || is_tombstoned(info.key)) continue;
    auto s = load_snapshot(*id);
    if (!s.ok()) {
      if (problems) problems->push_back(std::move(s).error());
      continue;
    }
    out.push_back(std::move(s).value());
  }
  std::sort(out.begin(), out.end(), [](const Snapshot& a, const Snapshot& b) {
    return a.time_unix_nanos < b.time_unix_nanos;
  });
  return out;
}

Result<ObjectId> Repository::resolve_snapshot(const std::string& ref) {
  if (ref == "latest") {
    auto all = TRY(list_snapshots());
    if (all.empty()) return Error(ErrorCode::kNotFound, "the repository has no snapshots");
    return all.back().id;
  }
  auto objects = TRY(list_all(*store_, layout::kSnapshotsPrefix));
  std::vector<std::string> matches;
  for (const auto& info : objects) {
    std::string id = layout::id_of(info.key);
    if (is_tombstoned(info.key)) continue;
    if (!ref.empty() && id.rfind(ref, 0) == 0) matches.push_back(id);
  }
  if (matches.empty())
    return Error(ErrorCode::kNotFound, "no snapshot with id '" + ref + "'", ref, "list them with 'stowage snapshot list'");
  if (matches.size() > 1)
    return Error(ErrorCode::kInvalidArgument, "snapshot id prefix '" + ref + "' is ambiguous", ref,
                 "give more digits");
  return BlobId::parse(matches[0]);
}

Result<bool> Repository::remove_snapshot(const ObjectId& id) {
  RemovalResult result = TRY(remove_objects({layout::snapshot(id)}));
  return result.deferred.empty();
}

Retention Repository::new_object_retention() const {
  if (!config_.lock.enabled()) return {};
  return {config_.lock.mode, now_unix() + config_.lock.period_seconds + config_.lock.margin_seconds};
}

Status Repository::write_object(const std::string& key, ByteView data) {
  Retention retention = new_object_retention();
  if (!retention.active()) return store_->put(key, data);
  return store_->put_retained(key, data, retention);
}

bool Repository::is_tombstoned(const std::string& key) const {
  std::lock_guard lock(tombstones_mu_);
  return tombstoned_.count(key) > 0;
}

std::vector<std::string> Repository::tombstoned_keys() const {
  std::lock_guard lock(tombstones_mu_);
  return {tombstoned_.begin(), tombstoned_.end()};
}

Status Repository::reload_tombstones() {
  auto objects = TRY(list_all(*store_, layout::kTombstonesPrefix));
  std::set<std::string> keys;
  for (const auto& info : objects) {
    Bytes plain = TRY(get_object(info.key, "tombstone"));
    auto j = nlohmann::json::parse(as_string(plain), nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("keys") || !j["keys"].is_array())
      return Error(ErrorCode::kCorrupt, "tombstone object " + info.key + " is not a list of keys", info.key,
                   "run 'stowage repo check'");
    for (const auto& k : j["keys"])
      if (k.is_string()) keys.insert(k.get<std::string>());
  }
  std::lock_guard lock(tombstones_mu_);
  tombstoned_ = std::move(keys);
  return ok_status();
}

Result<RemovalResult> Repository::remove_objects(const std::vector<std::string>& keys) {
  RemovalResult result;
  std::vector<std::string> to_record;
  for (const auto& key : keys) {
    Status removed = store_->remove(key);
    if (removed.ok()) {
      result.removed++;
      continue;
    }
    if (removed.error().code() != ErrorCode::kLocked) return std::move(removed).error();
    result.deferred.push_back(key);
    if (!is_tombstoned(key)) to_record.push_back(key);
  }
  if (!to_record.empty()) {
    nlohmann::json j{{"time", format_time_utc(now_unix())}, {"keys", to_record}};
    TRY(put_object(layout::tombstone, as_bytes(j.dump()), "tombstone"));
    std::lock_guard lock(tombstones_mu_);
    tombstoned_.insert(to_record.begin(), to_record.end());
  }
  return result;
}

Result<uint64_t> Repository::remove_settled_records() {
  uint64_t removed = 0;
  // Deletes a bookkeeping record unless its own retention still holds it
  // (then a later prune does it; it is never recorded anywhere).
  auto remove_if_unlocked = [&](const std::string& key) -> Status {
    Status status = store_->remove(key);
    if (status.ok()) ++removed;
    else if (status.error().code() != ErrorCode::kLocked && status.error().code() != ErrorCode::kNotFound) return status;
    return ok_status();
  };
  // Tombstones all of whose keys are gone.
  auto tombstones = TRY(list_all(*store_, layout::kTombstonesPrefix));
  if (!tombstones.empty()) {
    std::set<std::string> present;
    for (const char* prefix : {layout::kSnapshotsPrefix, layout::kIndexPrefix, layout::kDataPrefix})
      TRY_STATUS(store_->list(prefix, [&](const ObjectInfo& o) { present.insert(o.key); }));
    for (const auto& info : tombstones) {
      Bytes plain = TRY(get_object(info.key, "tombstone"));
      auto j = nlohmann::json::parse(as_string(plain), nullptr, false);
      if (!j.is_object() || !j.contains("keys") || !j["keys"].is_array()) continue;  // reload_tombstones reports it
      bool settled = std::none_of(j["keys"].begin(), j["keys"].end(), [&](const nlohmann::json& k) {
        return k.is_string() && present.count(k.get<std::string>());
      });
      if (settled) TRY_STATUS(remove_if_unlocked(info.key));
    }
    TRY_STATUS(reload_tombstones());
  }
  // Retention refresh records but the latest (the only one read).
  auto records = TRY(list_all(*store_, layout::kRetentionPrefix));
  std::string latest_key;
  int64_t latest = -1;
  for (const auto& info : records) {
    auto plain = get_object(info.key, "retention");
    auto j = plain.ok() ? nlohmann::json::parse(as_string(*plain), nullptr, false) : nlohmann::json();
    int64_t started = j.is_object() && j.contains("started_unix") && j["started_unix"].is_number_integer()
                          ? j["started_unix"].get<int64_t>()
                          : 0;
    if (started > latest) {
      latest = started;
      latest_key = info.key;
    }
  }
  for (const auto& info : records)
    if (info.key != latest_key) TRY_STATUS(remove_if_unlocked(info.key));
  return removed;
}

Result<int64_t> Repository::last_retention_refresh() {
  auto objects = TRY(list_all(*store_, layout::kRetentionPrefix));
  // Creation counts as a refresh: the only objects then (config, key) were
  // written with created + period + margin.
  int64_t latest = 0;
  if (!parse_time_utc(config_.created, latest)) latest = 0;
  for (const auto& info : objects) {
    auto plain = get_object(info.key, "retention");
    if (!plain.ok()) continue;  // a damaged record only makes the next refresh come sooner
    auto j = nlohmann::json::parse(as_string(*plain), nullptr, false);
    if (j.is_object() && j.contains("started_unix") && j["started_unix"].is_number_integer())
      latest = std::max(latest, j["started_unix"].get<int64_t>());
  }
  return latest;
}

Result<uint64_t> Repository::refresh_retention() {
  if (!config_.lock.enabled()) return uint64_t(0);
  // Every object present when the listing starts gets at least
  // started + period + margin; objects written later got write time +
  // period + margin when written. So after this, every live object stays
  // locked at least until started + period + margin.
  const int64_t started = now_unix();
  std::vector<std::string> keys{layout::kConfig};
  for (const char* prefix : {layout::kKeysPrefix, layout::kSnapshotsPrefix, layout::kIndexPrefix, layout::kDataPrefix})
    TRY_STATUS(store_->list(prefix, [&](const ObjectInfo& o) {
      if (!is_tombstoned(o.key)) keys.push_back(o.key);
    }));
  Retention until = new_object_retention();  // now (after listing) + period + margin
  // One request per object, several in flight (the store is thread-safe).
  std::atomic<uint64_t> extended{0};
  WorkQueue requests(kRefreshRequestsInFlight, 2 * kRefreshRequestsInFlight);
  for (const auto& key : keys) {
    bool queued = requests.submit([&, key]() -> Status {
      Status status = store_->extend_retention(key, until);
      if (!status.ok()) {
        if (status.error().code() == ErrorCode::kNotFound) return ok_status();  // removed meanwhile by prune
        return std::move(status).error().with_context("extending the Object Lock retention");
      }
      extended++;
      return ok_status();
    });
    if (!queued) break;
  }
  TRY_STATUS(requests.wait());
  nlohmann::json record{{"started_unix", started}, {"until_unix", until.until_unix}, {"objects", extended.load()}};
  TRY(put_object(layout::retention_record, as_bytes(record.dump()), "retention"));
  return extended.load();
}

Status Repository::refresh_retention_if_due() {
  if (!config_.lock.enabled()) return ok_status();
  int64_t last = TRY(last_retention_refresh());
  if (now_unix() - last < config_.lock.margin_seconds / 2) return ok_status();
  TRY(refresh_retention());
  return ok_status();
}

Status Repository::add_key(std::string_view password, const crypto::KdfParams& params) {
  if (password.empty()) return Error(ErrorCode::kInvalidArgument, "the new password is empty");
  Bytes slot = TRY(seal_key_slot(key_, password, params));
  return store_->put(layout::key_slot(hex_encode(crypto::sha256(slot))), slot);
}

Result<std::vector<KeySlotInfo>> Repository::list_keys() {
  auto objects = TRY(list_all(*store_, layout::kKeysPrefix));
  std::vector<KeySlotInfo> out;
  for (const auto& info : objects) {
    Bytes slot = TRY(store_->get(info.key));
    auto k = key_slot_info(slot);
    KeySlotInfo ki = k.ok() ? *k : KeySlotInfo{};
    ki.id = layout::id_of(info.key);
    out.push_back(ki);
  }
  return out;
}

Status Repository::remove_key(const std::string& id) {
  auto keys = TRY(list_keys());
  std::vector<std::string> matches;
  for (const auto& k : keys)
    if (!id.empty() && k.id.rfind(id, 0) == 0) matches.push_back(k.id);
  if (matches.size() != 1)
    return Error(ErrorCode::kNotFound, "no unique key slot with id '" + id + "'", id, "list them with 'stowage repo key list'");
  if (matches[0] == key_slot_)
    return Error(ErrorCode::kInvalidArgument, "refusing to remove the key slot this session opened with", id,
                 "open the repository with another password first");
  return store_->remove(layout::key_slot(matches[0]));
}

}  // namespace stowage
