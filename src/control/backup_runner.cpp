#include "control/backup_runner.h"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include "archive/archive_writer.h"
#include "archive/gzip.h"
#include "control/hooks.h"
#include "control/pod_volumes.h"
#include "control/volume_work.h"
#include "control/selection.h"
#include "kube/dynamic_client.h"
#include "util/clock.h"
#include "util/duration.h"

namespace stowage::control {

using Json = nlohmann::json;
using backupstore::BackupObject;

namespace {

constexpr const char* kDefaultTtl = "720h0m0s";

struct Item {
  kube::ApiResource type;
  Json object;
  std::string namespace_name() const { return object["metadata"].value("namespace", std::string()); }
  std::string name() const { return object["metadata"].value("name", std::string()); }
};

using ItemKey = std::tuple<std::string, std::string, std::string>;  // qualified resource, namespace, name

class Collector {
 public:
  Collector(kube::DynamicClient& dynamic, OperationLog& log) : dynamic_(dynamic), log_(log) {}

  void add(const kube::ApiResource& type, Json object) {
    Item item{type, strip_for_archive(std::move(object))};
    ItemKey key{type.qualified_name(), item.namespace_name(), item.name()};
    items_.emplace(std::move(key), std::move(item));
  }
  bool has(const std::string& qualified, const std::string& ns, const std::string& name) const {
    return items_.count({qualified, ns, name}) > 0;
  }
  // Lists `type` in `ns` ("" = all namespaces, or cluster-scoped) and adds what `keep` accepts.
  template <typename Keep>
  void list(const kube::ApiResource& type, const std::string& ns, const kube::ListOptions& options, Keep keep) {
    auto listed = dynamic_.list(type, ns, options);
    if (!listed.ok()) {
      log_.error("listing " + type.qualified_name() + " failed: " + listed.error().to_string(), ns);
      return;
    }
    for (auto& object : listed.value().items)
      if (keep(object)) add(type, std::move(object));
  }
  // Gets one object and adds it; a missing object is a warning.
  void get(const kube::ApiResource& type, const std::string& ns, const std::string& name, const std::string& why) {
    if (has(type.qualified_name(), type.namespaced ? ns : "", name)) return;
    auto object = dynamic_.get(type, ns, name);
    if (object.ok()) {
      log_.info("including " + type.qualified_name() + " " + name + " (" + why + ")", ns);
      add(type, std::move(object).value());
    } else if (object.error().code() == ErrorCode::kNotFound) {
      log_.warning(type.qualified_name() + " " + name + " (" + why + ") does not exist", ns);
    } else {
      log_.error("reading " + type.qualified_name() + " " + name + " failed: " + object.error().to_string(), ns);
    }
  }
  std::map<ItemKey, Item>& items() { return items_; }

 private:
  kube::DynamicClient& dynamic_;
  OperationLog& log_;
  std::map<ItemKey, Item> items_;
};

std::optional<kube::ApiResource> find_type(const std::vector<kube::ApiResource>& types, const std::string& group,
                                           const std::string& resource) {
  for (const auto& t : types)
    if (t.group == group && t.resource == resource) return t;
  return std::nullopt;
}

std::string join(const std::vector<std::string>& parts, const char* separator) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) out += (i ? separator : "") + parts[i];
  return out;
}

}  // namespace

bool excluded_by_default(const kube::ApiResource& type) {
  static const std::set<std::string> kExcluded = {
      "events", "events.events.k8s.io", "nodes", "leases.coordination.k8s.io", "componentstatuses",
      "bindings", "endpointslices.discovery.k8s.io", "controllerrevisions.apps", "tokenreviews.authentication.k8s.io",
      "selfsubjectreviews.authentication.k8s.io", "volumeattachments.storage.k8s.io", "csinodes.storage.k8s.io",
      "apiservices.apiregistration.k8s.io", "flowschemas.flowcontrol.apiserver.k8s.io",
      "prioritylevelconfigurations.flowcontrol.apiserver.k8s.io"};
  if (type.group == "stowage.io" || type.group == "velero.io") return true;
  if (kExcluded.count(type.qualified_name())) return true;
  return !type.supports("list") || !type.supports("get") || !type.supports("create");
}

Json strip_for_archive(Json object) {
  if (object.contains("metadata") && object["metadata"].is_object()) {
    auto& metadata = object["metadata"];
    metadata.erase("managedFields");
    metadata.erase("resourceVersion");
    metadata.erase("selfLink");
  }
  return object;
}

