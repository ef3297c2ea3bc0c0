// BackupLocation and sealed objects on a MemoryStore: round trips, the
// manifest, and every way of tampering with what a backup stored.
#include <gtest/gtest.h>

#include "backupstore/backup_location.h"
#include "store/memory_store.h"

namespace stowage::backupstore {
namespace {

using nlohmann::json;

LocationSettings fast_settings(ArchiveFormat format = ArchiveFormat::kEncrypted) {
  LocationSettings s;
  s.archive_format = format;
  s.kdf = crypto::ScryptParams{1024, 8, 1};
  return s;
}

Bytes pattern(size_t n) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(i * 131 + (i >> 9));
  return b;
}

json backup_object(const std::string& name) {
  return {{"apiVersion", "stowage.io/v1"}, {"kind", "Backup"}, {"metadata", {{"name", name}, {"namespace", "stowage"}}}};
}

// Writes a backup with a 2.5 MiB contents object (three sealed segments).
struct Fixture {
  std::shared_ptr<MemoryStore> store = std::make_shared<MemoryStore>();
  std::unique_ptr<BackupLocation> location;
  Bytes contents = pattern((5u << 20) / 2);

  explicit Fixture(ArchiveFormat format = ArchiveFormat::kEncrypted) {
    location = BackupLocation::open(store, "pw", fast_settings(format)).value();
  }
  void write_backup(const std::string& name) {
    BackupManifest manifest;
    manifest.archive_format = location->settings().archive_format;
    auto digest = location->put_backup_object(name, BackupObject::kContents, contents);
    ASSERT_TRUE(digest.ok()) << digest.error().to_string();
    manifest.objects[layout::backup_object_file(name, BackupObject::kContents)] = digest.value();
    ASSERT_TRUE(location->put_backup_metadata(name, backup_object(name), manifest).ok());
  }
  Result<Bytes> read_contents(const std::string& name) {
    auto stored = TRY(location->read_backup(name));
    auto reader = TRY(location->open_backup_object(stored, BackupObject::kContents));
    Bytes out;
    uint8_t buf[70000];
    for (size_t n; (n = TRY(reader->read(buf))) > 0;) out.insert(out.end(), buf, buf + n);
    return out;
  }
};

// Found by the sealed_object fuzzer: a number where a string belongs threw
// out of the parser instead of being refused as damage.
TEST(BackupLocation, AManifestWithFieldsOfTheWrongTypeIsRefused) {
  for (const char* text : {R"({"formatVersion":1,"archiveFormat":-7,"objects":{}})",
                           R"({"formatVersion":1,"objects":{"a":{"size":1,"sha256":5}}})",
                           R"({"formatVersion":"1","objects":{}})"}) {
    auto manifest = manifest_from_json(json::parse(text), "backups/b/metadata");
    ASSERT_FALSE(manifest.ok()) << text;
    EXPECT_EQ(manifest.error().code(), ErrorCode::kCorrupt) << text;
  }
}

TEST(BackupLocation, EncryptedRoundTripHidesContent) {
  Fixture f;
  f.write_backup("b1");
  auto back = f.read_contents("b1");
  ASSERT_TRUE(back.ok()) << back.error().to_string();
  EXPECT_EQ(back.value(), f.contents);
  Bytes stored = f.store->get("backups/b1/b1.tar.gz").value();
  EXPECT_TRUE(is_sealed(stored));
  Bytes metadata = f.store->get("backups/b1/velero-backup.json").value();
  EXPECT_EQ(as_string(metadata).find("stowage.io/v1"), std::string_view::npos) << "metadata stored in the clear";
  auto names = f.location->list_backups();
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(names.value(), std::vector<std::string>{"b1"});
}

TEST(BackupLocation, RepositoryLivesBesideBackups) {
  Fixture f;
  EXPECT_TRUE(f.store->stat("repository/config").ok());
  // A second open (another process) finds the same repository and key.
  auto again = BackupLocation::open(f.store, "pw", fast_settings());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again.value()->repository().key_fingerprint(), f.location->repository().key_fingerprint());
  auto wrong = BackupLocation::open(f.store, "other", fast_settings());
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.error().code(), ErrorCode::kWrongKey);
}

TEST(BackupLocation, FlippedByteInAnySegmentIsDetected) {
  for (uint64_t offset : {uint64_t{20}, uint64_t{(1u << 20) + 100}, uint64_t{(5u << 20) / 2}}) {
    Fixture f;
    f.write_backup("b1");
    ASSERT_TRUE(f.store->flip_byte("backups/b1/b1.tar.gz", offset).ok());
    auto back = f.read_contents("b1");
    ASSERT_FALSE(back.ok()) << "offset " << offset;
    EXPECT_EQ(back.error().code(), ErrorCode::kCorrupt);
    EXPECT_NE(back.error().message().find("backups/b1/b1.tar.gz"), std::string::npos) << back.error().message();
  }
}

