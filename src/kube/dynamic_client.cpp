#include "kube/dynamic_client.h"

#include <chrono>
#include <thread>

#include "kube/query.h"

namespace stowage::kube {
namespace {

std::string metadata_field(const Json& object, const char* key) {
  if (!object.is_object()) return "";
  auto metadata = object.find("metadata");
  if (metadata == object.end() || !metadata->is_object()) return "";
  auto value = metadata->find(key);
  return value != metadata->end() && value->is_string() ? value->get<std::string>() : "";
}

void add_write_options(Query& query, const WriteOptions& options) {
  if (options.dry_run) query.add("dryRun", "All");
  query.add("fieldManager", options.field_manager);
  if (options.force) query.add("force", "true");
}

const char* content_type_of(PatchType type) {
  switch (type) {
    case PatchType::kMerge: return "application/merge-patch+json";
    case PatchType::kJson: return "application/json-patch+json";
    case PatchType::kStrategicMerge: return "application/strategic-merge-patch+json";
  }
  return "application/merge-patch+json";
}

const char* propagation_name(Propagation propagation) {
  switch (propagation) {
    case Propagation::kBackground: return "Background";
    case Propagation::kForeground: return "Foreground";
    case Propagation::kOrphan: return "Orphan";
    case Propagation::kDefault: break;
  }
  return "";
}

}  // namespace

std::string object_name(const Json& object) { return metadata_field(object, "name"); }
std::string object_namespace(const Json& object) { return metadata_field(object, "namespace"); }
std::string object_resource_version(const Json& object) { return metadata_field(object, "resourceVersion"); }

Result<std::string> DynamicClient::namespace_for(const ApiResource& type, const std::string& namespace_name,
                                                 const Json* object, const std::string& verb,
                                                 const std::string& name) {
  if (!type.namespaced) return std::string();
  std::string from_object = object ? object_namespace(*object) : "";
  if (!namespace_name.empty() && !from_object.empty() && namespace_name != from_object) {
    return Error(ErrorCode::kInvalidArgument,
                 "cannot " + verb + " " + type.qualified_name() + "/" + name + ": the object says namespace " +
                     from_object + " but namespace " + namespace_name + " was requested",
                 type.qualified_name() + "/" + name, "make metadata.namespace match, or remove it from the object");
  }
  std::string chosen = namespace_name.empty() ? from_object : namespace_name;
  if (chosen.empty()) {
    return Error(ErrorCode::kInvalidArgument,
                 "cannot " + verb + " " + type.qualified_name() + "/" + name + ": it is namespaced but no namespace was given",
                 type.qualified_name() + "/" + name, "pass a namespace (-n NAMESPACE) or set metadata.namespace");
  }
  return chosen;
}

Result<Json> DynamicClient::get(const ApiResource& type, const std::string& namespace_name, const std::string& name) {
  std::string namespace_used = TRY(namespace_for(type, namespace_name, nullptr, "get", name));
  ApiRequest request;
  request.verb = "get";
  request.target = type.ref(namespace_used, name);
  return client_.send_json(request);
}

Result<Json> DynamicClient::get_status(const ApiResource& type, const std::string& namespace_name,
                                       const std::string& name) {
  std::string namespace_used = TRY(namespace_for(type, namespace_name, nullptr, "get", name));
  ApiRequest request;
  request.verb = "get";
  request.target = type.ref(namespace_used, name, "status");
  return client_.send_json(request);
}

Result<ObjectList> DynamicClient::list(const ApiResource& type, const std::string& namespace_name,
                                       const ListOptions& options) {
  const int kMaxRestarts = 3;
  for (int restart = 0;; restart++) {
    ObjectList result;
    std::string continue_token;
    bool expired = false;
    do {
      Query query;
      query.add("labelSelector", options.label_selector);
      query.add("fieldSelector", options.field_selector);
      if (options.page_size > 0) query.add("limit", options.page_size);
      query.add("continue", continue_token);
      if (continue_token.empty()) query.add("resourceVersion", options.resource_version);
      ApiRequest request;
      request.verb = "list";
      request.target = type.ref(namespace_name);
      request.query = query.str();
      Result<Json> page = client_.send_json(request);
      if (!page.ok()) {
        if (is_gone(page.error()) && !continue_token.empty() && restart < kMaxRestarts) {
          expired = true;  // the continue token outlived etcd's history: list again from the start
          break;
        }
        return std::move(page).error();
      }
      const Json& document = *page;
      continue_token.clear();
      if (auto metadata = document.find("metadata"); metadata != document.end() && metadata->is_object()) {
        continue_token = metadata->value("continue", "");
        result.resource_version = metadata->value("resourceVersion", "");
      }
      if (auto items = document.find("items"); items != document.end() && items->is_array()) {
        for (const Json& item : *items) {
          Json object = item;
          // List items carry no apiVersion/kind of their own.
          if (!object.contains("apiVersion")) object["apiVersion"] = type.api_version();
          if (!object.contains("kind")) object["kind"] = type.kind;
          result.items.push_back(std::move(object));
        }
      }
    } while (!continue_token.empty());
    if (!expired) return result;
  }
}

Result<Json> DynamicClient::write(const std::string& method, const ApiResource& type, const std::string& namespace_name,
                                  const Json& object, const std::string& subresource, const WriteOptions& options) {
  const std::string verb = method == "POST" ? "create" : method == "PATCH" ? "patch" : "update";
  const std::string name = object_name(object);
  if (name.empty() && (method != "POST" || !object.contains("metadata") ||
                       !object["metadata"].contains("generateName"))) {
    return Error(ErrorCode::kInvalidArgument, "cannot " + verb + " a " + type.qualified_name() + " without metadata.name",
                 type.qualified_name(), "set metadata.name (or metadata.generateName for create)");
  }
  std::string namespace_used = TRY(namespace_for(type, namespace_name, &object, verb, name));
  ApiRequest request;
  request.method = method;
  request.verb = verb;
  request.target = type.ref(namespace_used, name, subresource);
  if (method == "POST") request.path = type.ref(namespace_used).path();  // POST goes to the collection
  if (method == "PATCH") request.content_type = "application/apply-patch+yaml";  // server-side apply; JSON is YAML
  Query query;
  add_write_options(query, options);
  request.query = query.str();
  Json body = object;
  if (!body.contains("apiVersion")) body["apiVersion"] = type.api_version();
  if (!body.contains("kind")) body["kind"] = type.kind;
  request.body = body.dump();
  return client_.send_json(request);
}

Result<Json> DynamicClient::create(const ApiResource& type, const std::string& namespace_name, const Json& object,
                                   const WriteOptions& options) {
  return write("POST", type, namespace_name, object, "", options);
}

Result<Json> DynamicClient::update(const ApiResource& type, const std::string& namespace_name, const Json& object,
                                   const WriteOptions& options) {
  return write("PUT", type, namespace_name, object, "", options);
}

Result<Json> DynamicClient::update_status(const ApiResource& type, const std::string& namespace_name,
                                          const Json& object, const WriteOptions& options) {
  return write("PUT", type, namespace_name, object, "status", options);
}

Result<Json> DynamicClient::patch(const ApiResource& type, const std::string& namespace_name, const std::string& name,
                                  PatchType patch_type, const Json& patch, const std::string& subresource,
                                  const WriteOptions& options) {
  std::string namespace_used = TRY(namespace_for(type, namespace_name, nullptr, "patch", name));
  if (patch_type == PatchType::kJson && !patch.is_array()) {
    return Error(ErrorCode::kInvalidArgument, "a JSON patch of " + type.qualified_name() + "/" + name + " must be an array",
                 type.qualified_name() + "/" + name, "write it as [{\"op\": \"replace\", \"path\": \"/x\", \"value\": 1}]");
  }
  ApiRequest request;
  request.method = "PATCH";
  request.verb = "patch";
  request.target = type.ref(namespace_used, name, subresource);
  request.content_type = content_type_of(patch_type);
  Query query;
  add_write_options(query, options);
  request.query = query.str();
  request.body = patch.dump();
  return client_.send_json(request);
}

Result<Json> DynamicClient::apply(const ApiResource& type, const std::string& namespace_name, const Json& object,
                                  const WriteOptions& options) {
  if (options.field_manager.empty()) {
    std::string name = object_name(object);
    return Error(ErrorCode::kInvalidArgument,
                 "cannot apply " + type.qualified_name() + "/" + name + " without a field manager",
                 type.qualified_name() + "/" + name, "set WriteOptions::field_manager (e.g. \"stowage-install\")");
  }
  return write("PATCH", type, namespace_name, object, "", options);
}

Status DynamicClient::remove(const ApiResource& type, const std::string& namespace_name, const std::string& name,
                             const DeleteOptions& options) {
  std::string namespace_used = TRY(namespace_for(type, namespace_name, nullptr, "delete", name));
  ApiRequest request;
  request.method = "DELETE";
  request.verb = "delete";
  request.target = type.ref(namespace_used, name);
  Json body = {{"apiVersion", "v1"}, {"kind", "DeleteOptions"}};
  if (options.propagation != Propagation::kDefault) body["propagationPolicy"] = propagation_name(options.propagation);
  if (options.grace_period_seconds) body["gracePeriodSeconds"] = *options.grace_period_seconds;
  if (!options.precondition_uid.empty()) body["preconditions"]["uid"] = options.precondition_uid;
  if (!options.precondition_resource_version.empty()) {
    body["preconditions"]["resourceVersion"] = options.precondition_resource_version;
  }
  request.body = body.dump();
  TRY(client_.send(request));
  return ok_status();
}

Result<Json> DynamicClient::update_with_retry(const ApiResource& type, const std::string& namespace_name,
                                              const std::string& name, const std::function<Status(Json&)>& mutate,
                                              bool status, int attempts) {
  for (int attempt = 1;; attempt++) {
    Json object = TRY(status ? get_status(type, namespace_name, name) : get(type, namespace_name, name));
    TRY_STATUS(mutate(object));
    Result<Json> updated = status ? update_status(type, namespace_name, object) : update(type, namespace_name, object);
    if (updated.ok() || updated.error().code() != ErrorCode::kConflict || is_gone(updated.error())) return updated;
    if (attempt >= attempts) {
      return std::move(updated).error().with_context("still conflicting after " + std::to_string(attempts) +
                                                     " attempts");
    }
    // Another writer won the race; a short pause lets it finish.
    std::this_thread::sleep_for(std::chrono::milliseconds(10 * attempt));
  }
}

}  // namespace stowage::kube
