// CurlHandlePool: idle libcurl easy handles for reuse across threads. A reused
// handle keeps its live connections and TLS sessions; each handle serves one
// thread at a time. (The same pattern as S3Store's pool: a candidate for util.)
#pragma once

#include <curl/curl.h>

#include <mutex>
#include <vector>

namespace stowage::kube {

class CurlHandlePool {
 public:
  CurlHandlePool();
  ~CurlHandlePool();
  CurlHandlePool(const CurlHandlePool&) = delete;
  CurlHandlePool& operator=(const CurlHandlePool&) = delete;

  // An idle handle or a new one; nullptr only when curl cannot allocate.
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

// curl_global_init, once per process.
void ensure_curl_initialized();

}  // namespace stowage::kube
