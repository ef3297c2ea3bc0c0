#include "agent/agent.h"

#include <sys/stat.h>

#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "agent/volume_paths.h"
#include "agent/volume_engines.h"
#include "control/controller_context.h"
#include "control/location_access.h"
#include "control/pod_volumes.h"
#include "control/resources.h"
#include "control/watch_loop.h"
#include "kube/dynamic_client.h"
#include "util/clock.h"
#include "util/http_endpoint.h"
#include "util/metrics.h"
#include "util/progress.h"
#include "util/work_queue.h"

namespace stowage::agent {

using Json = nlohmann::json;
namespace resources = control::resources;

namespace {

bool final_phase(const std::string& phase) { return phase == "Completed" || phase == "Failed" || phase == "Canceled"; }


struct AgentMetrics {
  CounterFamily* items = nullptr;    // stowage_agent_work_items_total{kind,phase}
  CounterFamily* bytes = nullptr;    // stowage_agent_bytes_total{kind}
  GaugeFamily* running = nullptr;    // stowage_agent_work_items_running
  HistogramFamily* seconds = nullptr;  // stowage_agent_work_item_duration_seconds{kind}

  static Result<AgentMetrics> create(MetricsRegistry& registry) {
    AgentMetrics m;
    m.items = TRY(registry.counter("stowage_agent_work_items_total",
                                   "VolumeBackups and VolumeRestores finished by this agent, by kind and phase.",
                                   {"kind", "phase"}));
    m.bytes = TRY(registry.counter("stowage_agent_bytes_total", "Volume bytes read (backups) or written (restores).",
                                   {"kind"}));
    m.running = TRY(registry.gauge("stowage_agent_work_items_running", "Work items being executed now.", {}));
    m.seconds = TRY(registry.histogram("stowage_agent_work_item_duration_seconds", "Time to execute a work item.",
                                       exponential_histogram_buckets(0.5, 2, 16)));
    return m;
  }
};

class Agent {
 public:
  Agent(kube::ApiClient& client, const AgentOptions& options, const Logger& log, AgentMetrics& metrics)
      : client_(client),
        options_(options),
        log_(log),
        metrics_(metrics),
        locations_(client, options.namespace_name, options.kdf),
        pool_(std::max<size_t>(1, options.concurrency), 1 << 16) {}

  ~Agent() { (void)pool_.wait(); }

  void reconcile(const kube::ApiResource& type, const Json& item, std::stop_token stop);

 private:
  void execute(const kube::ApiResource& type, const std::string& name, std::stop_token stop);
  // A deleted VolumeBackup that kept a local snapshot: destroys the snapshot,
  // then lets the item go (its finalizer); retried on every pass until done.
  void release(const kube::ApiResource& type, const Json& item);
  Result<Json> back_up(const Json& item, Progress& progress);
  Result<Json> restore(const kube::ApiResource& type, const Json& item, Progress& progress, std::stop_token stop);
  // Where the restored volume's data goes, once the pod runs on this node
  // and the volume is mounted; kNotFound while it is not there yet.
  Result<std::pair<control::PodVolume, std::string>> restore_target(const Json& item);
  Result<Json> write(const kube::ApiResource& type, const std::string& name, const Json& status,
                     const std::string* expect = nullptr) {
    return control::write_status(client_, options_.namespace_name, type, name, status, expect);
  }

