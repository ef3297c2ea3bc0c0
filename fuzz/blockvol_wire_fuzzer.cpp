// Fuzzes the replication protocol of the replicated block engine
// (src/blockvol/wire.h): request and reply headers and every payload parser.
// Each input goes to all of them; whatever decodes must encode back to the
// same bytes (the formats are canonical), so a parser can neither accept
// garbage it would write differently nor read past its input.
#include <cstddef>
#include <cstdint>

#include "blockvol/wire.h"
#include "fuzz_common.h"

using namespace stowage;
using namespace stowage::blockvol;

static Bytes bytes_of(std::span<const uint8_t> s) { return Bytes(s.begin(), s.end()); }

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::maybe_write_seeds("blockvol_wire", [] {
    wire::RequestHeader write{wire::Op::kWrite, 0, 7, 4096, 4096, 4096};
    wire::ReplyHeader ok{wire::Status::kOk, 7, 0};
    wire::VolumeInfo info{1 << 30, 4096, true, 3, 9};
    return fuzz::Seeds{{"request", bytes_of(wire::encode(write))},
                       {"reply", bytes_of(wire::encode(ok))},
                       {"volume_info", wire::encode_volume_info(info)},
                       {"snapshot_create", wire::encode_snapshot_create(5, "nightly-1")},
                       {"snapshot_list", wire::encode_snapshot_list({{1, "a", 1700000000}, {2, "b", 1700000100}})},
                       {"extents", wire::encode_extents({{0, 4096}, {1 << 20, 65536}})}};
  });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> input(data, size);
  Bytes whole(data, data + size);
  if (auto request = wire::decode_request(input); request.ok()) FUZZ_CHECK(bytes_of(wire::encode(*request)) == whole);
  if (auto reply = wire::decode_reply(input); reply.ok()) FUZZ_CHECK(bytes_of(wire::encode(*reply)) == whole);
  if (auto info = wire::decode_volume_info(input); info.ok()) FUZZ_CHECK(wire::encode_volume_info(*info) == whole);
  if (auto value = wire::decode_u64(input); value.ok()) FUZZ_CHECK(wire::encode_u64(*value) == whole);
  if (auto pair = wire::decode_two_u64(input); pair.ok())
    FUZZ_CHECK(wire::encode_two_u64(pair->first, pair->second) == whole);
  if (auto create = wire::decode_snapshot_create(input); create.ok())
    FUZZ_CHECK(wire::encode_snapshot_create(create->first, create->second) == whole);
  if (auto list = wire::decode_snapshot_list(input); list.ok()) FUZZ_CHECK(wire::encode_snapshot_list(*list) == whole);
  if (auto extents = wire::decode_extents(input); extents.ok()) FUZZ_CHECK(wire::encode_extents(*extents) == whole);
  return 0;
}
