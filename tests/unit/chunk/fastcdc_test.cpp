#include "chunk/fastcdc.h"

#include <gtest/gtest.h>

#include <random>
#include <set>

namespace stowage {
namespace {

Bytes random_data(size_t n, uint32_t seed) {
  std::mt19937_64 rng(seed);
  Bytes out(n);
  for (auto& b : out) b = uint8_t(rng());
  return out;
}

std::vector<size_t> chunk_all(const FastCdc& cdc, ByteView data) {
  std::vector<size_t> sizes;
  size_t pos = 0;
  while (pos < data.size()) {
    size_t n = cdc.next_boundary(data.data() + pos, data.size() - pos, true);
    EXPECT_GT(n, 0u);
    sizes.push_back(n);
    pos += n;
  }
  return sizes;
}

const Bytes kSeed(32, 7);

TEST(FastCdc, SizesStayWithinBoundsAndAverageNearTarget) {
  ChunkerParams p{64 * 1024, 256 * 1024, 1024 * 1024};
  FastCdc cdc(p, kSeed);
  Bytes data = random_data(64 << 20, 1);
  auto sizes = chunk_all(cdc, data);
  for (size_t i = 0; i + 1 < sizes.size(); i++) {
    EXPECT_GE(sizes[i], p.min_size);
    EXPECT_LE(sizes[i], p.max_size);
  }
  double avg = double(data.size()) / double(sizes.size());
  EXPECT_GT(avg, 0.6 * p.avg_size);
  EXPECT_LT(avg, 1.6 * p.avg_size);
}

TEST(FastCdc, BoundariesResynchronizeAfterAnInsertion) {
  ChunkerParams p{16 * 1024, 64 * 1024, 256 * 1024};
  FastCdc cdc(p, kSeed);
  Bytes a = random_data(8 << 20, 2);
  Bytes b = a;
  b.insert(b.begin() + 100000, 777, 0x5a);  // insert 777 bytes early on
  auto sa = chunk_all(cdc, a), sb = chunk_all(cdc, b);
  // Chunks after the edit must mostly be identical: compare suffix sums.
  std::set<size_t> ends_a, ends_b;
  size_t pos = 0;
  for (auto s : sa) ends_a.insert(pos += s);
  pos = 0;
  for (auto s : sb) ends_b.insert((pos += s) - 777);
  size_t common = 0;
  for (auto e : ends_a) common += ends_b.count(e);
  EXPECT_GT(double(common), 0.9 * double(sa.size()));
}

TEST(FastCdc, GearSeedChangesBoundaries) {
  ChunkerParams p{16 * 1024, 64 * 1024, 256 * 1024};
  Bytes data = random_data(4 << 20, 3);
  EXPECT_NE(chunk_all(FastCdc(p, kSeed), data), chunk_all(FastCdc(p, Bytes(32, 8)), data));
}

TEST(FastCdc, StreamChunkerMatchesWholeBufferChunkingForAnyFeedSize) {
  ChunkerParams p{16 * 1024, 64 * 1024, 256 * 1024};
  FastCdc cdc(p, kSeed);
  Bytes data = random_data(3 << 20, 4);
  auto expected = chunk_all(cdc, data);
  for (size_t piece : {size_t(1000), size_t(65536), size_t(1) << 20, data.size()}) {
    StreamChunker sc(cdc);
    std::vector<size_t> got;
    Bytes chunk, joined;
    for (size_t pos = 0; pos < data.size(); pos += piece) {
      sc.feed(ByteView(data).subspan(pos, std::min(piece, data.size() - pos)));
      while (sc.next(chunk)) {
        got.push_back(chunk.size());
        joined.insert(joined.end(), chunk.begin(), chunk.end());
      }
    }
    sc.finish();
    while (sc.next(chunk)) {
      got.push_back(chunk.size());
      joined.insert(joined.end(), chunk.begin(), chunk.end());
    }
    EXPECT_EQ(got, expected) << "piece " << piece;
    EXPECT_EQ(joined, data);
  }
}

// Cut points must never change between versions: a repository's chunks
// deduplicate against later backups only if the same data cuts the same way.
// The counts and digests below were taken from the chunker of repository
// formats 1-4, on random and on line-oriented text input, with an odd
// min_size and with max_size cuts; a faster loop must reproduce them.
uint64_t digest_of(const std::vector<size_t>& sizes) {
  uint64_t h = 1469598103934665603ULL;  // FNV-1a over the chunk sizes
  for (size_t s : sizes) h = (h ^ s) * 1099511628211ULL;
  return h;
}

TEST(FastCdc, CutPointsAreThoseOfEarlierVersions) {
  Bytes text;
  std::mt19937_64 rng(11);
  while (text.size() < (6u << 20)) {
    std::string line = "line " + std::to_string(rng() % 1000) + " value=" + std::to_string(rng() % 7) + "\n";
    text.insert(text.end(), line.begin(), line.end());
  }
  Bytes rnd = random_data(24 << 20, 5);
  struct Case {
    ChunkerParams params;
    ByteView data;
    size_t chunks;
    uint64_t digest;
  };
  const Case cases[] = {
      {{2048, 8192, 32768}, ByteView(rnd).first(3 << 20), 345, 8462683899699663297ULL},
      {{2049, 8192, 32768}, ByteView(rnd).first((3 << 20) + 1), 344, 7522686135047598184ULL},
      {{2048, 8192, 16384}, ByteView(text).first(1 << 20), 114, 6314530185545273023ULL},
      {{}, ByteView(rnd), 19, 6499929855188807879ULL},
      {{}, ByteView(text), 7, 11798675535143734036ULL},
  };
  for (const Case& c : cases) {
    auto sizes = chunk_all(FastCdc(c.params, kSeed), c.data);
    EXPECT_EQ(sizes.size(), c.chunks) << "min " << c.params.min_size << ", " << c.data.size() << " bytes";
    EXPECT_EQ(digest_of(sizes), c.digest) << "min " << c.params.min_size << ", " << c.data.size() << " bytes";
  }
}

TEST(FastCdc, ShortAndEmptyInput) {
  FastCdc cdc(ChunkerParams{}, kSeed);
  Bytes small(100, 1);
  EXPECT_EQ(cdc.next_boundary(small.data(), small.size(), false), 0u);
  EXPECT_EQ(cdc.next_boundary(small.data(), small.size(), true), 100u);
  StreamChunker sc(cdc);
  sc.finish();
  Bytes chunk;
  EXPECT_FALSE(sc.next(chunk));
}

}  // namespace
}  // namespace stowage
