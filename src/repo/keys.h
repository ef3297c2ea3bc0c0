// Master key and key slots. The master key (an encryption key and an id key)
// is random, made once at init; each key slot (keys/<id>) holds it wrapped
// (AES-256-GCM) under a key derived from one password with Argon2id (or
// scrypt: slots written before Argon2id, and on request). Several slots let
// passwords be added, changed and removed without rewriting data.
#pragma once

#include <optional>
#include <string>

#include "crypto/kdf.h"
#include "util/bytes.h"
#include "util/result.h"

namespace stowage {

struct MasterKey {
  Bytes encryption;  // 32 bytes: AES-256-GCM for every stored object
  Bytes id_key;      // 32 bytes: HMAC key for blob ids and the chunker seed
  static MasterKey generate();
};

struct KeySlotInfo {
  std::string id;
  std::string created;
  std::string host;
  std::string user;
  std::string kdf;  // "argon2id 46 MiB, 1 pass", "scrypt 32 MiB"; the bare name, or "", when unreadable
  std::optional<crypto::KdfParams> kdf_params;  // as the slot names them, before any bound is checked
};

// Serializes a new key slot for master under password; kInvalidArgument when
// params are outside the range open_key_slot accepts.
Result<Bytes> seal_key_slot(const MasterKey& master, std::string_view password, const crypto::KdfParams& params);
// The parameters a key slot may ask for: at most 256 MiB of memory, at most
// eight Argon2id passes (slots come from storage that others can write).
Status check_key_slot_params(const crypto::KdfParams& params);
// Opens a key slot; kWrongKey when the password does not fit, kCorrupt when
// the slot cannot be parsed.
Result<MasterKey> open_key_slot(ByteView slot, std::string_view password);
Result<KeySlotInfo> key_slot_info(ByteView slot);

}  // namespace stowage
