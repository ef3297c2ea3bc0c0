// Fuzzes decode_snapshot (the plaintext of snapshots/<id> manifests). A
// manifest that decodes must re-encode and decode to the same value (the
// block size is part of the value only for block snapshots: snapshot.h).
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "fuzz_common.h"
#include "repo/snapshot.h"

using namespace stowage;

static bool same_double(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

static bool same(const Snapshot& a, const Snapshot& b) {
  const auto &x = a.summary, &y = b.summary;
  return a.kind == b.kind && a.time_unix_nanos == b.time_unix_nanos && a.host == b.host && a.user == b.user &&
         a.source == b.source && a.tags == b.tags && a.parent == b.parent && a.root == b.root && a.size == b.size &&
         (a.kind != SnapshotKind::kBlock || a.block_size == b.block_size) && a.warnings == b.warnings &&
         x.files == y.files && x.dirs == y.dirs && x.bytes == y.bytes && x.bytes_read == y.bytes_read &&
         x.bytes_new == y.bytes_new && x.bytes_stored_new == y.bytes_stored_new && x.blobs_new == y.blobs_new &&
         x.files_unchanged == y.files_unchanged && x.errors == y.errors && same_double(x.seconds, y.seconds);
}

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::maybe_write_seeds("snapshot", [] {
    Snapshot s;
    s.kind = SnapshotKind::kFiles;
    s.time_unix_nanos = 1714564800123456789;
    s.host = "node-1";
    s.user = "root";
    s.source = "/var/lib/app";
    s.tags = {"daily", "app=db"};
    for (size_t k = 0; k < 32; k++) s.root.bytes[k] = uint8_t(k);
    s.summary.files = 12;
    s.summary.dirs = 3;
    s.summary.bytes = 123456;
    s.summary.seconds = 1.25;
    s.warnings = {"vanished: /var/lib/app/tmp"};
    Snapshot b = s;
    b.kind = SnapshotKind::kBlock;
    b.size = 1 << 30;
    b.block_size = 1 << 20;
    b.parent = ObjectId{};
    b.parent->bytes[0] = 0xAB;
    b.tags.clear();
    b.warnings.clear();
    Snapshot st = s;
    st.kind = SnapshotKind::kStream;
    st.source = "pg_dump";
    st.size = 999;
    return fuzz::Seeds{{"files.json", encode_snapshot(s)},
                       {"block.json", encode_snapshot(b)},
                       {"stream.json", encode_snapshot(st)}};
  });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Result<Snapshot> s = decode_snapshot(ByteView(data, size));
  if (!s.ok()) return 0;
  Result<Snapshot> again = decode_snapshot(encode_snapshot(*s));
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(same(*s, *again));
  return 0;
}
