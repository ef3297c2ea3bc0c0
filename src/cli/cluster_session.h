// What the cluster commands share: the kube flags (--kubeconfig, --context,
// -n), the connection they open, output helpers (tables of stowage objects,
// ages, -o json|yaml) and waiting for an object to finish.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/output.h"
#include "kube/api_client.h"
#include "kube/api_resource.h"
#include "util/result.h"

namespace stowage::cli {

struct KubeFlags {
  std::string kubeconfig;
  std::string context;
  std::string namespace_name = "stowage";
  const std::string* output = nullptr;  // the global -o
};

struct ClusterSession {
  std::unique_ptr<kube::ApiClient> client;
  std::string namespace_name;
};

Result<ClusterSession> connect(const KubeFlags& flags);
OutputFormat output_format(const KubeFlags& flags);

// "5m", "3h", "2d" since an RFC 3339 time ("" when unknown).
std::string age_of(const std::string& timestamp);
// One object (get NAME) or all of a type (get), as a table or a document.
int print_objects(const KubeFlags& flags, const std::vector<nlohmann::json>& objects,
                  const std::vector<std::string>& header,
                  const std::function<std::vector<std::string>(const nlohmann::json&)>& row);
// Lists or gets objects of `type` for `get [NAME]`.
Result<std::vector<nlohmann::json>> get_objects(ClusterSession& session, const kube::ApiResource& type,
                                               const std::string& name, const std::string& label_selector = {});
// Polls until the object's phase is terminal; prints phase changes to stderr.
// Exit code: 0 Completed, 3 PartiallyFailed, 1 otherwise.
int wait_for_completion(ClusterSession& session, const kube::ApiResource& type, const std::string& name);
int exit_code_for_phase(const std::string& phase);
// The Events about an object, oldest first, as "age type reason: message" lines.
std::vector<std::string> events_of(ClusterSession& session, const nlohmann::json& object);

// "a=b,c!=d,e,!f" -> a metav1.LabelSelector object.
Result<nlohmann::json> parse_selector(const std::string& text);
// "a:b,c:d" -> {"a": "b", "c": "d"}.
Result<nlohmann::json> parse_mapping(const std::string& text, const std::string& flag);

}  // namespace stowage::cli
