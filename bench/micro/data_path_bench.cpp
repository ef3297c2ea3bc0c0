// Micro benchmarks of the data path's stages, each in bytes per second on one
// core, beside the bound it cannot beat on this machine (OpenSSL's raw
// SHA-256 and AES-256-GCM, memcpy), measured in the same run.
#include <benchmark/benchmark.h>

#include <cstring>
#include <random>

#include "chunk/fastcdc.h"
#include "crypto/aead.h"
#include "crypto/hash.h"
#include "repo/compress.h"
#include "repo/index.h"
#include "repo/pack.h"

namespace stowage {
namespace {

const Bytes& random_data() {
  static Bytes data = [] {
    std::mt19937_64 rng(1);
    Bytes d(64 << 20);
    for (size_t i = 0; i < d.size(); i += 8) {
      uint64_t v = rng();
      std::memcpy(&d[i], &v, 8);
    }
    return d;
  }();
  return data;
}

// Text-like data that compresses about 3:1, like source trees.
const Bytes& text_data() {
  static Bytes data = [] {
    std::mt19937_64 rng(2);
    const char* words[] = {"int ", "return ", "static ", "void ", "struct ", "if (", ") {\n", "}\n", "const ",
                           "unsigned ", "long ", "char *", "buffer", "count", "size", "data", "= 0;\n", "++i"};
    Bytes d;
    d.reserve(16 << 20);
    while (d.size() < (16 << 20)) {
      const char* w = words[rng() % 18];
      d.insert(d.end(), w, w + strlen(w));
      if (rng() % 7 == 0) d.push_back(uint8_t('a' + rng() % 26));
    }
    return d;
  }();
  return data;
}

void BM_Memcpy(benchmark::State& state) {
  const Bytes& src = random_data();
  Bytes dst(src.size());
  for (auto _ : state) {
    std::memcpy(dst.data(), src.data(), src.size());
    benchmark::DoNotOptimize(dst.data());
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(src.size()));
}

void BM_FastCdc(benchmark::State& state) {
  FastCdc cdc(ChunkerParams{}, Bytes(32, 1));
  const Bytes& data = random_data();
  size_t chunks = 0;
  for (auto _ : state) {
    size_t pos = 0;
    while (pos < data.size()) {
      pos += cdc.next_boundary(data.data() + pos, data.size() - pos, true);
      chunks++;
    }
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(data.size()));
  state.counters["avg_chunk"] = double(state.iterations() * data.size()) / double(chunks);
}

void BM_Sha256(benchmark::State& state) {  // the bound for format 4's keyed ids and object names
  ByteView data(random_data().data(), 1 << 20);
  for (auto _ : state) benchmark::DoNotOptimize(crypto::sha256(data));
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(data.size()));
}

// Chunk ids of format 4 (HMAC-SHA-256) and format 5 (keyed BLAKE3), for
// chunks of the argument's size in bytes.
void BM_HmacChunkId(benchmark::State& state) {
  Bytes key(32, 3);
  ByteView data(random_data().data(), size_t(state.range(0)));
  for (auto _ : state) benchmark::DoNotOptimize(crypto::hmac_sha256(key, data));
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(data.size()));
}

void BM_Blake3ChunkId(benchmark::State& state) {
  crypto::Digest key;
  key.fill(3);
  ByteView data(random_data().data(), size_t(state.range(0)));
  for (auto _ : state) benchmark::DoNotOptimize(crypto::blake3_keyed(key, data));
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(data.size()));
}

void BM_AesGcmSeal(benchmark::State& state) {
  crypto::Aead aead(Bytes(32, 4));
  ByteView data(random_data().data(), 1 << 20);
  Bytes out;
  for (auto _ : state) {
    out.clear();
    aead.seal(data, {}, out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(data.size()));
}

void BM_AesGcmOpen(benchmark::State& state) {
  crypto::Aead aead(Bytes(32, 4));
  Bytes sealed = aead.seal(ByteView(random_data().data(), 1 << 20));
  for (auto _ : state) benchmark::DoNotOptimize(aead.open(sealed));
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(1 << 20));
}

void BM_ZstdCompressText(benchmark::State& state) {
  ByteView data(text_data().data(), 1 << 20);
  Bytes out;
  for (auto _ : state) benchmark::DoNotOptimize(compress(data, int(state.range(0)), out));
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(data.size()));
  state.counters["ratio"] = double(data.size()) / double(out.empty() ? data.size() : out.size());
}