TEST(BackupLocation, TruncationAtASegmentBoundaryIsDetected) {
  Fixture f;
  f.write_backup("b1");
  uint64_t two_segments = kSealedHeaderSize + 2 * (kDefaultSegmentSize + crypto::kAeadOverhead);
  ASSERT_TRUE(f.store->truncate_object("backups/b1/b1.tar.gz", two_segments).ok());
  auto back = f.read_contents("b1");
  ASSERT_FALSE(back.ok());
  EXPECT_EQ(back.error().code(), ErrorCode::kCorrupt);
}

TEST(BackupLocation, SealedObjectMovedToAnotherKeyIsRefused) {
  // A sealed object is bound to its key: the same bytes under another backup's
  // name fail authentication even with a manifest that lists their digest.
  Fixture f;
  crypto::Aead aead(f.location->repository().derive_key("backup location objects v1"));
  Bytes sealed = seal_object(aead, "backups/a/a.tar.gz", f.contents);
  ASSERT_TRUE(f.store->put("backups/b/b.tar.gz", sealed).ok());
  BackupManifest manifest;
  manifest.objects["b.tar.gz"] = digest_of(sealed);
  ASSERT_TRUE(f.location->put_backup_metadata("b", backup_object("b"), manifest).ok());
  auto back = f.read_contents("b");
  ASSERT_FALSE(back.ok());
  EXPECT_EQ(back.error().code(), ErrorCode::kCorrupt);
  EXPECT_NE(back.error().message().find("authentication"), std::string::npos) << back.error().message();
}

TEST(BackupLocation, PlainMetadataInAnEncryptedLocationIsRefused) {
  Fixture f;
  std::string forged = backup_object("evil").dump();
  ASSERT_TRUE(f.store->put("backups/evil/velero-backup.json", as_bytes(forged)).ok());
  auto read = f.location->read_backup("evil");
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.error().code(), ErrorCode::kCorrupt);
  EXPECT_NE(read.error().message().find("not sealed"), std::string::npos) << read.error().message();
  // Explicitly unverified (a Velero backup the user chose): accepted, no manifest.
  auto unverified = f.location->read_backup("evil", true);
  ASSERT_TRUE(unverified.ok());
  EXPECT_FALSE(unverified.value().manifest.has_value());
}

TEST(BackupLocation, ReplacedObjectFailsTheManifest) {
  Fixture f(ArchiveFormat::kPlain);
  f.write_backup("b1");
  // Same size, other bytes: only the digest can tell.
  ASSERT_TRUE(f.store->flip_byte("backups/b1/b1.tar.gz", 12345).ok());
  auto back = f.read_contents("b1");
  ASSERT_FALSE(back.ok());
  EXPECT_EQ(back.error().code(), ErrorCode::kCorrupt);
  EXPECT_NE(back.error().message().find("SHA-256"), std::string::npos) << back.error().message();
}

TEST(BackupLocation, PlainLocationWritesVeleroReadableObjects) {
  Fixture f(ArchiveFormat::kPlain);
  f.write_backup("b1");
  EXPECT_EQ(f.store->get("backups/b1/b1.tar.gz").value(), f.contents);
  json metadata = json::parse(as_string(f.store->get("backups/b1/velero-backup.json").value()));
  EXPECT_EQ(metadata["metadata"]["name"], "b1");
  EXPECT_TRUE(metadata["metadata"]["annotations"].contains(kManifestAnnotation));
}

TEST(BackupLocation, MetadataNamingAnotherBackupIsRefused) {
  Fixture f;
  f.write_backup("b1");
  // Copy b1's sealed metadata to b2: the key binding or the name check refuses it.
  ASSERT_TRUE(f.store->put("backups/b2/velero-backup.json", f.store->get("backups/b1/velero-backup.json").value()).ok());
  auto read = f.location->read_backup("b2");
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.error().code(), ErrorCode::kCorrupt);
}

TEST(BackupLocation, NewerManifestVersionIsRefusedWithVersions) {
  Fixture f;
  BackupManifest manifest;
  manifest.format_version = 7;
  ASSERT_TRUE(f.location->put_backup_metadata("b1", backup_object("b1"), manifest).ok());
  auto read = f.location->read_backup("b1");
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.error().code(), ErrorCode::kUnsupported);
  EXPECT_NE(read.error().message().find("version 7"), std::string::npos) << read.error().message();
}

TEST(BackupLocation, WriteOnceAndReadOnly) {
  Fixture f;
  f.write_backup("b1");
  auto again = f.location->put_backup_object("b1", BackupObject::kContents, f.contents);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code(), ErrorCode::kAlreadyExists);
  auto read_only_settings = fast_settings();
  read_only_settings.read_only = true;
  auto read_only = BackupLocation::open(f.store, "pw", read_only_settings).value();
  auto write = read_only->put_backup_object("b2", BackupObject::kLog, f.contents);
  ASSERT_FALSE(write.ok());
  EXPECT_EQ(write.error().code(), ErrorCode::kPermissionDenied);
  EXPECT_TRUE(read_only->read_backup("b1").ok());
  // A read-only location never creates the repository either.
  auto empty = std::make_shared<MemoryStore>();
  auto none = BackupLocation::open(empty, "pw", read_only_settings);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().code(), ErrorCode::kNotFound);
}

