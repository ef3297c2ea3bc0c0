#include "control/restore_hooks.h"

#include <thread>

#include "control/resources.h"
#include "control/selection.h"
#include "kube/dynamic_client.h"
#include "util/duration.h"

namespace stowage::control {

using Json = nlohmann::json;

namespace {

const char* const kHookGroups[] = {"stowage.io", "velero.io"};

bool is_workload(const std::string& qualified) {
  return qualified == "deployments.apps" || qualified == "statefulsets.apps" || qualified == "daemonsets.apps" ||
         qualified == "replicasets.apps" || qualified == "jobs.batch";
}

// The pod template's metadata/spec of a workload, or the pod itself.
Json* pod_spec_of(Json& object, const std::string& qualified) {
  if (qualified == "pods") return object.contains("spec") ? &object["spec"] : nullptr;
  if (!is_workload(qualified)) return nullptr;
  auto pointer = "/spec/template/spec"_json_pointer;
  return object.contains(pointer) ? &object[pointer] : nullptr;
}

Json pod_annotations_of(const Json& object, const std::string& qualified) {
  if (qualified == "pods") return object["metadata"].value("annotations", Json::object());
  auto pointer = "/spec/template/metadata/annotations"_json_pointer;
  return object.contains(pointer) ? object[pointer] : Json::object();
}

Json pod_labels_of(const Json& object, const std::string& qualified) {
  if (qualified == "pods") return object["metadata"].value("labels", Json::object());
  auto pointer = "/spec/template/metadata/labels"_json_pointer;
  return object.contains(pointer) ? object[pointer] : Json::object();
}

std::string annotation(const Json& annotations, const std::string& key) {
  return annotations.contains(key) && annotations[key].is_string() ? annotations[key].get<std::string>() : "";
}

std::vector<std::string> command_of(const std::string& text) {
  Json parsed = Json::parse(text, nullptr, false);
  std::vector<std::string> command;
  if (!parsed.is_discarded() && parsed.is_array()) {
    for (const auto& part : parsed)
      if (part.is_string()) command.push_back(part.get<std::string>());
  } else if (!text.empty()) {
    command.push_back(text);
  }
  return command;
}

std::chrono::milliseconds duration_or(const std::string& text, std::chrono::milliseconds fallback) {
  auto parsed = parse_duration(text);
  if (!parsed.ok() || parsed.value().count() <= 0) return fallback;
  return std::chrono::duration_cast<std::chrono::milliseconds>(parsed.value());
}

// The spec hook entries (hooks.resources[]) that select this object's pods.
std::vector<Json> matching_spec_entries(const Json& spec_hooks, const Json& object, const std::string& qualified) {
  std::vector<Json> out;
  if (!spec_hooks.is_object() || !spec_hooks.contains("resources")) return out;
  std::string ns = object["metadata"].value("namespace", std::string());
  Json pod_like = {{"metadata", {{"labels", pod_labels_of(object, qualified)}}}};
  for (const auto& entry : spec_hooks["resources"]) {
    std::vector<std::string> ignored;
    auto selection = Selection::parse(entry, ignored);
    if (!selection.ok() || !selection.value().namespaces.matches(ns) || !selection.value().labels_match(pod_like)) continue;
    out.push_back(entry);
  }
  return out;
}

}  // namespace

int add_restore_init_hooks(Json& object, const std::string& qualified, const Json& spec_hooks, OperationLog& log) {
  Json* spec = pod_spec_of(object, qualified);
  if (!spec) return 0;
  std::vector<Json> containers;
  Json annotations = pod_annotations_of(object, qualified);
  for (const char* group : kHookGroups) {
    std::string prefix = std::string("init.hook.restore.") + group + "/";
    std::string image = annotation(annotations, prefix + "container-image");
    if (image.empty()) continue;
    Json container = {{"name", annotation(annotations, prefix + "container-name")}, {"image", image}};
    if (container["name"].get<std::string>().empty()) container["name"] = "restore-hook";
    auto command = command_of(annotation(annotations, prefix + "command"));
    if (!command.empty()) container["command"] = command;
    containers.push_back(container);
    break;
  }
  if (containers.empty())
    for (const auto& entry : matching_spec_entries(spec_hooks, object, qualified))
      for (const auto& post : entry.value("postHooks", Json::array()))
        if (post.contains("init"))
          for (const auto& container : post["init"].value("initContainers", Json::array())) containers.push_back(container);
  if (containers.empty()) return 0;
  Json& init = (*spec)["initContainers"];
  if (!init.is_array()) init = Json::array();
  Json combined = Json::array();
  for (const auto& c : containers) combined.push_back(c);
  for (const auto& c : init) combined.push_back(c);
  init = combined;
  log.info("added " + std::to_string(containers.size()) + " restore init container(s) to " + qualified + " " +
               object["metadata"].value("name", std::string()),
           object["metadata"].value("namespace", std::string()));
  return static_cast<int>(containers.size());
}

std::vector<PendingExecHook> restore_exec_hooks(const Json& object, const std::string& qualified, const Json& spec_hooks,
                                                OperationLog& log) {
  std::vector<PendingExecHook> out;
  if (qualified != "pods" && !is_workload(qualified)) return out;
  PendingExecHook base;
  base.namespace_name = object["metadata"].value("namespace", std::string());
  if (qualified == "pods") {
    base.pod_name = object["metadata"].value("name", std::string());
  } else {
    Json match = object.contains("/spec/selector/matchLabels"_json_pointer) ? object["/spec/selector/matchLabels"_json_pointer]
                                                                          : Json::object();
    std::string selector;
    for (const auto& [k, v] : match.items()) selector += (selector.empty() ? "" : ",") + k + "=" + v.get<std::string>();
    if (selector.empty()) return out;
    base.label_selector = selector;
  }
  Json annotations = pod_annotations_of(object, qualified);
  for (const char* group : kHookGroups) {
    std::string prefix = std::string("post.hook.restore.") + group + "/";
    auto command = command_of(annotation(annotations, prefix + "command"));
    if (command.empty()) continue;
    PendingExecHook pending = base;
    pending.hook.source = "annotation " + prefix.substr(0, prefix.size() - 1);
    pending.hook.command = command;
    pending.hook.container = annotation(annotations, prefix + "container");
    pending.hook.fail_on_error = annotation(annotations, prefix + "on-error") != "Continue";
    pending.hook.timeout = duration_or(annotation(annotations, prefix + "exec-timeout"), std::chrono::milliseconds(30'000));
    pending.wait_timeout = duration_or(annotation(annotations, prefix + "wait-timeout"), std::chrono::milliseconds(120'000));
    out.push_back(pending);
    return out;
  }
  for (const auto& entry : matching_spec_entries(spec_hooks, object, qualified)) {
    for (const auto& post : entry.value("postHooks", Json::array())) {
      if (!post.contains("exec")) continue;
      const Json& exec = post["exec"];
      PendingExecHook pending = base;
      pending.hook.source = "spec hook " + entry.value("name", std::string("unnamed"));
      for (const auto& part : exec.value("command", Json::array()))
        if (part.is_string()) pending.hook.command.push_back(part.get<std::string>());
      if (pending.hook.command.empty()) {
        log.warning("restore hook " + pending.hook.source + " has no command; skipped", base.namespace_name);
        continue;
      }
      pending.hook.container = exec.value("container", std::string());
      pending.hook.fail_on_error = exec.value("onError", std::string("Fail")) != "Continue";
      pending.hook.timeout = duration_or(exec.value("execTimeout", std::string()), std::chrono::milliseconds(30'000));
      pending.wait_timeout = duration_or(exec.value("waitTimeout", std::string()), std::chrono::milliseconds(120'000));
      out.push_back(pending);
    }
  }
  return out;
}

void run_restore_exec_hooks(kube::ApiClient& client, const std::vector<PendingExecHook>& hooks, OperationLog& log,
                            HookOutcome& outcome) {
  kube::DynamicClient dynamic(client);
  for (const auto& pending : hooks) {
    std::string what = pending.pod_name.empty() ? "pods " + pending.label_selector : "pod " + pending.pod_name;
    auto deadline = std::chrono::steady_clock::now() + pending.wait_timeout;
    std::vector<Json> running;
    while (running.empty() && std::chrono::steady_clock::now() < deadline) {
      kube::ListOptions options;
      if (pending.pod_name.empty()) options.label_selector = pending.label_selector;
      else options.field_selector = "metadata.name=" + pending.pod_name;
      auto pods = dynamic.list(resources::pod(), pending.namespace_name, options);
      if (pods.ok())
        for (const auto& pod : pods.value().items)
          if (pod.value("status", Json::object()).value("phase", std::string()) == "Running") running.push_back(pod);
      if (running.empty()) std::this_thread::sleep_for(std::chrono::seconds(1));
    }
    if (running.empty()) {
      ++outcome.attempted;
      ++outcome.failed;
      std::string message = "post-restore hook (" + pending.hook.source + "): " + what + " did not reach Running within " +
                            std::to_string(pending.wait_timeout.count() / 1000) + " s";
      if (pending.hook.fail_on_error) log.error(message, pending.namespace_name);
      else log.warning(message, pending.namespace_name);
      continue;
    }
    for (const auto& pod : running) {
      HookOutcome one = run_exec_hooks(client, pod, {pending.hook}, "post-restore", log);
      outcome.attempted += one.attempted;
      outcome.failed += one.failed;
    }
  }
}

}  // namespace stowage::control
