// Helpers shared by the store tests (unit and e2e): random data, unique names,
// and assertions that print the Error when a Result is not what was expected.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <string>

#include "util/bytes.h"
#include "util/result.h"

namespace stowage::store_test {

inline Bytes random_bytes(size_t size, uint64_t seed) {
  std::mt19937_64 generator(seed);
  Bytes out(size);
  for (size_t i = 0; i < size; i++) out[i] = uint8_t(generator());
  return out;
}

inline std::string unique_suffix() {
  static std::atomic<uint64_t> counter{0};
  std::random_device device;
  return std::to_string(device() % 1000000) + "-" + std::to_string(counter++);
}

#define STOWAGE_ASSERT_OK(expr)                                              \
  do {                                                                       \
    const auto& stowage_result_ = (expr);                                    \
    ASSERT_TRUE(stowage_result_.ok()) << stowage_result_.error().to_string(); \
  } while (0)

#define STOWAGE_EXPECT_CODE(expr, expected_code)                                              \
  do {                                                                                        \
    const auto& stowage_result_ = (expr);                                                     \
    ASSERT_FALSE(stowage_result_.ok()) << "expected " << error_code_name(expected_code);      \
    EXPECT_EQ(stowage_result_.error().code(), expected_code) << stowage_result_.error().to_string(); \
  } while (0)

}  // namespace stowage::store_test
