#include "archive/item_path.h"

#include <cstdio>
#include <vector>

namespace stowage::archive {

namespace {

constexpr std::string_view kResourcesDir = "resources";
constexpr std::string_view kNamespacesDir = "namespaces";
constexpr std::string_view kClusterDir = "cluster";
constexpr std::string_view kPreferredSuffix = "-preferredversion";
constexpr std::string_view kJsonSuffix = ".json";
constexpr size_t kMaxPathBytes = 4096;

bool is_lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// Length of the UTF-8 sequence starting at s[i] if it is valid (shortest form,
// no surrogates, at most U+10FFFF) and not a C1 control character; 0 otherwise.
size_t printable_utf8_sequence(std::string_view s, size_t i) {
  auto byte = [&](size_t k) { return k < s.size() ? uint8_t(s[k]) : uint8_t(0); };
  auto continuation = [&](size_t k) { return k < s.size() && (byte(k) & 0xC0) == 0x80; };
  uint8_t b = byte(i);
  if (b < 0x80) return (b >= 0x20 && b != 0x7F) ? 1 : 0;
  if (b >= 0xC2 && b <= 0xDF) {
    if (!continuation(i + 1)) return 0;
    uint32_t code = (uint32_t(b & 0x1F) << 6) | (byte(i + 1) & 0x3F);
    return code >= 0xA0 ? 2 : 0;  // U+0080..U+009F are C1 controls
  }
  if (b >= 0xE0 && b <= 0xEF) {
    if (!continuation(i + 1) || !continuation(i + 2)) return 0;
    uint8_t b1 = byte(i + 1);
    if (b == 0xE0 && b1 < 0xA0) return 0;  // overlong
    if (b == 0xED && b1 >= 0xA0) return 0;  // UTF-16 surrogates
    return 3;
  }
  if (b >= 0xF0 && b <= 0xF4) {
    if (!continuation(i + 1) || !continuation(i + 2) || !continuation(i + 3)) return 0;
    uint8_t b1 = byte(i + 1);
    if (b == 0xF0 && b1 < 0x90) return 0;  // overlong
    if (b == 0xF4 && b1 >= 0x90) return 0;  // beyond U+10FFFF
    return 4;
  }
  return 0;
}

Error corrupt_path(std::string_view path, const std::string& why) {
  std::string shown = display_path(path);
  return Error(ErrorCode::kCorrupt, "archive entry \"" + shown + "\" is not a valid item path: " + why, shown,
               "the backup tarball is damaged or was not written by stowage or Velero");
}

std::vector<std::string_view> split_components(std::string_view path) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) {
      parts.push_back(path.substr(start));
      return parts;
    }
    parts.push_back(path.substr(start, slash - start));
    start = slash + 1;
  }
}

bool is_valid_resource(std::string_view resource) {
  size_t dot = resource.find('.');
  if (dot == std::string_view::npos) return is_dns1123_label(resource);
  return is_dns1123_label(resource.substr(0, dot)) && is_dns1123_subdomain(resource.substr(dot + 1));
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// "v1beta1" as a plain version directory: a DNS-1035 label that cannot be read
// as one of the other directories of the layout.
bool is_other_version_directory(std::string_view v) {
  return is_dns1035_label(v) && v != kNamespacesDir && v != kClusterDir && !ends_with(v, kPreferredSuffix);
}

}  // namespace

std::string ItemPath::group() const {
  size_t dot = resource.find('.');
  return dot == std::string::npos ? std::string() : resource.substr(dot + 1);
}

std::string ItemPath::plural() const { return resource.substr(0, resource.find('.')); }

std::string ItemPath::describe() const {
  std::string s = resource + "/" + name;
  if (!namespace_name.empty()) s += " in namespace " + namespace_name;
  if (!preferred_version.empty()) s += " (preferred version " + preferred_version + ")";
  if (!other_version.empty()) s += " (version " + other_version + ")";
  return s;
}

std::string item_path(const ItemPath& item) {
  std::string path(kResourcesDir);
  path += "/" + item.resource + "/";
  if (!item.preferred_version.empty()) path += item.preferred_version + std::string(kPreferredSuffix) + "/";
  else if (!item.other_version.empty()) path += item.other_version + "/";
  if (item.namespace_name.empty()) path += std::string(kClusterDir) + "/";
  else path += std::string(kNamespacesDir) + "/" + item.namespace_name + "/";
  path += item.name + std::string(kJsonSuffix);
  return path;
}