TEST(BackupLocation, DeleteRemovesMetadataFirstAndEverything) {
  Fixture f;
  f.write_backup("b1");
  f.write_backup("b10");
  ASSERT_TRUE(f.location->delete_backup("b1").ok());
  EXPECT_FALSE(f.location->backup_exists("b1").value());
  EXPECT_TRUE(f.location->backup_exists("b10").value()) << "deleting b1 must not touch b10";
  EXPECT_EQ(f.location->list_backups().value(), std::vector<std::string>{"b10"});
}

TEST(BackupLocationLayout, NamesThatCouldEscapeAreRefused) {
  for (const char* bad : {"", "../x", "a/b", "A", "-a", "a-", "a..b", "a\nb"}) {
    EXPECT_FALSE(layout::check_name(bad).ok()) << bad;
  }
  EXPECT_TRUE(layout::check_name("nightly-20261125013000").ok());
  EXPECT_EQ(layout::backup_object("n", BackupObject::kResourceList), "backups/n/n-resource-list.json.gz");
  EXPECT_EQ(layout::restore_object("r", RestoreObject::kLog), "restores/r/restore-r-logs.gz");
  EXPECT_EQ(layout::backup_name_of("backups/n/velero-backup.json"), "n");
}

TEST(BackupLocation, ObjectLockRetainsUntilExpirationPlusMarginAndDefersDeletion) {
  auto store = std::make_shared<MemoryStore>();
  store->enable_object_lock();
  LocationSettings settings = fast_settings();
  json spec = {{"objectLock", {{"mode", "COMPLIANCE"}, {"retentionMargin", "1h"}}}};
  ASSERT_TRUE(apply_object_lock_spec(spec, settings).ok());
  EXPECT_EQ(settings.lock_mode, RetentionMode::kCompliance);
  EXPECT_EQ(settings.lock_margin_seconds, 3600);
  auto location = BackupLocation::open(store, "pw", settings).value();
  auto status = object_lock_status(location->store(), location->settings());
  ASSERT_TRUE(status.ok());
  EXPECT_EQ((*status)["enabled"], true);

  const int64_t expires = 2'000'000'000;
  // Without an expiration there is no retain-until: refused.
  EXPECT_EQ(location->put_backup_object("b1", BackupObject::kContents, pattern(100)).error().code(),
            ErrorCode::kInvalidArgument);
  auto digest = location->put_backup_object("b1", BackupObject::kContents, pattern(100), expires);
  ASSERT_TRUE(digest.ok()) << digest.error().to_string();
  BackupManifest manifest;
  manifest.objects[layout::backup_object_file("b1", BackupObject::kContents)] = digest.value();
  json metadata = backup_object("b1");
  metadata["status"]["expiration"] = "2033-05-18T03:33:20Z";  // 2'000'000'000
  ASSERT_TRUE(location->put_backup_metadata("b1", metadata, manifest).ok());
  for (auto object : {BackupObject::kContents, BackupObject::kMetadata}) {
    auto retention = store->retention_of(layout::backup_object("b1", object));
    ASSERT_TRUE(retention.ok());
    EXPECT_EQ(retention->mode, RetentionMode::kCompliance);
    EXPECT_EQ(retention->until_unix, expires + 3600);
  }

  // Deleting before the retention ends: recorded, not failed, and no longer listed.
  bool deferred = false;
  ASSERT_TRUE(location->delete_backup("b1", &deferred).ok());
  EXPECT_TRUE(deferred);
  EXPECT_TRUE(store->get(layout::backup_object("b1", BackupObject::kMetadata)).ok());
  EXPECT_TRUE(location->list_backups()->empty());
  EXPECT_TRUE(location->retry_pending_deletions()->empty());  // still locked
  // After it, the retry deletes everything, the record last.
  store->set_now(expires + 3601);
  auto done = location->retry_pending_deletions();
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(done->size(), 1u);
  EXPECT_TRUE(list_all(*store, "backups/")->empty());
  EXPECT_TRUE(list_all(*store, std::string(layout::kPendingDeletionsPrefix))->empty());

  // A lock asked for on a bucket without one is reported.
  MemoryStore plain;
  EXPECT_EQ(object_lock_status(plain, settings).error().code(), ErrorCode::kUnsupported);
  EXPECT_EQ(apply_object_lock_spec(json{{"objectLock", {{"mode", "SOMETIMES"}}}}, settings).error().code(),
            ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace stowage::backupstore
