// DynamicClient: reads and writes objects of any resource type as JSON —
// get, list (all pages), create, update, patch, delete, the status
// subresource, and update_with_retry for read-modify-write under concurrent
// change. Resource types come from Discovery (ApiResource). Thread-safe.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "kube/api_client.h"
#include "kube/api_resource.h"
#include "util/result.h"

namespace stowage::kube {

using Json = nlohmann::json;

struct ListOptions {
  std::string label_selector;  // "app=web,tier!=db" (query.h's label_selector builds one)
  std::string field_selector;  // "metadata.name=web", "spec.nodeName=node-a"
  long page_size = 500;        // limit of each page; 0: no paging
  std::string resource_version;  // "" most recent (consistent read); "0" any cached
};

struct ObjectList {
  Json items = Json::array();    // each with apiVersion and kind filled in
  std::string resource_version;  // of the list: where a watch continues
};

enum class PatchType {
  kMerge,           // application/merge-patch+json (RFC 7386)
  kJson,            // application/json-patch+json (RFC 6902): an array of operations
  kStrategicMerge,  // application/strategic-merge-patch+json: built-in kinds only
};

enum class Propagation { kDefault, kBackground, kForeground, kOrphan };

struct DeleteOptions {
  Propagation propagation = Propagation::kDefault;
  std::optional<long> grace_period_seconds;
  std::string precondition_uid;               // delete only this incarnation
  std::string precondition_resource_version;  // delete only this version
};

struct WriteOptions {
  bool dry_run = false;       // dryRun=All: validate and admit, persist nothing
  std::string field_manager;  // fieldManager=...
  bool force = false;         // apply only: force=true, take over fields other managers own
};

class DynamicClient {
 public:
  explicit DynamicClient(ApiClient& client) : client_(client) {}

  // `namespace_name` is ignored for cluster-scoped types. An empty namespace
  // lists every namespace; elsewhere it falls back to the object's
  // metadata.namespace (create, update) and is then required.
  Result<Json> get(const ApiResource& type, const std::string& namespace_name, const std::string& name);
  // Every item: follows `continue` tokens page by page; if a token expires
  // (410) the list starts over, a bounded number of times.
  Result<ObjectList> list(const ApiResource& type, const std::string& namespace_name, const ListOptions& options = {});
  Result<Json> create(const ApiResource& type, const std::string& namespace_name, const Json& object,
                      const WriteOptions& options = {});
  // PUT of the whole object; its metadata.resourceVersion makes it
  // conditional (409 kConflict when the object changed).
  Result<Json> update(const ApiResource& type, const std::string& namespace_name, const Json& object,
                      const WriteOptions& options = {});
  Result<Json> patch(const ApiResource& type, const std::string& namespace_name, const std::string& name,
                     PatchType patch_type, const Json& patch, const std::string& subresource = {},
                     const WriteOptions& options = {});
  // Server-side apply: creates the object, or sets exactly the fields it
  // names as owned by options.field_manager (required) — fields this manager
  // set before and `object` no longer names are removed. A request that
  // changes nothing leaves the object (and its resourceVersion) as it was.
  // 409 kConflict when another manager owns a field, unless options.force.
  Result<Json> apply(const ApiResource& type, const std::string& namespace_name, const Json& object,
                     const WriteOptions& options);
  Status remove(const ApiResource& type, const std::string& namespace_name, const std::string& name,
                const DeleteOptions& options = {});

  // The status subresource (the type must have "status" among its subresources).
  Result<Json> get_status(const ApiResource& type, const std::string& namespace_name, const std::string& name);
  Result<Json> update_status(const ApiResource& type, const std::string& namespace_name, const Json& object,
                             const WriteOptions& options = {});

  // Read-modify-write: gets the object, lets `mutate` change it, PUTs it (or
  // its status when `status` is set); on 409 conflict gets it again and
  // reapplies, up to `attempts` times. `mutate` may fail to abort.
  Result<Json> update_with_retry(const ApiResource& type, const std::string& namespace_name, const std::string& name,
                                 const std::function<Status(Json&)>& mutate, bool status = false, int attempts = 10);

  ApiClient& api() { return client_; }

 private:
  Result<Json> write(const std::string& method, const ApiResource& type, const std::string& namespace_name,
                     const Json& object, const std::string& subresource, const WriteOptions& options);
  Result<std::string> namespace_for(const ApiResource& type, const std::string& namespace_name, const Json* object,
                                    const std::string& verb, const std::string& name);

  ApiClient& client_;
};

// An object's metadata.name / namespace / resourceVersion ("" when absent).
std::string object_name(const Json& object);
std::string object_namespace(const Json& object);
std::string object_resource_version(const Json& object);

}  // namespace stowage::kube
