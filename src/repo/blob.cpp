#include "repo/blob.h"

namespace stowage {

Result<BlobId> BlobId::parse(std::string_view hex) {
  Bytes raw;
  if (hex.size() != 64 || !hex_decode(hex, raw))
    return Error(ErrorCode::kInvalidArgument, "not a valid 64-digit hex id: '" + std::string(hex) + "'");
  BlobId id;
  std::memcpy(id.bytes.data(), raw.data(), 32);
  return id;
}

}  // namespace stowage
