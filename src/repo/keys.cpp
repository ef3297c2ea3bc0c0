#include "repo/keys.h"

#include <nlohmann/json.hpp>

#include "crypto/aead.h"
#include "util/clock.h"

namespace stowage {

using nlohmann::json;

static constexpr const char* kSlotAad = "stowage key slot v1";

MasterKey MasterKey::generate() { return MasterKey{crypto::random_bytes(32), crypto::random_bytes(32)}; }

Result<Bytes> seal_key_slot(const MasterKey& master, std::string_view password, const crypto::ScryptParams& params) {
  Bytes salt = crypto::random_bytes(32);
  Bytes kek = TRY(crypto::scrypt(password, salt, params, 32));
  Bytes secret = master.encryption;
  secret.insert(secret.end(), master.id_key.begin(), master.id_key.end());
  Bytes wrapped = crypto::Aead(kek).seal(secret, as_bytes(kSlotAad));
  json j = {
      {"version", 1},
      {"created", format_time_utc(now_unix())},
      {"host", host_name()},
      {"user", user_name()},
      {"kdf", {{"name", "scrypt"}, {"n", params.n}, {"r", params.r}, {"p", params.p}, {"salt", base64_encode(salt)}}},
      {"wrapped", base64_encode(wrapped)},
  };
  return to_bytes(j.dump(2));
}

static Result<json> parse_slot(ByteView slot) {
  json j = json::parse(as_string(slot), nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("kdf") || !j.contains("wrapped"))
    return Error(ErrorCode::kCorrupt, "key slot is not valid JSON with 'kdf' and 'wrapped' fields");
  return j;
}

Result<MasterKey> open_key_slot(ByteView slot, std::string_view password) {
  json j = TRY(parse_slot(slot));
  try {
    if (j.value("version", 0) != 1) return Error(ErrorCode::kUnsupported, "key slot version is not 1");
    const json& kdf = j.at("kdf");
    if (kdf.at("name").get<std::string>() != "scrypt")
      return Error(ErrorCode::kUnsupported, "key slot uses an unknown KDF");
    crypto::ScryptParams params{kdf.at("n").get<uint64_t>(), kdf.at("r").get<uint64_t>(), kdf.at("p").get<uint64_t>()};
    // At most 256 MiB of memory (128·n·r) and 4 lanes: a slot written by a
    // hostile bucket must not be able to exhaust the machine.
    if (params.n < 2 || (params.n & (params.n - 1)) || params.n > (1u << 20) || params.r < 1 || params.r > 32 ||
        params.p < 1 || params.p > 4 || params.n * params.r > (1u << 21))
      return Error(ErrorCode::kCorrupt, "key slot asks for scrypt parameters outside the allowed range "
                                        "(n a power of two, 128·n·r ≤ 256 MiB, p ≤ 4)");
    Bytes salt, wrapped;
    if (!base64_decode(kdf.at("salt").get<std::string>(), salt) ||
        !base64_decode(j.at("wrapped").get<std::string>(), wrapped))
      return Error(ErrorCode::kCorrupt, "key slot has invalid base64");
    Bytes kek = TRY(crypto::scrypt(password, salt, params, 32));
    auto secret = crypto::Aead(kek).open(wrapped, as_bytes(kSlotAad));
    if (!secret.ok()) return Error(ErrorCode::kWrongKey, "the password does not open this key slot");
    if (secret->size() != 64) return Error(ErrorCode::kCorrupt, "key slot holds a key of the wrong size");
    return MasterKey{Bytes(secret->begin(), secret->begin() + 32), Bytes(secret->begin() + 32, secret->end())};
  } catch (const json::exception& e) {
    return Error(ErrorCode::kCorrupt, std::string("key slot has missing or mistyped fields: ") + e.what());
  }
}

Result<KeySlotInfo> key_slot_info(ByteView slot) {
  json j = TRY(parse_slot(slot));
  auto text = [&](const char* field) {
    auto it = j.find(field);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  return KeySlotInfo{"", text("created"), text("host"), text("user")};
}

}  // namespace stowage
