#include "repo/repository.h"

#include <algorithm>

#include "crypto/hash.h"
#include "repo/compress.h"
#include "repo/layout.h"
#include "util/clock.h"

namespace stowage {

struct Repository::OpenPack {
  explicit OpenPack(const crypto::Aead& aead) : builder(aead) {}
  PackBuilder builder;
  std::vector<BlobId> ids;  // pending ids held by this pack
};

Repository::Repository(std::shared_ptr<ObjectStore> store, RepoConfig config, MasterKey key, std::string key_slot)
    : store_(std::move(store)),
      config_(std::move(config)),
      key_(std::move(key)),
      key_slot_(std::move(key_slot)),
      aead_(key_.encryption) {
  chunker_ = std::make_unique<FastCdc>(config_.chunker, crypto::derive_subkey(key_.id_key, "chunker gear table"));
  uploads_ = std::make_unique<WorkQueue>(kUploadThreads, 1);
}

Repository::~Repository() {
  (void)uploads_->wait();  // never leave a pack upload running past the repository
}

Status Repository::init(ObjectStore& store, std::string_view password, const InitOptions& options) {
  RepoConfig config;
  config.chunker = options.chunker;
  config.block_size = options.block_size;
  config.pack_size = options.pack_size;
  config.compression_level = options.compression_level;
  return write_new(store, password, MasterKey::generate(), config, options.kdf);
}

Status Repository::init_sharing_keys(ObjectStore& store, std::string_view password, const Repository& source,
                                     const crypto::ScryptParams& kdf) {
  return write_new(store, password, source.key_, source.config_, kdf);
}

Status Repository::write_new(ObjectStore& store, std::string_view password, const MasterKey& key, RepoConfig config,
                             const crypto::ScryptParams& kdf) {
  auto existing = store.stat(layout::kConfig);
  if (existing.ok())
    return Error(ErrorCode::kAlreadyExists, "a repository already exists at " + store.describe(), "config",
                 "use it as it is, or choose another location");
  if (existing.error().code() != ErrorCode::kNotFound) return std::move(existing).error();
  if (password.empty()) return Error(ErrorCode::kInvalidArgument, "the repository password is empty");
  config.version = kRepositoryFormatVersion;
  config.id = hex_encode(crypto::random_bytes(16));
  config.created = format_time_utc(now_unix());
  Bytes encoded = encode_config(config, key);
  TRY(decode_config(encoded));  // validates the parameters
  Bytes slot = TRY(seal_key_slot(key, password, kdf));
  // Key first: a config without a key slot would be an unopenable repository.
  TRY_STATUS(store.put(layout::key_slot(hex_encode(crypto::sha256(slot))), slot));
  TRY_STATUS(store.put(layout::kConfig, encoded));
  return ok_status();
}

std::string Repository::key_fingerprint() const {
  return hex_encode(crypto::hmac_sha256(key_.id_key, as_bytes("stowage key fingerprint"))).substr(0, 32);
}

Bytes Repository::derive_key(std::string_view purpose) const {
  return crypto::derive_subkey(key_.encryption, "stowage derived key: " + std::string(purpose));
}

Result<std::unique_ptr<Repository>> Repository::open(std::shared_ptr<ObjectStore> store, std::string_view password) {
  auto config_bytes = store->get(layout::kConfig);
  if (!config_bytes.ok()) {
    if (config_bytes.error().code() == ErrorCode::kNotFound)
      return Error(ErrorCode::kNotFound, "no repository at " + store->describe() + " (there is no config object)",
                   "config", "create one with 'stowage repo init', or check the repository URL");
    return std::move(config_bytes).error().with_context("reading the repository config");
  }
  RepoConfig config = TRY(decode_config(*config_bytes));
  auto slots = TRY(list_all(*store, layout::kKeysPrefix));
  if (slots.empty())
    return Error(ErrorCode::kCorrupt, "the repository has no key slots", "keys/",
                 "restore the keys/ objects from a copy of the repository");
  for (const auto& info : slots) {
    auto slot = store->get(info.key);
    if (!slot.ok()) continue;
    auto key = open_key_slot(*slot, password);
    if (!key.ok()) {
      if (key.error().code() == ErrorCode::kWrongKey) continue;
      continue;  // a damaged slot must not lock out the others
    }
    TRY_STATUS(verify_config(*config_bytes, *key));
    std::unique_ptr<Repository> repo(
        new Repository(std::move(store), std::move(config), std::move(key).value(), layout::id_of(info.key)));
    TRY_STATUS(repo->reload_index());
    return repo;
  }
  return Error(ErrorCode::kWrongKey, "wrong password: no key slot of " + store->describe() + " opens with it",
               "keys/", "check STOWAGE_PASSWORD or --password-file");
}

BlobId Repository::blob_id(ByteView plaintext) const {
  BlobId id;
  id.bytes = crypto::hmac_sha256(key_.id_key, plaintext);
  return id;
}

bool Repository::has_blob(const BlobId& id) const { return index_.contains(id); }

Result<bool> Repository::save_blob(BlobType type, const BlobId& id, ByteView plaintext) {
  if (plaintext.size() > kMaxBlobSize)
    return Error(ErrorCode::kInvalidArgument, "blob larger than 64 MiB", id.hex());
  if (index_.contains(id)) return false;
  {
    std::lock_guard lock(mu_);
    if (!pending_.insert(id).second) return false;
  }
  Bytes compressed;
  Compression method = config_.compression_level > 0 ? compress(plaintext, config_.compression_level, compressed)
                                                     : Compression::kNone;
  ByteView payload = method == Compression::kNone ? plaintext : ByteView(compressed);
  std::unique_ptr<OpenPack> full;
  {
    std::lock_guard lock(mu_);
    auto& open = open_[int(type)];
    if (!open) {
      open = std::make_unique<OpenPack>(aead_);
      open->builder.reserve(config_.pack_size + kMaxBlobSize / 8 + (1 << 20));
    }
    size_t before = open->builder.size();
    open->builder.add(type, id, payload, uint32_t(plaintext.size()), method);
    open->ids.push_back(id);
    stats_.blobs_new++;
    stats_.bytes_new += plaintext.size();
    stats_.bytes_stored_new += open->builder.size() - before;
    if (open->builder.size() >= config_.pack_size) full = std::move(open);
  }
  if (full) TRY_STATUS(submit_upload(std::move(full)));
  return true;
}

Status Repository::submit_upload(std::unique_ptr<OpenPack> pack) {
  std::shared_ptr<OpenPack> shared(std::move(pack));
  if (uploads_->submit([this, shared]() -> Status { return upload_pack(*shared); })) return ok_status();
  return uploads_->wait();  // failed earlier: report that error
}

Result<BlobId> Repository::save_tree(ByteView plaintext) {
  BlobId id = blob_id(plaintext);
  TRY(save_blob(BlobType::kTree, id, plaintext));
  return id;
}

Status Repository::upload_pack(OpenPack& pack) {
  std::vector<PackEntry> entries;
  Bytes data = pack.builder.finish(entries);
  ObjectId pack_id;
  pack_id.bytes = crypto::sha256(data);
  Status put = store_->put(layout::pack(pack_id), data);
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
  std::unique_ptr<OpenPack> packs[2];
  {
    std::lock_guard lock(mu_);
    packs[0] = std::move(open_[0]);
    packs[1] = std::move(open_[1]);
  }
  for (auto& p : packs)
    if (p && !p->builder.empty()) TRY_STATUS(submit_upload(std::move(p)));
  TRY_STATUS(uploads_->wait());
  return write_pending_index(true);
}

Result<Bytes> Repository::load_blob(const BlobId& id) const {
  BlobLocation loc = TRY(index_.find(id));
  std::string key = layout::pack(loc.pack);
  auto sealed = store_->get_range(key, loc.entry.offset, loc.entry.length);
  if (!sealed.ok()) return std::move(sealed).error().with_context("reading blob " + id.short_hex() + " from " + key);
  auto payload = aead_.open(*sealed, id.bytes);
  if (!payload.ok())
    return Error(ErrorCode::kCorrupt, "blob " + id.short_hex() + " in pack " + key + " failed authentication",
                 key, "the pack is damaged; run 'stowage repo check --read-data'");
  auto plain = decompress(loc.entry.compression, *payload, loc.entry.raw_length);
  if (!plain.ok()) return std::move(plain).error().with_context("blob " + id.short_hex() + " in " + key);
  if (blob_id(*plain) != id)
    return Error(ErrorCode::kCorrupt, "blob " + id.short_hex() + " in " + key + " does not match its id", key,
                 "the pack is damaged; run 'stowage repo check --read-data'");
  return plain;
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
  id.bytes = crypto::sha256(sealed);
  TRY_STATUS(store_->put(key_of(id), sealed));
  return id;
}

Result<Bytes> Repository::get_object(const std::string& key, std::string_view kind) const {
  Bytes sealed = TRY(store_->get(key));
  auto named = BlobId::parse(layout::id_of(key));
  if (!named.ok() || named->bytes != crypto::sha256(sealed))
    return Error(ErrorCode::kCorrupt, std::string(kind) + " object " + key + " does not match its name (damaged)", key,
                 "run 'stowage repo check'");
  return open_object(sealed, kind, key);
}

Status Repository::reload_index() {
  auto objects = TRY(list_all(*store_, layout::kIndexPrefix));
  for (const auto& info : objects) {
    Bytes plain = TRY(get_object(info.key, "index"));
    auto packs = decode_index(plain);
    if (!packs.ok()) return std::move(packs).error().with_context("index object " + info.key);
    for (const auto& p : *packs) index_.add_pack(p.id, p.entries);
  }
  return ok_status();
}

Result<ObjectId> Repository::save_snapshot(const Snapshot& snapshot) {
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
    if (!id.ok()) continue;
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
    if (!ref.empty() && id.rfind(ref, 0) == 0) matches.push_back(id);
  }
  if (matches.empty())
    return Error(ErrorCode::kNotFound, "no snapshot with id '" + ref + "'", ref, "list them with 'stowage snapshot list'");
  if (matches.size() > 1)
    return Error(ErrorCode::kInvalidArgument, "snapshot id prefix '" + ref + "' is ambiguous", ref,
                 "give more digits");
  return BlobId::parse(matches[0]);
}

Status Repository::remove_snapshot(const ObjectId& id) { return store_->remove(layout::snapshot(id)); }

Status Repository::add_key(std::string_view password, const crypto::ScryptParams& params) {
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
