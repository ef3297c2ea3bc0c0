// Discovery: what the API server serves — every group, its versions and
// preferred version, and every resource type with kind, scope, verbs and
// subresources (CRDs included once Established) — and the lookup of a
// resource type by kind, plural, singular or short name. Thread-safe; the
// view is fetched on first use and again by refresh() (or on a lookup miss).
#pragma once

#include <chrono>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "kube/api_client.h"
#include "kube/api_resource.h"
#include "util/result.h"

namespace stowage::kube {

struct ApiGroupInfo {
  std::string name;                   // "" for the core group
  std::vector<std::string> versions;  // in the server's order of preference
  std::string preferred_version;
};

// One complete discovery pass.
struct DiscoveryView {
  std::vector<ApiGroupInfo> groups;   // core first, then the server's order
  std::vector<ApiResource> resources; // every resource of every served version
  std::vector<std::string> failures;  // "metrics.k8s.io/v1beta1: <why>" for group versions that could not be read
};

// Parsers of the discovery documents (pure; discovery_parse.cpp).
// /api (APIVersions) -> the core group.
Result<ApiGroupInfo> parse_core_versions(const nlohmann::json& api_versions);
// /apis (APIGroupList).
Result<std::vector<ApiGroupInfo>> parse_group_list(const nlohmann::json& group_list);
// /api/v1 or /apis/GROUP/VERSION (APIResourceList); "pods/exec" entries become
// subresources of pods.
Result<std::vector<ApiResource>> parse_resource_list(const nlohmann::json& resource_list, const std::string& group,
                                                     const std::string& version);
// Aggregated discovery (apidiscovery.k8s.io/v2 APIGroupDiscoveryList) of /api
// or /apis, appended to `view`.
Status parse_aggregated_discovery(const nlohmann::json& discovery_list, DiscoveryView& view);

class Discovery {
 public:
  explicit Discovery(ApiClient& client, bool use_aggregated = true);

  // Reads everything again (e.g. after installing a CRD).
  Status refresh();
  Result<std::vector<ApiGroupInfo>> groups();
  // Every resource type in every served version.
  Result<std::vector<ApiResource>> resources();
  // Every resource type in its group's preferred version only.
  Result<std::vector<ApiResource>> preferred_resources();
  // Group versions the last pass could not read (an aggregated API down).
  std::vector<std::string> failures();

  // A resource type by plural ("deployments"), singular, kind ("Deployment"),
  // short name ("deploy"), or qualified ("deployments.apps",
  // "deployments.v1.apps"), case-insensitive; limited to `group` if given.
  // The preferred version wins; the core group before others; on a miss,
  // discovery runs again once before the NotFound error.
  Result<ApiResource> resolve(std::string_view name, std::string_view group = {});
  // The resource type of an object's apiVersion and kind ("apps/v1", "Deployment").
  Result<ApiResource> resolve_kind(std::string_view api_version, std::string_view kind);

 private:
  Status ensure_loaded();
  Result<DiscoveryView> fetch_aggregated();
  Result<DiscoveryView> fetch_legacy();

  ApiClient& client_;
  bool use_aggregated_;
  std::mutex mutex_;
  bool loaded_ = false;
  DiscoveryView view_;
  std::chrono::steady_clock::time_point loaded_at_;
};

}  // namespace stowage::kube
