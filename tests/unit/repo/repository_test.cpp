#include "repo/repository.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <random>
#include <set>
#include <thread>

#include "repo/check.h"
#include "repo/layout.h"
#include "repo/lock.h"
#include "repo/maintenance.h"
#include "repo_test_support.h"
#include "store/fs_store.h"

namespace stowage {
namespace {

using testing::make_repo;

Bytes random_bytes_seeded(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  Bytes out(n);
  for (auto& b : out) b = uint8_t(rng());
  return out;
}

// Packs of a store with a writer are streamed as they grow (in 4 MiB
// pieces): what comes back, and what check reads, must be what went in.
TEST(Repository, StreamedPacksReadBackAndLeaveNoTemporaryFiles) {
  std::string root = (std::filesystem::temp_directory_path() /
                      ("stowage-stream-test-" + std::to_string(std::random_device{}())))
                         .string();
  {
    auto store = std::make_shared<FsStore>(root);
    InitOptions options = testing::fast_init_options();
    options.pack_size = 16 << 20;
    ASSERT_TRUE(Repository::init(*store, "pw", options).ok());
    std::vector<std::pair<BlobId, Bytes>> blobs;
    {
      auto repo = std::move(Repository::open(store, "pw")).value();
      for (uint64_t i = 0; i < 48; i++) {  // 12 MiB, incompressible: three streamed pieces
        Bytes data = random_bytes_seeded(256 << 10, i);
        BlobId id = repo->blob_id(data);
        auto saved = repo->save_blob(BlobType::kData, id, data);
        ASSERT_TRUE(saved.ok()) << saved.error().to_string();
        blobs.emplace_back(id, std::move(data));
      }
      ASSERT_TRUE(repo->flush().ok());
    }
    auto repo = std::move(Repository::open(store, "pw")).value();
    for (const auto& [id, data] : blobs) {
      auto loaded = repo->load_blob(id);
      ASSERT_TRUE(loaded.ok()) << loaded.error().to_string();
      EXPECT_TRUE(*loaded == data);
    }
    auto report = check_repository(*repo, CheckOptions{.read_data = true});
    ASSERT_TRUE(report.ok()) << report.error().to_string();
    EXPECT_TRUE(report->ok()) << (report->errors.empty() ? "" : report->errors[0]);
    EXPECT_EQ(report->packs, 1u);
    for (const auto& entry : std::filesystem::recursive_directory_iterator(root))
      EXPECT_NE(entry.path().filename().string().rfind(FsStore::kTempPrefix, 0), 0u) << entry.path();
  }
  std::filesystem::remove_all(root);
}

// Threads saving into one repository at the same time fill packs of their
// own and stream them piece by piece: every blob must be stored once, be
// readable, and every pack must check clean.
TEST(Repository, ThreadsSavingAtOnceStoreEachBlobOnceInPacksThatCheckClean) {
  std::string root = (std::filesystem::temp_directory_path() /
                      ("stowage-pool-test-" + std::to_string(std::random_device{}())))
                         .string();
  constexpr int kThreads = 4, kBlobs = 40;
  auto data_of = [](int i) { return random_bytes_seeded(200 << 10, 7000 + uint64_t(i)); };
  {
    auto store = std::make_shared<FsStore>(root);
    InitOptions options = testing::fast_init_options();
    options.pack_size = 16 << 20;
    ASSERT_TRUE(Repository::init(*store, "pw", options).ok());
    {
      auto repo = std::move(Repository::open(store, "pw")).value();
      std::atomic<int> failures{0};
      std::vector<std::thread> threads;
      for (int t = 0; t < kThreads; t++) {
        threads.emplace_back([&, t] {
          // Each thread saves kBlobs blobs, half of them also saved by the next thread.
          for (int i = 0; i < kBlobs; i++) {
            Bytes data = data_of(t * kBlobs / 2 + i);
            if (!repo->save_blob(BlobType::kData, repo->blob_id(data), data).ok()) failures++;
            Bytes tree = to_bytes("tree " + std::to_string(t * kBlobs / 2 + i));
            if (!repo->save_tree(tree).ok()) failures++;
          }
        });
      }
      for (auto& t : threads) t.join();
      ASSERT_EQ(failures.load(), 0);
      ASSERT_TRUE(repo->flush().ok());
    }
    auto repo = std::move(Repository::open(store, "pw")).value();
    const int unique = (kThreads + 1) * kBlobs / 2;
    EXPECT_EQ(repo->index().blob_count(), size_t(2 * unique));
    for (int i = 0; i < unique; i++) {
      Bytes data = data_of(i);
      auto loaded = repo->load_blob(repo->blob_id(data));
      ASSERT_TRUE(loaded.ok()) << loaded.error().to_string();
      EXPECT_TRUE(*loaded == data) << i;
    }
    auto report = check_repository(*repo, CheckOptions{.read_data = true});
    ASSERT_TRUE(report.ok()) << report.error().to_string();
    EXPECT_TRUE(report->ok()) << (report->errors.empty() ? "" : report->errors[0]);
    for (const auto& entry : std::filesystem::recursive_directory_iterator(root))
      EXPECT_NE(entry.path().filename().string().rfind(FsStore::kTempPrefix, 0), 0u) << entry.path();
  }
  std::filesystem::remove_all(root);
}

// A store whose streamed writes fail after the first piece (a full disk).
class FailingStreamStore : public MemoryStore {
 public:
  Result<std::unique_ptr<ObjectWriter>> open_writer() override {
    return std::unique_ptr<ObjectWriter>(std::make_unique<Writer>());
  }

