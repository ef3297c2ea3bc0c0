#include "archive/libarchive.h"

#include <cstdio>
#include <cstdlib>

#include "util/shared_library.h"

namespace stowage {

namespace {

struct Loaded {
  LibArchive functions;
  Status status = ok_status();
};

Loaded load() {
  Loaded loaded;
  constexpr const char* kLibrary = "libarchive.so.13";
  auto opened = open_shared_library(kLibrary, "libarchive, which reads and writes cluster backup archives",
                                    "install libarchive (Debian and Ubuntu: apt-get install libarchive13)");
  if (!opened.ok()) {
    loaded.status = std::move(opened).error();
    return loaded;
  }
  SymbolBinder binder(*opened);
#define STOWAGE_LIBARCHIVE_BIND(name) binder.bind(#name, loaded.functions.name);
  STOWAGE_LIBARCHIVE_FUNCTIONS(STOWAGE_LIBARCHIVE_BIND)
#undef STOWAGE_LIBARCHIVE_BIND
  loaded.status = binder.status(kLibrary, "install libarchive 3.6 or newer");
  return loaded;
}

const Loaded& loaded() {
  static const Loaded once = load();  // thread-safe
  return once;
}

}  // namespace

Status load_libarchive() { return loaded().status; }

const LibArchive& la() {
  const Loaded& l = loaded();
  if (!l.status.ok()) {
    fprintf(stderr, "stowage: internal error: libarchive called without being loaded: %s\n",
            l.status.error().to_string().c_str());
    abort();
  }
  return l.functions;
}

}  // namespace stowage
