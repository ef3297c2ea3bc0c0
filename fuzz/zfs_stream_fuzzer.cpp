// Fuzzes the ZFS send-stream record parser (engine/zfs_stream.h). The first
// input byte chooses how the rest, the stream, is split into feed() calls.
// Whatever the bytes: the pieces cover exactly the bytes fed, none is empty,
// and the cuts and labels do not depend on how the input was split.
#include <cstddef>
#include <cstdint>

#include "engine/zfs_stream.h"
#include "fuzz_common.h"

using namespace stowage;
using namespace stowage::engine;

namespace {

// A record header in either byte order, fields given as {offset, size, value}.
struct Field {
  size_t offset, size;
  uint64_t value;
};
void record(Bytes& out, bool big, uint32_t type, std::initializer_list<Field> fields, size_t payload) {
  Bytes h(kZfsRecordHeaderSize, 0);
  auto put = [&](size_t offset, size_t size, uint64_t v) {
    for (size_t k = 0; k < size; k++) h[offset + (big ? size - 1 - k : k)] = uint8_t(v >> (8 * k));
  };
  put(0, 4, type);
  for (const auto& f : fields) put(f.offset, f.size, f.value);
  out.insert(out.end(), h.begin(), h.end());
  out.insert(out.end(), payload, uint8_t(0x40 + type));
}

Bytes sample_stream(bool big, uint32_t nvlist) {
  Bytes s;
  record(s, big, kDrrBegin, {{4, 4, nvlist}, {8, 8, kZfsBackupMagic}}, nvlist);
  record(s, big, kDrrObject, {{8 + 20, 4, 13}}, 16);
  record(s, big, kDrrWrite, {{8 + 24, 8, 512}}, 512);
  record(s, big, kDrrWrite, {{8 + 24, 8, 4096}, {8 + 42, 1, 2}, {8 + 88, 8, 100}}, 100);
  record(s, big, kDrrFree, {{8 + 16, 8, 4096}}, 0);
  record(s, big, kDrrWriteEmbedded, {{8 + 44, 4, 5}}, 8);
  record(s, big, kDrrSpill, {{8 + 8, 8, 64}}, 64);
  record(s, big, kDrrEnd, {}, 0);
  return s;
}

struct Parsed {
  std::vector<uint64_t> cuts;
  std::vector<std::pair<uint64_t, int>> kinds;  // where each kind starts
  bool complete = false;
  ZfsStreamStats stats;
};

Parsed parse(ByteView stream, size_t step) {
  ZfsStreamParser parser;
  Parsed p;
  uint64_t at = 0;
  for (size_t off = 0; off < stream.size(); off += step) {
    size_t n = std::min(step, stream.size() - off);
    std::vector<ZfsPiece> out;
    parser.feed(ByteView(stream.data() + off, n), out);
    size_t sum = 0;
    for (const auto& piece : out) {
      FUZZ_CHECK(piece.length > 0);
      if (p.kinds.empty() || p.kinds.back().second != int(piece.kind)) p.kinds.push_back({at, int(piece.kind)});
      sum += piece.length;
      at += piece.length;
      if (piece.cut_after) p.cuts.push_back(at);
    }
    FUZZ_CHECK(sum == n);
  }
  p.complete = parser.finish();
  p.stats = parser.stats();
  return p;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::maybe_write_seeds("zfs_stream", [] {
    Bytes le = sample_stream(false, 0), be = sample_stream(true, 0), nv = sample_stream(false, 24);
    Bytes cut(le.begin(), le.begin() + long(le.size() / 2));
    return fuzz::Seeds{{"le", fuzz::with_prefix({0}, le)},
                       {"be_step7", fuzz::with_prefix({7}, be)},
                       {"nvlist_step1", fuzz::with_prefix({1}, nv)},
                       {"truncated", fuzz::with_prefix({100}, cut)}};
  });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::Input in(data, size);
  size_t step = in.u8();
  ByteView stream = in.rest();
  Parsed whole = parse(stream, stream.size() ? stream.size() : 1);
  FUZZ_CHECK(whole.stats.bytes == stream.size());
  FUZZ_CHECK(whole.stats.data_bytes + whole.stats.opaque_bytes <= stream.size());
  FUZZ_CHECK(!whole.complete || whole.stats.opaque_reason.empty());
  for (uint64_t c : whole.cuts) FUZZ_CHECK(c <= stream.size());
  if (step == 0) return 0;
  Parsed split = parse(stream, step);
  FUZZ_CHECK(split.cuts == whole.cuts);
  FUZZ_CHECK(split.kinds == whole.kinds);
  FUZZ_CHECK(split.complete == whole.complete);
  FUZZ_CHECK(split.stats.records == whole.stats.records && split.stats.data_bytes == whole.stats.data_bytes &&
             split.stats.opaque_bytes == whole.stats.opaque_bytes &&
             split.stats.opaque_reason == whole.stats.opaque_reason);
  return 0;
}
