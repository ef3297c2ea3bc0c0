#include "repo/keys.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace stowage {
namespace {

using nlohmann::json;

MasterKey test_master() {
  MasterKey m;
  for (int i = 0; i < 32; i++) m.encryption.push_back(uint8_t(i)), m.id_key.push_back(uint8_t(100 + i));
  return m;
}

json sealed(const crypto::KdfParams& params, const char* password = "pw") {
  auto slot = seal_key_slot(test_master(), password, params);
  EXPECT_TRUE(slot.ok()) << slot.error().to_string();
  return slot.ok() ? json::parse(as_string(*slot)) : json();
}

Result<MasterKey> open(const json& slot, const char* password = "pw") {
  return open_key_slot(as_bytes(slot.dump()), password);
}

TEST(KeySlot, Argon2idSlotIsVersion2AndOpensWithItsPassword) {
  json j = sealed(crypto::Argon2idParams{1024, 2});
  EXPECT_EQ(j["version"], 2);
  EXPECT_EQ(j["kdf"]["name"], "argon2id");
  EXPECT_EQ(j["kdf"]["memory_kib"], 1024);
  EXPECT_EQ(j["kdf"]["iterations"], 2);
  EXPECT_EQ(j["kdf"]["parallelism"], 1);
  Bytes salt;
  ASSERT_TRUE(base64_decode(j["kdf"]["salt"].get<std::string>(), salt));
  EXPECT_EQ(salt.size(), 16u);
  auto opened = open(j);
  ASSERT_TRUE(opened.ok()) << opened.error().to_string();
  EXPECT_EQ(opened->encryption, test_master().encryption);
  EXPECT_EQ(opened->id_key, test_master().id_key);
  EXPECT_EQ(open(j, "not pw").error().code(), ErrorCode::kWrongKey);
  EXPECT_EQ(key_slot_info(as_bytes(j.dump()))->kdf, "argon2id 1 MiB, 2 passes");
  // The parameters are inputs of the derivation: edited, the slot no longer opens.
  j["kdf"]["iterations"] = 1;
  EXPECT_EQ(open(j).error().code(), ErrorCode::kWrongKey);
}

// Older releases open only version 1 slots with scrypt, so a scrypt slot is
// still written as one.
TEST(KeySlot, ScryptSlotStaysVersion1) {
  json j = sealed(crypto::ScryptParams{1024, 8, 1});
  EXPECT_EQ(j["version"], 1);
  EXPECT_EQ(j["kdf"]["name"], "scrypt");
  EXPECT_EQ(j["kdf"]["n"], 1024);
  EXPECT_FALSE(j["kdf"].contains("memory_kib"));
  EXPECT_EQ(key_slot_info(as_bytes(j.dump()))->kdf, "scrypt 1 MiB");
  ASSERT_TRUE(open(j).ok());
  EXPECT_EQ(open(j, "not pw").error().code(), ErrorCode::kWrongKey);
}

// A slot as releases before Argon2id wrote it (scrypt n=16, r=8, p=1 for "pw",
// holding the fuzzers' fixed master key) still opens.
TEST(KeySlot, OpensAVersion1SlotWrittenBeforeArgon2id) {
  const char* slot = R"({"created": "2024-05-01T12:00:00Z", "host": "fuzz",
    "kdf": {"n": 16, "name": "scrypt", "p": 1, "r": 8, "salt": "pWuwMLXJfOlfgIVAiM78qAig878H1f/NlriYpu+2BiE="},
    "user": "fuzz", "version": 1,
    "wrapped": "ZiA0EK9Nm+WLkzTMfi0tkXgxv8wMZscGZvgTspaA1wN0/dmyi+8UA0UJH90DeFg/x2Rs+yH+jzpebayUmUpQQuVdOanUh2YBZXwDYVS6fNknD5WFf2BH7QrBA+k="})";
  auto opened = open_key_slot(as_bytes(slot), "pw");
  ASSERT_TRUE(opened.ok()) << opened.error().to_string();
  for (size_t i = 0; i < 32; i++) {
    EXPECT_EQ(opened->encryption[i], uint8_t(0xA5 ^ (i * 7)));
    EXPECT_EQ(opened->id_key[i], uint8_t(0x3C + i * 13));
  }
}

