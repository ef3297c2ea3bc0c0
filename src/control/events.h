// EventRecorder: Kubernetes Events (core/v1) on stowage's objects, so that
// `kubectl describe` and `stowage ... describe` show every phase change and
// failure. Recording never fails the caller: a refused event is logged.
#pragma once

#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "kube/api_client.h"

namespace stowage::control {

class EventRecorder {
 public:
  EventRecorder(kube::ApiClient& client, std::function<void(const std::string&)> warn);

  void normal(const nlohmann::json& object, const std::string& reason, const std::string& message);
  void warning(const nlohmann::json& object, const std::string& reason, const std::string& message);

 private:
  void record(const nlohmann::json& object, const char* type, const std::string& reason, const std::string& message);
  kube::ApiClient& client_;
  std::function<void(const std::string&)> warn_;
};

}  // namespace stowage::control
