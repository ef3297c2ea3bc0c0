// Discovery: fetching (aggregated discovery first, the per-group-version
// documents as fallback) and the lookup of resource types.
#include "kube/discovery.h"

#include <algorithm>
#include <cctype>
#include <optional>

namespace stowage::kube {
namespace {

using nlohmann::json;

const char* kAggregatedAccept =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json";

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = char(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

ApiRequest discovery_request(const std::string& path) {
  ApiRequest request;
  request.path = path;
  request.verb = "get";
  request.target.resource = "API discovery " + path;
  return request;
}

bool names(const ApiResource& resource, const std::string& name) {
  if (resource.resource == name || resource.singular == name || lower(resource.kind) == name) return true;
  return std::find(resource.short_names.begin(), resource.short_names.end(), name) != resource.short_names.end();
}

// The best match in `view` for a lower-case name, optional group and version.
std::optional<ApiResource> find_resource(const DiscoveryView& view, const std::string& name,
                                         const std::optional<std::string>& group, const std::string& version) {
  for (const ApiGroupInfo& info : view.groups) {  // core first, then the server's priority order
    if (group && lower(*group) != info.name) continue;
    const ApiResource* best = nullptr;
    for (const ApiResource& resource : view.resources) {
      if (resource.group != info.name || !names(resource, name)) continue;
      if (!version.empty() && resource.version != version) continue;
      if (best == nullptr || (resource.preferred && !best->preferred)) best = &resource;
    }
    if (best != nullptr) return *best;
  }
  return std::nullopt;
}

std::optional<ApiResource> lookup(const DiscoveryView& view, std::string_view name_text, std::string_view group) {
  const std::string name = lower(name_text);
  if (!group.empty()) return find_resource(view, name, std::string(group), "");
  if (auto found = find_resource(view, name, std::nullopt, "")) return found;
  size_t dot = name.find('.');
  if (dot == std::string::npos) return std::nullopt;
  // "deployments.apps", "backups.stowage.io", or "deployments.v1.apps".
  std::string resource = name.substr(0, dot), rest = name.substr(dot + 1);
  if (auto found = find_resource(view, resource, rest, "")) return found;
  size_t second = rest.find('.');
  if (second != std::string::npos && rest.size() > 1 && rest[0] == 'v' && std::isdigit(static_cast<unsigned char>(rest[1]))) {
    return find_resource(view, resource, rest.substr(second + 1), rest.substr(0, second));
  }
  return std::nullopt;
}

}  // namespace

Discovery::Discovery(ApiClient& client, bool use_aggregated) : client_(client), use_aggregated_(use_aggregated) {}

Result<DiscoveryView> Discovery::fetch_aggregated() {
  DiscoveryView view;
  for (const char* path : {"/api", "/apis"}) {
    ApiRequest request = discovery_request(path);
    request.accept = kAggregatedAccept;
    ApiResponse response = TRY(client_.send(request));
    if (response.header("content-type").find("as=APIGroupDiscoveryList") == std::string::npos) {
      return Error(ErrorCode::kUnsupported, "the API server does not offer aggregated discovery", path);
    }
    json document = json::parse(response.body, nullptr, false);
    if (document.is_discarded()) return Error(ErrorCode::kCorrupt, "discovery document is not JSON", path);
    TRY_STATUS(parse_aggregated_discovery(document, view));
  }
  return view;
}

Result<DiscoveryView> Discovery::fetch_legacy() {
  DiscoveryView view;
  json api = TRY(client_.send_json(discovery_request("/api")));
  ApiGroupInfo core = TRY(parse_core_versions(api));
  view.groups.push_back(core);
  json apis = TRY(client_.send_json(discovery_request("/apis")));
  std::vector<ApiGroupInfo> groups = TRY(parse_group_list(apis));
  view.groups.insert(view.groups.end(), groups.begin(), groups.end());
  for (const ApiGroupInfo& group : view.groups) {
    for (const std::string& version : group.versions) {
      std::string path = group_version_path(group.name, version);
      Result<json> list = client_.send_json(discovery_request(path));
      if (!list.ok()) {
        // One broken aggregated API must not hide the rest (kubectl does the same).
        view.failures.push_back((group.name.empty() ? version : group.name + "/" + version) + ": " +
                                list.error().message());
        continue;
      }
      std::vector<ApiResource> resources = TRY(parse_resource_list(*list, group.name, version));
      for (ApiResource& resource : resources) {
        resource.preferred = resource.version == group.preferred_version;
        view.resources.push_back(std::move(resource));
      }
    }
  }
  return view;
}

Status Discovery::refresh() {
  Result<DiscoveryView> view = Error(ErrorCode::kUnsupported, "aggregated discovery not tried");
  if (use_aggregated_) view = fetch_aggregated();
  if (!view.ok() && (view.error().code() == ErrorCode::kUnsupported || view.error().code() == ErrorCode::kCorrupt)) {
    view = fetch_legacy();
  }
  if (!view.ok()) return std::move(view).error().with_context("discovering the API server's resources");
  std::lock_guard lock(mutex_);
  view_ = std::move(view).value();
  loaded_ = true;
  loaded_at_ = std::chrono::steady_clock::now();
  return ok_status();
}

Status Discovery::ensure_loaded() {
  {
    std::lock_guard lock(mutex_);
    if (loaded_) return ok_status();
  }
  return refresh();
}

Result<std::vector<ApiGroupInfo>> Discovery::groups() {
  TRY_STATUS(ensure_loaded());
  std::lock_guard lock(mutex_);
  return view_.groups;
}

Result<std::vector<ApiResource>> Discovery::resources() {
  TRY_STATUS(ensure_loaded());
  std::lock_guard lock(mutex_);
  return view_.resources;
}

Result<std::vector<ApiResource>> Discovery::preferred_resources() {
  TRY_STATUS(ensure_loaded());
  std::lock_guard lock(mutex_);
  std::vector<ApiResource> preferred;
  for (const ApiResource& resource : view_.resources) {
    if (resource.preferred) preferred.push_back(resource);
  }
  return preferred;
}

std::vector<std::string> Discovery::failures() {
  std::lock_guard lock(mutex_);
  return view_.failures;
}

Result<ApiResource> Discovery::resolve(std::string_view name, std::string_view group) {
  for (int pass = 0; pass < 2; pass++) {
    TRY_STATUS(ensure_loaded());
    {
      std::lock_guard lock(mutex_);
      if (auto found = lookup(view_, name, group)) return *found;
    }
    if (pass == 0) TRY_STATUS(refresh());  // a CRD may have been established since
  }
  std::string what = std::string(name) + (group.empty() ? "" : " in group " + std::string(group));
  return Error(ErrorCode::kNotFound, "the API server " + client_.config().server + " has no resource type " + what,
               std::string(name),
               "check the name (`kubectl api-resources` lists them); for a custom resource, install its CRD and wait "
               "until it is Established");
}

Result<ApiResource> Discovery::resolve_kind(std::string_view api_version, std::string_view kind) {
  std::string group, version;
  split_api_version(std::string(api_version), group, version);
  for (int pass = 0; pass < 2; pass++) {
    TRY_STATUS(ensure_loaded());
    {
      std::lock_guard lock(mutex_);
      for (const ApiResource& resource : view_.resources) {
        if (resource.group == group && resource.version == version && resource.kind == kind) return resource;
      }
    }
    if (pass == 0) TRY_STATUS(refresh());
  }
  return Error(ErrorCode::kNotFound,
               "the API server " + client_.config().server + " does not serve kind " + std::string(kind) + " in " +
                   std::string(api_version),
               std::string(kind) + "." + std::string(api_version),
               "check apiVersion and kind; for a custom resource, install its CRD (with that version served) and wait "
               "until it is Established");
}

}  // namespace stowage::kube
