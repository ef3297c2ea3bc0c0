#include "control/selection.h"

#include <algorithm>

namespace stowage::control {
namespace {

std::vector<std::string> string_list(const Json& spec, const char* field, std::vector<std::string>& problems) {
  std::vector<std::string> out;
  if (!spec.contains(field) || spec[field].is_null()) return out;
  if (!spec[field].is_array()) {
    problems.push_back(std::string("spec.") + field + " must be a list of strings");
    return out;
  }
  for (const auto& v : spec[field]) {
    if (v.is_string()) out.push_back(v.get<std::string>());
    else problems.push_back(std::string("spec.") + field + " has a value that is not a string");
  }
  return out;
}

bool lower_equal(const std::string& a, const std::string& b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return std::tolower(x) == std::tolower(y); });
}

// The qualified names a spec entry may refer to, given the served types.
std::vector<std::string> resolve_name(const std::string& name, const std::vector<kube::ApiResource>& served) {
  std::vector<std::string> out;
  for (const auto& type : served) {
    std::string qualified = type.qualified_name();
    bool hit = lower_equal(name, qualified) || lower_equal(name, type.resource) || lower_equal(name, type.kind) ||
               lower_equal(name, type.singular) ||
               std::any_of(type.short_names.begin(), type.short_names.end(),
                           [&](const std::string& s) { return lower_equal(name, s); }) ||
               lower_equal(name, type.resource + "." + type.version + "." + type.group);
    if (hit && std::find(out.begin(), out.end(), qualified) == out.end()) out.push_back(qualified);
  }
  // A bare plural names the core type when there is one ("events", not "events.events.k8s.io").
  if (out.size() > 1) {
    auto core = std::find(out.begin(), out.end(), name);
    if (core != out.end()) return {*core};
  }
  return out;
}

}  // namespace

bool LabelSelector::matches(const Json& labels) const {
  for (const auto& r : requirements) {
    bool has = labels.is_object() && labels.contains(r.key) && labels[r.key].is_string();
    std::string value = has ? labels[r.key].get<std::string>() : std::string();
    bool in = has && std::find(r.values.begin(), r.values.end(), value) != r.values.end();
    if (r.op == "In" && !in) return false;
    if (r.op == "NotIn" && in) return false;
    if (r.op == "Exists" && !has) return false;
    if (r.op == "DoesNotExist" && has) return false;
  }
  return true;
}

std::string LabelSelector::to_query() const {
  std::string out;
  for (const auto& r : requirements) {
    if (!out.empty()) out += ",";
    if (r.op == "Exists") out += r.key;
    else if (r.op == "DoesNotExist") out += "!" + r.key;
    else {
      out += r.key + (r.op == "In" ? " in (" : " notin (");
      for (size_t i = 0; i < r.values.size(); ++i) out += (i ? "," : "") + r.values[i];
      out += ")";
    }
  }
  return out;
}

Result<LabelSelector> LabelSelector::parse(const Json& selector, const std::string& field) {
  LabelSelector out;
  auto bad = [&](const std::string& why) {
    return Error(ErrorCode::kInvalidArgument, field + " " + why, field,
                 "write it as a Kubernetes label selector: {matchLabels: {app: web}, matchExpressions: [...]}");
  };
  if (selector.is_null()) return out;
  if (!selector.is_object()) return bad("is not an object");
  if (selector.contains("matchLabels")) {
    if (!selector["matchLabels"].is_object()) return bad("matchLabels is not a map");
    for (const auto& [k, v] : selector["matchLabels"].items()) {
      if (!v.is_string()) return bad("matchLabels." + k + " is not a string");
      out.requirements.push_back({k, "In", {v.get<std::string>()}});
    }
  }
  if (selector.contains("matchExpressions")) {
    if (!selector["matchExpressions"].is_array()) return bad("matchExpressions is not a list");
    for (const auto& e : selector["matchExpressions"]) {
      if (!e.is_object() || !e.contains("key") || !e["key"].is_string() || !e.contains("operator") ||
          !e["operator"].is_string())
        return bad("has a matchExpression without key or operator");
      Requirement r{e["key"].get<std::string>(), e["operator"].get<std::string>(), {}};
      if (r.op != "In" && r.op != "NotIn" && r.op != "Exists" && r.op != "DoesNotExist")
        return bad("has the unknown operator \"" + r.op + "\" (In, NotIn, Exists, DoesNotExist)");
      if (e.contains("values") && e["values"].is_array())
        for (const auto& v : e["values"])
          if (v.is_string()) r.values.push_back(v.get<std::string>());
      if ((r.op == "In" || r.op == "NotIn") && r.values.empty()) return bad("has " + r.op + " without values");
      out.requirements.push_back(std::move(r));
    }
  }
  return out;
}

