#include "control/restore_runner.h"

#include <algorithm>
#include <map>
#include <set>
#include <thread>

#include "archive/archive_reader.h"
#include "archive/gzip.h"
#include "control/item_spool.h"
#include "control/pod_volumes.h"
#include "control/resources.h"
#include "control/restore_hooks.h"
#include "control/restore_transform.h"
#include "control/selection.h"
#include "control/volume_work.h"
#include "crypto/hash.h"
#include "kube/dynamic_client.h"
#include "util/clock.h"

namespace stowage::control {

using Json = nlohmann::json;
using backupstore::BackupObject;

namespace {

constexpr uint64_t kMaxItemListBytes = 256ull << 20;
constexpr auto kCrdWait = std::chrono::seconds(60);

std::map<std::string, std::string> string_map(const Json& spec, const char* field) {
  std::map<std::string, std::string> out;
  if (spec.contains(field) && spec[field].is_object())
    for (const auto& [k, v] : spec[field].items())
      if (v.is_string()) out[k] = v.get<std::string>();
  return out;
}

std::string display(const archive::ItemPath& p) {
  return p.resource + " " + (p.namespace_name.empty() ? p.name : p.namespace_name + "/" + p.name);
}

// Kinds whose controllers recreate what they control.
bool recreated_by_owner(const std::string& owner_kind) {
  static const std::set<std::string> kControllers = {"Deployment", "ReplicaSet", "StatefulSet",
                                                     "DaemonSet",  "Job",        "CronJob"};
  return kControllers.count(owner_kind) > 0;
}

// Whether an existing object already holds what the restore would create
// (the cluster makes some in every namespace: kube-root-ca.crt, default).
bool same_content(Json existing, Json wanted) {
  for (Json* o : {&existing, &wanted}) {
    Json metadata = (*o)["metadata"];
    (*o)["metadata"] = {{"labels", metadata.value("labels", Json::object())},
                        {"annotations", metadata.value("annotations", Json::object())}};
    (*o)["metadata"]["annotations"].erase("kubectl.kubernetes.io/last-applied-configuration");
    o->erase("status");
  }
  return existing == wanted;
}


// The PV (and CSI volume) name of a local snapshot's clone for one restore.
std::string clone_volume_name(const std::string& pv, const std::string& restore) {
  std::string tag = hex_encode(crypto::sha256(as_bytes(pv + "\n" + restore))).substr(0, 10);
  return pv.substr(0, 200) + "-clone-" + tag;
}

}  // namespace

RestoreRunner::RestoreRunner(kube::ApiClient& client, kube::Discovery& discovery,
                             backupstore::BackupLocation& location, OperationLog& log, RestoreVolumeSettings volumes)
    : client_(client), discovery_(discovery), location_(location), log_(log), volumes_(std::move(volumes)) {}

Json RestoreRunner::run(const Json& restore, const std::string& backup_name) {
  const Json spec = restore.value("spec", Json::object());
  Json status = restore.value("status", Json::object());
  if (!status.contains("startTimestamp")) status["startTimestamp"] = format_time_utc(now_unix());

  // The spec.
  std::vector<std::string> problems;
  auto selection_result = Selection::parse(spec, problems);
  Mappings mappings{string_map(spec, "namespaceMapping"), string_map(spec, "storageClassMapping"),
                    string_map(spec, "nodeNameMapping"), spec.value("preserveNodePorts", false), {}};
  std::vector<ModifierRule> modifiers;
  if (spec.contains("resourceModifiers")) {
    auto parsed = parse_modifier_rules(spec["resourceModifiers"]);
    if (parsed.ok()) modifiers = std::move(parsed).value();
    else problems.push_back(parsed.error().to_string());
  }
  std::string policy = spec.value("existingResourcePolicy", std::string("none"));
  auto volume_timeout = item_timeout(spec, problems);
  if (policy != "none" && policy != "update") problems.push_back("spec.existingResourcePolicy must be none or update");
  auto types = discovery_.preferred_resources();
  if (!types.ok()) return failed_status(status, log_, "Failed", "discovery failed: " + types.error().to_string());
  Selection selection = selection_result.ok() ? selection_result.value() : Selection{};
  ResourceMatcher matcher(selection.resources, types.value(), problems);
  if (!problems.empty()) {
    status["validationErrors"] = problems;
    std::string all;
    for (const auto& p : problems) all += (all.empty() ? "" : "; ") + p;
    return failed_status(status, log_, "FailedValidation", "the restore spec is invalid: " + all);
  }

  // The backup: metadata, item list, archive — all checked before anything is created.
  bool allow_unverified = restore["metadata"].value("annotations", Json::object()).value(kAllowUnverifiedAnnotation, "") == "true";
  auto stored = location_.read_backup(backup_name, allow_unverified);
  if (!stored.ok()) return failed_status(status, log_, "Failed", "backup " + backup_name + ": " + stored.error().to_string());
  std::string backup_phase = stored.value().backup.value("status", Json::object()).value("phase", std::string());
  if (backup_phase != "Completed" && backup_phase != "PartiallyFailed")
    return failed_status(status, log_, "Failed",
                       "backup " + backup_name + " is " + (backup_phase.empty() ? "incomplete" : backup_phase) +
                           "; only Completed or PartiallyFailed backups can be restored");
  if (!stored.value().manifest)
    log_.warning("backup " + backup_name + " has no stowage manifest (written by Velero): every item is checked, but "
                 "additions or changes to the archive cannot be detected");

  std::set<std::string> listed;  // "apps/v1/Deployment|ns/name"
  {
    auto reader = location_.open_backup_object(stored.value(), BackupObject::kResourceList, kMaxItemListBytes);
    auto gz = reader.ok() ? backupstore::read_remaining(*reader.value()) : Result<Bytes>(reader.error());
    if (!gz.ok())
      return failed_status(status, log_, "Failed", "the item list of backup " + backup_name + ": " + gz.error().to_string());
    auto text = archive::gzip_decompress(gz.value(), kMaxItemListBytes, reader.value()->key());
    Json list = text.ok() ? Json::parse(text.value().begin(), text.value().end(), nullptr, false) : Json();
    if (!text.ok() || list.is_discarded() || !list.is_object())
      return failed_status(status, log_, "Failed", "the item list of backup " + backup_name + " cannot be read" +
                                                     (text.ok() ? std::string() : ": " + text.error().to_string()));
    for (const auto& [gvk, names] : list.items())
      if (names.is_array())
        for (const auto& n : names)
          if (n.is_string()) listed.insert(gvk + "|" + n.get<std::string>());
  }

  // The volumes the backup holds data of, by pod ("ns/name").
  bool restore_pvs = !(spec.contains("restorePVs") && spec["restorePVs"].is_boolean() && !spec["restorePVs"].get<bool>());
  std::map<std::string, std::vector<VolumeRecord>> volumes_of_pod;
  {
    auto records = read_volume_records(location_, stored.value());
    if (!records.ok())
      return failed_status(status, log_, "Failed", "the volume list of backup " + backup_name + ": " + records.error().to_string());
    for (const auto& record : records.value()) {
      if (record.phase != "Completed" || (record.snapshot_id.empty() && record.local_snapshot.empty())) continue;
      volumes_of_pod[record.namespace_name + "/" + record.pod].push_back(record);
      // A local snapshot comes back as a clone: a new volume under a new PV.
      if (!record.local_snapshot.empty() && !record.pv.empty() && restore_pvs)
        mappings.cloned_volumes[record.pv] = clone_volume_name(record.pv, restore["metadata"].value("name", std::string()));
    }
  }
  // Replicated volumes are written before their PV is created (the claim
  // binds only once every replica holds the data), by PV name.
  std::map<std::string, const VolumeRecord*> replicated_pvs;
  if (restore_pvs)
    for (const auto& [pod, records] : volumes_of_pod)
      for (const auto& record : records)
        if (record.method == "Replicated" && !record.pv.empty()) replicated_pvs[record.pv] = &record;

  auto spool_result = ItemSpool::create();
  if (!spool_result.ok()) return failed_status(status, log_, "Failed", spool_result.error().to_string());
  ItemSpool& spool = *spool_result.value();
  {
    auto contents = location_.open_backup_object(stored.value(), BackupObject::kContents);
    if (!contents.ok())
      return failed_status(status, log_, "Failed", "the archive of backup " + backup_name + ": " + contents.error().to_string());
    backupstore::ObjectReader& object_reader = *contents.value();
    auto reader = archive::ArchiveReader::open(
        [&](archive::MutableByteView out) { return object_reader.read(out); });
    if (!reader.ok())
      return failed_status(status, log_, "Failed",
                         "the archive of backup " + backup_name + " was refused, nothing was restored: " +
                             reader.error().to_string());
    std::set<std::tuple<std::string, std::string, std::string>> seen;
    std::map<std::string, std::string> served_as;  // "apps/v1/Deployment" -> "deployments.apps" ("" = not served)
    int refused = 0;
    for (;;) {
      auto entry = reader.value().next();
      if (!entry.ok())
        return failed_status(status, log_, "Failed",
                           "the archive of backup " + backup_name + " was refused, nothing was restored: " +
                               entry.error().to_string());
      if (!entry.value()) break;
      const archive::ArchiveEntry& e = *entry.value();
      if (e.kind == archive::ArchiveEntry::kOther) {
        log_.warning("archive entry " + e.path + " is not an item; ignored");
        continue;
      }
      if (e.kind != archive::ArchiveEntry::kItem) continue;
      const archive::ItemPath& path = *e.item;
      if (!path.other_version.empty()) continue;  // only the preferred version is restored
      std::string ns_name = path.namespace_name.empty() ? path.name : path.namespace_name + "/" + path.name;
      std::string key = e.object.value("apiVersion", std::string()) + "/" + e.object.value("kind", std::string()) +
                        "|" + ns_name;
      if (!listed.count(key)) {
        ++refused;
        log_.error("archive entry " + e.path + " is not in the backup's item list; refused, not restored",
                   path.namespace_name);
        continue;
      }
      // The kind must be what the archive's directory says, for every type the cluster knows
      // (types of CRDs restored with the backup are checked again when they are served).
      std::string gvk = e.object.value("apiVersion", std::string()) + "/" + e.object.value("kind", std::string());
      if (!served_as.count(gvk)) {
        auto type = discovery_.resolve_kind(e.object.value("apiVersion", std::string()), e.object.value("kind", std::string()));
        served_as[gvk] = type.ok() ? type.value().qualified_name() : std::string();
      }
      if (!served_as[gvk].empty() && served_as[gvk] != path.resource) {
        ++refused;
        log_.error("archive entry " + e.path + " holds a " + e.object.value("kind", std::string()) + " (" +
                       served_as[gvk] + "), not a " + path.resource + "; refused, not restored",
                   path.namespace_name);
        continue;
      }
      if (!seen.insert({path.resource, path.namespace_name, path.name}).second) continue;
      Status added = spool.add(path, e.object);
      if (!added.ok()) return failed_status(status, log_, "Failed", added.error().to_string());
    }
    log_.info("backup " + backup_name + ": archive checked, " + std::to_string(spool.items().size()) +
              " items (format " + reader.value().format_version() + ")" +
              (refused ? ", " + std::to_string(refused) + " refused" : ""));
  }

  // Selection.
  std::set<std::string> backup_uids;
  std::map<std::string, std::string> kind_of_uid;
  for (const auto& item : spool.items())
    if (!item.uid.empty()) kind_of_uid[item.uid] = item.kind;
  std::set<std::string> restored_crd_names;
  std::set<std::string> wanted_pvs;
  std::vector<const SpooledItem*> chosen;
  bool cluster_explicit = selection.include_cluster_resources.value_or(false);
  std::vector<std::string> withheld;
  auto namespaced_selected = [&](const SpooledItem& item, const Json& object) {
    return selection.namespaces.matches(item.path.namespace_name) && matcher.matches_qualified(item.path.resource) &&
           selection.labels_match(object);
  };
  // First the namespaced items, then the cluster-scoped ones they need.
  for (const auto& item : spool.items()) {
    if (item.path.namespace_name.empty()) continue;
    auto object = spool.load(item);
    if (!object.ok()) return failed_status(status, log_, "Failed", object.error().to_string());
    if (!namespaced_selected(item, object.value())) continue;
    // Left to the controller that owns it (it comes back with its owner),
    // unless it is a pod whose volume data is restored through it.
    bool skip = false;
    bool holds_volumes = restore_pvs && item.path.resource == "pods" &&
                         volumes_of_pod.count(item.path.namespace_name + "/" + item.path.name);
    for (const auto& owner : object.value()["metadata"].value("ownerReferences", Json::array())) {
      std::string uid = owner.value("uid", std::string());
      if (owner.value("controller", false) && kind_of_uid.count(uid) && recreated_by_owner(owner.value("kind", "")) &&
          !holds_volumes) {
        log_.info(display(item.path) + " is recreated by its " + owner.value("kind", std::string()) + " " +
                      owner.value("name", std::string()) + "; not restored itself",
                  item.path.namespace_name);
        skip = true;
      }
    }
    if (skip) continue;
    chosen.push_back(&item);
    if (item.path.resource == "persistentvolumeclaims")
      wanted_pvs.insert(object.value().value("spec", Json::object()).value("volumeName", std::string()));
    if (item.path.group().find('.') != std::string::npos) restored_crd_names.insert(item.path.resource);
  }
  std::set<std::string> namespaces_used;
  for (const auto* item : chosen) namespaces_used.insert(item->path.namespace_name);
  for (const auto& item : spool.items()) {
    if (!item.path.namespace_name.empty()) continue;
    const std::string& resource = item.path.resource;
    bool take = false;
    if (resource == "namespaces") take = selection.namespaces.matches(item.path.name) &&
                                         (namespaces_used.count(item.path.name) || !selection.namespaces.includes_everything() ||
                                          matcher.matches_qualified("namespaces"));
    else if (resource == "persistentvolumes") take = restore_pvs && (wanted_pvs.count(item.path.name) || cluster_explicit);
    else if (resource == "customresourcedefinitions.apiextensions.k8s.io")
      take = restored_crd_names.count(item.path.name) || cluster_explicit;
    else if (grants_access(resource)) {
      take = cluster_explicit;
      if (!take) withheld.push_back(display(item.path));
    } else {
      take = selection.include_cluster_resources.value_or(selection.namespaces.includes_everything());
    }
    if (take && !matcher.matches_qualified(resource) && resource != "namespaces" && resource != "persistentvolumes" &&
        resource != "customresourcedefinitions.apiextensions.k8s.io")
      take = false;
    if (take) chosen.push_back(&item);
  }
  for (const auto& w : withheld)
    log_.warning(w + " grants access in the cluster and is restored only when the Restore sets "
                     "includeClusterResources: true; not restored");
  std::stable_sort(chosen.begin(), chosen.end(), [](const SpooledItem* a, const SpooledItem* b) {
    return restore_priority(a->path.resource) < restore_priority(b->path.resource);
  });
  log_.info(std::to_string(chosen.size()) + " items selected for restore");

  // Creation.
  kube::DynamicClient dynamic(client_);
  std::map<std::string, std::string> new_uid;  // backup uid -> restored uid
  std::vector<std::string> restored_pvs;
  int restored = 0;
  bool refreshed_after_crds = false;
  std::set<std::string> namespaces_ready;
  const Json spec_hooks = spec.value("hooks", Json::object());
  std::vector<PendingExecHook> post_hooks;
  struct PodWithVolumes {
    std::string ns, name;
    std::vector<VolumeRecord> records;
  };
  std::vector<PodWithVolumes> pods_with_volumes;
  struct HeldVolume {
    Json pv;                     // created once its replicas are filled
    const VolumeRecord* record;  // the volume's backup
    std::string source;          // its target and replicas, from the PV
  };
  std::vector<HeldVolume> held_volumes;
  std::set<std::string> held_pvs;  // their names in the backup
  for (const SpooledItem* item : chosen) {
    const std::string ns = item->path.namespace_name.empty() ? "" : mappings.namespace_of(item->path.namespace_name);
    auto loaded = spool.load(*item);
    if (!loaded.ok()) return failed_status(status, log_, "Failed", loaded.error().to_string());
    auto modified = apply_modifiers(modifiers, item->path.resource, std::move(loaded).value());
    if (!modified.ok()) {
      log_.error(modified.error().to_string(), ns);
      continue;
    }
    Json object = prepare_for_restore(std::move(modified).value(), item->path.resource, mappings, restored_pvs);
    add_restore_init_hooks(object, item->path.resource, spec_hooks, log_);
    // The pod's volumes restored through it; a held replicated volume is
    // complete before the pod can be scheduled, so the pod does not wait for it.
    std::vector<VolumeRecord> pod_volumes;
    if (restore_pvs && item->path.resource == "pods") {
      auto it = volumes_of_pod.find(item->path.namespace_name + "/" + item->path.name);
      if (it != volumes_of_pod.end()) {
        std::vector<std::string> names;
        for (const auto& r : it->second) {
          if (held_pvs.count(r.pv)) continue;
          pod_volumes.push_back(r);
          names.push_back(r.volume);
        }
        if (!names.empty()) add_restore_wait(object, names, volumes_.helper_image);
      }
    }
    // Owner references: to the restored owner, or dropped (a dangling one gets the object collected).
    if (object["metadata"].contains("ownerReferences")) {
      Json kept = Json::array();
      for (auto owner : object["metadata"]["ownerReferences"]) {
        auto it = new_uid.find(owner.value("uid", std::string()));
        if (it == new_uid.end()) continue;
        owner["uid"] = it->second;
        kept.push_back(owner);
      }
      if (kept.empty()) object["metadata"].erase("ownerReferences");
      else object["metadata"]["ownerReferences"] = kept;
    }
    if (!refreshed_after_crds && restore_priority(item->path.resource) > 0) {
      refreshed_after_crds = true;
      (void)discovery_.refresh();
    }
    // The type, as the cluster serves it; waits for a just-restored CRD.
    auto type = discovery_.resolve_kind(item->api_version, item->kind);
    auto deadline = std::chrono::steady_clock::now() + kCrdWait;
    while (!type.ok() && type.error().code() == ErrorCode::kNotFound && restored_crd_names.count(item->path.resource) &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::seconds(1));
      (void)discovery_.refresh();
      type = discovery_.resolve_kind(item->api_version, item->kind);
    }
    if (!type.ok()) {
      log_.error(display(item->path) + ": " + item->api_version + " " + item->kind + " is not served by this cluster" +
                     (restored_crd_names.count(item->path.resource) ? " (waited " + std::to_string(kCrdWait.count()) +
                                                                          " s for its CRD to be established)"
                                                                    : "") +
                     ": " + type.error().to_string(),
                 ns);
      continue;
    }
    if (type.value().qualified_name() != item->path.resource) {
      log_.error("archive entry for " + display(item->path) + " holds a " + item->kind + " (" +
                     type.value().qualified_name() + "); refused",
                 ns);
      continue;
    }
    std::string what = display(item->path) + (ns != item->path.namespace_name ? " -> namespace " + ns : "");
    if (!ns.empty() && !namespaces_ready.count(ns)) {
      // The namespace object may not be in the backup (a backup of some kinds only): make a bare one.
      namespaces_ready.insert(ns);
      auto existing_ns = dynamic.get(resources::namespace_type(), "", ns);
      if (!existing_ns.ok() && existing_ns.error().code() == ErrorCode::kNotFound) {
        Json bare = {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns}}}};
        auto made = dynamic.create(resources::namespace_type(), "", bare);
        if (made.ok()) log_.info("created namespace " + ns + " (the backup does not hold its Namespace object)");
        else log_.error("could not create namespace " + ns + ": " + made.error().to_string(), ns);
      }
    }
    if (item->path.resource == "persistentvolumes" && replicated_pvs.count(item->path.name)) {
      const std::string pv_name = object["metadata"].value("name", std::string());
      auto existing = dynamic.get(type.value(), "", pv_name);
      if (!existing.ok() && existing.error().code() == ErrorCode::kNotFound) {
        auto source = replicated_volume_source(object);
        if (!source.ok()) {
          log_.error("could not restore " + what + ": " + source.error().to_string(), ns);
          continue;
        }
        held_volumes.push_back({object, replicated_pvs.at(item->path.name), source.value()});
        held_pvs.insert(item->path.name);
        restored_pvs.push_back(item->path.name);  // its claim keeps its volumeName
        log_.info(what + ": created once its replicas hold the restored data", ns);
        continue;
      }
    }
    auto created = dynamic.create(type.value(), ns, object);
    if (created.ok()) {
      ++restored;
      new_uid[item->uid] = created.value()["metadata"].value("uid", std::string());
      if (item->path.resource == "persistentvolumes") restored_pvs.push_back(item->path.name);
      if (!pod_volumes.empty())
        pods_with_volumes.push_back({ns, object["metadata"].value("name", std::string()), std::move(pod_volumes)});
      if (item->path.resource == "namespaces") namespaces_ready.insert(object["metadata"].value("name", std::string()));
      auto hooks = restore_exec_hooks(object, item->path.resource, spec_hooks, log_);
      post_hooks.insert(post_hooks.end(), hooks.begin(), hooks.end());
      log_.info("restored " + what, ns);
      continue;
    }
    if (created.error().code() != ErrorCode::kAlreadyExists) {
      log_.error("could not restore " + what + ": " + created.error().to_string(), ns);
      continue;
    }
    auto existing = dynamic.get(type.value(), ns, object["metadata"].value("name", std::string()));
    if (existing.ok()) new_uid[item->uid] = existing.value()["metadata"].value("uid", std::string());
    if (item->path.resource == "namespaces") {
      log_.info("namespace " + ns + object["metadata"].value("name", std::string()) + " exists already; used as is");
      continue;
    }
    // Replacing a CRD or an access-granting object changes the whole cluster:
    // only with explicit consent to cluster-scoped resources.
    bool cluster_wide = item->path.resource == "customresourcedefinitions.apiextensions.k8s.io" ||
                        grants_access(item->path.resource);
    if (policy == "update" && existing.ok() && cluster_wide && !cluster_explicit) {
      if (!same_content(existing.value(), object)) {
        log_.warning(what + " exists already and differs; it is replaced only when the Restore sets "
                            "includeClusterResources: true; not changed");
        withheld.push_back(display(item->path) + " (replacement)");
      }
      continue;
    }
    if (policy == "update" && existing.ok()) {
      object["metadata"]["resourceVersion"] = existing.value()["metadata"]["resourceVersion"];
      auto updated = dynamic.update(type.value(), ns, object);
      if (updated.ok()) {
        ++restored;
        log_.info("updated the existing " + what + " (existingResourcePolicy update)", ns);
      } else {
        log_.warning("could not update the existing " + what + ": " + updated.error().to_string(), ns);
      }
      continue;
    }
    if (existing.ok() && same_content(existing.value(), object)) {
      log_.info(what + " exists already with the same content", ns);
      continue;
    }
    log_.warning(what + " exists already and was not changed (existingResourcePolicy " + policy + ")", ns);
  }

  // Volume data: replicated volumes first, each PV created once its
  // replicas are filled; then pod by pod, by the agents of their nodes;
  // then the exec hooks.
  if (!held_volumes.empty() || !pods_with_volumes.empty()) {
    VolumeWork volume_work(volumes_.server_client ? *volumes_.server_client : client_,
                           restore["metadata"].value("namespace", std::string()), log_);
    VolumeOutcome outcome;
    for (const auto& held : held_volumes) {
      const VolumeRecord& record = *held.record;
      const std::string ns = mappings.namespace_of(record.namespace_name);
      const std::string pv_name = held.pv["metadata"].value("name", std::string());
      if (!volume_work.restore_before_binding(restore, backup_name, volumes_.location_name, record,
                                              mappings.node_of(record.node), held.source, ns,
                                              std::chrono::steady_clock::now() + volume_timeout, outcome)) {
        log_.error("persistentvolume " + pv_name + " was not created: its replicas were not filled (any the "
                       "agent began to write stay fenced); claim " + ns + "/" + record.pvc + " stays Pending. "
                       "Restore again once the cause above is fixed",
                   ns);
        continue;
      }
      auto created = dynamic.create(resources::persistent_volume(), "", held.pv);
      if (created.ok()) {
        ++restored;
        log_.info("restored persistentvolume " + pv_name + " (its replicas hold the data)", ns);
      } else {
        log_.error("could not restore persistentvolume " + pv_name + ": " + created.error().to_string(), ns);
      }
    }
    for (const auto& pod : pods_with_volumes)
      volume_work.restore_pod(restore, backup_name, volumes_.location_name, pod.ns, pod.name, pod.records,
                              std::chrono::steady_clock::now() + volume_timeout, outcome);
    status["volumeRestores"] = outcome.to_json();
  }
  HookOutcome hook_outcome;
  run_restore_exec_hooks(client_, post_hooks, log_, hook_outcome);
  status["hookStatus"] = {{"hooksAttempted", hook_outcome.attempted}, {"hooksFailed", hook_outcome.failed}};
  if (!withheld.empty()) status["withheldItems"] = withheld;
  status["progress"] = {{"totalItems", chosen.size()}, {"itemsRestored", restored}};
  status["phase"] = log_.errors() > 0 ? "PartiallyFailed" : "Completed";
  log_.info("restore " + status["phase"].get<std::string>() + ": " + std::to_string(restored) + " of " +
            std::to_string(chosen.size()) + " items restored, " + std::to_string(log_.warnings()) + " warnings, " +
            std::to_string(log_.errors()) + " errors");
  status["warnings"] = log_.warnings();
  status["errors"] = log_.errors();
  status["completionTimestamp"] = format_time_utc(now_unix());
  return status;
}

}  // namespace stowage::control
