// Fuzzes pack trailers: pack_trailer_span, parse_pack_trailer and decode_entry
// (entries of blobs on their own and of grouped blobs).
// The first input byte selects the mode:
//   0  raw: [u32 extra][tail...] — tail is the end of a pack of size
//      tail.size() + extra, parsed under the fixed key (sealed path, raw bytes).
//   1  plaintext: [u16 data length][trailer plaintext...] — the plaintext is
//      sealed as a trailer under the fixed key behind that many data bytes, so
//      the entry parser sees fuzzer-chosen bytes. A trailer that parses must
//      re-encode to the same plaintext and lie within the data.
//   2  mutated pack: [u8 truncate][u16 amount]{[u16 position][u8 xor]}... —
//      edits a valid pack built once with PackBuilder; edits that spare the
//      trailer and footer must not change the parsed entries.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "fuzz_common.h"
#include "repo/pack.h"

using namespace stowage;

static constexpr const char* kTrailerAad = "stowage pack trailer v1";  // docs/repository-format.md
static constexpr char kMagic[8] = {'S', 'T', 'W', 'P', 'A', 'C', 'K', '1'};

static const crypto::Aead& aead() {
  static const crypto::Aead a(fuzz::fixed_key());
  return a;
}

struct ValidPack {
  Bytes bytes;
  std::vector<PackEntry> entries;
  size_t data_end = 0;  // start of the sealed trailer
};

static const ValidPack& valid_pack() {
  static const ValidPack pack = [] {
    ValidPack v;
    PackBuilder b(aead());
    for (int i = 0; i < 3; i++) {
      BlobId id;
      for (size_t k = 0; k < id.bytes.size(); k++) id.bytes[k] = uint8_t(i * 31 + k);
      Bytes payload(size_t(10 + 40 * i), uint8_t('a' + i));
      b.add(i == 1 ? BlobType::kTree : BlobType::kData, id, payload, uint32_t(payload.size()), Compression::kNone);
    }
    for (int i = 3; i < 6; i++) {  // a group of three small blobs (format 4)
      BlobId id;
      for (size_t k = 0; k < id.bytes.size(); k++) id.bytes[k] = uint8_t(i * 31 + k);
      Bytes plaintext(size_t(100 + 50 * i), uint8_t('a' + i));
      b.add_to_group(BlobType::kData, id, plaintext, 1);
    }
    b.seal_group();
    v.data_end = b.size();
    v.bytes = b.finish(v.entries);
    return v;
  }();
  return pack;
}

static Bytes encode_entries(const std::vector<PackEntry>& entries) {
  Bytes out;
  put_u32(out, uint32_t(entries.size()));
  for (const auto& e : entries) encode_entry(e, out);
  return out;
}

// Builds a pack of data_len filler bytes followed by trailer_plain sealed as
// its trailer.
static Bytes pack_with_trailer(size_t data_len, ByteView trailer_plain) {
  Bytes pack(data_len, 0xEE);
  size_t before = pack.size();
  aead().seal(trailer_plain, as_bytes(kTrailerAad), pack);
  put_u32(pack, uint32_t(pack.size() - before));
  pack.insert(pack.end(), kMagic, kMagic + 8);
  return pack;
}

// Parses the whole pack and, separately, only the tail the footer asks for;
// both must agree.
static Result<std::vector<PackEntry>> parse_both_ways(ByteView pack) {
  Result<std::vector<PackEntry>> whole = parse_pack_trailer(pack, pack.size(), aead());
  ByteView footer = pack.size() >= kPackFooterSize ? pack.subspan(pack.size() - kPackFooterSize) : pack;
  Result<uint64_t> span = pack_trailer_span(footer, pack.size());
  if (span.ok()) {
    FUZZ_CHECK(*span <= pack.size());
    Result<std::vector<PackEntry>> tail = parse_pack_trailer(pack.subspan(pack.size() - *span), pack.size(), aead());
    FUZZ_CHECK(tail.ok() == whole.ok());
    if (tail.ok()) FUZZ_CHECK(encode_entries(*tail) == encode_entries(*whole));
  } else {
    FUZZ_CHECK(!whole.ok());
  }
  return whole;
}

