// Opening a shared library at run time (dlopen), for the libraries only some
// commands use (util/curl.h, archive/libarchive.h): linking them would make
// every command load them and their dependencies at start-up.
#pragma once

#include <string>

#include "util/result.h"

namespace stowage {

// dlopen(soname) with its symbols kept local (they must not stand in for
// those of other libraries). The error says what the library is needed for
// (`used_for`: "libcurl, which the S3 store ... use") and how to install it.
Result<void*> open_shared_library(const char* soname, const std::string& used_for, const std::string& install_hint);

// Binds functions of a library open_shared_library() opened, by name, and
// remembers the first one the library does not have.
class SymbolBinder {
 public:
  explicit SymbolBinder(void* library) : library_(library) {}
  template <class Function>
  void bind(const char* name, Function& function) {
    function = reinterpret_cast<Function>(lookup(name));
    if (function == nullptr && missing_ == nullptr) missing_ = name;
  }
  // ok, or kUnsupported naming `soname` and the first function it lacks.
  Status status(const char* soname, const std::string& install_hint) const;

 private:
  void* lookup(const char* name) const;

  void* library_;
  const char* missing_ = nullptr;
};

}  // namespace stowage
