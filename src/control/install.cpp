#include "control/install.h"

#include <algorithm>
#include <map>
#include <thread>

#include "kube/discovery.h"
#include "kube/dynamic_client.h"

namespace stowage::control {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

class Reporter {
 public:
  explicit Reporter(const std::function<void(std::string_view)>& sink) : sink_(sink) {}
  void operator()(const std::string& line) const {
    if (sink_) sink_(line);
  }

 private:
  const std::function<void(std::string_view)>& sink_;
};

std::string kind_of(const ManifestObject& item) { return item.object.value("kind", ""); }
std::string name_of(const ManifestObject& item) { return item.object["metadata"].value("name", ""); }
std::string namespace_of(const ManifestObject& item) { return item.object["metadata"].value("namespace", ""); }

Result<kube::ApiResource> type_of(kube::Discovery& discovery, const ManifestObject& item) {
  Result<kube::ApiResource> type = discovery.resolve_kind(item.object.value("apiVersion", ""), kind_of(item));
  if (!type.ok()) return std::move(type).error().with_context("finding the resource type of " + item.describe());
  return type;
}

// Whether two versions of an object say the same, ignoring what every write
// (or dry-run write) changes: resourceVersion, generation, managedFields.
bool same_content(json a, json b) {
  for (json* object : {&a, &b}) {
    if (!object->contains("metadata")) continue;
    for (const char* key : {"resourceVersion", "generation", "managedFields"}) (*object)["metadata"].erase(key);
  }
  return a == b;
}

bool being_deleted(const json& object) {
  return object.contains("metadata") && object["metadata"].contains("deletionTimestamp");
}

const json* find_condition(const json& object, const std::string& type) {
  if (!object.contains("status") || !object["status"].contains("conditions")) return nullptr;
  for (const json& condition : object["status"]["conditions"]) {
    if (condition.value("type", "") == type) return &condition;
  }
  return nullptr;
}

// "Established=False (Installing: the CRD is being installed); NamesAccepted=True";
// with only_true, just the conditions that hold (what keeps a terminating
// namespace: "NamespaceFinalizersRemaining=True (...)").
std::string conditions_summary(const json& object, bool only_true = false) {
  if (!object.contains("status") || !object["status"].contains("conditions")) return "no conditions reported yet";
  std::string out;
  for (const json& condition : object["status"]["conditions"]) {
    if (only_true && condition.value("status", "") != "True") continue;
    if (!out.empty()) out += "; ";
    out += condition.value("type", "?") + "=" + condition.value("status", "?");
    std::string reason = condition.value("reason", ""), message = condition.value("message", "");
    if (!reason.empty() || !message.empty()) out += " (" + reason + (message.empty() ? "" : ": " + message) + ")";
  }
  return out;
}

using Deadline = std::chrono::steady_clock::time_point;

// Calls `check` every 250 ms until it answers true or fails, or `deadline`
// passes: then the error says what was awaited (for `bound`) and what
// `remaining` reports.
Status poll(const std::function<Result<bool>()>& check, Deadline deadline, std::chrono::seconds bound,
            const std::string& awaited, const std::function<std::string()>& remaining, const std::string& hint) {
  while (true) {
    bool done = TRY(check());
    if (done) return ok_status();
    if (std::chrono::steady_clock::now() >= deadline) {
      return Error(ErrorCode::kUnavailable,
                   "timed out after " + std::to_string(bound.count()) + " s waiting for " + awaited + ": " +
                       remaining(),
                   awaited, hint);
    }
    std::this_thread::sleep_for(250ms);
  }
}

// Waits until the object is gone (404).
Status wait_gone(kube::DynamicClient& objects, const kube::ApiResource& type, const std::string& namespace_name,
                 const std::string& name, const std::string& what, Deadline deadline, std::chrono::seconds bound) {
  json last;
  return poll(
      [&]() -> Result<bool> {
        Result<json> got = objects.get(type, namespace_name, name);
        if (!got.ok() && got.error().code() == ErrorCode::kNotFound) return true;
        if (!got.ok()) return std::move(got).error().with_context("checking whether " + what + " is gone");
        last = std::move(got).value();
        return false;
      },
      deadline, bound, what + " to be deleted",
      [&] {
        std::string out = "it still exists";
        json finalizers = last["metadata"].value("finalizers", json::array());
        if (!finalizers.empty()) out += ", with finalizers " + finalizers.dump();
        std::string phase = last.contains("status") ? last["status"].value("phase", "") : "";
        if (!phase.empty()) out += ", phase " + phase;
        std::string conditions = conditions_summary(last, /*only_true=*/true);
        return conditions.empty() ? out : out + " (" + conditions + ")";
      },
      "see what holds it: kubectl get " + type.qualified_name() + " " + name +
          (namespace_name.empty() ? "" : " -n " + namespace_name) + " -o yaml");
}

// Waits until every CRD in `names` is Established; fails at once when the
// API server refuses a CRD's names (a conflict with another CRD).
Status wait_established(kube::DynamicClient& objects, const kube::ApiResource& crd_type,
                        const std::vector<std::string>& names, std::chrono::seconds limit, const Reporter& say) {
  say("waiting up to " + std::to_string(limit.count()) + " s for " + std::to_string(names.size()) +
      " CustomResourceDefinitions to be Established");
  std::vector<std::string> pending = names;
  std::map<std::string, json> last;
  TRY_STATUS(poll(
      [&]() -> Result<bool> {
        std::vector<std::string> still;
        for (const std::string& name : pending) {
          json crd = TRY(objects.get(crd_type, "", name));
          const json* accepted = find_condition(crd, "NamesAccepted");
          if (accepted != nullptr && accepted->value("status", "") == "False") {
            return Error(ErrorCode::kConflict,
                         "the API server did not accept the names of CustomResourceDefinition " + name + ": " +
                             accepted->value("message", ""),
                         "customresourcedefinitions/" + name,
                         "another CRD claims the same plural, short name or kind: kubectl get crd -o wide");
          }
          const json* established = find_condition(crd, "Established");
          if (established == nullptr || established->value("status", "") != "True") still.push_back(name);
          last[name] = std::move(crd);
        }
        pending = std::move(still);
        return pending.empty();
      },
      std::chrono::steady_clock::now() + limit, limit, "CustomResourceDefinitions to be Established",
      [&] {
        std::string out;
        for (const std::string& name : pending) {
          out += (out.empty() ? "" : ", ") + name + " (" + conditions_summary(last[name]) + ")";
        }
        return "not yet: " + out;
      },
      "check the kube-apiserver's log, and kubectl describe crd NAME"));
  say("CustomResourceDefinitions Established: " + std::to_string(names.size()));
  return ok_status();
}

Result<bool> namespace_exists(kube::Discovery& discovery, kube::DynamicClient& objects, const std::string& name) {
  kube::ApiResource namespaces = TRY(discovery.resolve_kind("v1", "Namespace"));
  Result<json> got = objects.get(namespaces, "", name);
  if (got.ok()) return !being_deleted(*got);
  if (got.error().code() == ErrorCode::kNotFound) return false;
  return std::move(got).error();
}

// The stowage.io resource types the CRDs among `objects` define.
std::vector<kube::ApiResource> stowage_types(const std::vector<ManifestObject>& objects) {
  std::vector<kube::ApiResource> types;
  for (const ManifestObject& item : objects) {
    if (kind_of(item) != "CustomResourceDefinition") continue;
    const json& spec = item.object["spec"];
    kube::ApiResource type;
    type.group = spec.value("group", "");
    type.resource = spec["names"].value("plural", "");
    type.singular = spec["names"].value("singular", "");
    type.kind = spec["names"].value("kind", "");
    type.namespaced = spec.value("scope", "") == "Namespaced";
    for (const json& version : spec["versions"]) {
      if (version.value("storage", false)) type.version = version.value("name", "");
    }
    types.push_back(type);
  }
  return types;
}

// Removes stowage.io/* finalizers from every stowage object in
// `namespace_name` (all namespaces when empty): with the server gone nothing
// would ever remove them, and the namespace or CRDs would never go.
Status clear_finalizers(kube::DynamicClient& objects, const std::vector<kube::ApiResource>& types,
                        const std::string& namespace_name, const Reporter& say) {
  for (const kube::ApiResource& type : types) {
    Result<kube::ObjectList> list = objects.list(type, namespace_name);
    if (!list.ok() && list.error().code() == ErrorCode::kNotFound) continue;  // CRD not installed
    if (!list.ok()) return std::move(list).error().with_context("listing " + type.qualified_name());
    for (const json& item : list->items) {
      json finalizers = item["metadata"].value("finalizers", json::array());
      json kept = json::array();
      for (const json& finalizer : finalizers) {
        if (!finalizer.get<std::string>().starts_with("stowage.io/")) kept.push_back(finalizer);
      }
      if (kept.size() == finalizers.size()) continue;
      const std::string name = kube::object_name(item), ns = kube::object_namespace(item);
      Result<json> patched = objects.patch(type, ns, name, kube::PatchType::kMerge,
                                           json{{"metadata", {{"finalizers", kept}}}});
      if (!patched.ok() && patched.error().code() != ErrorCode::kNotFound) {
        return std::move(patched).error().with_context("removing the finalizers of " + type.qualified_name() +
                                                       "/" + name);
      }
      say(type.qualified_name() + "/" + name + " in namespace " + ns + ": stowage.io finalizers removed");
    }
  }
  return ok_status();
}

}  // namespace

