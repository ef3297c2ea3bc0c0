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

}  // namespace stowage