TEST(KeySlot, SealRefusesParametersThatOpenWouldRefuse) {
  for (crypto::KdfParams bad : {crypto::KdfParams(crypto::Argon2idParams{512 * 1024, 1}),
                                crypto::KdfParams(crypto::Argon2idParams{1024, 9}),
                                crypto::KdfParams(crypto::Argon2idParams{4, 1}),
                                crypto::KdfParams(crypto::ScryptParams{1u << 19, 8, 1}),
                                crypto::KdfParams(crypto::ScryptParams{1000, 8, 1})}) {
    auto slot = seal_key_slot(test_master(), "pw", bad);
    ASSERT_FALSE(slot.ok());
    EXPECT_EQ(slot.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_FALSE(check_key_slot_params(bad).ok());
  }
  EXPECT_TRUE(check_key_slot_params(crypto::Argon2idParams{256 * 1024, 8}).ok());
  EXPECT_TRUE(check_key_slot_params(crypto::ScryptParams{1u << 18, 8, 1}).ok());
}

// A hostile bucket can write any slot: parameters that would exhaust the
// machine, lanes libsodium does not offer, unknown functions and versions are
// refused before anything is derived, each with its own error.
TEST(KeySlot, OpenRefusesHostileOrUnknownSlots) {
  json good = sealed(crypto::Argon2idParams{1024, 1});
  auto with = [&](auto edit) {
    json j = good;
    edit(j);
    return open(j);
  };
  auto huge = with([](json& j) { j["kdf"]["memory_kib"] = 1u << 22; });  // 4 GiB
  EXPECT_EQ(huge.error().code(), ErrorCode::kCorrupt);
  EXPECT_NE(huge.error().message().find("256 MiB"), std::string::npos) << huge.error().message();
  EXPECT_EQ(with([](json& j) { j["kdf"]["iterations"] = 1000; }).error().code(), ErrorCode::kCorrupt);
  EXPECT_EQ(with([](json& j) { j["kdf"]["parallelism"] = 4; }).error().code(), ErrorCode::kUnsupported);
  EXPECT_EQ(with([](json& j) { j["kdf"]["name"] = "balloon"; }).error().code(), ErrorCode::kUnsupported);
  // Argon2id arrived with version 2: a version 1 slot naming it is not one stowage wrote.
  EXPECT_EQ(with([](json& j) { j["version"] = 1; }).error().code(), ErrorCode::kUnsupported);
  auto future = with([](json& j) { j["version"] = 3; });
  EXPECT_EQ(future.error().code(), ErrorCode::kUnsupported);
  EXPECT_NE(future.error().message().find("newer release"), std::string::npos) << future.error().message();
  EXPECT_EQ(with([](json& j) { j["kdf"].erase("memory_kib"); }).error().code(), ErrorCode::kCorrupt);
  EXPECT_EQ(with([](json& j) { j["kdf"]["iterations"] = "one"; }).error().code(), ErrorCode::kCorrupt);
}

TEST(KeySlot, InfoDescribesTheKdfAndSurvivesOddFields) {
  EXPECT_EQ(key_slot_info(as_bytes(sealed(crypto::Argon2idParams{}).dump()))->kdf, "argon2id 46 MiB, 1 pass");
  EXPECT_EQ(key_slot_info(as_bytes(sealed(crypto::Argon2idParams{1000, 1}).dump()))->kdf, "argon2id 1000 KiB, 1 pass");
  EXPECT_EQ(key_slot_info(as_bytes(R"({"kdf": {"name": "balloon"}, "wrapped": ""})"))->kdf, "balloon");
  EXPECT_EQ(key_slot_info(as_bytes(R"({"kdf": {"name": "argon2id", "memory_kib": -1}, "wrapped": ""})"))->kdf,
            "argon2id");
  EXPECT_EQ(key_slot_info(as_bytes(R"({"kdf": 7, "wrapped": ""})"))->kdf, "");
  EXPECT_EQ(key_slot_info(as_bytes(R"({"kdf": {"name": 7}, "wrapped": ""})"))->kdf, "");
}

}  // namespace
}  // namespace stowage
