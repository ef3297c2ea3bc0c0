#include "kube/watch.h"

#include <condition_variable>
#include <mutex>

#include "kube/query.h"

namespace stowage::kube {
namespace {

using std::chrono::milliseconds;

constexpr size_t kMaxLine = 64u << 20;  // a watch line holds one object: etcd caps those far lower

// Sleeps up to `delay`, waking early when `stop` is requested.
void interruptible_sleep(std::stop_token stop, milliseconds delay) {
  std::mutex mutex;
  std::condition_variable_any wake;
  std::unique_lock lock(mutex);
  wake.wait_for(lock, stop, delay, [] { return false; });
}

}  // namespace

const char* watch_event_type_name(WatchEventType type) {
  switch (type) {
    case WatchEventType::kAdded: return "ADDED";
    case WatchEventType::kModified: return "MODIFIED";
    case WatchEventType::kDeleted: return "DELETED";
    case WatchEventType::kBookmark: return "BOOKMARK";
    case WatchEventType::kError: return "ERROR";
  }
  return "?";
}

std::string WatchEvent::resource_version() const {
  if (!object.is_object()) return "";
  auto metadata = object.find("metadata");
  if (metadata == object.end() || !metadata->is_object()) return "";
  return metadata->value("resourceVersion", "");
}

bool WatchEvent::is_expired() const {
  if (type != WatchEventType::kError || !object.is_object()) return false;
  return object.value("code", 0) == 410 || object.value("reason", "") == "Expired" ||
         object.value("reason", "") == "Gone";
}

Result<WatchEvent> parse_watch_event(std::string_view line) {
  nlohmann::json document = nlohmann::json::parse(line, nullptr, false);
  auto malformed = [&](const std::string& why) {
    std::string start(line.substr(0, 120));
    return Error(ErrorCode::kCorrupt, "malformed watch event (" + why + "): " + start, "watch stream",
                 "the API server or a proxy in between sent something that is not a watch event");
  };
  if (document.is_discarded() || !document.is_object()) return malformed("not a JSON object");
  auto type = document.find("type");
  auto object = document.find("object");
  if (type == document.end() || !type->is_string() || object == document.end()) {
    return malformed("no type or object");
  }
  WatchEvent event;
  const std::string name = type->get<std::string>();
  if (name == "ADDED") event.type = WatchEventType::kAdded;
  else if (name == "MODIFIED") event.type = WatchEventType::kModified;
  else if (name == "DELETED") event.type = WatchEventType::kDeleted;
  else if (name == "BOOKMARK") event.type = WatchEventType::kBookmark;
  else if (name == "ERROR") event.type = WatchEventType::kError;
  else return malformed("unknown type " + name);
  event.object = std::move(*object);
  return event;
}

Status WatchDecoder::feed(std::string_view data, const std::function<Status(WatchEvent)>& on_event) {
  buffer_.append(data);
  size_t start = 0;
  Status result;
  while (true) {
    size_t end = buffer_.find('\n', start);
    if (end == std::string::npos) break;
    std::string_view line(buffer_.data() + start, end - start);
    start = end + 1;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    Result<WatchEvent> event = parse_watch_event(line);
    if (!event.ok()) {
      result = std::move(event).error();
      break;
    }
    result = on_event(std::move(event).value());
    if (!result.ok()) break;
  }
  buffer_.erase(0, start);
  if (result.ok() && buffer_.size() > kMaxLine) {
    return Error(ErrorCode::kCorrupt, "a watch event is longer than 64 MiB", "watch stream",
                 "the API server or a proxy sent a line without an end");
  }
  return result;
}

Result<WatchResult> watch(ApiClient& client, const ApiResource& type, const std::string& namespace_name,
                          const WatchOptions& options, const std::function<Status(const WatchEvent&)>& on_event,
                          std::stop_token stop) {
  WatchResult result;
  result.resource_version = options.resource_version;
  const ObjectRef target = type.ref(namespace_name);
  int failures = 0;
  while (!stop.stop_requested()) {
    WatchDecoder decoder;
    bool expired = false;
    bool progressed = false;
    Status consumer_error;
    auto started = std::chrono::steady_clock::now();
    auto on_data = [&](std::string_view data) -> bool {
      Status fed = decoder.feed(data, [&](WatchEvent event) -> Status {
        if (event.is_expired()) {
          expired = true;
          return Error(ErrorCode::kCancelled, "expired");
        }
        if (event.type == WatchEventType::kError) {
          ApiRequest watch_request;
          watch_request.verb = "watch";
          watch_request.target = target;
          RequestContext context = client.context_of(watch_request);
          return api_error(event.object.value("code", 500L), event.object.dump(), context);
        }
        std::string version = event.resource_version();
        if (!version.empty()) result.resource_version = version;
        progressed = true;
        return on_event(event);
      });
      if (!fed.ok()) {
        if (!expired) consumer_error = std::move(fed);
        return false;
      }
      return !stop.stop_requested();
    };

    Query query;
    query.add("watch", "1");
    query.add("resourceVersion", result.resource_version);
    if (options.bookmarks) query.add("allowWatchBookmarks", "true");
    query.add("timeoutSeconds", static_cast<long long>(options.server_timeout.count()));
    query.add("labelSelector", options.label_selector);
    query.add("fieldSelector", options.field_selector);
    ApiRequest request;
    request.verb = "watch";
    request.target = target;
    request.query = query.str();
    // A backstop for a connection that dies silently: the server ends the
    // watch after timeoutSeconds anyway.
    request.timeout = std::chrono::duration_cast<milliseconds>(options.server_timeout + std::chrono::seconds(60));
    Result<long> streamed = client.stream(request, on_data, stop);

    if (expired) {
      result.end = WatchEnd::kExpired;
      return result;
    }
    if (!consumer_error.ok()) return std::move(consumer_error).error();
    if (stop.stop_requested()) break;
    if (!streamed.ok() && is_gone(streamed.error())) {
      result.end = WatchEnd::kExpired;
      return result;
    }
    if (!streamed.ok() && streamed.error().code() != ErrorCode::kUnavailable) return std::move(streamed).error();
    // The server ended the watch (timeoutSeconds) or the connection dropped:
    // continue from the last resourceVersion seen.
    bool lasted = std::chrono::steady_clock::now() - started > std::chrono::seconds(10);
    if (progressed || lasted) failures = 0;
    if (!progressed && !lasted && ++failures > options.max_consecutive_failures) {
      std::string why = streamed.ok() ? "the server kept closing the watch at once" : streamed.error().message();
      return Error(ErrorCode::kUnavailable,
                   "watch " + target.describe() + " failed " + std::to_string(failures) + " times in a row: " + why,
                   target.describe(), "check that the API server " + client.config().server + " is up and reachable");
    }
    if (failures > 0) {
      milliseconds delay = options.reconnect_delay * (1 << std::min(failures - 1, 5));
      interruptible_sleep(stop, std::min(delay, milliseconds(8000)));
    }
  }
  result.end = WatchEnd::kStopped;
  return result;
}

}  // namespace stowage::kube