static void check_decode_entry(ByteView bytes) {
  size_t used = 0;
  Result<PackEntry> e = decode_entry(bytes.data(), bytes.size(), used);
  if (!e.ok()) return;
  FUZZ_CHECK(used <= bytes.size() && used == kPackEntrySize + (e->grouped() ? kGroupedEntryExtra : 0));
  FUZZ_CHECK(!e->grouped() || uint64_t(e->group_offset) + e->raw_length <= e->group_length);
  Bytes again;
  encode_entry(*e, again);
  FUZZ_CHECK(again.size() == used && std::memcmp(again.data(), bytes.data(), used) == 0);
}

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::maybe_write_seeds("pack_trailer", [] {
    const ValidPack& v = valid_pack();
    fuzz::Seeds seeds;
    Bytes raw = {0, 0, 0, 0, 0};
    raw.insert(raw.end(), v.bytes.begin(), v.bytes.end());
    seeds.push_back({"raw_valid_pack", raw});
    Bytes plain = encode_entries(v.entries);
    Bytes mode1 = {1, uint8_t(v.data_end), uint8_t(v.data_end >> 8)};  // u16 data length
    mode1.insert(mode1.end(), plain.begin(), plain.end());
    seeds.push_back({"plaintext_trailer", mode1});
    seeds.push_back({"plaintext_empty", Bytes{1, 0, 0, 0, 0, 0, 0}});
    seeds.push_back({"mutate_data_byte", Bytes{2, 0, 0, 0, 5, 0, 0x40}});
    seeds.push_back({"mutate_truncate", Bytes{2, 1, 4, 0}});
    return seeds;
  });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::Input in(data, size);
  switch (in.u8() % 3) {
    case 0: {
      uint64_t extra = in.u32();
      ByteView tail = in.rest();
      uint64_t pack_size = tail.size() + extra;
      (void)pack_trailer_span(tail, pack_size);
      (void)parse_pack_trailer(tail, pack_size, aead());
      check_decode_entry(tail);
      break;
    }
    case 1: {
      size_t data_len = in.u16();
      ByteView plain = in.rest();
      check_decode_entry(plain.size() >= 4 ? plain.subspan(4) : plain);
      Bytes pack = pack_with_trailer(data_len, plain);
      Result<std::vector<PackEntry>> entries = parse_both_ways(pack);
      if (entries.ok()) {
        FUZZ_CHECK(encode_entries(*entries) == Bytes(plain.begin(), plain.end()));
        for (const auto& e : *entries) FUZZ_CHECK(uint64_t(e.offset) + e.length <= data_len);
      }
      break;
    }
    case 2: {
      const ValidPack& v = valid_pack();
      Bytes pack = v.bytes;
      bool trailer_touched = false;
      uint8_t truncate = in.u8() % 4;
      size_t amount = in.u16() % (pack.size() + 1);
      if (truncate == 1) {  // drop bytes at the end
        pack.resize(pack.size() - amount);
        trailer_touched = amount > 0;
      } else if (truncate == 2) {  // drop bytes at the front (tail-only read)
        pack.erase(pack.begin(), pack.begin() + std::ptrdiff_t(amount));
        trailer_touched = amount > v.data_end;
      } else if (truncate == 3) {  // append garbage
        pack.insert(pack.end(), amount % 64, 0x00);
        trailer_touched = amount % 64 > 0;
      }
      while (in.remaining() >= 3 && !pack.empty()) {
        size_t pos = in.u16() % pack.size();
        uint8_t x = in.u8();
        pack[pos] ^= x;
        size_t original_pos = truncate == 2 ? pos + amount : pos;
        if (x && original_pos >= v.data_end) trailer_touched = true;
      }
      if (truncate == 2) {
        // Only the tail is present; the pack's full size is still the original.
        Result<std::vector<PackEntry>> r = parse_pack_trailer(pack, v.bytes.size(), aead());
        if (!trailer_touched) FUZZ_CHECK(r.ok() && encode_entries(*r) == encode_entries(v.entries));
      } else {
        Result<std::vector<PackEntry>> r = parse_both_ways(pack);
        if (!trailer_touched) FUZZ_CHECK(r.ok() && encode_entries(*r) == encode_entries(v.entries));
      }
      break;
    }
  }
  return 0;
}
