#include "control/events.h"

#include "control/resources.h"
#include "kube/dynamic_client.h"
#include "util/clock.h"

namespace stowage::control {

using Json = nlohmann::json;

EventRecorder::EventRecorder(kube::ApiClient& client, std::function<void(const std::string&)> warn)
    : client_(client), warn_(std::move(warn)) {}

void EventRecorder::normal(const Json& object, const std::string& reason, const std::string& message) {
  record(object, "Normal", reason, message);
}

void EventRecorder::warning(const Json& object, const std::string& reason, const std::string& message) {
  record(object, "Warning", reason, message);
}

void EventRecorder::record(const Json& object, const char* type, const std::string& reason, const std::string& message) {
  const Json& metadata = object["metadata"];
  std::string ns = metadata.value("namespace", std::string("default"));
  std::string now = format_time_utc(now_unix());
  Json event = {
      {"apiVersion", "v1"},
      {"kind", "Event"},
      {"metadata", {{"generateName", metadata.value("name", std::string("stowage")) + "."}, {"namespace", ns}}},
      {"involvedObject",
       {{"apiVersion", object.value("apiVersion", std::string())},
        {"kind", object.value("kind", std::string())},
        {"name", metadata.value("name", std::string())},
        {"namespace", ns},
        {"uid", metadata.value("uid", std::string())}}},
      {"reason", reason},
      {"message", message.substr(0, 1024)},
      {"type", type},
      {"source", {{"component", "stowage-server"}}},
      {"reportingComponent", "stowage.io/server"},
      {"reportingInstance", host_name()},
      {"firstTimestamp", now},
      {"lastTimestamp", now},
      {"count", 1}};
  kube::DynamicClient dynamic(client_);
  auto created = dynamic.create(resources::event(), ns, event);
  if (!created.ok() && warn_) warn_("could not record event " + reason + ": " + created.error().message());
}

}  // namespace stowage::control
