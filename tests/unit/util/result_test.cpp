#include "util/result.h"

#include <gtest/gtest.h>

#include "util/bytes.h"

namespace stowage {
namespace {

Result<int> half(int x) {
  if (x % 2) return Error(ErrorCode::kInvalidArgument, "odd number", std::to_string(x), "pass an even number");
  return x / 2;
}

Result<int> quarter(int x) {
  int h = TRY(half(x));
  return TRY(half(h));
}

TEST(Result, PropagatesErrorsThroughTry) {
  auto ok = quarter(8);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, 2);
  auto bad = quarter(6);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(bad.error().object(), "3");
  EXPECT_EQ(bad.error().to_string(), "odd number (object: 3); pass an even number");
}

TEST(Bytes, HexAndBase64RoundTrip) {
  Bytes data = {0, 1, 2, 0xfe, 0xff};
  EXPECT_EQ(hex_encode(data), "000102feff");
  Bytes back;
  ASSERT_TRUE(hex_decode("000102feff", back));
  EXPECT_EQ(back, data);
  EXPECT_FALSE(hex_decode("0g", back));
  for (size_t n = 0; n < 7; n++) {
    Bytes in(data.begin(), data.begin() + std::min(n, data.size()));
    Bytes out;
    ASSERT_TRUE(base64_decode(base64_encode(in), out));
    EXPECT_EQ(out, in) << n;
  }
}

TEST(Bytes, AllZero) {
  Bytes z(1000, 0);
  EXPECT_TRUE(all_zero(z));
  z[999] = 1;
  EXPECT_FALSE(all_zero(z));
}

}  // namespace
}  // namespace stowage