Status install(kube::ApiClient& client, const InstallOptions& options,
               const std::function<void(std::string_view)>& report) {
  Reporter say(report);
  RenderOptions render;
  render.namespace_name = options.namespace_name;
  render.image = options.image;
  render.crds_only = options.crds_only;
  render.with_agent = options.with_agent;
  std::vector<ManifestObject> objects = TRY(render_manifests(render));
  kube::Discovery discovery(client);
  kube::DynamicClient dynamic(client);
  kube::WriteOptions write;
  write.field_manager = kInstallFieldManager;
  write.force = true;
  write.dry_run = options.dry_run;
  const std::string suffix = options.dry_run ? " (dry run)" : "";

  bool target_namespace_exists = true;
  if (options.dry_run) target_namespace_exists = TRY(namespace_exists(discovery, dynamic, options.namespace_name));
  std::vector<std::string> crds;
  kube::ApiResource crd_type;
  bool crds_awaited = false;
  for (const ManifestObject& item : objects) {
    const std::string kind = kind_of(item), name = name_of(item), ns = namespace_of(item);
    if (kind != "CustomResourceDefinition" && !crds.empty() && !crds_awaited && !options.dry_run) {
      TRY_STATUS(wait_established(dynamic, crd_type, crds, options.wait_timeout, say));
      crds_awaited = true;
    }
    kube::ApiResource type = TRY(type_of(discovery, item));
    if (!ns.empty() && !target_namespace_exists) {
      say(item.describe() + ": not validated (dry run; namespace " + ns + " does not exist yet)");
      continue;
    }
    Result<json> existing = dynamic.get(type, ns, name);
    if (!existing.ok() && existing.error().code() != ErrorCode::kNotFound) {
      return std::move(existing).error().with_context("reading " + item.describe());
    }
    if (existing.ok() && being_deleted(*existing)) {
      if (options.dry_run) {
        say(item.describe() + ": being deleted; install would wait for it to go, then create it again");
        continue;
      }
      say(item.describe() + ": being deleted; waiting up to " + std::to_string(options.wait_timeout.count()) +
          " s for it to go");
      TRY_STATUS(wait_gone(dynamic, type, ns, name, item.describe(),
                           std::chrono::steady_clock::now() + options.wait_timeout, options.wait_timeout));
      existing = Error(ErrorCode::kNotFound, "deleted", item.describe());
    }
    Result<json> applied = dynamic.apply(type, ns, item.object, write);
    if (!applied.ok()) {
      return std::move(applied).error().with_context("applying " + item.describe() + " (deploy/" + item.file + ")");
    }
    // A real apply that changes nothing writes nothing: the resourceVersion
    // stays. A dry run never writes: compare what it would store.
    bool unchanged = existing.ok() && (options.dry_run ? same_content(*existing, *applied)
                                                       : kube::object_resource_version(*existing) ==
                                                             kube::object_resource_version(*applied));
    std::string outcome = !existing.ok() ? "created" : unchanged ? "unchanged" : "configured";
    say(item.describe() + ": " + outcome + suffix);
    if (kind == "CustomResourceDefinition") {
      crds.push_back(name);
      crd_type = type;
    }
  }
  if (!crds.empty() && !crds_awaited && !options.dry_run) {
    TRY_STATUS(wait_established(dynamic, crd_type, crds, options.wait_timeout, say));
  }
  return ok_status();
}