  kube::ApiClient& client_;
  const AgentOptions& options_;
  Logger log_;
  AgentMetrics& metrics_;
  control::LocationAccess locations_;
  std::mutex mutex_;
  std::set<std::string> running_;  // "<kind>/<name>"
  std::map<std::string, Progress*> progress_of_;  // of the running items that move data
  WorkQueue pool_;
};

void Agent::reconcile(const kube::ApiResource& type, const Json& item, std::stop_token stop) {
  const std::string name = control::name_of(item);
  const std::string key = type.kind + "/" + name;
  const Json spec = item.value("spec", Json::object());
  const Json status = item.value("status", Json::object());
  std::string phase = status.value("phase", std::string());
  if (spec.value("node", std::string()) != options_.node_name) return;
  if (item["metadata"].contains("deletionTimestamp")) return release(type, item);
  if (final_phase(phase)) return;
  {
    std::lock_guard lock(mutex_);
    if (running_.count(key)) {
      // Running here: a cancel stops the data transfer at its next unit of work.
      auto it = progress_of_.find(key);
      if (spec.value("cancel", false) && it != progress_of_.end() && !it->second->cancel_requested.exchange(true))
        log_.info("canceling the running work item", {{"item", key}});
      return;
    }
  }
  if (spec.value("cancel", false)) {
    Json canceled = {{"phase", "Canceled"}, {"message", "canceled by the server before the agent started it"},
                     {"completionTimestamp", format_time_utc(now_unix())}, {"node", options_.node_name}};
    if (write(type, name, canceled, &phase).ok())
      if (auto c = metrics_.items->with({type.kind, "Canceled"}); c.ok()) c.value()->increment();
    return;
  }
  int attempts = status.value("attempts", 0);
  Json claim = {{"phase", "Accepted"}, {"node", options_.node_name}, {"attempts", attempts + 1}};
  if (phase == "Accepted" || phase == "InProgress") {
    // Not running here, yet claimed by this node's agent: a restart interrupted it.
    if (attempts >= options_.max_attempts) {
      Json failed = {{"phase", "Failed"},
                     {"message", "the agent on " + options_.node_name + " stopped during this work " +
                                     std::to_string(attempts) + " times; giving up (see the agent's log)"},
                     {"completionTimestamp", format_time_utc(now_unix())}};
      if (write(type, name, failed, &phase).ok()) {
        log_.error("work item failed after repeated agent restarts", {{"item", key}});
        if (auto c = metrics_.items->with({type.kind, "Failed"}); c.ok()) c.value()->increment();
      }
      return;
    }
    claim["message"] = "started again after the agent restarted (attempt " + std::to_string(attempts + 1) + " of " +
                       std::to_string(options_.max_attempts) + ")";
  }
  if (!write(type, name, claim, &phase).ok()) return;  // another change won; the next pass sees it
  {
    std::lock_guard lock(mutex_);
    running_.insert(key);
  }
  log_.info("accepted work item", {{"item", key}, {"attempt", std::to_string(attempts + 1)}});
  pool_.submit([this, type, name, key, stop] {
    execute(type, name, stop);
    std::lock_guard lock(mutex_);
    running_.erase(key);
    return ok_status();
  });
}

void Agent::release(const kube::ApiResource& type, const Json& item) {
  const std::string name = control::name_of(item);
  const Json finalizers = item["metadata"].value("finalizers", Json::array());
  if (std::find(finalizers.begin(), finalizers.end(), resources::kLocalSnapshotFinalizer) == finalizers.end()) return;
  const std::string snapshot = item.value("status", Json::object()).value("localSnapshot", std::string());
  if (!snapshot.empty()) {
    Status destroyed = destroy_local_snapshot(snapshot);
    if (!destroyed.ok() && destroyed.error().code() != ErrorCode::kNotFound) {
      std::string message = "the local snapshot cannot be destroyed yet: " + destroyed.error().to_string();
      if (item.value("status", Json::object()).value("message", std::string()) != message) {
        log_.warning(message, {{"item", type.kind + "/" + name}});
        (void)write(type, name, {{"message", message}});
      }
      return;
    }
    log_.info("destroyed the local snapshot of a deleted backup", {{"item", type.kind + "/" + name}, {"snapshot", snapshot}});
  }
  kube::DynamicClient dynamic(client_);
  auto released = dynamic.update_with_retry(type, options_.namespace_name, name, [](Json& object) -> Status {
    Json kept = Json::array();
    for (const auto& f : object["metadata"].value("finalizers", Json::array()))
      if (f != resources::kLocalSnapshotFinalizer) kept.push_back(f);
    object["metadata"]["finalizers"] = kept;
    return ok_status();
  });
  if (!released.ok() && released.error().code() != ErrorCode::kNotFound)
    log_.error("removing the local-snapshot finalizer failed: " + released.error().to_string(), {{"item", type.kind + "/" + name}});
}

void Agent::execute(const kube::ApiResource& type, const std::string& name, std::stop_token stop) {
  auto started = std::chrono::steady_clock::now();
  if (auto g = metrics_.running->with({}); g.ok()) g.value()->add(1);
  kube::DynamicClient dynamic(client_);
  Result<Json> result = Error(ErrorCode::kInternal, "not run");
  Progress progress;
  const std::string key = type.kind + "/" + name;
  {
    std::lock_guard lock(mutex_);
    progress_of_[key] = &progress;
  }
  struct Unregister {
    Agent& agent;
    const std::string& key;
    ~Unregister() {
      std::lock_guard lock(agent.mutex_);
      agent.progress_of_.erase(key);
    }
  } unregister{*this, key};
  auto item = dynamic.get(type, options_.namespace_name, name);
  if (item.ok() && item.value()["spec"].value("cancel", false)) progress.cancel_requested = true;  // canceled meanwhile
  if (item.ok()) {
    (void)write(type, name, {{"phase", "InProgress"}, {"startTimestamp", format_time_utc(now_unix())}});
    // Progress to the item's status every few seconds.
    std::jthread reporter([&](std::stop_token done) {
      uint64_t last = 0;
      auto last_time = std::chrono::steady_clock::now();
      std::mutex m;
      std::condition_variable_any cv;
      while (!done.stop_requested()) {
        {
          std::unique_lock lock(m);
          cv.wait_for(lock, done, options_.progress_interval, [] { return false; });
        }
        if (done.stop_requested()) break;
        auto now = std::chrono::steady_clock::now();
        uint64_t bytes = progress.bytes_done.load();
        double seconds = std::chrono::duration<double>(now - last_time).count();
        Json p = {{"bytesDone", bytes}, {"totalBytes", progress.bytes_total.load()},
                  {"bytesPerSecond", seconds > 0 ? uint64_t(double(bytes - std::min(bytes, last)) / seconds) : 0}};
        (void)write(type, name, {{"progress", p}});
        last = bytes;
        last_time = now;
      }
    });
    result = type.kind == "VolumeBackup" ? back_up(item.value(), progress) : restore(type, item.value(), progress, stop);
  } else {
    result = item.error();
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  uint64_t bytes = progress.bytes_done.load();
  Json status = {{"completionTimestamp", format_time_utc(now_unix())},
                 {"progress", {{"bytesDone", bytes}, {"totalBytes", std::max(bytes, progress.bytes_total.load())},
                               {"bytesPerSecond", seconds > 0 ? uint64_t(double(bytes) / seconds) : 0}}}};
  if (result.ok()) {
    for (const auto& [k, v] : result.value().items()) status[k] = v;
    status["phase"] = "Completed";
    log_.info("work item completed", {{"item", type.kind + "/" + name}, {"bytes", std::to_string(bytes)}});
  } else if (result.error().code() == ErrorCode::kCancelled) {
    status["phase"] = "Canceled";
    status["message"] = result.error().to_string();
    log_.warning("work item canceled", {{"item", type.kind + "/" + name}});
  } else {
    status["phase"] = "Failed";
    status["message"] = result.error().to_string();
    log_.error("work item failed: " + result.error().to_string(), {{"item", type.kind + "/" + name}});
  }
  if (stop.stop_requested() && !result.ok()) return;  // shutting down: the next agent starts it again
  auto written = write(type, name, status);
  if (!written.ok()) log_.error("recording the result failed: " + written.error().to_string(), {{"item", type.kind + "/" + name}});
  if (auto c = metrics_.items->with({type.kind, status["phase"].get<std::string>()}); c.ok()) c.value()->increment();
  if (auto c = metrics_.bytes->with({type.kind}); c.ok()) c.value()->increment(double(bytes));
  if (auto h = metrics_.seconds->with({}); h.ok()) h.value()->observe(seconds);
  if (auto g = metrics_.running->with({}); g.ok()) g.value()->add(-1);
}

Result<Json> Agent::back_up(const Json& item, Progress& progress) {
  const Json spec = item.value("spec", Json::object());
  const std::string method = spec.value("method", std::string());
  std::string source = spec.value("sourcePath", std::string());
  if (source.empty()) {
    if (method != "FileSystem")
      return Error(ErrorCode::kInvalidArgument, method + " work item names no source", control::name_of(item),
                   "the server sets spec.sourcePath for Block and ZFS volumes");
    std::string pv = spec.value("pv", std::string());
    source = TRY(kubelet_volume_dir(options_.kubelet_root, spec["pod"].value("uid", std::string()),
                                    pv.empty() ? spec.value("volume", std::string()) : pv));
  }
  if (spec.value("mode", std::string()) == "LocalSnapshot") {
    std::string local = TRY(keep_local_snapshot(method, source, "stowage-" + control::name_of(item)));
    return Json{{"localSnapshot", local}, {"node", options_.node_name},
                {"message", "kept local snapshot " + local + " on " + options_.node_name}};
  }
  auto location = TRY(locations_.open(spec.value("storageLocation", std::string())));
  Repository& repo = location->repository();
  TRY_STATUS(repo.reload_index());
  VolumeBackupRequest request;
  request.method = method;
  request.source = source;
  request.workers = options_.data_workers;
  request.progress = &progress;
  request.snapshot_name = "stowage-" + control::name_of(item);
  const Json tags = spec.value("tags", Json::object());
  for (const auto& [k, v] : tags.items())
    if (v.is_string()) request.tags.push_back(k + "=" + v.get<std::string>());
  std::string parent = spec.value("parentSnapshot", std::string());
  if (!parent.empty()) {
    auto id = repo.resolve_snapshot(parent);
    if (id.ok()) request.parent = id.value();
    else log_.warning("parent snapshot " + parent + " is gone (" + id.error().message() + "); reading everything",
                      {{"item", control::name_of(item)}});
  }
  VolumeBackupResult done = TRY(back_up_volume(repo, request));
  Json out = {{"snapshotID", done.snapshot.id.hex()}, {"node", options_.node_name}};
  if (!done.note.empty()) out["message"] = done.note;
  return out;
}

Result<std::pair<control::PodVolume, std::string>> Agent::restore_target(const Json& item) {
  const Json spec = item.value("spec", Json::object());
  kube::DynamicClient dynamic(client_);
  const std::string ns = spec["pod"].value("namespace", std::string());
  const std::string pod_name = spec["pod"].value("name", std::string());
  const std::string volume_name = spec.value("volume", std::string());
  auto pod = dynamic.get(resources::pod(), ns, pod_name);
  if (!pod.ok()) {
    if (pod.error().code() == ErrorCode::kNotFound)
      return Error(ErrorCode::kInvalidArgument, "pod " + ns + "/" + pod_name + " is gone", ns + "/" + pod_name,
                   "restore again; the pod must exist until its volumes are written");
    return pod.error();
  }
  std::string uid = pod.value()["metadata"].value("uid", std::string());
  std::string wanted_uid = spec["pod"].value("uid", std::string());
  if (!wanted_uid.empty() && uid != wanted_uid)
    return Error(ErrorCode::kInvalidArgument, "pod " + ns + "/" + pod_name + " was replaced by another pod",
                 ns + "/" + pod_name, "restore again");
  if (pod.value().value("spec", Json::object()).value("nodeName", std::string()) != options_.node_name)
    return Error(ErrorCode::kInvalidArgument, "pod " + ns + "/" + pod_name + " does not run on " + options_.node_name,
                 ns + "/" + pod_name, "");
  Json volume;
  for (const auto& v : pod.value()["spec"].value("volumes", Json::array()))
    if (v.value("name", std::string()) == volume_name) volume = v;
  if (volume.is_null())
    return Error(ErrorCode::kInvalidArgument, "pod " + ns + "/" + pod_name + " has no volume " + volume_name,
                 ns + "/" + pod_name, "");
  std::optional<Json> pvc, pv;
  if (volume.contains("persistentVolumeClaim")) {
    pvc = TRY(dynamic.get(resources::persistent_volume_claim(), ns,
                          volume["persistentVolumeClaim"].value("claimName", std::string())));
    std::string bound = pvc->value("spec", Json::object()).value("volumeName", std::string());
    if (bound.empty() || pvc->value("status", Json::object()).value("phase", std::string()) != "Bound")
      return Error(ErrorCode::kNotFound, "claim of volume " + volume_name + " is not bound yet", ns, "");
    pv = TRY(dynamic.get(resources::persistent_volume(), "", bound));
  }
  control::PodVolume target = TRY(control::classify_volume(volume, pvc ? &*pvc : nullptr, pv ? &*pv : nullptr));
  std::string path = target.source;
  struct stat st {};
  if (!path.empty()) {
    const bool is_path = target.method != "ZFS" && target.method != "Replicated";  // not datasets, addresses
    if (is_path && ::stat(path.c_str(), &st) != 0)
      return Error(ErrorCode::kNotFound, target.method + " target " + path + " does not exist yet", path, "");
  } else {
    path = TRY(kubelet_volume_dir(options_.kubelet_root, uid, target.pv.empty() ? volume_name : target.pv));
  }
  return std::make_pair(target, path);
}

Result<Json> Agent::restore(const kube::ApiResource& type, const Json& item, Progress& progress, std::stop_token stop) {
  const Json spec = item.value("spec", Json::object());
  const std::string name = control::name_of(item);
  kube::DynamicClient dynamic(client_);
  std::optional<std::pair<control::PodVolume, std::string>> target;
  std::string signal_dir;  // "" when no pod waits for this volume
  std::string last_wait;
  if (const std::string preset = spec.value("targetPath", std::string()); !preset.empty()) {
    // A replicated volume restored before its PersistentVolume exists: no
    // pod can use it yet, so there is none to wait for or to signal.
    if (spec.value("method", std::string()) != "Replicated")
      return Error(ErrorCode::kInvalidArgument, "spec.targetPath is set, but only Replicated volumes are restored "
                   "before a pod uses them (method " + spec.value("method", std::string()) + ")", name, "");
    control::PodVolume volume;
    volume.name = spec.value("volume", std::string());
    volume.method = "Replicated";
    volume.source = preset;
    target.emplace(volume, preset);
  }
  // Otherwise wait until the pod runs here with the volume (and its restore signal) mounted.
  while (!target) {
    auto found = restore_target(item);
    if (found.ok()) {
      std::string uid = spec["pod"].value("uid", std::string());
      signal_dir = restore_signal_dir(options_.kubelet_root, uid);
      struct stat st {};
      if (::stat(signal_dir.c_str(), &st) == 0) {
        target = std::move(found).value();
        break;
      }
      found = Error(ErrorCode::kNotFound, "the pod's restore signal volume is not mounted yet", signal_dir, "");
    }
    if (found.error().code() != ErrorCode::kNotFound) return found.error();
    if (found.error().message() != last_wait) {
      last_wait = found.error().message();
      (void)write(type, name, {{"message", "waiting: " + last_wait}});
    }
    auto current = dynamic.get(type, options_.namespace_name, name);
    if (current.ok() && current.value()["spec"].value("cancel", false))
      return Error(ErrorCode::kCancelled, "canceled by the server while waiting for the pod", name, "");
    if (stop.stop_requested()) return Error(ErrorCode::kCancelled, "the agent is stopping", name, "");
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  (void)write(type, name, {{"message", "writing into " + target->second}});
  std::string volume = spec.value("volume", std::string());
  auto restored = [&]() -> Result<Json> {
    std::string clone_from = spec.value("cloneFrom", std::string());
    if (!clone_from.empty()) {
      TRY_STATUS(clone_local_snapshot(target->first.method, clone_from, target->second));
      return Json{{"node", options_.node_name}, {"message", "cloned " + clone_from + " into " + target->second}};
    }
    auto location = TRY(locations_.open(spec.value("storageLocation", std::string())));
    Repository& repo = location->repository();
    TRY_STATUS(repo.reload_index());
    ObjectId id = TRY(repo.resolve_snapshot(spec.value("snapshotID", std::string())));
    Snapshot snapshot = TRY(repo.load_snapshot(id));
    VolumeRestoreRequest request;
    request.method = target->first.method;
    request.target = target->second;
    request.workers = options_.data_workers;
    request.progress = &progress;
    std::string note = TRY(restore_volume(repo, snapshot, request));
    Json out = {{"node", options_.node_name}, {"message", "restored into " + target->second}};
    if (!note.empty()) out["message"] = out["message"].get<std::string>() + "; " + note;
    return out;
  }();
  if (signal_dir.empty()) return restored;
  // The pod's restore-wait init container exits once every volume is signalled.
  Status signalled = write_restore_signal(signal_dir, volume, restored.ok(),
                                          restored.ok() ? "restored by the stowage agent on " + options_.node_name
                                                        : restored.error().to_string());
  if (!signalled.ok()) log_.error("signalling the pod failed: " + signalled.error().to_string(), {{"item", name}});
  if (restored.ok() && !signalled.ok()) return signalled.error();
  return restored;
}

constexpr auto kLeaseRenewal = std::chrono::seconds(10);

// The agent's Lease: the server gives work only to nodes whose agent renewed it lately.
Status renew_lease(kube::ApiClient& client, const AgentOptions& options) {
  kube::DynamicClient dynamic(client);
  std::string now = format_time_utc(now_unix());
  now.insert(now.size() - 1, ".000000");  // MicroTime
  const std::string name = resources::agent_lease_name(options.node_name);
  Json spec = {{"holderIdentity", options.node_name}, {"leaseDurationSeconds", resources::kAgentLeaseSeconds},
               {"renewTime", now}};
  auto updated = dynamic.update_with_retry(resources::lease(), options.namespace_name, name, [&](Json& lease) -> Status {
    lease["spec"] = spec;
    return ok_status();
  });
  if (updated.ok() || updated.error().code() != ErrorCode::kNotFound) return updated.ok() ? ok_status() : Status(updated.error());
  Json lease = {{"apiVersion", "coordination.k8s.io/v1"},
                {"kind", "Lease"},
                {"metadata", {{"name", name}, {"namespace", options.namespace_name},
                              {"labels", {{"app.kubernetes.io/name", "stowage"}, {"app.kubernetes.io/component", "agent"}}}}},
                {"spec", spec}};
  auto created = dynamic.create(resources::lease(), options.namespace_name, lease);
  return created.ok() ? ok_status() : Status(created.error());
}

}  // namespace

Status run_agent(kube::ApiClient& client, const AgentOptions& options, const Logger& log, std::stop_token stop) {
  if (options.node_name.empty())
    return Error(ErrorCode::kInvalidArgument, "the agent needs its node's name", "--node-name",
                 "pass --node-name (the DaemonSet sets it from spec.nodeName)");
  MetricsRegistry registry;
  AgentMetrics metrics = TRY(AgentMetrics::create(registry));
  std::atomic<bool> ready{false};
  auto endpoint = TRY(start_http_endpoint(registry, options.metrics_address, [&]() -> Status {
    if (ready) return ok_status();
    return Error(ErrorCode::kUnavailable, "the agent has not listed its work items yet");
  }, log));
  kube::DynamicClient dynamic(client);
  kube::ListOptions list_options;
  list_options.label_selector = std::string(resources::kNodeLabel) + "=" + options.node_name;
  TRY(dynamic.list(resources::volume_backup(), options.namespace_name, list_options));  // CRDs installed, readable?

  control::WatchLoop watch_loop(client, {resources::volume_backup(), resources::volume_restore()},
                                options.namespace_name, list_options.label_selector, log);

  log.info("agent started", {{"node", options.node_name}, {"namespace", options.namespace_name}});
  {
    Agent agent(client, options, log, metrics);
    auto last_renewal = std::chrono::steady_clock::now() - std::chrono::hours(1);
    while (!stop.stop_requested()) {
      if (std::chrono::steady_clock::now() - last_renewal >= kLeaseRenewal) {
        Status renewed = renew_lease(client, options);
        if (renewed.ok()) last_renewal = std::chrono::steady_clock::now();
        else log.warning("renewing the agent's Lease failed: " + renewed.error().to_string());
      }
      bool listed = true;
      for (const auto& type : {resources::volume_backup(), resources::volume_restore()}) {
        auto items = dynamic.list(type, options.namespace_name, list_options);
        if (!items.ok()) {
          listed = false;
          log.warning("listing " + type.resource + " failed: " + items.error().message());
          continue;
        }
        for (const auto& item : items.value().items) agent.reconcile(type, item, stop);
      }
      if (listed) ready = true;
      watch_loop.wait_for(listed ? std::min(std::chrono::duration_cast<std::chrono::milliseconds>(options.resync),
                                        std::chrono::duration_cast<std::chrono::milliseconds>(kLeaseRenewal))
                             : std::chrono::milliseconds(5000),
                      stop);
    }
    log.info("agent stopping; waiting for running work items");
  }
  if (endpoint) endpoint->stop();
  return ok_status();
}

}  // namespace stowage::agent
