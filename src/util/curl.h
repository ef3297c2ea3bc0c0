// libcurl for the layers that speak HTTP (the S3 store, the Kubernetes
// client), loaded on first use instead of at program start. Linking it would
// make every command load libcurl and the thirty-odd libraries it depends on
// (TLS, Kerberos, LDAP, IDN, ...): about 7 ms of the ~17 ms a command takes
// to start here, paid also by a backup to a local directory that never
// speaks HTTP. The curl_* functions the code calls (those of <curl/curl.h>)
// are defined in curl.cpp and forward to the library that load_curl() opens.
#pragma once

#include <curl/curl.h>

#include <mutex>
#include <vector>

#include "util/result.h"

namespace stowage {

// Opens libcurl (libcurl.so.4) and runs curl_global_init, once per process;
// every call returns the first call's outcome. Callers that can report an
// error call it before their first request, so that a missing libcurl is
// named; the curl_* functions also load it themselves (curl_easy_init then
// returns nullptr if it cannot be loaded).
Status load_curl();

// Idle libcurl easy handles for reuse across threads. A reused handle keeps
// its live connections and TLS sessions; each handle serves one thread at a
// time.
class CurlHandlePool {
 public:
  CurlHandlePool() = default;
  ~CurlHandlePool();
  CurlHandlePool(const CurlHandlePool&) = delete;
  CurlHandlePool& operator=(const CurlHandlePool&) = delete;

  // An idle handle or a new one; nullptr when curl cannot make one.
  CURL* acquire();
  // Resets the handle's options (its connections stay) and parks it.
  void release(CURL* handle);

  // Returns a handle to its pool at the end of a scope.
  class Lease {
   public:
    explicit Lease(CurlHandlePool& pool) : pool_(pool), handle_(pool.acquire()) {}
    ~Lease() {
      if (handle_ != nullptr) pool_.release(handle_);
    }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    CURL* get() const { return handle_; }

   private:
    CurlHandlePool& pool_;
    CURL* handle_;
  };

 private:
  std::mutex mutex_;
  std::vector<CURL*> idle_;
};

}  // namespace stowage
