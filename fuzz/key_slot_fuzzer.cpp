// Fuzzes key slots (keys/<id>): open_key_slot and key_slot_info.
//
// Plaintext path: the input is the slot JSON, opened with the password "pw"
// (the seeds are valid slots for "pw" with scrypt n=16 and with Argon2id at
// 8 KiB, so mutations reach both KDFs and the unwrap). open_key_slot must
// refuse oversized parameters before deriving anything.
// Sealed path: the input (when short) is the wrapped secret itself, sealed
// under the key that scrypt derives from "pw" with a fixed salt and n=16, in an
// otherwise valid slot: it opens exactly when it is 64 bytes, to those bytes.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>

#include "crypto/aead.h"
#include "fuzz_common.h"
#include "repo/keys.h"

using namespace stowage;
using nlohmann::json;

static constexpr const char* kPassword = "pw";
static constexpr const char* kSlotAad = "stowage key slot v1";  // docs/repository-format.md
static const crypto::ScryptParams kTiny{16, 1, 1};

static const Bytes& fixed_salt() {
  static const Bytes salt(32, 0x5a);
  return salt;
}
static const Bytes& fixed_kek() {
  static const Bytes kek = [] {
    auto r = crypto::derive_password_key(kPassword, fixed_salt(), kTiny, 32);
    if (!r.ok()) abort();
    return std::move(r).value();
  }();
  return kek;
}

static Bytes slot_wrapping(ByteView secret) {
  Bytes wrapped = crypto::Aead(fixed_kek()).seal(secret, as_bytes(kSlotAad));
  json j = {{"version", 1},
            {"created", "2024-05-01T12:00:00Z"},
            {"host", "fuzz"},
            {"user", "fuzz"},
            {"kdf",
             {{"name", "scrypt"},
              {"n", kTiny.n},
              {"r", kTiny.r},
              {"p", kTiny.p},
              {"salt", base64_encode(fixed_salt())}}},
            {"wrapped", base64_encode(wrapped)}};
  return to_bytes(j.dump(2));
}

static MasterKey fixed_master() { return MasterKey{fuzz::fixed_key(), fuzz::fixed_id_key()}; }

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  (void)fixed_kek();
  fuzz::maybe_write_seeds("key_slot", [] {
    fuzz::Seeds seeds;
    // A slot as seal_key_slot writes it (random salt), host/user made neutral.
    auto neutral = [](const crypto::KdfParams& params) {
      auto sealed = seal_key_slot(fixed_master(), kPassword, params);
      if (!sealed.ok()) abort();
      json j = json::parse(as_string(*sealed));
      j["host"] = "fuzz";
      j["user"] = "fuzz";
      j["created"] = "2024-05-01T12:00:00Z";
      return to_bytes(j.dump(2));
    };
    seeds.push_back({"sealed_n16.json", neutral(crypto::ScryptParams{16, 8, 1})});
    seeds.push_back({"sealed_argon2id_8k.json", neutral(crypto::Argon2idParams{8, 1})});
    MasterKey master = fixed_master();
    Bytes secret = master.encryption;
    secret.insert(secret.end(), master.id_key.begin(), master.id_key.end());
    seeds.push_back({"fixed_salt_n16.json", slot_wrapping(secret)});
    seeds.push_back({"secret64.bin", secret});
    return seeds;
  });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ByteView input(data, size);

  // Plaintext path.
  (void)key_slot_info(input);
  Result<MasterKey> opened = open_key_slot(input, kPassword);
  if (opened.ok()) {
    FUZZ_CHECK(opened->encryption.size() == 32);
    FUZZ_CHECK(opened->id_key.size() == 32);
  }

  // Sealed path.
  if (size <= 256) {
    Bytes slot = slot_wrapping(input);
    Result<MasterKey> unwrapped = open_key_slot(slot, kPassword);
    if (size == 64) {
      FUZZ_CHECK(unwrapped.ok());
      FUZZ_CHECK(Bytes(data, data + 32) == unwrapped->encryption);
      FUZZ_CHECK(Bytes(data + 32, data + 64) == unwrapped->id_key);
    } else {
      FUZZ_CHECK(!unwrapped.ok() && unwrapped.error().code() == ErrorCode::kCorrupt);
    }
    Result<MasterKey> wrong = open_key_slot(slot, "not the password");
    FUZZ_CHECK(!wrong.ok() && wrong.error().code() == ErrorCode::kWrongKey);
    Result<KeySlotInfo> info = key_slot_info(slot);
    FUZZ_CHECK(info.ok() && info->host == "fuzz" && info->user == "fuzz");
  }
  return 0;
}
