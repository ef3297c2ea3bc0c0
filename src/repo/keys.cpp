#include "repo/keys.h"

#include <nlohmann/json.hpp>

#include "crypto/aead.h"
#include "util/clock.h"

namespace stowage {

using nlohmann::json;

static constexpr const char* kSlotAad = "stowage key slot v1";

MasterKey MasterKey::generate() { return MasterKey{crypto::random_bytes(32), crypto::random_bytes(32)}; }

// Key slots are read from storage anyone with the bucket can write, so the
// parameters are bounded before anything is derived: at most 256 MiB of
// memory, and at most about eight passes over it. Sealing checks the same
// bounds, so no command writes a slot that a later one refuses.
static Status check_params(const crypto::Argon2idParams& p) {
  if (p.memory_kib < 8 || p.memory_kib > (256u << 10) || p.iterations < 1 || p.iterations > 8)
    return Error(ErrorCode::kInvalidArgument, "Argon2id parameters outside the allowed range "
                                              "(memory 8 KiB to 256 MiB, 1 to 8 passes)");
  return {};
}
static Status check_params(const crypto::ScryptParams& p) {
  if (p.n < 2 || (p.n & (p.n - 1)) || p.n > (1u << 20) || p.r < 1 || p.r > 32 || p.p < 1 || p.p > 4 ||
      p.n * p.r > (1u << 21))
    return Error(ErrorCode::kInvalidArgument, "scrypt parameters outside the allowed range "
                                              "(n a power of two, 128·n·r ≤ 256 MiB, p ≤ 4)");
  return {};
}
Status check_key_slot_params(const crypto::KdfParams& params) {
  return std::visit([](const auto& p) { return check_params(p); }, params);
}

static json kdf_json(const crypto::KdfParams& params, ByteView salt) {
  json j{{"name", crypto::kdf_name(params)}, {"salt", base64_encode(salt)}};
  if (auto* a = std::get_if<crypto::Argon2idParams>(&params)) {
    j["memory_kib"] = a->memory_kib;
    j["iterations"] = a->iterations;
    j["parallelism"] = 1;
  } else {
    const auto& s = std::get<crypto::ScryptParams>(params);
    j["n"] = s.n;
    j["r"] = s.r;
    j["p"] = s.p;
  }
  return j;
}

// Version 1 slots hold scrypt; version 2 added Argon2id. A scrypt slot is
// still written as version 1, so older releases keep opening it.
static int slot_version(const crypto::KdfParams& params) {
  return std::holds_alternative<crypto::ScryptParams>(params) ? 1 : 2;
}

Result<Bytes> seal_key_slot(const MasterKey& master, std::string_view password, const crypto::KdfParams& params) {
  if (Status s = check_key_slot_params(params); !s.ok()) return s.error();
  Bytes salt = crypto::random_bytes(std::holds_alternative<crypto::ScryptParams>(params) ? 32 : 16);
  Bytes kek = TRY(crypto::derive_password_key(password, salt, params, 32));
  Bytes secret = master.encryption;
  secret.insert(secret.end(), master.id_key.begin(), master.id_key.end());
  Bytes wrapped = crypto::Aead(kek).seal(secret, as_bytes(kSlotAad));
  json j = {
      {"version", slot_version(params)},
      {"created", format_time_utc(now_unix())},
      {"host", host_name()},
      {"user", user_name()},
      {"kdf", kdf_json(params, salt)},
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

// The function and parameters a slot's "kdf" object names, unchecked (the
// callers bound them). Throws json::exception on missing or mistyped fields.
static Result<crypto::KdfParams> parse_kdf(const json& kdf) {
  const std::string name = kdf.at("name").get<std::string>();
  if (name == "argon2id") {
    if (kdf.at("parallelism").get<uint64_t>() != 1)
      return Error(ErrorCode::kUnsupported, "key slot asks for Argon2id with more than one lane");
    return crypto::KdfParams(
        crypto::Argon2idParams{kdf.at("memory_kib").get<uint64_t>(), kdf.at("iterations").get<uint64_t>()});
  }
  if (name == "scrypt")
    return crypto::KdfParams(
        crypto::ScryptParams{kdf.at("n").get<uint64_t>(), kdf.at("r").get<uint64_t>(), kdf.at("p").get<uint64_t>()});
  return Error(ErrorCode::kUnsupported, "key slot uses an unknown KDF \"" + name + "\"");
}

Result<MasterKey> open_key_slot(ByteView slot, std::string_view password) {
  json j = TRY(parse_slot(slot));
  try {
    int version = j.value("version", 0);
    if (version != 1 && version != 2)
      return Error(ErrorCode::kUnsupported, "key slot version " + std::to_string(version) +
                                                " is not one this stowage reads (1 and 2); a newer release wrote it");
    const json& kdf = j.at("kdf");
    crypto::KdfParams params = TRY(parse_kdf(kdf));
    if (version == 1 && !std::holds_alternative<crypto::ScryptParams>(params))
      return Error(ErrorCode::kUnsupported, "key slot version 1 uses an unknown KDF \"" +
                                                std::string(crypto::kdf_name(params)) + "\"");
    if (Status s = check_key_slot_params(params); !s.ok())
      return Error(ErrorCode::kCorrupt, "key slot asks for " + s.error().message());
    Bytes salt, wrapped;
    if (!base64_decode(kdf.at("salt").get<std::string>(), salt) ||
        !base64_decode(j.at("wrapped").get<std::string>(), wrapped))
      return Error(ErrorCode::kCorrupt, "key slot has invalid base64");
    Bytes kek = TRY(crypto::derive_password_key(password, salt, params, 32));
    auto secret = crypto::Aead(kek).open(wrapped, as_bytes(kSlotAad));
    if (!secret.ok()) return Error(ErrorCode::kWrongKey, "the password does not open this key slot");
    if (secret->size() != 64) return Error(ErrorCode::kCorrupt, "key slot holds a key of the wrong size");
    return MasterKey{Bytes(secret->begin(), secret->begin() + 32), Bytes(secret->begin() + 32, secret->end())};
  } catch (const json::exception& e) {
    return Error(ErrorCode::kCorrupt, std::string("key slot has missing or mistyped fields: ") + e.what());
  }
}

// For `repo key list`: which function and how much memory, so slots still on
// scrypt can be found and replaced.
static std::string describe(const crypto::KdfParams& params) {
  auto size = [](uint64_t bytes) {
    return bytes % (1 << 20) ? std::to_string(bytes >> 10) + " KiB" : std::to_string(bytes >> 20) + " MiB";
  };
  std::string name = crypto::kdf_name(params);
  if (auto* a = std::get_if<crypto::Argon2idParams>(&params)) {
    if (!a->memory_kib || a->memory_kib >= (1ull << 40) || !a->iterations) return name;
    return name + " " + size(a->memory_kib << 10) + ", " + std::to_string(a->iterations) +
           (a->iterations == 1 ? " pass" : " passes");
  }
  const auto& s = std::get<crypto::ScryptParams>(params);
  if (s.n >= (1ull << 32) || s.r >= (1ull << 16)) return name;
  return name + " " + size(128 * s.n * s.r);
}

Result<KeySlotInfo> key_slot_info(ByteView slot) {
  json j = TRY(parse_slot(slot));
  auto text = [&](const char* field) {
    auto it = j.find(field);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  KeySlotInfo info{"", text("created"), text("host"), text("user"), "", std::nullopt};
  auto kdf = j.find("kdf");
  if (kdf == j.end() || !kdf->is_object()) return info;
  try {
    auto params = parse_kdf(*kdf);
    if (params.ok()) info.kdf_params = *params;
  } catch (const json::exception&) {
  }
  auto name = kdf->find("name");
  if (info.kdf_params) info.kdf = describe(*info.kdf_params);
  else if (name != kdf->end() && name->is_string()) info.kdf = name->get<std::string>();
  return info;
}

}  // namespace stowage
