#include "cli/cluster_session.h"

#include <cstdio>
#include <thread>

#include "kube/dynamic_client.h"
#include "kube/kubeconfig.h"
#include "util/clock.h"

namespace stowage::cli {

using Json = nlohmann::json;

Result<ClusterSession> connect(const KubeFlags& flags) {
  auto config = TRY(kube::load_default_config(flags.kubeconfig, flags.context));
  ClusterSession session;
  session.client = TRY(kube::ApiClient::create(std::move(config)));
  session.namespace_name = flags.namespace_name;
  return session;
}

OutputFormat output_format(const KubeFlags& flags) {
  OutputFormat format = OutputFormat::kTable;
  if (flags.output) parse_output_format(*flags.output, format);
  return format;
}

std::string age_of(const std::string& timestamp) {
  int64_t then = 0;
  if (timestamp.empty() || !parse_time_utc(timestamp, then)) return "";
  int64_t seconds = std::max<int64_t>(0, now_unix() - then);
  if (seconds < 120) return std::to_string(seconds) + "s";
  if (seconds < 7200) return std::to_string(seconds / 60) + "m";
  if (seconds < 2 * 86400) return std::to_string(seconds / 3600) + "h";
  return std::to_string(seconds / 86400) + "d";
}

int print_objects(const KubeFlags& flags, const std::vector<Json>& objects, const std::vector<std::string>& header,
                  const std::function<std::vector<std::string>(const Json&)>& row) {
  OutputFormat format = output_format(flags);
  if (format != OutputFormat::kTable) {
    if (objects.size() == 1) {
      print_document(nlohmann::ordered_json::parse(objects[0].dump()), format);
    } else {
      nlohmann::ordered_json list = {{"apiVersion", "v1"}, {"kind", "List"}, {"items", nlohmann::ordered_json::array()}};
      for (const auto& o : objects) list["items"].push_back(nlohmann::ordered_json::parse(o.dump()));
      print_document(list, format);
    }
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& o : objects) rows.push_back(row(o));
  print_table(header, rows);
  return 0;
}

Result<std::vector<Json>> get_objects(ClusterSession& session, const kube::ApiResource& type, const std::string& name,
                                     const std::string& label_selector) {
  kube::DynamicClient dynamic(*session.client);
  if (!name.empty()) {
    auto object = dynamic.get(type, session.namespace_name, name);
    if (!object.ok() && object.error().code() == ErrorCode::kNotFound)
      return Error(ErrorCode::kNotFound, type.kind + " " + session.namespace_name + "/" + name + " does not exist", name,
                   "list them with `stowage " + type.singular + " get`");
    return std::vector<Json>{TRY(std::move(object))};
  }
  kube::ListOptions options;
  options.label_selector = label_selector;
  auto list = TRY(dynamic.list(type, session.namespace_name, options));
  std::vector<Json> out(list.items.begin(), list.items.end());
  std::sort(out.begin(), out.end(), [](const Json& a, const Json& b) {
    return a["metadata"].value("name", std::string()) < b["metadata"].value("name", std::string());
  });
  return out;
}

int exit_code_for_phase(const std::string& phase) {
  if (phase == "Completed") return 0;
  if (phase == "PartiallyFailed") return 3;
  return 1;
}

int wait_for_completion(ClusterSession& session, const kube::ApiResource& type, const std::string& name) {
  kube::DynamicClient dynamic(*session.client);
  std::string last;
  for (;;) {
    auto object = dynamic.get(type, session.namespace_name, name);
    if (!object.ok()) {
      fprintf(stderr, "stowage: error: %s\n", object.error().to_string().c_str());
      return 1;
    }
    Json status = object.value().value("status", Json::object());
    std::string phase = status.value("phase", std::string());
    Json progress = status.value("progress", Json::object());
    std::string line = phase.empty() ? "New" : phase;
    if (!progress.empty()) line += " (" + progress.dump() + ")";
    if (line != last) {
      fprintf(stderr, "%s %s: %s\n", type.kind.c_str(), name.c_str(), line.c_str());
      last = line;
    }
    if (phase == "Completed" || phase == "PartiallyFailed" || phase == "Failed" || phase == "FailedValidation") {
      if (status.contains("failureReason"))
        fprintf(stderr, "%s %s: %s\n", type.kind.c_str(), name.c_str(), status["failureReason"].get<std::string>().c_str());
      return exit_code_for_phase(phase);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
}

std::vector<std::string> events_of(ClusterSession& session, const Json& object) {
  kube::DynamicClient dynamic(*session.client);
  kube::ApiResource event_type;
  event_type.version = "v1";
  event_type.resource = "events";
  event_type.kind = "Event";
  event_type.namespaced = true;
  kube::ListOptions options;
  options.field_selector = "involvedObject.name=" + object["metadata"].value("name", std::string()) +
                           ",involvedObject.kind=" + object.value("kind", std::string());
  auto list = dynamic.list(event_type, session.namespace_name, options);
  std::vector<std::pair<std::string, std::string>> lines;
  if (list.ok())
    for (const auto& e : list.value().items) {
      std::string when = e.value("lastTimestamp", std::string());
      lines.emplace_back(when, age_of(when) + "\t" + e.value("type", std::string()) + "\t" +
                                   e.value("reason", std::string()) + ": " + e.value("message", std::string()));
    }
  std::sort(lines.begin(), lines.end());
  std::vector<std::string> out;
  for (auto& l : lines) out.push_back(l.second);
  return out;
}

Result<Json> parse_selector(const std::string& text) {
  Json selector = Json::object();
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    std::string term = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    start = comma == std::string::npos ? text.size() + 1 : comma + 1;
    if (term.empty()) continue;
    size_t ne = term.find("!=");
    size_t eq = term.find('=');
    if (ne != std::string::npos) {
      selector["matchExpressions"].push_back(
          {{"key", term.substr(0, ne)}, {"operator", "NotIn"}, {"values", {term.substr(ne + 2)}}});
    } else if (eq != std::string::npos) {
      std::string value = term.substr(term[eq + 1] == '=' ? eq + 2 : eq + 1);
      selector["matchLabels"][term.substr(0, eq)] = value;
    } else if (term[0] == '!') {
      selector["matchExpressions"].push_back({{"key", term.substr(1)}, {"operator", "DoesNotExist"}});
    } else {
      selector["matchExpressions"].push_back({{"key", term}, {"operator", "Exists"}});
    }
  }
  if (selector.empty())
    return Error(ErrorCode::kInvalidArgument, "empty label selector \"" + text + "\"", text, "write it as app=web,tier!=db");
  return selector;
}

Result<Json> parse_mapping(const std::string& text, const std::string& flag) {
  Json mapping = Json::object();
  size_t start = 0;
  while (start < text.size()) {
    size_t comma = text.find(',', start);
    std::string pair = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    start = comma == std::string::npos ? text.size() : comma + 1;
    size_t colon = pair.find(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == pair.size())
      return Error(ErrorCode::kInvalidArgument, flag + ": \"" + pair + "\" is not OLD:NEW", pair,
                   "write " + flag + " old1:new1,old2:new2");
    mapping[pair.substr(0, colon)] = pair.substr(colon + 1);
  }
  return mapping;
}

}  // namespace stowage::cli
