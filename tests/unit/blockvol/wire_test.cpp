#include "blockvol/wire.h"

#include <gtest/gtest.h>

#include "blockvol/net.h"

namespace stowage::blockvol::wire {
namespace {

std::array<uint8_t, kRequestHeaderSize> header(Op op, uint64_t offset, uint32_t length, uint32_t payload,
                                                uint16_t flags = 0) {
  return encode(RequestHeader{op, flags, 7, offset, length, payload});
}

TEST(Wire, RequestHeaderRoundTrips) {
  auto bytes = header(Op::kWrite, 4096, 512, 512, kFlagFua);
  auto decoded = decode_request(bytes);
  ASSERT_TRUE(decoded.ok()) << decoded.error().to_string();
  EXPECT_EQ(decoded->op, Op::kWrite);
  EXPECT_EQ(decoded->flags, kFlagFua);
  EXPECT_EQ(decoded->id, 7u);
  EXPECT_EQ(decoded->offset, 4096u);
  EXPECT_EQ(decoded->length, 512u);
  EXPECT_EQ(decoded->payload_length, 512u);
}

TEST(Wire, MalformedRequestHeadersAreRefused) {
  auto refused = [](std::array<uint8_t, kRequestHeaderSize> bytes) {
    auto decoded = decode_request(bytes);
    return !decoded.ok() && decoded.error().code() == ErrorCode::kCorrupt;
  };
  auto bad_magic = header(Op::kRead, 0, 512, 0);
  bad_magic[0] ^= 0xff;
  EXPECT_TRUE(refused(bad_magic));
  auto bad_version = header(Op::kRead, 0, 512, 0);
  bad_version[4] = 2;
  EXPECT_TRUE(refused(bad_version));
  auto unknown_op = header(Op::kRead, 0, 512, 0);
  unknown_op[5] = 99;
  EXPECT_TRUE(refused(unknown_op));
  unknown_op[5] = 0;
  EXPECT_TRUE(refused(unknown_op));
  EXPECT_TRUE(refused(header(Op::kRead, 0, 512, 0, 0x10)));            // unknown flag
  EXPECT_TRUE(refused(header(Op::kRead, 0, 512, 0, kFlagFua)));        // FUA on a read
  EXPECT_TRUE(refused(header(Op::kRead, 0, 0, 0)));                    // empty read
  EXPECT_TRUE(refused(header(Op::kRead, 0, kMaxData + 1, 0)));         // oversized read
  EXPECT_TRUE(refused(header(Op::kRead, 0, 512, 8)));                  // read with a payload
  EXPECT_TRUE(refused(header(Op::kWrite, 0, 512, 511)));               // payload ≠ length
  EXPECT_TRUE(refused(header(Op::kWrite, 0, kMaxData + 1, kMaxData + 1)));
  EXPECT_TRUE(refused(header(Op::kFlush, 4096, 0, 0)));                // flush with a range
  EXPECT_TRUE(refused(header(Op::kHello, 0, 0, 1)));
  EXPECT_TRUE(refused(header(Op::kSnapshotDelete, 0, 0, 4)));
  EXPECT_TRUE(refused(header(Op::kChangedExtents, 0, 0, 8)));
  EXPECT_TRUE(refused(header(Op::kSnapshotCreate, 0, 0, 8 + 2 + 129)));
  EXPECT_TRUE(decode_request(header(Op::kSnapshotCreate, 0, 0, 8 + 2 + 4)).ok());
  EXPECT_FALSE(decode_request(std::span<const uint8_t>(header(Op::kFlush, 0, 0, 0).data(), 31)).ok());
}

TEST(Wire, MalformedRepliesAreRefused) {
  auto good = encode(ReplyHeader{Status::kOk, 3, 10});
  EXPECT_TRUE(decode_reply(good).ok());
  auto bad = good;
  bad[5] = 42;  // unknown status
  EXPECT_FALSE(decode_reply(bad).ok());
  bad = good;
  bad[7] = 1;  // reserved
  EXPECT_FALSE(decode_reply(bad).ok());
  bad = good;
  put_u32(&bad[16], kMaxReplyPayload + 1);
  EXPECT_FALSE(decode_reply(bad).ok());
}

TEST(Wire, PayloadsRoundTripAndRejectTrailingOrShortBytes) {
  auto create = encode_snapshot_create(12, "nightly-1");
  auto parsed = decode_snapshot_create(create);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->first, 12u);
  EXPECT_EQ(parsed->second, "nightly-1");
  auto longer = create;
  longer.push_back(0);
  EXPECT_FALSE(decode_snapshot_create(longer).ok());
  EXPECT_FALSE(decode_snapshot_create(encode_snapshot_create(0, "zero")).ok());
  EXPECT_FALSE(decode_snapshot_create(encode_snapshot_create(1, "../x")).ok());

  std::vector<SnapshotInfo> list{{1, "a", 100}, {5, "b", 200}};
  auto decoded_list = decode_snapshot_list(encode_snapshot_list(list));
  ASSERT_TRUE(decoded_list.ok());
  ASSERT_EQ(decoded_list->size(), 2u);
  EXPECT_EQ((*decoded_list)[1].name, "b");
  auto lying = encode_snapshot_list(list);
  put_u32(lying.data(), 1000);  // claims more entries than it holds
  EXPECT_FALSE(decode_snapshot_list(lying).ok());

  std::vector<Extent> extents{{0, 4096}, {65536, 8192}};
  auto decoded_extents = decode_extents(encode_extents(extents));
  ASSERT_TRUE(decoded_extents.ok());
  EXPECT_EQ(*decoded_extents, extents);
  auto truncated = encode_extents(extents);
  truncated.pop_back();
  EXPECT_FALSE(decode_extents(truncated).ok());
  EXPECT_FALSE(decode_extents(encode_extents({{UINT64_MAX, 2}})).ok());  // wraps around

  VolumeInfo info{1 << 20, 4096, true, 3, 9};
  auto decoded_info = decode_volume_info(encode_volume_info(info));
  ASSERT_TRUE(decoded_info.ok());
  EXPECT_TRUE(decoded_info->fenced);
  EXPECT_EQ(decoded_info->max_seq, 9u);
  auto bad_bool = encode_volume_info(info);
  bad_bool[12] = 2;
  EXPECT_FALSE(decode_volume_info(bad_bool).ok());
  EXPECT_FALSE(decode_u64(std::vector<uint8_t>(7)).ok());
  EXPECT_FALSE(decode_two_u64(std::vector<uint8_t>(17)).ok());
}

}  // namespace
}  // namespace stowage::blockvol::wire
