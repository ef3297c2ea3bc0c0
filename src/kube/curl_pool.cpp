#include "kube/curl_pool.h"

namespace stowage::kube {

void ensure_curl_initialized() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

CurlHandlePool::CurlHandlePool() { ensure_curl_initialized(); }

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

}  // namespace stowage::kube
