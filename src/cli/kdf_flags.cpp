#include "cli/kdf_flags.h"

#include "repo/keys.h"

namespace stowage::cli {

static Result<crypto::KdfParams> checked(const crypto::KdfParams& params) {
  if (Status s = check_key_slot_params(params); !s.ok())
    return Error(ErrorCode::kInvalidArgument, s.error().message(), "--kdf-memory-mib, --kdf-iterations",
                 "a key slot asking for more is refused when it is opened; choose values in the range");
  return params;
}

void add_kdf_flags(CLI::App* cmd, KdfFlags& flags, const std::string& what) {
  cmd->add_option("--kdf", flags.name,
                  "password key derivation of " + what + ": argon2id (default) or scrypt (what releases before "
                  "Argon2id wrote, for repositories they must still open)")
      ->check(CLI::IsMember({"argon2id", "scrypt"}));
  cmd->add_option("--kdf-memory-mib", flags.memory_mib,
                  "memory of the key derivation in MiB (default 46 for argon2id, 32 for scrypt, where it must be a "
                  "power of two); at most 256");
  cmd->add_option("--kdf-iterations", flags.iterations, "argon2id passes over its memory (default 1, at most 8)");
}

Result<crypto::KdfParams> kdf_params(const KdfFlags& flags) {
  if (flags.name == "scrypt") {
    if (flags.iterations)
      return Error(ErrorCode::kInvalidArgument, "--kdf-iterations is for argon2id; scrypt's cost is its memory",
                   "--kdf-iterations", "drop --kdf-iterations, or use --kdf argon2id");
    crypto::ScryptParams p;
    if (flags.memory_mib) {
      if (flags.memory_mib & (flags.memory_mib - 1))
        return Error(ErrorCode::kInvalidArgument, "--kdf-memory-mib must be a power of two for scrypt",
                     "--kdf-memory-mib", "use 1, 2, 4, ... 256");
      p.n = flags.memory_mib * 1024 * 8 / p.r;  // memory = 128 * n * r bytes
    }
    return checked(p);
  }
  crypto::Argon2idParams p;
  if (flags.memory_mib) p.memory_kib = flags.memory_mib * 1024;
  if (flags.iterations) p.iterations = flags.iterations;
  return checked(p);
}

}  // namespace stowage::cli