 private:
  struct Writer : ObjectWriter {
    int appends = 0;
    Status append(ByteView) override {
      if (++appends > 1) return Error(ErrorCode::kIo, "injected: no space left on device", "pack");
      return ok_status();
    }
    Status commit(const std::string& key) override { return Error(ErrorCode::kIo, "commit must not be reached", key); }
  };
};

TEST(Repository, AFailedStreamedPackFailsTheWriteAndIndexesNothing) {
  auto store = std::make_shared<FailingStreamStore>();
  InitOptions options = testing::fast_init_options();
  options.pack_size = 32 << 20;
  ASSERT_TRUE(Repository::init(*store, "pw", options).ok());
  auto repo = std::move(Repository::open(store, "pw")).value();
  std::vector<BlobId> ids;
  Status failed;
  for (uint64_t i = 0; i < 64 && failed.ok(); i++) {  // up to 16 MiB: fails at the second 4 MiB piece
    Bytes data = random_bytes_seeded(256 << 10, 100 + i);
    ids.push_back(repo->blob_id(data));
    auto saved = repo->save_blob(BlobType::kData, ids.back(), data);
    if (!saved.ok()) failed = std::move(saved).error();
  }
  ASSERT_FALSE(failed.ok()) << "the failing writer was never used";
  EXPECT_NE(failed.error().to_string().find("no space left"), std::string::npos) << failed.error().to_string();
  Status flushed = repo->flush();
  ASSERT_FALSE(flushed.ok());
  EXPECT_NE(flushed.error().to_string().find("no space left"), std::string::npos) << flushed.error().to_string();
  for (const auto& id : ids) EXPECT_FALSE(repo->has_blob(id)) << id.hex();
  auto packs = list_all(*store, "data/");
  ASSERT_TRUE(packs.ok());
  EXPECT_TRUE(packs->empty());
}

TEST(Repository, InitOpenAndWrongPassword) {
  auto store = std::make_shared<MemoryStore>();
  ASSERT_NE(make_repo(store), nullptr);
  auto again = Repository::init(*store, "pw", testing::fast_init_options());
  EXPECT_EQ(again.error().code(), ErrorCode::kAlreadyExists);
  auto wrong = Repository::open(store, "not the password");
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.error().code(), ErrorCode::kWrongKey);
  EXPECT_NE(wrong.error().to_string().find("wrong password"), std::string::npos);
  auto missing = Repository::open(std::make_shared<MemoryStore>(), "pw");
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
}

TEST(Repository, NewerFormatVersionIsRefusedWithBothVersionsNamed) {
  auto store = std::make_shared<MemoryStore>();
  ASSERT_NE(make_repo(store), nullptr);
  std::string config(as_string(*store->get("config")));
  const std::string current = "\"version\": " + std::to_string(kRepositoryFormatVersion);
  config.replace(config.find(current), current.size(), "\"version\": 7");
  store->overwrite_object("config", as_bytes(config));
  auto r = Repository::open(store, "pw");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kUnsupported);
  EXPECT_NE(r.error().message().find("version 7"), std::string::npos);
  EXPECT_NE(r.error().message().find("(" + std::to_string(kRepositoryFormatVersion) + ")"), std::string::npos);
}

