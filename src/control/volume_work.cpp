#include "control/volume_work.h"

#include <set>
#include <thread>

#include "archive/gzip.h"
#include "control/controller_context.h"
#include "control/resources.h"
#include "kube/dynamic_client.h"
#include "util/clock.h"
#include "util/duration.h"

namespace stowage::control {

using Json = nlohmann::json;

namespace {

constexpr auto kPoll = std::chrono::milliseconds(1000);
constexpr auto kDefaultItemTimeout = std::chrono::hours(4);
constexpr uint64_t kMaxVolumeInfoBytes = 64ull << 20;

bool final_phase(const std::string& phase) { return phase == "Completed" || phase == "Failed" || phase == "Canceled"; }

Json owner_reference(const Json& owner) {
  return Json::array({{{"apiVersion", resources::kApiVersion},
                       {"kind", owner.value("kind", std::string())},
                       {"name", owner["metadata"].value("name", std::string())},
                       {"uid", owner["metadata"].value("uid", std::string())},
                       {"controller", true}}});
}

// generateName prefix: the owner's name cut to leave room for the suffix.
std::string prefix_for(const std::string& name) { return name.substr(0, 200) + "-"; }

}  // namespace

Json VolumeRecord::to_json() const {
  Json j = {{"namespace", namespace_name}, {"pod", pod}, {"podUID", pod_uid}, {"volume", volume},
            {"method", method}, {"node", node}, {"phase", phase}, {"bytes", bytes}};
  if (!pvc.empty()) j["pvc"] = pvc;
  if (!pv.empty()) j["pv"] = pv;
  if (!snapshot_id.empty()) j["snapshotID"] = snapshot_id;
  if (!local_snapshot.empty()) j["localSnapshot"] = local_snapshot;
  if (!message.empty()) j["message"] = message;
  return j;
}

VolumeRecord VolumeRecord::from_json(const Json& j) {
  VolumeRecord r;
  auto s = [&](const char* k) { return j.contains(k) && j[k].is_string() ? j[k].get<std::string>() : std::string(); };
  r.namespace_name = s("namespace");
  r.pod = s("pod");
  r.pod_uid = s("podUID");
  r.volume = s("volume");
  r.pvc = s("pvc");
  r.pv = s("pv");
  r.method = s("method");
  r.node = s("node");
  r.snapshot_id = s("snapshotID");
  r.local_snapshot = s("localSnapshot");
  r.phase = s("phase");
  r.message = s("message");
  r.bytes = j.contains("bytes") && j["bytes"].is_number_unsigned() ? j["bytes"].get<uint64_t>() : 0;
  return r;
}

Json VolumeOutcome::to_json() const { return {{"total", total}, {"completed", completed}, {"failed", failed}}; }

void add_restore_wait(Json& pod, const std::vector<std::string>& volumes, const std::string& image) {
  Json& spec = pod["spec"];
  if (!spec.contains("volumes")) spec["volumes"] = Json::array();
  spec["volumes"].push_back({{"name", kRestoreSignalVolume}, {"emptyDir", Json::object()}});
  Json command = {"stowage", "restore-wait", "--dir", kRestoreSignalMount};
  for (const auto& v : volumes) command.push_back(v);
  Json container = {{"name", kRestoreWaitContainer},
                    {"image", image},
                    {"imagePullPolicy", "IfNotPresent"},
                    {"command", command},
                    {"volumeMounts", Json::array({{{"name", kRestoreSignalVolume}, {"mountPath", kRestoreSignalMount}}})},
                    {"resources", {{"requests", {{"cpu", "10m"}, {"memory", "16Mi"}}}, {"limits", {{"memory", "64Mi"}}}}}};
  Json init = Json::array({container});
  for (const auto& c : spec.value("initContainers", Json::array())) init.push_back(c);
  spec["initContainers"] = init;
}

Result<std::vector<VolumeRecord>> read_volume_records(backupstore::BackupLocation& location,
                                                      const backupstore::StoredBackup& backup) {
  std::vector<VolumeRecord> out;
  if (!backup.manifest) return out;
  auto reader = location.open_backup_object(backup, backupstore::BackupObject::kVolumeInfo, kMaxVolumeInfoBytes);
  if (!reader.ok()) {
    if (reader.error().code() == ErrorCode::kNotFound) return out;
    return reader.error();
  }
  Bytes gz = TRY(backupstore::read_remaining(*reader.value()));
  Bytes text = TRY(archive::gzip_decompress(gz, kMaxVolumeInfoBytes, reader.value()->key()));
  Json info = Json::parse(text.begin(), text.end(), nullptr, false);
  if (!info.is_array())
    return Error(ErrorCode::kCorrupt, "the volume list of backup " + backup.name + " is not a JSON array",
                 reader.value()->key(), "");
  for (const auto& entry : info)
    if (entry.is_object()) out.push_back(VolumeRecord::from_json(entry));
  return out;
}

std::chrono::steady_clock::duration item_timeout(const Json& spec, std::vector<std::string>& problems) {
  std::string text = spec.value("itemOperationTimeout", std::string());
  if (text.empty()) return kDefaultItemTimeout;
  auto parsed = parse_duration(text);
  if (!parsed.ok()) {
    problems.push_back("spec.itemOperationTimeout: " + parsed.error().message());
    return kDefaultItemTimeout;
  }
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(parsed.value());
}

VolumeWork::VolumeWork(kube::ApiClient& client, std::string namespace_name, OperationLog& log)
    : client_(client), namespace_(std::move(namespace_name)), log_(log) {}

namespace {

// When the agent last renewed its Lease (0 when it cannot be told).
int64_t lease_renewed(const Json& lease) {
  std::string renewed = lease.value("spec", Json::object()).value("renewTime", std::string());
  if (size_t dot = renewed.find('.'); dot != std::string::npos) renewed = renewed.substr(0, dot) + "Z";
  int64_t when = 0;
  return parse_time_utc(renewed, when) ? when : 0;
}

bool lease_expired(int64_t renewed) { return renewed != 0 && now_unix() - renewed > 2 * resources::kAgentLeaseSeconds; }

}  // namespace

std::string VolumeWork::agent_missing(const std::string& node) {
  kube::DynamicClient dynamic(client_);
  auto lease = dynamic.get(resources::lease(), namespace_, resources::agent_lease_name(node));
  std::string hint = " (is the stowage-agent DaemonSet installed and running there? `stowage install` adds it)";
  if (!lease.ok()) {
    if (lease.error().code() == ErrorCode::kNotFound) return "no stowage agent has run on node " + node + hint;
    return {};  // cannot tell: let the agent try
  }
  if (lease_expired(lease_renewed(lease.value())))
    return "the stowage agent on node " + node + " last reported at " +
           lease.value()["spec"].value("renewTime", std::string()) + hint;
  return {};
}

std::string VolumeWork::live_agent_node(const std::string& preferred) {
  if (!preferred.empty() && agent_missing(preferred).empty()) return preferred;
  kube::DynamicClient dynamic(client_);
  auto listed = dynamic.list(resources::lease(), namespace_);
  if (!listed.ok()) return {};
  std::string best;
  int64_t best_renewed = 0;
  for (const auto& lease : listed.value().items) {
    std::string node = lease.value("spec", Json::object()).value("holderIdentity", std::string());
    int64_t renewed = lease_renewed(lease);
    if (node.empty() || control::name_of(lease) != resources::agent_lease_name(node) || renewed == 0 ||
        lease_expired(renewed))
      continue;
    if (renewed > best_renewed) {
      best = node;
      best_renewed = renewed;
    }
  }
  return best;
}

std::string VolumeWork::parent_snapshot(const std::string& pvc_uid, const std::string& location,
                                        const std::string& method) {
  if (pvc_uid.empty()) return {};
  kube::DynamicClient dynamic(client_);
  kube::ListOptions options;
  options.label_selector = std::string(resources::kPvcUidLabel) + "=" + pvc_uid + "," + resources::kLocationLabel +
                           "=" + location;
  auto listed = dynamic.list(resources::volume_backup(), namespace_, options);
  if (!listed.ok()) return {};
  std::string best, best_time;
  for (const auto& item : listed.value().items) {
    const Json status = item.value("status", Json::object());
    if (status.value("phase", std::string()) != "Completed" || item["spec"].value("method", std::string()) != method ||
        status.value("snapshotID", std::string()).empty())  // a local snapshot is no parent in the repository
      continue;
    std::string when = status.value("completionTimestamp", std::string());
    if (when >= best_time) {
      best_time = when;
      best = status.value("snapshotID", std::string());
    }
  }
  return best;
}

std::set<std::string> VolumeWork::local_snapshot_methods(const Json& backup) {
  const Json spec = backup.value("spec", Json::object());
  if (spec.contains("snapshotVolumes") && spec["snapshotVolumes"].is_boolean())
    return spec["snapshotVolumes"].get<bool>() ? std::set<std::string>{"ZFS", "Replicated"} : std::set<std::string>{};
  std::set<std::string> out;
  kube::DynamicClient dynamic(client_);
  auto listed = dynamic.list(resources::volume_snapshot_location(), namespace_);
  if (!listed.ok()) return out;
  for (const auto& location : listed.value().items) {
    std::string provider = location.value("spec", Json::object()).value("provider", std::string());
    if (provider == kZfsSnapshotProvider) out.insert("ZFS");
    if (provider == kReplicatedDriver) out.insert("Replicated");
  }
  return out;
}

std::vector<Json> VolumeWork::wait_for(const kube::ApiResource& type, const std::vector<std::string>& names,
                                       std::chrono::steady_clock::time_point deadline) {
  kube::DynamicClient dynamic(client_);
  std::vector<Json> latest(names.size());
  for (;;) {
    bool all_final = true;
    for (size_t i = 0; i < names.size(); ++i) {
      if (!latest[i].is_null() && final_phase(phase_of(latest[i]))) continue;
      auto got = dynamic.get(type, namespace_, names[i]);
      if (got.ok()) latest[i] = std::move(got).value();
      else if (got.error().code() == ErrorCode::kNotFound) latest[i] = {{"status", {{"phase", "Failed"}, {"message", "the work item was deleted"}}}};
      if (latest[i].is_null() || !final_phase(phase_of(latest[i]))) all_final = false;
    }
    if (all_final) return latest;
    if (std::chrono::steady_clock::now() >= deadline) {
      for (size_t i = 0; i < names.size(); ++i) {
        if (!latest[i].is_null() && final_phase(phase_of(latest[i]))) continue;
        (void)dynamic.update_with_retry(type, namespace_, names[i], [](Json& o) -> Status {
          o["spec"]["cancel"] = true;
          return ok_status();
        });
        latest[i]["status"]["phase"] = "Failed";
        latest[i]["status"]["message"] = "not done within the item operation timeout; canceled";
      }
      return latest;
    }
    std::this_thread::sleep_for(kPoll);
  }
}

void VolumeWork::back_up_pod(const Json& backup, const Json& pod, const std::vector<PodVolume>& volumes,
                             std::chrono::steady_clock::time_point deadline, std::vector<VolumeRecord>& records,
                             VolumeOutcome& outcome) {
  if (volumes.empty()) return;
  kube::DynamicClient dynamic(client_);
  const std::string backup_name = backup["metadata"].value("name", std::string());
  const std::string location = backup["spec"].value("storageLocation", std::string());
  const std::string ns = pod["metadata"].value("namespace", std::string());
  const std::string pod_name = pod["metadata"].value("name", std::string());
  const std::string node = pod.value("spec", Json::object()).value("nodeName", std::string());
  std::vector<std::string> names;
  std::vector<VolumeRecord> pending;
  const std::set<std::string> local_methods = local_snapshot_methods(backup);
  for (const auto& v : volumes) {
    VolumeRecord record;
    record.namespace_name = ns;
    record.pod = pod_name;
    record.pod_uid = pod["metadata"].value("uid", std::string());
    record.volume = v.name;
    record.pvc = v.pvc;
    record.pv = v.pv;
    record.method = v.method;
    record.node = node;
    Json item = {{"apiVersion", resources::kApiVersion},
                 {"kind", "VolumeBackup"},
                 {"metadata",
                  {{"generateName", prefix_for(backup_name)},
                   {"namespace", namespace_},
                   {"labels", {{resources::kBackupLabel, backup_name}, {resources::kNodeLabel, node},
                               {resources::kLocationLabel, location}}},
                   {"ownerReferences", owner_reference(backup)}}},
                 {"spec",
                  {{"node", node},
                   {"backupName", backup_name},
                   {"pod", {{"namespace", ns}, {"name", pod_name}, {"uid", record.pod_uid}}},
                   {"volume", v.name},
                   {"method", v.method},
                   {"storageLocation", location},
                   {"tags", {{"backup", backup_name}, {"namespace", ns}, {"pod", pod_name}, {"volume", v.name}}}}}};
    if (!v.pvc_uid.empty()) item["metadata"]["labels"][resources::kPvcUidLabel] = v.pvc_uid;
    if (!v.pvc.empty()) item["spec"]["pvc"] = v.pvc;
    if (!v.pv.empty()) item["spec"]["pv"] = v.pv;
    if (!v.source.empty()) item["spec"]["sourcePath"] = v.source;
    const bool keep_local = local_methods.count(v.method) > 0;
    std::string parent = keep_local ? std::string() : parent_snapshot(v.pvc_uid, location, v.method);
    if (!parent.empty()) item["spec"]["parentSnapshot"] = parent;
    if (keep_local) {
      item["spec"]["mode"] = "LocalSnapshot";
      item["metadata"]["finalizers"] = {resources::kLocalSnapshotFinalizer};
    } else if (!local_methods.empty()) {
      log_.info("volume " + v.name + " of pod " + ns + "/" + pod_name + ": its engine (" + v.method +
                    ") keeps no local snapshots; the data is uploaded",
                ns);
    }
    ++outcome.total;
    std::string no_agent = node.empty() ? "the pod is not scheduled to a node" : agent_missing(node);
    if (!no_agent.empty()) {
      record.phase = "Failed";
      record.message = no_agent;
      log_.error("volume " + v.name + " of pod " + ns + "/" + pod_name + ": " + record.message, ns);
      ++outcome.failed;
      records.push_back(record);
      continue;
    }
    auto created = dynamic.create(resources::volume_backup(), namespace_, item);
    if (!created.ok()) {
      record.phase = "Failed";
      record.message = "creating its VolumeBackup failed: " + created.error().to_string();
      log_.error("volume " + v.name + " of pod " + ns + "/" + pod_name + ": " + record.message, ns);
      ++outcome.failed;
      records.push_back(record);
      continue;
    }
    names.push_back(created.value()["metadata"].value("name", std::string()));
    pending.push_back(record);
    log_.info("volume " + v.name + " of pod " + ns + "/" + pod_name + " (" + v.method +
                  (parent.empty() ? "" : ", incremental") + (keep_local ? ", local snapshot" : "") +
                  "): VolumeBackup " + names.back() + " for the agent on " + node,
              ns);
  }
  auto results = wait_for(resources::volume_backup(), names, deadline);
  for (size_t i = 0; i < results.size(); ++i) {
    VolumeRecord& record = pending[i];
    const Json status = results[i].value("status", Json::object());
    record.phase = status.value("phase", std::string());
    record.message = status.value("message", std::string());
    record.snapshot_id = status.value("snapshotID", std::string());
    record.local_snapshot = status.value("localSnapshot", std::string());
    record.bytes = status.value("progress", Json::object()).value("bytesDone", uint64_t(0));
    std::string what = "volume " + record.volume + " of pod " + ns + "/" + pod_name + " (VolumeBackup " + names[i] + ")";
    if (record.phase == "Completed" && !record.local_snapshot.empty()) {
      ++outcome.completed;
      log_.info(what + ": local snapshot " + record.local_snapshot + " kept on node " + node, ns);
    } else if (record.phase == "Completed" && !record.snapshot_id.empty()) {
      ++outcome.completed;
      log_.info(what + ": backed up, snapshot " + record.snapshot_id + ", " + std::to_string(record.bytes) + " bytes", ns);
    } else {
      ++outcome.failed;
      log_.error(what + ": " + (record.phase.empty() ? "no result" : record.phase) +
                     (record.message.empty() ? "" : ": " + record.message),
                 ns);
    }
    records.push_back(record);
  }
}

Json VolumeWork::restore_item(const Json& restore, const std::string& backup_name, const std::string& location,
                              const std::string& node, const VolumeRecord& record) {
  const std::string restore_name = restore["metadata"].value("name", std::string());
  Json item = {{"apiVersion", resources::kApiVersion},
               {"kind", "VolumeRestore"},
               {"metadata",
                {{"generateName", prefix_for(restore_name)},
                 {"namespace", namespace_},
                 {"labels", {{resources::kRestoreLabel, restore_name}, {resources::kNodeLabel, node}}},
                 {"ownerReferences", owner_reference(restore)}}},
               {"spec",
                {{"node", node},
                 {"restoreName", restore_name},
                 {"backupName", backup_name},
                 {"volume", record.volume},
                 {"method", record.method},
                 {"storageLocation", location}}}};
  if (!record.pvc.empty()) item["spec"]["pvc"] = record.pvc;
  if (!record.local_snapshot.empty()) item["spec"]["cloneFrom"] = record.local_snapshot;
  else item["spec"]["snapshotID"] = record.snapshot_id;
  return item;
}

std::vector<bool> VolumeWork::run_restores(const std::vector<Json>& items, const std::vector<std::string>& what,
                                           const std::string& ns, std::chrono::steady_clock::time_point deadline,
                                           VolumeOutcome& outcome) {
  kube::DynamicClient dynamic(client_);
  std::vector<bool> done(items.size(), false);
  std::vector<std::string> names;
  std::vector<size_t> pending;
  for (size_t i = 0; i < items.size(); ++i) {
    ++outcome.total;
    auto created = dynamic.create(resources::volume_restore(), namespace_, items[i]);
    if (!created.ok()) {
      ++outcome.failed;
      log_.error(what[i] + ": creating its VolumeRestore failed: " + created.error().to_string(), ns);
      continue;
    }
    names.push_back(created.value()["metadata"].value("name", std::string()));
    pending.push_back(i);
    const Json& spec = items[i]["spec"];
    log_.info(what[i] + ": VolumeRestore " + names.back() + " of " +
                  (spec.contains("cloneFrom") ? "local snapshot " + spec.value("cloneFrom", std::string())
                                              : "snapshot " + spec.value("snapshotID", std::string())) +
                  " for the agent on " + spec.value("node", std::string()),
              ns);
  }
  auto results = wait_for(resources::volume_restore(), names, deadline);
  for (size_t r = 0; r < results.size(); ++r) {
    const size_t i = pending[r];
    const Json status = results[r].value("status", Json::object());
    std::string phase = status.value("phase", std::string());
    std::string what_item = what[i] + " (VolumeRestore " + names[r] + ")";
    if (phase == "Completed") {
      ++outcome.completed;
      done[i] = true;
      log_.info(what_item + ": restored, " +
                    std::to_string(status.value("progress", Json::object()).value("bytesDone", uint64_t(0))) + " bytes",
                ns);
    } else {
      ++outcome.failed;
      log_.error(what_item + ": " + (phase.empty() ? "no result" : phase) + ": " + status.value("message", std::string()),
                 ns);
    }
  }
  return done;
}

void VolumeWork::restore_pod(const Json& restore, const std::string& backup_name, const std::string& location,
                             const std::string& ns, const std::string& pod_name, const std::vector<VolumeRecord>& records,
                             std::chrono::steady_clock::time_point deadline, VolumeOutcome& outcome) {
  kube::DynamicClient dynamic(client_);
  // The agent of the pod's node does the work: wait for the scheduler.
  Json pod;
  for (;;) {
    auto got = dynamic.get(resources::pod(), ns, pod_name);
    if (got.ok() && !got.value().value("spec", Json::object()).value("nodeName", std::string()).empty()) {
      pod = std::move(got).value();
      break;
    }
    if (std::chrono::steady_clock::now() >= deadline || (!got.ok() && got.error().code() == ErrorCode::kNotFound)) {
      outcome.total += int(records.size());
      outcome.failed += int(records.size());
      log_.error("pod " + ns + "/" + pod_name + (got.ok() ? " was not scheduled within the item operation timeout"
                                                          : " is gone") +
                     "; its volumes were not restored",
                 ns);
      return;
    }
    std::this_thread::sleep_for(kPoll);
  }
  const std::string node = pod["spec"]["nodeName"].get<std::string>();
  std::vector<Json> items;
  std::vector<std::string> what;
  for (const auto& record : records) {
    Json item = restore_item(restore, backup_name, location, node, record);
    item["spec"]["pod"] = {{"namespace", ns}, {"name", pod_name}, {"uid", pod["metadata"].value("uid", std::string())}};
    items.push_back(std::move(item));
    what.push_back("volume " + record.volume + " of pod " + ns + "/" + pod_name);
  }
  (void)run_restores(items, what, ns, deadline, outcome);
}

bool VolumeWork::restore_before_binding(const Json& restore, const std::string& backup_name,
                                        const std::string& location, const VolumeRecord& record,
                                        const std::string& node, const std::string& target, const std::string& ns,
                                        std::chrono::steady_clock::time_point deadline, VolumeOutcome& outcome) {
  const std::string what = "volume " + record.volume + " of pod " + ns + "/" + record.pod + " (PV " + record.pv + ")";
  const std::string agent_node = live_agent_node(node);
  if (agent_node.empty()) {
    ++outcome.total;
    ++outcome.failed;
    log_.error(what + ": no stowage agent is alive on any node (none renewed its Lease in the last " +
                   std::to_string(2 * resources::kAgentLeaseSeconds) + " s) to write its replicas; is the "
                   "stowage-agent DaemonSet running? `stowage install` adds it",
               ns);
    return false;
  }
  Json item = restore_item(restore, backup_name, location, agent_node, record);
  item["spec"]["targetPath"] = target;
  return run_restores({item}, {what}, ns, deadline, outcome)[0];
}

}  // namespace stowage::control
