#include "util/result.h"

namespace stowage {

const char* error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::kNotFound: return "not found";
    case ErrorCode::kAlreadyExists: return "already exists";
    case ErrorCode::kInvalidArgument: return "invalid argument";
    case ErrorCode::kCorrupt: return "corrupt";
    case ErrorCode::kWrongKey: return "wrong key";
    case ErrorCode::kPermissionDenied: return "permission denied";
    case ErrorCode::kUnavailable: return "unavailable";
    case ErrorCode::kIo: return "I/O error";
    case ErrorCode::kUnsupported: return "unsupported";
    case ErrorCode::kConflict: return "conflict";
    case ErrorCode::kLocked: return "locked by retention";
    case ErrorCode::kCancelled: return "cancelled";
    case ErrorCode::kInternal: return "internal error";
  }
  return "error";
}

std::string Error::to_string() const {
  std::string s = message_;
  if (!object_.empty() && s.find(object_) == std::string::npos) s += " (object: " + object_ + ")";
  if (!hint_.empty()) s += "; " + hint_;
  return s;
}

}  // namespace stowage