TEST(Repository, TamperedConfigIsDetected) {
  auto store = std::make_shared<MemoryStore>();
  ASSERT_NE(make_repo(store), nullptr);
  std::string config(as_string(*store->get("config")));
  config.replace(config.find("\"level\": 1"), 10, "\"level\": 9");
  store->overwrite_object("config", as_bytes(config));
  auto r = Repository::open(store, "pw");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kCorrupt);
}

TEST(Repository, BlobsRoundTripDeduplicateAndSurviveReopen) {
  auto store = std::make_shared<MemoryStore>();
  auto repo = make_repo(store);
  Bytes data = random_bytes_seeded(300000, 1);
  Bytes zeros(300000, 0);  // compressible
  BlobId a = repo->blob_id(data), z = repo->blob_id(zeros);
  EXPECT_TRUE(*repo->save_blob(BlobType::kData, a, data));
  EXPECT_FALSE(*repo->save_blob(BlobType::kData, a, data));  // dedup
  EXPECT_TRUE(*repo->save_blob(BlobType::kData, z, zeros));
  ASSERT_TRUE(repo->flush().ok());
  EXPECT_LT(repo->write_stats().bytes_stored_new.load(), 300000u + 2000u);  // zeros compressed
  auto reopened = Repository::open(store, "pw");
  ASSERT_TRUE(reopened.ok());
  EXPECT_EQ(*(*reopened)->load_blob(a), data);
  EXPECT_EQ(*(*reopened)->load_blob(z), zeros);
  BlobId missing = repo->blob_id(as_bytes("never stored"));
  EXPECT_EQ((*reopened)->load_blob(missing).error().code(), ErrorCode::kNotFound);
}

// Format 4 compresses and seals small data blobs in groups; format 3
// repositories keep one sealed piece per blob, so that format 3 readers can
// still read them. Format 5 groups as 4 does, with BLAKE3 ids and names; the
// check reads every pack and verifies names and ids in each version's hash.
TEST(Repository, SmallDataBlobsAreGroupedInFormat4AndEachReadsBack) {
  for (int version : {3, 4, 5}) {
    SCOPED_TRACE("format " + std::to_string(version));
    auto store = std::make_shared<MemoryStore>();
    InitOptions init = testing::fast_init_options();
    init.format_version = version;
    ASSERT_TRUE(Repository::init(*store, "pw", init).ok());
    auto repo = std::move(Repository::open(store, "pw")).value();
    std::vector<std::pair<BlobId, Bytes>> blobs;
    for (int i = 0; i < 40; i++) {  // text-like: each compresses, and better together
      std::string text;
      for (int line = 0; line < 40; line++)
        text += "line " + std::to_string(line) + " of file " + std::to_string(i) + ": int x = f(" +
                std::to_string(line * i) + ");\n";
      Bytes data(text.begin(), text.end());
      blobs.emplace_back(repo->blob_id(data), data);
      ASSERT_TRUE(*repo->save_blob(BlobType::kData, blobs.back().first, data));
    }
    Bytes large = random_bytes_seeded(kGroupBlobMax, 9);  // not small: a piece of its own
    BlobId large_id = repo->blob_id(large);
    ASSERT_TRUE(*repo->save_blob(BlobType::kData, large_id, large));
    BlobId tree = *repo->save_tree(as_bytes("{\"a tree\": 1}"));
    ASSERT_TRUE(repo->flush().ok());

    std::set<uint32_t> pieces;
    for (const auto& [id, data] : blobs) pieces.insert(repo->index().find(id)->entry.offset);
    if (version >= 4) EXPECT_EQ(pieces.size(), 1u);
    else EXPECT_EQ(pieces.size(), blobs.size());
    EXPECT_EQ(repo->index().find(blobs[0].first)->entry.grouped(), version >= 4);
    EXPECT_FALSE(repo->index().find(large_id)->entry.grouped());
    EXPECT_FALSE(repo->index().find(tree)->entry.grouped());

    auto reopened = std::move(Repository::open(store, "pw")).value();  // entries from the index object
    for (const auto& [id, data] : blobs) EXPECT_EQ(*reopened->load_blob(id), data);
    EXPECT_EQ(*reopened->load_blob(large_id), large);
    auto report = check_repository(*reopened, CheckOptions{true, nullptr});
    ASSERT_TRUE(report.ok());
    EXPECT_TRUE(report->ok()) << (report->errors.empty() ? "" : report->errors[0]);
  }
}

