#include "util/curl.h"

#include <cstdarg>
#include <cstdio>
#include <cstdlib>

#include "util/shared_library.h"

namespace stowage {

namespace {

// The libcurl functions stowage calls, without their "curl_" prefix, bound
// from the loaded library with the types <curl/curl.h> declares.
#define STOWAGE_CURL_FUNCTIONS(X)                                                                        \
  X(global_init) X(easy_init) X(easy_setopt) X(easy_perform) X(easy_cleanup) X(easy_reset) X(easy_getinfo) \
  X(easy_recv) X(easy_send) X(easy_strerror) X(slist_append) X(slist_free_all) X(getdate)

struct CurlFunctions {
#define STOWAGE_CURL_POINTER(name) decltype(&::curl_##name) name = nullptr;
  STOWAGE_CURL_FUNCTIONS(STOWAGE_CURL_POINTER)
#undef STOWAGE_CURL_POINTER
};

struct LoadedCurl {
  CurlFunctions functions{};
  Status status = ok_status();
};

LoadedCurl load() {
  LoadedCurl loaded;
  constexpr const char* kLibrary = "libcurl.so.4";
  auto opened = open_shared_library(kLibrary, "libcurl, which the S3 store and the Kubernetes client use",
                                    "install libcurl (Debian and Ubuntu: apt-get install libcurl4)");
  if (!opened.ok()) {
    loaded.status = std::move(opened).error();
    return loaded;
  }
  CurlFunctions& f = loaded.functions;
  SymbolBinder binder(*opened);
#define STOWAGE_CURL_BIND(name) binder.bind("curl_" #name, f.name);
  STOWAGE_CURL_FUNCTIONS(STOWAGE_CURL_BIND)
#undef STOWAGE_CURL_BIND
  loaded.status = binder.status(kLibrary, "install libcurl 7.75 or newer");
  if (!loaded.status.ok()) return loaded;
  if (CURLcode code = f.global_init(CURL_GLOBAL_DEFAULT); code != CURLE_OK)
    loaded.status = Error(ErrorCode::kInternal,
                          std::string("curl_global_init failed: ") + f.easy_strerror(code), kLibrary);
  return loaded;
}

const LoadedCurl& loaded_curl() {
  static const LoadedCurl loaded = load();  // once, thread-safe
  return loaded;
}

// For the functions that only a handle from curl_easy_init can reach.
const CurlFunctions& curl_functions() {
  const LoadedCurl& loaded = loaded_curl();
  if (!loaded.status.ok()) {
    fprintf(stderr, "stowage: internal error: libcurl called without being loaded: %s\n",
            loaded.status.error().to_string().c_str());
    abort();
  }
  return loaded.functions;
}

}  // namespace

Status load_curl() { return loaded_curl().status; }

CurlHandlePool::~CurlHandlePool() {
  for (CURL* handle : idle_) curl_easy_cleanup(handle);
}

CURL* CurlHandlePool::acquire() {
  {
    std::lock_guard lock(mutex_);
    if (!idle_.empty()) {
      CURL* handle = idle_.back();
      idle_.pop_back();
      return handle;
    }
  }
  return curl_easy_init();
}

void CurlHandlePool::release(CURL* handle) {
  curl_easy_reset(handle);
  std::lock_guard lock(mutex_);
  idle_.push_back(handle);
}

}  // namespace stowage

// The libcurl entry points, as <curl/curl.h> declares them. (The parentheses
// keep curl.h's same-named argument-count macros from expanding.)
using stowage::curl_functions;

// va_start after a parameter of enum type (CURLoption, CURLINFO) is what
// libcurl's own definitions do; clang calls it undefined in C++ because an
// unscoped enum may be promoted, but these enums' values fit an int and the
// prototypes are curl.h's, not ours to change.
#if defined(__clang__)
#pragma clang diagnostic ignored "-Wvarargs"
#endif

extern "C" {

CURL*(curl_easy_init)(void) {
  const stowage::LoadedCurl& loaded = stowage::loaded_curl();
  return loaded.status.ok() ? loaded.functions.easy_init() : nullptr;
}

CURLcode(curl_easy_setopt)(CURL* curl, CURLoption option, ...) {
  // The one argument's type follows from the option's number range.
  va_list args;
  va_start(args, option);
  const auto setopt = curl_functions().easy_setopt;
  CURLcode code;
  if (option < CURLOPTTYPE_OBJECTPOINT)
    code = setopt(curl, option, va_arg(args, long));
  else if (option < CURLOPTTYPE_FUNCTIONPOINT)
    code = setopt(curl, option, va_arg(args, void*));
  else if (option < CURLOPTTYPE_OFF_T)
    code = setopt(curl, option, va_arg(args, void (*)()));
  else if (option < CURLOPTTYPE_BLOB)
    code = setopt(curl, option, va_arg(args, curl_off_t));
  else
    code = setopt(curl, option, va_arg(args, curl_blob*));
  va_end(args);
  return code;
}

CURLcode(curl_easy_getinfo)(CURL* curl, CURLINFO info, ...) {
  va_list args;
  va_start(args, info);
  void* out = va_arg(args, void*);  // always a pointer to the answer
  va_end(args);
  return curl_functions().easy_getinfo(curl, info, out);
}

CURLcode curl_easy_perform(CURL* curl) { return curl_functions().easy_perform(curl); }
void curl_easy_cleanup(CURL* curl) { curl_functions().easy_cleanup(curl); }
void curl_easy_reset(CURL* curl) { curl_functions().easy_reset(curl); }

CURLcode curl_easy_recv(CURL* curl, void* buffer, size_t length, size_t* received) {
  return curl_functions().easy_recv(curl, buffer, length, received);
}

CURLcode curl_easy_send(CURL* curl, const void* buffer, size_t length, size_t* sent) {
  return curl_functions().easy_send(curl, buffer, length, sent);
}

const char* curl_easy_strerror(CURLcode code) { return curl_functions().easy_strerror(code); }

curl_slist* curl_slist_append(curl_slist* list, const char* text) {
  return curl_functions().slist_append(list, text);
}

void curl_slist_free_all(curl_slist* list) { curl_functions().slist_free_all(list); }

time_t curl_getdate(const char* text, const time_t* unused) { return curl_functions().getdate(text, unused); }

}  // extern "C"
