// The send-stream record parser on hand-built streams: both byte orders,
// every payload rule, truncation, unknown records, and byte-at-a-time input.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "engine/zfs_stream.h"

namespace stowage::engine {
namespace {

// Builds streams record by record, in either byte order.
class StreamBuilder {
 public:
  explicit StreamBuilder(bool big_endian) : big_(big_endian) {}

  // A 312-byte header of type with fields {offset, size, value}.
  struct Field {
    size_t offset;
    size_t size;
    uint64_t value;
  };
  void header(uint32_t type, std::vector<Field> fields) {
    std::vector<uint8_t> h(kZfsRecordHeaderSize, 0);
    put(h, 0, 4, type);
    for (const auto& f : fields) put(h, f.offset, f.size, f.value);
    // Bytes that differ per stream, as the trailing checksum of newer streams.
    put(h, kZfsRecordHeaderSize - 32, 8, 0x1122334455667788ull);
    bytes.insert(bytes.end(), h.begin(), h.end());
  }
  void payload(size_t n, uint8_t fill) { bytes.insert(bytes.end(), n, fill); }

  void begin(uint32_t nvlist = 0) {
    header(kDrrBegin, {{4, 4, nvlist}, {8, 8, kZfsBackupMagic}, {16, 8, 0x11}});
    payload(nvlist, 'n');
  }
  void object(uint32_t bonuslen) {  // the payload is bonuslen rounded up to 8
    header(kDrrObject, {{8 + 20, 4, bonuslen}});
    payload((bonuslen + 7) / 8 * 8, 'o');
  }
  void write(uint64_t length, uint8_t fill) {
    data_ranges.push_back({bytes.size() + kZfsRecordHeaderSize, length});
    header(kDrrWrite, {{8 + 24, 8, length}});
    payload(length, fill);
  }
  void compressed_write(uint64_t logical, uint64_t compressed) {
    data_ranges.push_back({bytes.size() + kZfsRecordHeaderSize, compressed});
    header(kDrrWrite, {{8 + 24, 8, logical}, {8 + 42, 1, 3}, {8 + 88, 8, compressed}});
    payload(compressed, 'z');
  }
  void spill(uint64_t length) {
    header(kDrrSpill, {{8 + 8, 8, length}});
    payload(length, 's');
  }
  void embedded(uint32_t psize) {
    header(kDrrWriteEmbedded, {{8 + 40, 4, 4096}, {8 + 44, 4, psize}});
    payload((psize + 7) / 8 * 8, 'e');
  }
  void free() { header(kDrrFree, {{8 + 16, 8, 1 << 20}}); }
  void end() { header(kDrrEnd, {}); }

  ByteView view() const { return ByteView(bytes.data(), bytes.size()); }

  std::vector<uint8_t> bytes;
  std::vector<std::pair<uint64_t, uint64_t>> data_ranges;  // offset, length of each write payload