BackupRunner::BackupRunner(kube::ApiClient& client, kube::Discovery& discovery, backupstore::BackupLocation& location,
                           OperationLog& log, bool default_all_volumes)
    : client_(client), discovery_(discovery), location_(location), log_(log), default_all_volumes_(default_all_volumes) {}

Json BackupRunner::run(const Json& backup) {
  const std::string name = backup["metadata"].value("name", std::string());
  const Json spec = backup.value("spec", Json::object());
  Json status = backup.value("status", Json::object());
  status["formatVersion"] = "1.1.0";
  status["version"] = 1;
  if (!status.contains("startTimestamp")) status["startTimestamp"] = format_time_utc(now_unix());
  auto fail = [&](const std::string& phase, const std::string& reason) {
    return failed_status(status, log_, phase, reason);
  };

  std::vector<std::string> problems;
  auto selection_result = Selection::parse(spec, problems);
  std::string ttl_text = spec.value("ttl", std::string(kDefaultTtl));
  auto ttl = parse_duration(ttl_text.empty() ? kDefaultTtl : ttl_text);
  if (!ttl.ok()) problems.push_back("spec.ttl: " + ttl.error().to_string());
  auto types_result = discovery_.preferred_resources();
  if (!types_result.ok()) return fail("Failed", "discovery failed: " + types_result.error().to_string());
  const auto& types = types_result.value();
  Selection selection = selection_result.ok() ? selection_result.value() : Selection{};
  ResourceMatcher matcher(selection.resources, types, problems);
  auto volume_timeout = item_timeout(spec, problems);
  if (!problems.empty()) {
    status["validationErrors"] = problems;
    return fail("FailedValidation", "the backup spec is invalid: " + join(problems, "; "));
  }
  for (const auto& failure : discovery_.failures()) log_.warning("API group not backed up: " + failure);
  log_.info("backing up to " + location_.store().describe() + " (archive format " +
            backupstore::archive_format_name(location_.settings().archive_format) + ")");

  kube::DynamicClient dynamic(client_);
  Collector collector(dynamic, log_);
  kube::ListOptions options;
  if (selection.selectors.size() == 1) options.label_selector = selection.selectors.front().to_query();
  auto keep = [&](const Json& object) {
    std::string ns = object["metadata"].value("namespace", std::string());
    return (ns.empty() || selection.namespaces.matches(ns)) && selection.labels_match(object);
  };

  for (const auto& type : types) {
    if (excluded_by_default(type) || !matcher.matches(type)) continue;
    if (type.group.empty() && type.resource == "namespaces") continue;  // below
    if (type.namespaced) {
      if (selection.namespaces.includes_everything()) {
        collector.list(type, "", options, keep);
      } else {
        for (const auto& ns : selection.namespaces.included)
          if (selection.namespaces.matches(ns)) collector.list(type, ns, options, keep);
      }
    } else if (selection.cluster_scoped_included()) {
      collector.list(type, "", options, keep);
    }
  }

  // Dependencies of what was selected.
  std::set<std::string> namespaces;
  auto pvc_type = find_type(types, "", "persistentvolumeclaims");
  auto pv_type = find_type(types, "", "persistentvolumes");
  auto crd_type = find_type(types, "apiextensions.k8s.io", "customresourcedefinitions");
  bool cluster_dependencies = selection.include_cluster_resources.value_or(true);
  std::set<std::string> crds_checked;
  std::vector<Item> snapshot;
  for (auto& [key, item] : collector.items()) snapshot.push_back(item);
  for (const auto& item : snapshot) {
    std::string ns = item.namespace_name();
    if (!ns.empty()) namespaces.insert(ns);
    const Json& spec_of = item.object.value("spec", Json::object());
    if (item.type.group.empty() && item.type.resource == "pods" && pvc_type && matcher.matches(*pvc_type)) {
      for (const auto& volume : spec_of.value("volumes", Json::array()))
        if (volume.contains("persistentVolumeClaim"))
          collector.get(*pvc_type, ns, volume["persistentVolumeClaim"].value("claimName", std::string()),
                        "used by pod " + item.name());
    }
    if (!item.type.group.empty() && item.type.group.find('.') != std::string::npos && crd_type &&
        cluster_dependencies && !crds_checked.count(item.type.qualified_name())) {
      crds_checked.insert(item.type.qualified_name());
      auto crd = dynamic.get(*crd_type, "", item.type.qualified_name());
      if (crd.ok()) {
        log_.info("including the CustomResourceDefinition " + item.type.qualified_name() + " of selected objects");
        collector.add(*crd_type, std::move(crd).value());
      }
    }
  }
  // PVCs (selected or added above) bring their PVs.
  if (pv_type && cluster_dependencies && matcher.matches(*pv_type)) {
    std::vector<std::pair<std::string, std::string>> claims;
    for (auto& [key, item] : collector.items())
      if (item.type.group.empty() && item.type.resource == "persistentvolumeclaims")
        claims.emplace_back(item.namespace_name(), item.object.value("spec", Json::object()).value("volumeName", ""));
    for (const auto& [ns, volume] : claims)
      if (!volume.empty()) collector.get(*pv_type, "", volume, "bound to a selected claim in " + ns);
  }
  auto ns_type = find_type(types, "", "namespaces");
  if (ns_type && matcher.matches(*ns_type)) {
    if (!selection.namespaces.includes_everything())
      for (const auto& ns : selection.namespaces.included) namespaces.insert(ns);
    for (const auto& ns : namespaces)
      if (selection.namespaces.matches(ns)) collector.get(*ns_type, "", ns, "selected namespace");
  }

  // Each Running pod: its pre hooks, its volumes' data (by the node agents), its post hooks. Then the archive.
  Json spec_hooks = spec.value("hooks", Json::object());
  int hooks_attempted = 0, hooks_failed = 0;
  bool default_all_volumes = spec.contains("defaultVolumesToFsBackup") && spec["defaultVolumesToFsBackup"].is_boolean()
                                 ? spec["defaultVolumesToFsBackup"].get<bool>()
                                 : default_all_volumes_;
  VolumeWork volume_work(client_, backup["metadata"].value("namespace", std::string()), log_);
  std::vector<VolumeRecord> volume_records;
  VolumeOutcome volume_outcome;
  for (auto& [key, item] : collector.items()) {
    if (!(item.type.group.empty() && item.type.resource == "pods")) continue;
    std::string ns = item.namespace_name();
    std::vector<std::string> skipped, volume_problems;
    if (item.object.value("status", Json::object()).value("phase", std::string()) != "Running") {
      if (!volumes_to_back_up(item.object, default_all_volumes, skipped).empty())
        log_.warning("pod " + ns + "/" + item.name() + " is not Running; its volumes' data is not backed up", ns);
      continue;
    }
    const Json& pod = item.object;  // (clang 14 cannot capture a structured binding)
    auto run_hooks = [&](const char* phase) {
      auto hooks = backup_hooks(pod, spec_hooks, phase);
      if (!hooks.ok()) {
        log_.error(hooks.error().to_string(), ns);
        return false;
      }
      HookOutcome outcome = run_exec_hooks(client_, pod, hooks.value(), phase, log_);
      hooks_attempted += outcome.attempted;
      hooks_failed += outcome.failed;
      return !outcome.must_fail;
    };
    if (!run_hooks("pre")) {
      // No volumes and no post hooks after a failed pre hook.
      if (!volumes_to_back_up(item.object, default_all_volumes, skipped).empty())
        log_.error("pod " + ns + "/" + item.name() + ": a pre hook failed; its volumes' data is not backed up", ns);
      continue;
    }
    auto volumes = resolve_pod_volumes(client_, item.object, default_all_volumes, skipped, volume_problems);
    for (const auto& line : skipped) log_.info("pod " + ns + "/" + item.name() + ": " + line, ns);
    for (const auto& line : volume_problems) log_.error("pod " + ns + "/" + item.name() + ": " + line, ns);
    volume_work.back_up_pod(backup, item.object, volumes, std::chrono::steady_clock::now() + volume_timeout, volume_records, volume_outcome);
    run_hooks("post");
  }

  Bytes archive_bytes;
  auto opened = archive::ArchiveWriter::open([&](ByteView data) {
    archive_bytes.insert(archive_bytes.end(), data.begin(), data.end());
    return ok_status();
  });
  if (!opened.ok()) return fail("Failed", "starting the archive failed: " + opened.error().to_string());
  archive::ArchiveWriter& writer = opened.value();
  Json resource_list = Json::object();
  Status written = writer.add_format_version();
  int backed_up = 0;
  for (auto& [key, item] : collector.items()) {
    if (!written.ok()) break;
    archive::ItemPath path;
    path.resource = item.type.qualified_name();
    path.namespace_name = item.type.namespaced ? item.namespace_name() : "";
    path.name = item.name();
    written = writer.add_item(path, item.object);
    if (written.ok()) {
      path.preferred_version = item.type.version;
      written = writer.add_item(path, item.object);
    }
    std::string gvk = item.type.api_version() + "/" + item.type.kind;
    resource_list[gvk].push_back(item.type.namespaced ? item.namespace_name() + "/" + item.name() : item.name());
    ++backed_up;
  }
  if (written.ok()) written = writer.finish();
  if (!written.ok()) return fail("Failed", "writing the archive failed: " + written.error().to_string());
  log_.info("archived " + std::to_string(backed_up) + " items (" + std::to_string(archive_bytes.size()) + " bytes)");

  status["progress"] = {{"totalItems", backed_up}, {"itemsBackedUp", backed_up}};
  status["hookStatus"] = {{"hooksAttempted", hooks_attempted}, {"hooksFailed", hooks_failed}};
  status["volumeBackups"] = volume_outcome.to_json();
  int64_t expires = now_unix() + std::chrono::duration_cast<std::chrono::seconds>(ttl.value()).count();
  status["expiration"] = format_time_utc(expires);

  // Store: contents, item list, results, log; then the metadata.
  backupstore::BackupManifest manifest;
  manifest.archive_format = location_.settings().archive_format;
  auto store = [&](BackupObject object, ByteView content) -> Status {
    auto digest = TRY(location_.put_backup_object(name, object, content, expires));
    manifest.objects[backupstore::layout::backup_object_file(name, object)] = digest;
    if (object == BackupObject::kContents)
      status["archive"] = {{"encrypted", manifest.archive_format == backupstore::ArchiveFormat::kEncrypted},
                           {"size", digest.size},
                           {"sha256", digest.sha256}};
    return ok_status();
  };
  auto gzip_json = [](const Json& j) { return archive::gzip_compress(as_bytes(j.dump())); };
  Status stored = store(BackupObject::kContents, archive_bytes);
  if (stored.ok()) {
    auto list_gz = gzip_json(resource_list);
    stored = list_gz.ok() ? store(BackupObject::kResourceList, list_gz.value()) : Status(list_gz.error());
  }
  if (stored.ok()) {
    Json volume_info = Json::array();
    for (const auto& record : volume_records) volume_info.push_back(record.to_json());
    auto info_gz = gzip_json(volume_info);
    stored = info_gz.ok() ? store(BackupObject::kVolumeInfo, info_gz.value()) : Status(info_gz.error());
  }
  if (!stored.ok()) return fail("Failed", "storing the backup failed: " + stored.error().to_string());

  status["phase"] = log_.errors() > 0 ? "PartiallyFailed" : "Completed";
  status["completionTimestamp"] = format_time_utc(now_unix());
  log_.info("backup " + status["phase"].get<std::string>() + ": " + std::to_string(backed_up) + " items, " +
            std::to_string(log_.warnings()) + " warnings, " + std::to_string(log_.errors()) + " errors");
  status["errors"] = log_.errors();
  status["warnings"] = log_.warnings();
  auto results_gz = gzip_json(log_.results());
  auto log_gz = archive::gzip_compress(as_bytes(log_.text()));
  if (!results_gz.ok() || !log_gz.ok()) return fail("Failed", "compressing the log failed");
  stored = store(BackupObject::kResults, results_gz.value());
  if (stored.ok()) stored = store(BackupObject::kLog, log_gz.value());
  if (!stored.ok()) return fail("Failed", "storing the backup failed: " + stored.error().to_string());

  Json metadata = backup;
  metadata["status"] = status;
  metadata["metadata"].erase("managedFields");
  metadata["metadata"].erase("resourceVersion");
  metadata["metadata"].erase("uid");
  if (location_.settings().archive_format == backupstore::ArchiveFormat::kPlain) metadata["apiVersion"] = "velero.io/v1";
  stored = location_.put_backup_metadata(name, metadata, manifest);
  if (!stored.ok()) return fail("Failed", "storing the backup's metadata failed: " + stored.error().to_string());
  return status;
}

}  // namespace stowage::control