bool NameFilter::includes_everything() const {
  return included.empty() || std::find(included.begin(), included.end(), "*") != included.end();
}

bool NameFilter::matches(const std::string& name) const {
  if (std::find(excluded.begin(), excluded.end(), name) != excluded.end()) return false;
  return includes_everything() || std::find(included.begin(), included.end(), name) != included.end();
}

Result<Selection> Selection::parse(const Json& spec, std::vector<std::string>& problems) {
  Selection s;
  s.namespaces = {string_list(spec, "includedNamespaces", problems), string_list(spec, "excludedNamespaces", problems)};
  s.resources = {string_list(spec, "includedResources", problems), string_list(spec, "excludedResources", problems)};
  if (spec.contains("includeClusterResources") && spec["includeClusterResources"].is_boolean())
    s.include_cluster_resources = spec["includeClusterResources"].get<bool>();
  if (spec.contains("labelSelector") && !spec["labelSelector"].is_null()) {
    auto selector = LabelSelector::parse(spec["labelSelector"], "spec.labelSelector");
    if (selector.ok()) s.selectors.push_back(std::move(selector).value());
    else problems.push_back(selector.error().message());
  }
  if (spec.contains("orLabelSelectors") && spec["orLabelSelectors"].is_array()) {
    if (!s.selectors.empty()) problems.push_back("spec.labelSelector and spec.orLabelSelectors cannot both be set");
    int i = 0;
    for (const auto& each : spec["orLabelSelectors"]) {
      auto selector = LabelSelector::parse(each, "spec.orLabelSelectors[" + std::to_string(i++) + "]");
      if (selector.ok()) s.selectors.push_back(std::move(selector).value());
      else problems.push_back(selector.error().message());
    }
  }
  return s;
}

bool Selection::labels_match(const Json& object) const {
  if (selectors.empty()) return true;
  Json labels = object.contains("metadata") ? object["metadata"].value("labels", Json::object()) : Json::object();
  return std::any_of(selectors.begin(), selectors.end(), [&](const LabelSelector& s) { return s.matches(labels); });
}

bool Selection::cluster_scoped_included() const {
  if (include_cluster_resources) return *include_cluster_resources;
  return namespaces.includes_everything() && namespaces.excluded.empty();
}

ResourceMatcher::ResourceMatcher(const NameFilter& filter, const std::vector<kube::ApiResource>& served,
                                 std::vector<std::string>& problems)
    : all_(filter.includes_everything()) {
  for (const auto& name : filter.included) {
    if (name == "*") continue;
    auto resolved = resolve_name(name, served);
    if (resolved.empty()) included_.push_back(name);  // perhaps a CRD restored later: keep the literal name
    else if (resolved.size() > 1)
      problems.push_back("spec.includedResources: \"" + name + "\" is ambiguous; use one of the qualified names");
    else included_.push_back(resolved.front());
  }
  for (const auto& name : filter.excluded) {
    auto resolved = resolve_name(name, served);
    if (resolved.empty()) excluded_.push_back(name);
    else excluded_.insert(excluded_.end(), resolved.begin(), resolved.end());
  }
}

bool ResourceMatcher::matches_qualified(const std::string& qualified) const {
  if (std::find(excluded_.begin(), excluded_.end(), qualified) != excluded_.end()) return false;
  return all_ || std::find(included_.begin(), included_.end(), qualified) != included_.end();
}

bool ResourceMatcher::matches(const kube::ApiResource& type) const { return matches_qualified(type.qualified_name()); }

}  // namespace stowage::control
