// Watch: follows changes to one resource type as a stream of ADDED, MODIFIED,
// DELETED and BOOKMARK events, reconnecting from the last resourceVersion seen
// when the connection drops or the server ends it, until stopped. When the
// resourceVersion has expired (410 Gone) it ends with WatchEnd::kExpired: the
// caller lists again and watches from the list's resourceVersion.
#pragma once

#include <chrono>
#include <functional>
#include <stop_token>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "kube/api_client.h"
#include "kube/api_resource.h"
#include "util/result.h"

namespace stowage::kube {

enum class WatchEventType { kAdded, kModified, kDeleted, kBookmark, kError };
const char* watch_event_type_name(WatchEventType type);  // "ADDED", ...

struct WatchEvent {
  WatchEventType type = WatchEventType::kAdded;
  nlohmann::json object;  // the object; a metav1.Status for kError
  std::string resource_version() const;
  // A kError event whose Status says 410 Gone / reason Expired.
  bool is_expired() const;
};

// One line of a watch body: {"type": "ADDED", "object": {...}}.
Result<WatchEvent> parse_watch_event(std::string_view line);

// Splits a watch body that arrives in arbitrary pieces into events, one JSON
// document per line.
class WatchDecoder {
 public:
  // Appends `data` and calls on_event for every complete line; stops at the
  // first error (a malformed line, or one on_event returns).
  Status feed(std::string_view data, const std::function<Status(WatchEvent)>& on_event);
  size_t buffered() const { return buffer_.size(); }

 private:
  std::string buffer_;
};

struct WatchOptions {
  std::string resource_version;  // continue after it; "": the current state as ADDED events, then changes
  std::string label_selector;
  std::string field_selector;
  bool bookmarks = true;                        // allowWatchBookmarks
  std::chrono::seconds server_timeout{300};     // each connection's timeoutSeconds; reconnects are transparent
  int max_consecutive_failures = 6;             // reconnects in a row without an event before giving up
  std::chrono::milliseconds reconnect_delay{250};  // first backoff, doubling, capped at 8 s
};

enum class WatchEnd {
  kStopped,  // `stop` was requested
  kExpired,  // 410 Gone: list again, then watch from the list's resourceVersion
};

struct WatchResult {
  WatchEnd end = WatchEnd::kStopped;
  std::string resource_version;  // the last one seen
};

// Watches `type` in `namespace_name` (all namespaces if empty or
// cluster-scoped) and calls on_event for each event, BOOKMARKs included. An
// error from on_event ends the watch with that error. `stop` is honoured
// within about a second.
Result<WatchResult> watch(ApiClient& client, const ApiResource& type, const std::string& namespace_name,
                          const WatchOptions& options, const std::function<Status(const WatchEvent&)>& on_event,
                          std::stop_token stop);

}  // namespace stowage::kube
