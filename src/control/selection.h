// Selection: which objects a Backup or Restore spec chooses — included and
// excluded namespaces and resources (with "*" wildcards, resources by any
// name kubectl accepts), label selectors (metav1.LabelSelector and
// orLabelSelectors), and the cluster-scoped inclusion rule — parsed from
// the spec with the problems found, and matched against objects.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kube/api_resource.h"
#include "util/result.h"

namespace stowage::control {

using Json = nlohmann::json;

// metav1.LabelSelector: matchLabels and matchExpressions, all of which must hold.
struct LabelSelector {
  struct Requirement {
    std::string key;
    std::string op;  // In, NotIn, Exists, DoesNotExist
    std::vector<std::string> values;
  };
  std::vector<Requirement> requirements;

  bool empty() const { return requirements.empty(); }
  bool matches(const Json& labels) const;
  // The selector in the API's query syntax ("app=web,tier in (a,b),!x").
  std::string to_query() const;
  static Result<LabelSelector> parse(const Json& selector, const std::string& field);
};

// An include/exclude pair of name lists: empty includes, or "*", mean all.
struct NameFilter {
  std::vector<std::string> included;
  std::vector<std::string> excluded;

  bool includes_everything() const;
  bool matches(const std::string& name) const;
};

// What a Backup spec (or a Restore spec) selects.
struct Selection {
  NameFilter namespaces;
  NameFilter resources;                         // as written in the spec; resolved by ResourceMatcher
  std::optional<bool> include_cluster_resources;  // unset: only with all namespaces, or as dependencies
  std::vector<LabelSelector> selectors;          // labelSelector, or each of orLabelSelectors: any must match

  static Result<Selection> parse(const Json& spec, std::vector<std::string>& problems);
  bool labels_match(const Json& object) const;
  // Whether cluster-scoped objects of selected types are included on their own.
  bool cluster_scoped_included() const;
};

// Resolves a Selection's resource names ("deploy", "deployments.apps",
// "Deployment", "*") against the resource types the cluster serves.
class ResourceMatcher {
 public:
  ResourceMatcher(const NameFilter& filter, const std::vector<kube::ApiResource>& served,
                  std::vector<std::string>& problems);
  bool matches(const kube::ApiResource& type) const;
  // By qualified name ("deployments.apps"), for types that discovery no longer
  // lists (a restore of a CRD's objects before the CRD exists).
  bool matches_qualified(const std::string& qualified) const;

 private:
  bool all_;
  std::vector<std::string> included_;  // qualified names
  std::vector<std::string> excluded_;
};

}  // namespace stowage::control
