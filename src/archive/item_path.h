// ItemPath: where a Velero-format backup tarball (format 1.x) stores one
// Kubernetes object, and the strict parser that turns an archive entry's path
// back into one. Layout (docs/archive-format.md):
//
//   resources/<resource>[.<group>]/namespaces/<namespace>/<name>.json
//   resources/<resource>[.<group>]/cluster/<name>.json
//   resources/<resource>[.<group>]/<version>-preferredversion/{namespaces/<ns>,cluster}/<name>.json
//   resources/<resource>[.<group>]/<version>/{namespaces/<ns>,cluster}/<name>.json
//
// The last form is the copy of a non-preferred API version that Velero writes
// with its EnableAPIGroupVersions feature. Only paths in exactly these forms,
// with valid Kubernetes names, are accepted: anything else is refused, so a
// parsed path can never point outside its place in the layout.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "util/result.h"

namespace stowage::archive {

struct ItemPath {
  std::string resource;           // qualified by its group: "deployments.apps"; core group: "pods"
  std::string namespace_name;     // empty: a cluster-scoped object
  std::string name;               // metadata.name
  std::string preferred_version;  // "v1": the copy under <resource>/v1-preferredversion/; "" otherwise
  std::string other_version;      // "v1beta1": a non-preferred version's copy under <resource>/v1beta1/

  // "apps" for "deployments.apps", "" for "pods" (the core group).
  std::string group() const;
  // "deployments" for "deployments.apps".
  std::string plural() const;
  bool cluster_scoped() const { return namespace_name.empty(); }
  // The version this copy is stored under ("" for the plain copy).
  const std::string& version_directory_version() const {
    return preferred_version.empty() ? other_version : preferred_version;
  }
  // "deployments.apps/web in namespace shop", "namespaces/shop".
  std::string describe() const;

  friend bool operator==(const ItemPath&, const ItemPath&) = default;
};

// The entry path of `item` in the tarball. The result is only meaningful for
// a valid ItemPath; check it with validate_item_path when it comes from input.
std::string item_path(const ItemPath& item);

// Parses an archive entry path strictly (see the header comment). Every error
// is kCorrupt and names the path.
Result<ItemPath> parse_item_path(std::string_view path);

// kInvalidArgument unless `item` is valid and item_path(item) parses back to it.
Status validate_item_path(const ItemPath& item);

// The object stored at `item` must be what the path says: a JSON object with a
// non-empty string kind, metadata.name equal to the name, metadata.namespace
// equal to the namespace (absent or empty for cluster-scoped), the group of
// apiVersion ("apps/v1" → "apps", "v1" → core) equal to the resource's group,
// and for a version directory's copy the version of apiVersion equal to that
// version. kCorrupt naming the path and what disagrees.
Status check_item_matches_path(const ItemPath& item, const nlohmann::json& object);

// An archive entry path made safe to print: bytes that are not printable
// ASCII are shown as \xNN, and a very long path is cut short with "...".
std::string display_path(std::string_view path);

// A relative path whose components are all non-empty, not "." or "..", free of
// backslashes and of control characters (NUL included), no longer than 4096
// bytes. On failure returns false and says why in `why`.
bool is_safe_archive_path(std::string_view path, std::string* why = nullptr);

// Kubernetes name rules (k8s.io/apimachinery/pkg/util/validation).
bool is_dns1123_label(std::string_view s);      // [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63
bool is_dns1123_subdomain(std::string_view s);  // dot-separated DNS-1123 labels, at most 253
bool is_dns1035_label(std::string_view s);      // [a-z]([-a-z0-9]*[a-z0-9])?, at most 63
// An object name as an archive file name: 1 to 253 bytes of valid UTF-8,
// printable (no control characters), without '/' or '\', not "." or "..".
bool is_valid_object_name(std::string_view s);

}  // namespace stowage::archive