Status uninstall(kube::ApiClient& client, const UninstallOptions& options,
                 const std::function<void(std::string_view)>& report) {
  Reporter say(report);
  RenderOptions render;
  render.namespace_name = options.namespace_name;
  std::vector<ManifestObject> objects = TRY(render_manifests(render));
  std::reverse(objects.begin(), objects.end());
  kube::Discovery discovery(client);
  kube::DynamicClient dynamic(client);
  const std::vector<kube::ApiResource> stowage = stowage_types(objects);
  kube::DeleteOptions background;
  background.propagation = kube::Propagation::kBackground;

  bool finalizers_cleared = false;
  struct Awaited {
    kube::ApiResource type;
    std::string name, what;
  };
  std::vector<Awaited> awaited;
  for (const ManifestObject& item : objects) {
    const std::string kind = kind_of(item), name = name_of(item), ns = namespace_of(item);
    if (kind == "CustomResourceDefinition" && options.keep_crds) {
      say(item.describe() + ": kept");
      continue;
    }
    if ((kind == "CustomResourceDefinition" || kind == "Namespace") && !finalizers_cleared) {
      // The CRDs take every stowage object of the cluster with them; the
      // namespace only its own.
      TRY_STATUS(clear_finalizers(dynamic, stowage, options.keep_crds ? options.namespace_name : "", say));
      finalizers_cleared = true;
    }
    kube::ApiResource type = TRY(type_of(discovery, item));
    Status removed = dynamic.remove(type, ns, name, background);
    if (removed.ok()) {
      say(item.describe() + ": deleted");
    } else if (removed.error().code() == ErrorCode::kNotFound) {
      say(item.describe() + ": not found (already gone)");
    } else {
      return std::move(removed).error().with_context("deleting " + item.describe());
    }
    if (kind == "CustomResourceDefinition" || kind == "Namespace") awaited.push_back({type, name, item.describe()});
  }
  // One bound for all of them: they go away in parallel.
  size_t crds = std::count_if(awaited.begin(), awaited.end(), [](const Awaited& item) {
    return item.type.kind == "CustomResourceDefinition";
  });
  say("waiting up to " + std::to_string(options.wait_timeout.count()) + " s for namespace/" + options.namespace_name +
      (crds > 0 ? " and " + std::to_string(crds) + " CustomResourceDefinitions" : "") + " to go");
  const auto deadline = std::chrono::steady_clock::now() + options.wait_timeout;
  for (const Awaited& item : awaited) {
    TRY_STATUS(wait_gone(dynamic, item.type, "", item.name, item.what, deadline, options.wait_timeout));
  }
  say("uninstalled from namespace " + options.namespace_name);
  return ok_status();
}

}  // namespace stowage::control