TEST(Repository, FlippedByteInAGroupFailsEachOfItsBlobsInCheck) {
  auto store = std::make_shared<MemoryStore>();
  auto repo = make_repo(store);
  std::vector<BlobId> ids;
  for (uint64_t i = 0; i < 5; i++) {
    Bytes data = random_bytes_seeded(3000, 100 + i);
    ids.push_back(repo->blob_id(data));
    ASSERT_TRUE(repo->save_blob(BlobType::kData, ids.back(), data).ok());
  }
  ASSERT_TRUE(repo->flush().ok());
  auto packs = *list_all(*store, "data/");
  ASSERT_EQ(packs.size(), 1u);
  ASSERT_TRUE(store->flip_byte(packs[0].key, 2000).ok());
  for (const auto& id : ids) {
    auto r = repo->load_blob(id);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().to_string().find("group holding blob " + id.short_hex()), std::string::npos)
        << r.error().to_string();
  }
  auto report = check_repository(*repo, CheckOptions{true, nullptr});
  ASSERT_TRUE(report.ok());
  size_t blob_errors = 0;
  for (const auto& e : report->errors) blob_errors += e.find("group holding blob") != std::string::npos;
  EXPECT_EQ(blob_errors, ids.size());
}

TEST(PackEntry, GroupedAndPlainEntriesRoundTripAndBadOnesAreRefused) {
  PackEntry plain{BlobType::kTree, BlobId{}, 10, 200, 300, Compression::kZstd};
  plain.id.bytes[0] = 1;
  PackEntry grouped{BlobType::kData, BlobId{}, 4096, 70000, 1000, Compression::kZstd, 5000, 900000};
  grouped.id.bytes[0] = 2;
  Bytes out;
  encode_entry(plain, out);
  ASSERT_EQ(out.size(), kPackEntrySize);  // as format 3 wrote it
  encode_entry(grouped, out);
  ASSERT_EQ(out.size(), 2 * kPackEntrySize + kGroupedEntryExtra);
  size_t used = 0;
  auto a = decode_entry(out.data(), out.size(), used);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(used, kPackEntrySize);
  EXPECT_FALSE(a->grouped());
  EXPECT_EQ(a->raw_length, 300u);
  auto b = decode_entry(out.data() + used, out.size() - used, used);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(used, kPackEntrySize + kGroupedEntryExtra);
  EXPECT_TRUE(b->grouped());
  EXPECT_EQ(b->group_offset, 5000u);
  EXPECT_EQ(b->group_length, 900000u);
  EXPECT_EQ(b->compression, Compression::kZstd);
  // Truncated after the flag, and a blob reaching past its group's end.
  EXPECT_FALSE(decode_entry(out.data() + kPackEntrySize, kPackEntrySize + 4, used).ok());
  Bytes bad;
  grouped.group_offset = 899500;
  encode_entry(grouped, bad);
  auto outside = decode_entry(bad.data(), bad.size(), used);
  ASSERT_FALSE(outside.ok());
  EXPECT_NE(outside.error().message().find("outside its group"), std::string::npos);
}

TEST(Repository, FlippedByteInPackIsReportedNamingThePack) {
  auto store = std::make_shared<MemoryStore>();
  auto repo = make_repo(store);
  Bytes data = random_bytes_seeded(5000, 2);
  BlobId id = repo->blob_id(data);
  ASSERT_TRUE(repo->save_blob(BlobType::kData, id, data).ok());
  ASSERT_TRUE(repo->flush().ok());
  auto packs = *list_all(*store, "data/");
  ASSERT_EQ(packs.size(), 1u);
  ASSERT_TRUE(store->flip_byte(packs[0].key, 100).ok());
  auto r = repo->load_blob(id);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kCorrupt);
  EXPECT_NE(r.error().to_string().find(packs[0].key), std::string::npos);
  auto report = check_repository(*repo, CheckOptions{true, nullptr});
  ASSERT_TRUE(report.ok());
  EXPECT_FALSE(report->ok());
}

