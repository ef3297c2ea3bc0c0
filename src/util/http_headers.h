// Collecting HTTP response headers from libcurl's header callback, shared by
// the S3 backend and the Kubernetes client. Needs no curl headers itself.
#pragma once

#include <cstddef>
#include <map>
#include <string>

namespace stowage {

// A CURLOPT_HEADERFUNCTION callback; user_data is a
// std::map<std::string, std::string>* that receives lower-cased names. A new
// status line (after "100 Continue" or a redirect) starts the map afresh.
size_t collect_http_header(char* data, size_t size, size_t count, void* user_data);

}  // namespace stowage