void BM_ZstdCompressRandom(benchmark::State& state) {  // incompressible: detected and stored raw
  ByteView data(random_data().data(), 1 << 20);
  Bytes out;
  for (auto _ : state) benchmark::DoNotOptimize(compress(data, 1, out));
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(data.size()));
}

void BM_ZstdDecompressText(benchmark::State& state) {
  ByteView data(text_data().data(), 1 << 20);
  Bytes out;
  compress(data, 1, out);
  for (auto _ : state) benchmark::DoNotOptimize(decompress(Compression::kZstd, out, data.size()));
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(data.size()));
}

// A whole chunk through the write path: id, compress, seal into a pack.
void BM_PackWriteChunk(benchmark::State& state) {
  crypto::Aead aead(Bytes(32, 5));
  crypto::Digest key;
  key.fill(6);
  ByteView data(text_data().data(), 1 << 20);
  PackBuilder pack(aead);
  Bytes compressed;
  std::vector<PackEntry> entries;
  for (auto _ : state) {
    BlobId id;
    id.bytes = crypto::blake3_keyed(key, data);  // format 5
    Compression c = compress(data, 1, compressed);
    pack.add(BlobType::kData, id, compressed, uint32_t(data.size()), c);
    if (pack.size() > (32 << 20)) benchmark::DoNotOptimize(pack.finish(entries));
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(data.size()));
}

// Small files' chunks (8 KiB of text each) through the write path: each
// compressed and sealed on its own (Arg 0, format 3), or grouped (Arg 1,
// format 4: repo/pack.h), where zstd runs once per ~1 MiB group.
void BM_PackWriteSmallChunks(benchmark::State& state) {
  const bool grouped = state.range(0) != 0;
  constexpr size_t kChunk = 8 << 10;
  crypto::Aead aead(Bytes(32, 5));
  crypto::Digest key;
  key.fill(6);
  PackBuilder pack(aead);
  Bytes compressed;
  std::vector<PackEntry> entries;
  size_t at = 0;
  for (auto _ : state) {
    ByteView data(text_data().data() + at, kChunk);
    at = (at + kChunk) % ((16 << 20) - kChunk);
    BlobId id;
    id.bytes = crypto::blake3_keyed(key, data);  // format 5
    if (grouped) {
      pack.add_to_group(BlobType::kData, id, data, 1);
    } else {
      Compression c = compress(data, 1, compressed);
      pack.add(BlobType::kData, id, c == Compression::kNone ? data : ByteView(compressed), uint32_t(kChunk), c);
    }
    if (pack.size() > (32 << 20)) benchmark::DoNotOptimize(pack.finish(entries));
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(kChunk));
}

void BM_IndexLookup(benchmark::State& state) {
  Index index;
  std::mt19937_64 rng(7);
  std::vector<BlobId> ids(size_t(state.range(0)));
  std::vector<PackEntry> entries;
  for (size_t i = 0; i < ids.size(); i++) {
    for (size_t k = 0; k < 32; k += 8) {
      uint64_t v = rng();
      std::memcpy(&ids[i].bytes[k], &v, 8);
    }
    entries.push_back(PackEntry{BlobType::kData, ids[i], uint32_t(i), 100, 100, Compression::kNone});
    if (entries.size() == 1000) {
      ObjectId pack;
      pack.bytes[0] = uint8_t(i);
      pack.bytes[1] = uint8_t(i >> 8);
      pack.bytes[2] = uint8_t(i >> 16);
      index.add_pack(pack, entries);
      entries.clear();
    }
  }
  size_t i = 0;
  for (auto _ : state) benchmark::DoNotOptimize(index.contains(ids[i++ % ids.size()]));
  state.SetItemsProcessed(int64_t(state.iterations()));
}

BENCHMARK(BM_Memcpy);
BENCHMARK(BM_FastCdc);
BENCHMARK(BM_Sha256);
BENCHMARK(BM_HmacChunkId)->Arg(8 << 10)->Arg(1 << 20);
BENCHMARK(BM_Blake3ChunkId)->Arg(8 << 10)->Arg(1 << 20);
BENCHMARK(BM_AesGcmSeal);
BENCHMARK(BM_AesGcmOpen);
BENCHMARK(BM_ZstdCompressText)->Arg(1)->Arg(3);
BENCHMARK(BM_ZstdCompressRandom);
BENCHMARK(BM_ZstdDecompressText);
BENCHMARK(BM_PackWriteChunk);
BENCHMARK(BM_PackWriteSmallChunks)->Arg(0)->Arg(1);
BENCHMARK(BM_IndexLookup)->Arg(100000)->Arg(1000000);

}  // namespace
}  // namespace stowage

BENCHMARK_MAIN();