TEST(Repository, ConcurrentWritersLoseNoIndexEntries) {
  auto store = std::make_shared<MemoryStore>();
  ASSERT_NE(make_repo(store), nullptr);
  constexpr int kWriters = 4, kBlobs = 200;
  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; w++) {
    threads.emplace_back([&, w] {
      auto repo = Repository::open(store, "pw");
      ASSERT_TRUE(repo.ok());
      for (int i = 0; i < kBlobs; i++) {
        Bytes data = random_bytes_seeded(20000, uint64_t(w * 100000 + i));
        ASSERT_TRUE((*repo)->save_blob(BlobType::kData, (*repo)->blob_id(data), data).ok());
      }
      ASSERT_TRUE((*repo)->flush().ok());
    });
  }
  for (auto& t : threads) t.join();
  auto repo = Repository::open(store, "pw");
  ASSERT_TRUE(repo.ok());
  EXPECT_EQ((*repo)->index().blob_count(), size_t(kWriters * kBlobs));
  for (int w = 0; w < kWriters; w++) {
    Bytes data = random_bytes_seeded(20000, uint64_t(w * 100000 + 7));
    EXPECT_EQ(*(*repo)->load_blob((*repo)->blob_id(data)), data);
  }
}

TEST(Repository, KeySlotsAddOpenAndRemove) {
  auto store = std::make_shared<MemoryStore>();
  auto repo = make_repo(store);
  ASSERT_TRUE(repo->add_key("second", crypto::ScryptParams{1024, 8, 1}).ok());
  auto second = Repository::open(store, "second");
  ASSERT_TRUE(second.ok());
  EXPECT_EQ((*second)->config().id, repo->config().id);
  // The first password's slot can be removed from a session opened with the second.
  EXPECT_EQ((*second)->remove_key((*second)->key_slot_id()).error().code(), ErrorCode::kInvalidArgument);
  ASSERT_TRUE((*second)->remove_key(repo->key_slot_id()).ok());
  EXPECT_EQ(Repository::open(store, "pw").error().code(), ErrorCode::kWrongKey);
  EXPECT_TRUE(Repository::open(store, "second").ok());
}

// Moving a password from scrypt to Argon2id: after `key add` with the same
// password, the session opens with the Argon2id slot, so the scrypt slot it
// replaces can be removed.
TEST(Repository, OpensWithTheArgon2idSlotFirst) {
  auto store = std::make_shared<MemoryStore>();
  InitOptions options = testing::fast_init_options();
  options.kdf = crypto::ScryptParams{1024, 8, 1};
  ASSERT_TRUE(Repository::init(*store, "pw", options).ok());
  auto old = Repository::open(store, "pw");
  ASSERT_TRUE(old.ok());
  const std::string scrypt_slot = (*old)->key_slot_id();
  // Slots are listed by id (random); keep only Argon2id slots listed after
  // the scrypt one, so that trying slots in listing order would open it.
  size_t after = 0;
  while (after < 2) {
    ASSERT_TRUE((*old)->add_key("pw", crypto::Argon2idParams{1024, 1}).ok());
    auto listed = (*old)->list_keys();
    ASSERT_TRUE(listed.ok());
    after = 0;
    for (const auto& k : *listed) {
      if (k.id < scrypt_slot) {
        ASSERT_TRUE((*old)->remove_key(k.id).ok());
      } else if (k.id > scrypt_slot) {
        after++;
      }
    }
  }
  auto reopened = Repository::open(store, "pw");
  ASSERT_TRUE(reopened.ok());
  EXPECT_NE((*reopened)->key_slot_id(), scrypt_slot);
  ASSERT_TRUE((*reopened)->remove_key(scrypt_slot).ok());
  auto keys = (*reopened)->list_keys();
  ASSERT_TRUE(keys.ok());
  ASSERT_EQ(keys->size(), 2u);
  for (const auto& k : *keys) EXPECT_EQ(k.kdf, "argon2id 1 MiB, 1 pass");
  EXPECT_TRUE(Repository::open(store, "pw").ok());
}

