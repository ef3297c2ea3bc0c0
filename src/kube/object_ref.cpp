#include "kube/object_ref.h"

#include "kube/query.h"

namespace stowage::kube {

std::string ObjectRef::qualified_resource() const {
  return group.empty() ? resource : resource + "." + group;
}

std::string ObjectRef::describe() const {
  std::string text = qualified_resource();
  if (!name.empty()) text += "/" + name;
  if (!subresource.empty()) text += " (" + subresource + ")";
  if (!namespace_.empty()) text += " in namespace " + namespace_;
  return text;
}

std::string group_version_path(const std::string& group, const std::string& version) {
  return group.empty() ? "/api/" + version : "/apis/" + group + "/" + version;
}

std::string ObjectRef::path() const {
  std::string path = group_version_path(group, version);
  if (!namespace_.empty()) path += "/namespaces/" + url_encode(namespace_);
  path += "/" + url_encode(resource);
  if (!name.empty()) path += "/" + url_encode(name);
  if (!subresource.empty()) path += "/" + url_encode(subresource);
  return path;
}

void split_api_version(const std::string& api_version, std::string& group, std::string& version) {
  size_t slash = api_version.find('/');
  if (slash == std::string::npos) {
    group.clear();
    version = api_version;
  } else {
    group = api_version.substr(0, slash);
    version = api_version.substr(slash + 1);
  }
}

}  // namespace stowage::kube
