#include "cli/errors.h"

#include <cstdio>

namespace stowage::cli {

int exit_code_for(const Error& e) {
  switch (e.code()) {
    case ErrorCode::kWrongKey: return kExitWrongPassword;
    case ErrorCode::kConflict: return kExitLocked;
    case ErrorCode::kLocked: return kExitLocked;
    case ErrorCode::kInvalidArgument: return kExitUsage;
    default: break;
  }
  if (e.code() == ErrorCode::kNotFound && e.object() == "config") return kExitNoRepository;
  return kExitFailure;
}

int report(const Error& e) {
  fprintf(stderr, "stowage: error: %s\n", e.to_string().c_str());
  return exit_code_for(e);
}

}  // namespace stowage::cli