bool is_dns1123_label(std::string_view s) {
  if (s.empty() || s.size() > 63) return false;
  if (!is_lower_alnum(s.front()) || !is_lower_alnum(s.back())) return false;
  for (char c : s)
    if (!is_lower_alnum(c) && c != '-') return false;
  return true;
}

bool is_dns1123_subdomain(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  size_t start = 0;
  while (true) {
    size_t dot = s.find('.', start);
    std::string_view label = s.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    // Subdomain labels follow the label rules except for the 63-byte cap.
    if (label.empty() || !is_lower_alnum(label.front()) || !is_lower_alnum(label.back())) return false;
    for (char c : label)
      if (!is_lower_alnum(c) && c != '-') return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

bool is_dns1035_label(std::string_view s) {
  return is_dns1123_label(s) && s.front() >= 'a' && s.front() <= 'z';
}

bool is_valid_object_name(std::string_view s) {
  if (s.empty() || s.size() > 253 || s == "." || s == "..") return false;
  for (size_t i = 0; i < s.size();) {
    if (s[i] == '/' || s[i] == '\\') return false;
    size_t n = printable_utf8_sequence(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::string display_path(std::string_view path) {
  constexpr size_t kShown = 300;
  std::string out;
  for (size_t i = 0; i < path.size() && i < kShown; i++) {
    auto c = uint8_t(path[i]);
    if (c >= 0x20 && c < 0x7F && c != '\\') {
      out += char(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  if (path.size() > kShown) out += "...";
  return out;
}

bool is_safe_archive_path(std::string_view path, std::string* why) {
  auto refuse = [&](const char* reason) {
    if (why) *why = reason;
    return false;
  };
  if (path.empty()) return refuse("the path is empty");
  if (path.size() > kMaxPathBytes) return refuse("the path is longer than 4096 bytes");
  if (path.front() == '/') return refuse("the path is absolute");
  for (char c : path) {
    if (c == '\\') return refuse("the path contains a backslash");
    if (uint8_t(c) < 0x20 || c == 0x7F) return refuse("the path contains a control character");
  }
  for (std::string_view component : split_components(path)) {
    if (component.empty()) return refuse("the path has an empty component (\"//\" or a trailing \"/\")");
    if (component == "..") return refuse("the path has a \"..\" component");
    if (component == ".") return refuse("the path has a \".\" component");
  }
  return true;
}

Result<ItemPath> parse_item_path(std::string_view path) {
  std::string why;
  if (!is_safe_archive_path(path, &why)) return corrupt_path(path, why);
  std::vector<std::string_view> parts = split_components(path);
  if (parts[0] != kResourcesDir) return corrupt_path(path, "it is not under resources/");
  if (parts.size() < 4) return corrupt_path(path, "too few path components");
  if (parts.size() > 6) return corrupt_path(path, "too many path components");

  ItemPath item;
  item.resource = std::string(parts[1]);
  if (!is_valid_resource(item.resource))
    return corrupt_path(path, "\"" + item.resource + "\" is not a resource name (<plural>[.<group>], lower case)");

  size_t scope = 2;
  if (parts[2] != kNamespacesDir && parts[2] != kClusterDir) {
    std::string_view dir = parts[2];
    if (ends_with(dir, kPreferredSuffix)) {
      std::string_view version = dir.substr(0, dir.size() - kPreferredSuffix.size());
      if (!is_dns1035_label(version))
        return corrupt_path(path, "\"" + std::string(dir) + "\" is not <version>-preferredversion");
      item.preferred_version = std::string(version);
    } else if (is_other_version_directory(dir)) {
      item.other_version = std::string(dir);
    } else {
      return corrupt_path(path, "expected namespaces/, cluster/ or a version directory after the resource, found \"" +
                                    std::string(dir) + "\"");
    }
    scope = 3;
  }
  if (scope >= parts.size()) return corrupt_path(path, "too few path components");

  std::string_view file;
  if (parts[scope] == kClusterDir) {
    if (parts.size() != scope + 2)
      return corrupt_path(path, parts.size() < scope + 2 ? "too few path components" : "too many path components");
    file = parts[scope + 1];
  } else if (parts[scope] == kNamespacesDir) {
    if (parts.size() != scope + 3)
      return corrupt_path(path, parts.size() < scope + 3 ? "too few path components" : "too many path components");
    item.namespace_name = std::string(parts[scope + 1]);
    if (!is_dns1123_label(item.namespace_name))
      return corrupt_path(path, "\"" + item.namespace_name + "\" is not a namespace name (DNS-1123 label)");
    file = parts[scope + 2];
  } else {
    return corrupt_path(path, "expected namespaces/ or cluster/, found \"" + std::string(parts[scope]) + "\"");
  }

  if (!ends_with(file, kJsonSuffix)) return corrupt_path(path, "the file name does not end in .json");
  item.name = std::string(file.substr(0, file.size() - kJsonSuffix.size()));
  if (!is_valid_object_name(item.name))
    return corrupt_path(path, "\"" + display_path(item.name) +
                                  "\" is not an object name (1 to 253 printable UTF-8 bytes, no '/' or '\\', "
                                  "not \".\" or \"..\")");
  return item;
}

Status validate_item_path(const ItemPath& item) {
  if (!item.preferred_version.empty() && !item.other_version.empty())
    return Error(ErrorCode::kInvalidArgument,
                 "item " + item.describe() + " names both a preferred and another version directory",
                 item.describe());
  std::string path = item_path(item);
  Result<ItemPath> parsed = parse_item_path(path);
  if (!parsed.ok()) {
    const Error& e = parsed.error();
    return Error(ErrorCode::kInvalidArgument, e.message(), e.object());
  }
  if (!(*parsed == item))
    return Error(ErrorCode::kInvalidArgument,
                 "item " + item.describe() + " does not survive the round trip through its path \"" +
                     display_path(path) + "\"",
                 display_path(path));
  return ok_status();
}

Status check_item_matches_path(const ItemPath& item, const nlohmann::json& object) {
  const std::string path = display_path(item_path(item));
  auto mismatch = [&](const std::string& what) {
    return Error(ErrorCode::kCorrupt, "archive entry \"" + path + "\": " + what, path,
                 "the backup tarball is damaged or was altered: an object must be stored at the path its "
                 "kind, apiVersion, name and namespace give");
  };
  if (!object.is_object()) return mismatch("the content is not a JSON object");

  auto kind = object.find("kind");
  if (kind == object.end() || !kind->is_string() || kind->get_ref<const std::string&>().empty())
    return mismatch("the object has no kind (a non-empty string)");

  auto api_version_it = object.find("apiVersion");
  if (api_version_it == object.end() || !api_version_it->is_string() ||
      api_version_it->get_ref<const std::string&>().empty())
    return mismatch("the object has no apiVersion (a non-empty string)");
  const std::string& api_version = api_version_it->get_ref<const std::string&>();
  std::string group, version;
  if (size_t slash = api_version.find('/'); slash == std::string::npos) {
    version = api_version;
  } else {
    group = api_version.substr(0, slash);
    version = api_version.substr(slash + 1);
    if (group.empty() || version.empty() || version.find('/') != std::string::npos)
      return mismatch("apiVersion \"" + display_path(api_version) + "\" is not <group>/<version> or <version>");
  }
  if (group != item.group())
    return mismatch("apiVersion \"" + display_path(api_version) + "\" is in group \"" + display_path(group) +
                    "\" but the path is under resource " + item.resource + " (group \"" + item.group() + "\")");
  const std::string& directory_version = item.version_directory_version();
  if (!directory_version.empty() && version != directory_version)
    return mismatch("apiVersion \"" + display_path(api_version) + "\" has version \"" + display_path(version) +
                    "\" but the copy is stored under version " + directory_version);

  auto metadata = object.find("metadata");
  if (metadata == object.end() || !metadata->is_object()) return mismatch("the object has no metadata");
  auto name = metadata->find("name");
  if (name == metadata->end() || !name->is_string()) return mismatch("the object has no metadata.name");
  if (name->get_ref<const std::string&>() != item.name)
    return mismatch("metadata.name \"" + display_path(name->get_ref<const std::string&>()) +
                    "\" differs from the name in the path, \"" + display_path(item.name) + "\"");

  auto namespace_it = metadata->find("namespace");
  bool has_namespace = namespace_it != metadata->end() && !namespace_it->is_null();
  if (has_namespace && !namespace_it->is_string()) return mismatch("metadata.namespace is not a string");
  std::string object_namespace = has_namespace ? namespace_it->get<std::string>() : std::string();
  if (object_namespace != item.namespace_name) {
    if (item.cluster_scoped())
      return mismatch("metadata.namespace is \"" + display_path(object_namespace) +
                      "\" but the path stores a cluster-scoped object");
    if (object_namespace.empty())
      return mismatch("the object has no metadata.namespace but the path puts it in namespace " +
                      item.namespace_name);
    return mismatch("metadata.namespace \"" + display_path(object_namespace) +
                    "\" differs from the namespace in the path, \"" + item.namespace_name + "\"");
  }
  return ok_status();
}

}  // namespace stowage::archive
