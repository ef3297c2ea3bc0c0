#include "util/shared_library.h"

#include <dlfcn.h>

namespace stowage {

Result<void*> open_shared_library(const char* soname, const std::string& used_for, const std::string& install_hint) {
  void* library = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
  if (library != nullptr) return library;
  const char* why = dlerror();
  return Error(ErrorCode::kUnsupported, used_for + ", cannot be loaded (" + (why ? why : soname) + ")", soname,
               install_hint);
}

void* SymbolBinder::lookup(const char* name) const { return dlsym(library_, name); }

Status SymbolBinder::status(const char* soname, const std::string& install_hint) const {
  if (missing_ == nullptr) return ok_status();
  return Error(ErrorCode::kUnsupported, std::string(soname) + " has no function " + missing_, soname, install_hint);
}

}  // namespace stowage