 private:
  void put(std::vector<uint8_t>& h, size_t offset, size_t size, uint64_t v) {
    for (size_t k = 0; k < size; k++) h[offset + (big_ ? size - 1 - k : k)] = uint8_t(v >> (8 * k));
  }
  bool big_;
};

// Offsets where the pieces say a chunk ends, and the data ranges they label.
struct Layout {
  std::vector<uint64_t> cuts;
  std::vector<std::pair<uint64_t, uint64_t>> data;
  uint64_t total = 0;
};

Layout layout_of(const std::vector<ZfsPiece>& pieces) {
  Layout l;
  for (const auto& p : pieces) {
    EXPECT_GT(p.length, 0u);
    if (p.kind == ZfsPieceKind::kData) {
      if (!l.data.empty() && l.data.back().first + l.data.back().second == l.total &&
          (l.cuts.empty() || l.cuts.back() != l.total))
        l.data.back().second += p.length;  // the same payload, fed in pieces
      else
        l.data.push_back({l.total, p.length});
    }
    l.total += p.length;
    if (p.cut_after) l.cuts.push_back(l.total);
  }
  return l;
}

// Feeds the stream in pieces of step bytes.
Layout parse_in_steps(ByteView stream, size_t step, ZfsStreamStats* stats, bool* complete) {
  ZfsStreamParser parser;
  std::vector<ZfsPiece> all;
  for (size_t at = 0; at < stream.size(); at += step) {
    std::vector<ZfsPiece> out;
    size_t n = std::min(step, stream.size() - at);
    parser.feed(ByteView(stream.data() + at, n), out);
    size_t sum = 0;
    for (const auto& p : out) sum += p.length;
    EXPECT_EQ(sum, n) << "the pieces must cover exactly the bytes fed";
    all.insert(all.end(), out.begin(), out.end());
  }
  bool done = parser.finish();
  if (complete) *complete = done;
  if (stats) *stats = parser.stats();
  return layout_of(all);
}

StreamBuilder sample(bool big_endian) {
  StreamBuilder b(big_endian);
  b.begin();
  b.object(13);
  b.write(4096, 'a');
  b.write(16384, 'b');
  b.free();
  b.embedded(5);
  b.spill(64);
  b.object(0);
  b.compressed_write(131072, 100);
  b.end();
  return b;
}

std::vector<uint64_t> expected_cuts(const StreamBuilder& b) {
  std::vector<uint64_t> cuts;
  for (const auto& [offset, length] : b.data_ranges) {
    cuts.push_back(offset);
    cuts.push_back(offset + length);
  }
  return cuts;
}

TEST(ZfsStream, RecordsOfBothByteOrdersAreFoundExactly) {
  for (bool big : {false, true}) {
    SCOPED_TRACE(big ? "big-endian" : "little-endian");
    StreamBuilder b = sample(big);
    ZfsStreamStats stats;
    bool complete = false;
    Layout l = parse_in_steps(b.view(), b.bytes.size(), &stats, &complete);
    EXPECT_TRUE(complete) << stats.opaque_reason;
    EXPECT_EQ(stats.opaque_reason, "");
    EXPECT_EQ(stats.big_endian, big);
    EXPECT_EQ(l.total, b.bytes.size());
    EXPECT_EQ(l.data, b.data_ranges);
    EXPECT_EQ(l.cuts, expected_cuts(b));
    EXPECT_EQ(stats.records, 10u);
    EXPECT_EQ(stats.write_records, 3u);
    EXPECT_EQ(stats.data_bytes, 4096u + 16384u + 100u);
    EXPECT_EQ(stats.opaque_bytes, 0u);
  }
}

TEST(ZfsStream, BeginRecordWithAnNvlistPayload) {
  StreamBuilder b(false);
  b.begin(200);
  b.write(8192, 'x');
  b.end();
  ZfsStreamStats stats;
  auto l = layout_of(zfs_stream_pieces(b.view(), &stats));
  EXPECT_EQ(stats.opaque_reason, "");
  EXPECT_EQ(l.data, b.data_ranges);
  EXPECT_EQ(l.cuts, expected_cuts(b));
}

TEST(ZfsStream, SameCutsWhateverTheInputPieces) {
  StreamBuilder b = sample(false);
  for (size_t step : {size_t(1), size_t(7), size_t(311), size_t(312), size_t(313), size_t(4096)}) {
    SCOPED_TRACE(step);
    bool complete = false;
    Layout l = parse_in_steps(b.view(), step, nullptr, &complete);
    EXPECT_TRUE(complete);
    EXPECT_EQ(l.cuts, expected_cuts(b));
    EXPECT_EQ(l.data, b.data_ranges);
  }
}

TEST(ZfsStream, TruncatedStreamKeepsEveryByteAndSaysSo) {
  StreamBuilder b = sample(true);
  const auto full = expected_cuts(b);
  for (size_t len = 0; len < b.bytes.size(); len += (len < 400 ? 1 : 97)) {
    SCOPED_TRACE(len);
    ZfsStreamStats stats;
    bool complete = true;
    Layout l = parse_in_steps(ByteView(b.bytes.data(), len), 100, &stats, &complete);
    EXPECT_FALSE(complete);
    EXPECT_EQ(l.total, len);
    EXPECT_NE(stats.opaque_reason, "");
    for (uint64_t cut : l.cuts) EXPECT_NE(std::find(full.begin(), full.end(), cut), full.end()) << cut;
  }
}

TEST(ZfsStream, UnknownRecordTypeMakesTheRestOpaque) {
  StreamBuilder b(false);
  b.begin();
  b.write(4096, 'a');
  size_t unknown_at = b.bytes.size();
  b.header(42, {});
  b.payload(1000, 'q');
  b.write(4096, 'c');  // not recognised any more: after the unknown record
  b.end();
  ZfsStreamStats stats;
  auto pieces = zfs_stream_pieces(b.view(), &stats);
  Layout l = layout_of(pieces);
  EXPECT_EQ(l.total, b.bytes.size());
  EXPECT_NE(stats.opaque_reason.find("unknown record type 42"), std::string::npos) << stats.opaque_reason;
  EXPECT_EQ(stats.opaque_bytes, b.bytes.size() - unknown_at - kZfsRecordHeaderSize);
  ASSERT_EQ(l.data.size(), 1u);
  EXPECT_EQ(l.data[0], b.data_ranges[0]);
  EXPECT_EQ(l.cuts.back(), b.data_ranges[0].first + b.data_ranges[0].second) << "no cut after the unknown record";
  EXPECT_EQ(pieces.back().kind, ZfsPieceKind::kOpaque);
}

TEST(ZfsStream, NotASendStreamIsOpaque) {
  std::mt19937_64 rng(3);
  std::vector<uint8_t> junk(5000);
  for (auto& c : junk) c = uint8_t(rng());
  ZfsStreamStats stats;
  Layout l = layout_of(zfs_stream_pieces(ByteView(junk.data(), junk.size()), &stats));
  EXPECT_EQ(l.total, junk.size());
  EXPECT_TRUE(l.cuts.empty());
  EXPECT_TRUE(l.data.empty());
  EXPECT_NE(stats.opaque_reason.find("DRR_BEGIN"), std::string::npos);
  EXPECT_EQ(stats.opaque_bytes, junk.size() - kZfsRecordHeaderSize);

  // A BEGIN record of the wrong magic is no stream either.
  StreamBuilder b(false);
  b.header(kDrrBegin, {{8, 8, 0x1234}});
  b.write(4096, 'a');
  zfs_stream_pieces(b.view(), &stats);
  EXPECT_EQ(stats.write_records, 0u);
  EXPECT_NE(stats.opaque_reason, "");
}

TEST(ZfsStream, ImplausiblePayloadLengthMakesTheRestOpaque) {
  StreamBuilder b(false);
  b.begin();
  b.header(kDrrWrite, {{8 + 24, 8, uint64_t(1) << 40}});
  b.payload(4096, 'a');
  ZfsStreamStats stats;
  bool complete = true;
  Layout l = parse_in_steps(b.view(), 1000, &stats, &complete);
  EXPECT_FALSE(complete);
  EXPECT_EQ(l.total, b.bytes.size());
  EXPECT_TRUE(l.cuts.empty());
  EXPECT_EQ(stats.opaque_bytes, 4096u);
  EXPECT_NE(stats.opaque_reason.find("payload"), std::string::npos);
}

}  // namespace
}  // namespace stowage::engine