// A slot from a newer release (or a damaged one) does not lock out the
// others, and is named when no slot opens instead of a bare "wrong password".
TEST(Repository, SlotsThatCannotBeTriedAreReported) {
  auto store = std::make_shared<MemoryStore>();
  auto repo = make_repo(store);
  ASSERT_NE(repo, nullptr);
  auto listed = repo->list_keys();
  ASSERT_TRUE(listed.ok() && listed->size() == 1);
  const std::string good = std::string(layout::kKeysPrefix) + listed->front().id;
  ASSERT_TRUE(store->put("keys/ffff", as_bytes(R"({"version": 3, "kdf": {}, "wrapped": ""})")).ok());
  EXPECT_TRUE(Repository::open(store, "pw").ok());
  auto wrong = Repository::open(store, "not pw");
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.error().code(), ErrorCode::kWrongKey);
  EXPECT_NE(wrong.error().message().find("1 could not be tried: key slot ffff: key slot version 3"), std::string::npos)
      << wrong.error().message();
  ASSERT_TRUE(store->remove(good).ok());
  auto newer = Repository::open(store, "pw");
  ASSERT_FALSE(newer.ok());
  EXPECT_EQ(newer.error().code(), ErrorCode::kUnsupported);
  EXPECT_NE(newer.error().message().find("newer release"), std::string::npos) << newer.error().message();
}

TEST(Repository, SnapshotsSaveListResolveRemove) {
  auto store = std::make_shared<MemoryStore>();
  auto repo = make_repo(store);
  Snapshot s;
  s.kind = SnapshotKind::kStream;
  s.source = "db";
  s.tags = {"nightly"};
  s.time_unix_nanos = 1000;
  s.root = repo->blob_id(as_bytes("x"));
  auto id1 = repo->save_snapshot(s);
  s.time_unix_nanos = 2000;
  auto id2 = repo->save_snapshot(s);
  ASSERT_TRUE(id1.ok() && id2.ok());
  auto all = repo->list_snapshots();
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ(all->front().id, *id1);
  EXPECT_EQ(*repo->resolve_snapshot("latest"), *id2);
  EXPECT_EQ(*repo->resolve_snapshot(id1->hex().substr(0, 10)), *id1);
  EXPECT_EQ(repo->resolve_snapshot("zz").error().code(), ErrorCode::kNotFound);
  ASSERT_TRUE(repo->remove_snapshot(*id1).ok());
  EXPECT_EQ(repo->list_snapshots()->size(), 1u);
  // A snapshot object whose content does not match its name is refused.
  store->overwrite_object(layout::snapshot(*id2), as_bytes("garbage"));
  EXPECT_EQ(repo->load_snapshot(*id2).error().code(), ErrorCode::kCorrupt);
}

TEST(Locks, ExclusiveConflictsWithShared) {
  auto store = std::make_shared<MemoryStore>();
  auto repo = make_repo(store);
  auto shared = RepoLock::acquire(*repo, false);
  ASSERT_TRUE(shared.ok());
  EXPECT_TRUE(RepoLock::acquire(*repo, false).ok());  // shared + shared
  auto exclusive = RepoLock::acquire(*repo, true);
  ASSERT_FALSE(exclusive.ok());
  EXPECT_EQ(exclusive.error().code(), ErrorCode::kConflict);
  shared->reset();
  EXPECT_TRUE(RepoLock::acquire(*repo, true).ok());
  EXPECT_TRUE(list_all(*store, "locks/")->empty());  // released on destruction
}

TEST(Retention, KeepsLastAndDailyPerSource) {
  std::vector<Snapshot> snaps;
  for (int i = 0; i < 10; i++) {
    Snapshot s;
    s.host = "h";
    s.source = "/data";
    s.time_unix_nanos = (int64_t(1700000000) + int64_t(i) * 12 * 3600) * 1000000000;  // two a day
    s.id.bytes[0] = uint8_t(i);
    snaps.push_back(s);
  }
  RetentionPolicy p;
  p.keep_last = 2;
  auto d = apply_retention(snaps, p);
  EXPECT_EQ(d.keep.size(), 2u);
  EXPECT_EQ(d.remove.size(), 8u);
  p.keep_daily = 3;
  d = apply_retention(snaps, p);
  // last 2 (days 6 and 5) + the newest of days 6, 5, 4: both of the last 2 overlap
  EXPECT_EQ(d.keep.size(), 3u);
  p = {};
  p.keep_tags = {"keep"};
  snaps[0].tags = {"keep"};
  d = apply_retention(snaps, p);
  ASSERT_EQ(d.keep.size(), 1u);
  EXPECT_EQ(d.keep[0].id.bytes[0], 0);
}

}  // namespace
}  // namespace stowage
