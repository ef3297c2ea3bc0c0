#include "control/hooks.h"

#include "control/selection.h"
#include "kube/exec.h"
#include "util/duration.h"

namespace stowage::control {
namespace {

using Json = nlohmann::json;

std::string pod_name(const Json& pod) {
  return pod["metadata"].value("namespace", std::string()) + "/" + pod["metadata"].value("name", std::string());
}

Error invalid(const Json& pod, const std::string& field, const std::string& why) {
  return Error(ErrorCode::kInvalidArgument, "pod " + pod_name(pod) + ": " + field + " " + why, pod_name(pod),
               "fix the hook annotation or the Backup's spec.hooks");
}

Result<std::chrono::milliseconds> hook_timeout(const Json& pod, const std::string& field, const std::string& text) {
  if (text.empty()) return std::chrono::milliseconds(30'000);
  auto d = parse_duration(text);
  if (!d.ok() || d.value().count() <= 0) return invalid(pod, field, "is not a positive duration such as 30s or 2m");
  return std::chrono::duration_cast<std::chrono::milliseconds>(d.value());
}

Result<bool> on_error_fails(const Json& pod, const std::string& field, const std::string& text) {
  if (text.empty() || text == "Fail") return true;
  if (text == "Continue") return false;
  return invalid(pod, field, "must be Fail or Continue, not \"" + text + "\"");
}

// Hooks from annotations under one prefix ("pre.hook.backup.stowage.io"); none when no command.
Result<std::vector<ExecHook>> annotation_hooks(const Json& pod, const std::string& prefix) {
  Json annotations = pod["metadata"].value("annotations", Json::object());
  auto get = [&](const char* suffix) {
    std::string key = prefix + "/" + suffix;
    return annotations.contains(key) && annotations[key].is_string() ? annotations[key].get<std::string>()
                                                                     : std::string();
  };
  std::string command_text = get("command");
  if (command_text.empty()) return std::vector<ExecHook>{};
  ExecHook hook;
  hook.source = "annotation " + prefix;
  Json parsed = Json::parse(command_text, nullptr, false);
  if (!parsed.is_discarded() && parsed.is_array()) {
    for (const auto& part : parsed) {
      if (!part.is_string()) return invalid(pod, prefix + "/command", "must be a JSON array of strings");
      hook.command.push_back(part.get<std::string>());
    }
  } else {
    hook.command.push_back(command_text);
  }
  if (hook.command.empty()) return invalid(pod, prefix + "/command", "is empty");
  hook.container = get("container");
  hook.fail_on_error = TRY(on_error_fails(pod, prefix + "/on-error", get("on-error")));
  hook.timeout = TRY(hook_timeout(pod, prefix + "/timeout", get("timeout")));
  return std::vector<ExecHook>{hook};
}

bool spec_entry_selects(const Json& entry, const Json& pod) {
  std::vector<std::string> ignored;
  auto selection = Selection::parse(entry, ignored);
  if (!selection.ok()) return false;
  std::string ns = pod["metadata"].value("namespace", std::string());
  if (!selection.value().namespaces.matches(ns)) return false;
  const auto& resources = selection.value().resources;
  if (!resources.includes_everything() && !resources.matches("pods")) return false;
  return selection.value().labels_match(pod);
}

}  // namespace

Result<std::vector<ExecHook>> backup_hooks(const Json& pod, const Json& spec_hooks, std::string_view phase) {
  for (const char* group : {"stowage.io", "velero.io"}) {
    auto hooks = TRY(annotation_hooks(pod, std::string(phase) + ".hook.backup." + group));
    if (!hooks.empty()) return hooks;
  }
  std::vector<ExecHook> out;
  if (!spec_hooks.is_object() || !spec_hooks.contains("resources") || !spec_hooks["resources"].is_array()) return out;
  for (const auto& entry : spec_hooks["resources"]) {
    if (!entry.is_object() || !spec_entry_selects(entry, pod)) continue;
    std::string name = entry.value("name", std::string("unnamed"));
    std::string list = std::string(phase);
    if (!entry.contains(list) || !entry[list].is_array()) continue;
    for (const auto& item : entry[list]) {
      if (!item.is_object() || !item.contains("exec") || !item["exec"].is_object()) continue;
      const Json& exec = item["exec"];
      std::string field = "spec.hooks.resources[" + name + "]." + list + ".exec";
      ExecHook hook;
      hook.source = "spec hook " + name;
      hook.container = exec.value("container", std::string());
      if (!exec.contains("command") || !exec["command"].is_array() || exec["command"].empty())
        return invalid(pod, field + ".command", "must be a non-empty list of strings");
      for (const auto& part : exec["command"]) {
        if (!part.is_string()) return invalid(pod, field + ".command", "must be a list of strings");
        hook.command.push_back(part.get<std::string>());
      }
      hook.fail_on_error = TRY(on_error_fails(pod, field + ".onError", exec.value("onError", std::string())));
      hook.timeout = TRY(hook_timeout(pod, field + ".timeout", exec.value("timeout", std::string())));
      out.push_back(std::move(hook));
    }
  }
  return out;
}

HookOutcome run_exec_hooks(kube::ApiClient& client, const Json& pod, const std::vector<ExecHook>& hooks,
                           std::string_view phase, OperationLog& log) {
  HookOutcome outcome;
  std::string ns = pod["metadata"].value("namespace", std::string());
  std::string name = pod["metadata"].value("name", std::string());
  for (const auto& hook : hooks) {
    std::string container = hook.container;
    if (container.empty() && pod.contains("spec") && pod["spec"].contains("containers") &&
        !pod["spec"]["containers"].empty())
      container = pod["spec"]["containers"][0].value("name", std::string());
    std::string what = std::string(phase) + " hook (" + hook.source + ") in pod " + ns + "/" + name + " container " +
                       container + ": " + Json(hook.command).dump();
    ++outcome.attempted;
    log.info("running " + what, ns);
    auto result = kube::exec(client, ns, name, container, hook.command, hook.timeout);
    std::string failure;
    if (!result.ok()) failure = result.error().message();
    else if (result.value().exit_code != 0)
      failure = "exited with code " + std::to_string(result.value().exit_code) +
                (result.value().stderr_text.empty() ? "" : ": " + result.value().stderr_text.substr(0, 400));
    if (failure.empty()) {
      log.info(what + " succeeded", ns);
      continue;
    }
    ++outcome.failed;
    if (hook.fail_on_error) {
      log.error(what + " failed (onError Fail): " + failure, ns);
      outcome.must_fail = true;
      break;
    }
    log.warning(what + " failed (onError Continue): " + failure, ns);
  }
  return outcome;
}

}  // namespace stowage::control
