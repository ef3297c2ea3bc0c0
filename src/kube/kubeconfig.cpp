// Kubeconfig and in-cluster loading. yaml-cpp throws; every call into it is
// wrapped so that only Results leave this file.
#include "kube/kubeconfig.h"

#include <sys/stat.h>
#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <vector>

#include "util/bytes.h"

namespace stowage::kube {
namespace {

// One named entry (cluster, user or context) and the file that defined it.
struct Entry {
  YAML::Node node;
  std::string file;
};

// The union of the kubeconfig files read so far, first definition winning.
struct Merged {
  std::map<std::string, Entry> clusters, users, contexts;
  std::string current_context;
  std::vector<std::string> files;
};

const char* kNoPluginsHint =
    "stowage supports token, token file, client certificate and basic auth; create a kubeconfig with a static "
    "credential, e.g. a ServiceAccount token from `kubectl create token NAME --duration=24h`, or run stowage "
    "inside the cluster with its service account";

std::string directory_of(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string resolve_path(const std::string& path, const std::string& file) {
  if (path.empty() || path[0] == '/') return path;
  return directory_of(file) + "/" + path;
}

Result<std::string> read_text_file(const std::string& path, const std::string& what, const std::string& hint) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    int error = errno;
    ErrorCode code = error == EACCES ? ErrorCode::kPermissionDenied : ErrorCode::kNotFound;
    return Error(code, "cannot read " + what + " " + path + ": " + std::strerror(error), path, hint);
  }
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string scalar(const YAML::Node& node, const char* key) {
  YAML::Node value = node[key];
  if (!value || !value.IsScalar()) return "";
  return value.as<std::string>();
}

// Decodes a *-data field (base64 of PEM); whitespace inside is ignored.
Result<std::string> decode_data(const std::string& text, const std::string& field, const std::string& owner,
                                const std::string& file) {
  std::string compact;
  for (char c : text) {
    if (c != ' ' && c != '\n' && c != '\r' && c != '\t') compact.push_back(c);
  }
  Bytes decoded;
  if (!base64_decode(compact, decoded)) {
    return Error(ErrorCode::kInvalidArgument, field + " of " + owner + " in kubeconfig " + file + " is not valid base64",
                 file, "put the base64 of the PEM file there, e.g. `base64 -w0 ca.crt`");
  }
  return std::string(decoded.begin(), decoded.end());
}

// PEM from `name-data` (inline) or `name` (a file path), the first one set.
Result<std::string> pem_field(const YAML::Node& node, const std::string& name, const std::string& owner,
                              const std::string& file) {
  std::string data = scalar(node, (name + "-data").c_str());
  if (!data.empty()) return decode_data(data, name + "-data", owner, file);
  std::string path = scalar(node, name.c_str());
  if (path.empty()) return std::string();
  return read_text_file(resolve_path(path, file), name + " of " + owner,
                        "fix the path in kubeconfig " + file + " (relative paths are relative to that file)");
}

void merge_named(const YAML::Node& list, const std::string& file, std::map<std::string, Entry>& into) {
  if (!list || !list.IsSequence()) return;
  for (const YAML::Node& item : list) {
    std::string name = scalar(item, "name");
    if (name.empty() || into.count(name)) continue;  // the first file to define a name wins
    into[name] = Entry{item, file};
  }
}

Status merge_document(const std::string& text, const std::string& file, Merged& merged) {
  YAML::Node root = YAML::Load(text);
  merged.files.push_back(file);
  if (root.IsNull()) return ok_status();  // an empty file is an empty config
  if (!root.IsMap()) {
    return Error(ErrorCode::kInvalidArgument, "kubeconfig " + file + " is not a YAML mapping", file,
                 "a kubeconfig starts with `apiVersion: v1` and `kind: Config`");
  }
  merge_named(root["clusters"], file, merged.clusters);
  merge_named(root["users"], file, merged.users);
  merge_named(root["contexts"], file, merged.contexts);
  if (merged.current_context.empty()) merged.current_context = scalar(root, "current-context");
  return ok_status();
}

std::string names_of(const std::map<std::string, Entry>& entries) {
  std::string names;
  for (const auto& [name, entry] : entries) names += (names.empty() ? "" : ", ") + name;
  return names.empty() ? "none" : names;
}

Status read_cluster(const Entry& entry, const std::string& name, ClusterConfig& config) {
  YAML::Node cluster = entry.node["cluster"];
  const std::string owner = "cluster " + name;
  config.server = cluster ? scalar(cluster, "server") : "";
  if (config.server.empty()) {
    return Error(ErrorCode::kInvalidArgument, owner + " in kubeconfig " + entry.file + " has no server", entry.file,
                 "set clusters[].cluster.server, e.g. https://127.0.0.1:6443");
  }
  if (config.server.rfind("https://", 0) != 0 && config.server.rfind("http://", 0) != 0) {
    return Error(ErrorCode::kInvalidArgument,
                 "server \"" + config.server + "\" of " + owner + " in kubeconfig " + entry.file +
                     " is not an https:// or http:// URL",
                 entry.file, "write it as https://HOST:PORT");
  }
  while (config.server.size() > 8 && config.server.back() == '/') config.server.pop_back();
  config.ca_pem = TRY(pem_field(cluster, "certificate-authority", owner, entry.file));
  YAML::Node insecure = cluster["insecure-skip-tls-verify"];
  config.insecure_skip_tls_verify = insecure && insecure.IsScalar() && insecure.as<bool>();
  if (config.insecure_skip_tls_verify && !config.ca_pem.empty()) {
    return Error(ErrorCode::kInvalidArgument,
                 owner + " in kubeconfig " + entry.file +
                     " sets both a certificate authority and insecure-skip-tls-verify",
                 entry.file, "remove one of them (kubectl refuses this combination too)");
  }
  config.proxy_url = scalar(cluster, "proxy-url");
  return ok_status();
}

Status read_user(const Entry& entry, const std::string& name, ClusterConfig& config) {
  YAML::Node user = entry.node["user"];
  const std::string owner = "user " + name;
  if (!user || user.IsNull()) return ok_status();
  if (user["exec"] && !user["exec"].IsNull()) {
    std::string command = scalar(user["exec"], "command");
    return Error(ErrorCode::kUnsupported,
                 owner + " in kubeconfig " + entry.file + " authenticates with an exec credential plugin (" +
                     (command.empty() ? "no command" : "command " + command) +
                     "), which stowage does not support",
                 entry.file, kNoPluginsHint);
  }
  if (user["auth-provider"] && !user["auth-provider"].IsNull()) {
    return Error(ErrorCode::kUnsupported,
                 owner + " in kubeconfig " + entry.file + " authenticates with the auth-provider plugin \"" +
                     scalar(user["auth-provider"], "name") + "\", which stowage does not support",
                 entry.file, kNoPluginsHint);
  }
  config.token = scalar(user, "token");
  std::string token_file = scalar(user, "tokenFile");
  if (token_file.empty()) token_file = scalar(user, "token-file");
  if (config.token.empty() && !token_file.empty()) {
    config.token_file = resolve_path(token_file, entry.file);
    std::string token = TRY(read_text_file(config.token_file, "token file of " + owner,
                                           "fix tokenFile in kubeconfig " + entry.file));
    while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' ')) token.pop_back();
    config.token = token;
  }
  config.client_cert_pem = TRY(pem_field(user, "client-certificate", owner, entry.file));
  config.client_key_pem = TRY(pem_field(user, "client-key", owner, entry.file));
  if (config.client_cert_pem.empty() != config.client_key_pem.empty()) {
    return Error(ErrorCode::kInvalidArgument,
                 owner + " in kubeconfig " + entry.file + " has a client certificate without its key or a key without "
                 "its certificate",
                 entry.file, "set both client-certificate(-data) and client-key(-data)");
  }
  config.username = scalar(user, "username");
  config.password = scalar(user, "password");
  if (!config.token.empty() && !config.username.empty()) {
    return Error(ErrorCode::kInvalidArgument,
                 owner + " in kubeconfig " + entry.file + " sets both a bearer token and a username/password",
                 entry.file, "keep one of them");
  }
  return ok_status();
}

Result<ClusterConfig> resolve(const Merged& merged, const std::string& context_override) {
  std::string files;
  for (const std::string& file : merged.files) files += (files.empty() ? "" : ":") + file;
  const std::string context_name = context_override.empty() ? merged.current_context : context_override;
  if (context_name.empty()) {
    return Error(ErrorCode::kInvalidArgument, "kubeconfig " + files + " has no current-context", files,
                 "pass --context NAME or run `kubectl config use-context NAME` (contexts: " +
                     names_of(merged.contexts) + ")");
  }
  auto context = merged.contexts.find(context_name);
  if (context == merged.contexts.end()) {
    return Error(ErrorCode::kNotFound, "context \"" + context_name + "\" is not in kubeconfig " + files, files,
                 "use one of the contexts: " + names_of(merged.contexts));
  }
  YAML::Node body = context->second.node["context"];
  ClusterConfig config;
  config.context = context_name;
  std::string cluster_name = body ? scalar(body, "cluster") : "";
  config.user = body ? scalar(body, "user") : "";
  std::string namespace_name = body ? scalar(body, "namespace") : "";
  if (!namespace_name.empty()) config.namespace_ = namespace_name;
  config.source = "kubeconfig " + files + ", context " + context_name;

  auto cluster = merged.clusters.find(cluster_name);
  if (cluster == merged.clusters.end()) {
    return Error(ErrorCode::kNotFound,
                 "context \"" + context_name + "\" names cluster \"" + cluster_name + "\", which is not in kubeconfig " +
                     files,
                 files, "add the cluster or fix the context (clusters: " + names_of(merged.clusters) + ")");
  }
  TRY_STATUS(read_cluster(cluster->second, cluster_name, config));
  if (!config.user.empty()) {
    auto user = merged.users.find(config.user);
    if (user == merged.users.end()) {
      return Error(ErrorCode::kNotFound,
                   "context \"" + context_name + "\" names user \"" + config.user + "\", which is not in kubeconfig " +
                       files,
                   files, "add the user or fix the context (users: " + names_of(merged.users) + ")");
    }
    TRY_STATUS(read_user(user->second, config.user, config));
  }
  return config;
}

Error yaml_error(const YAML::Exception& error, const std::string& file) {
  return Error(ErrorCode::kInvalidArgument, "kubeconfig " + file + " cannot be parsed: " + error.what(), file,
               "check the file's YAML syntax (e.g. `kubectl config view --kubeconfig " + file + "`)");
}

}  // namespace

Result<ClusterConfig> parse_kubeconfig(const std::string& yaml_text, const std::string& source_path,
                                       const std::string& context) {
  try {
    Merged merged;
    TRY_STATUS(merge_document(yaml_text, source_path, merged));
    return resolve(merged, context);
  } catch (const YAML::Exception& error) {
    return yaml_error(error, source_path);
  }
}

Result<ClusterConfig> load_kubeconfig(const std::string& path_list, const std::string& context) {
  Merged merged;
  std::string tried;
  size_t start = 0;
  while (start <= path_list.size()) {
    size_t end = path_list.find(':', start);
    if (end == std::string::npos) end = path_list.size();
    std::string path = path_list.substr(start, end - start);
    start = end + 1;
    if (path.empty()) continue;
    tried += (tried.empty() ? "" : ", ") + path;
    struct stat info {};
    if (::stat(path.c_str(), &info) != 0 && errno == ENOENT) continue;  // kubectl skips missing files of the list
    std::string text = TRY(read_text_file(path, "kubeconfig", "check the file's permissions"));
    try {
      TRY_STATUS(merge_document(text, path, merged));
    } catch (const YAML::Exception& error) {
      return yaml_error(error, path);
    }
  }
  if (merged.files.empty()) {
    return Error(ErrorCode::kNotFound, "no kubeconfig file found (tried " + (tried.empty() ? "nothing" : tried) + ")",
                 path_list, "set KUBECONFIG or pass --kubeconfig PATH to a kubeconfig file");
  }
  try {
    return resolve(merged, context);
  } catch (const YAML::Exception& error) {
    return yaml_error(error, path_list);
  }
}

Result<ClusterConfig> load_in_cluster_config(const std::string& service_account_dir) {
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
  if (host == nullptr || *host == 0 || port == nullptr || *port == 0) {
    return Error(ErrorCode::kNotFound,
                 "not running inside a Kubernetes pod: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set",
                 "in-cluster config", "set KUBECONFIG or pass --kubeconfig PATH");
  }
  const std::string hint = "mount the pod's service account token (automountServiceAccountToken: true)";
  ClusterConfig config;
  std::string host_text = host;
  if (host_text.find(':') != std::string::npos) host_text = "[" + host_text + "]";  // IPv6
  config.server = "https://" + host_text + ":" + port;
  config.token_file = service_account_dir + "/token";
  config.token = TRY(read_text_file(config.token_file, "service account token", hint));
  while (!config.token.empty() && (config.token.back() == '\n' || config.token.back() == '\r')) config.token.pop_back();
  config.ca_pem = TRY(read_text_file(service_account_dir + "/ca.crt", "service account CA bundle", hint));
  Result<std::string> namespace_name = read_text_file(service_account_dir + "/namespace", "namespace file", hint);
  if (namespace_name.ok()) {
    std::string name = *namespace_name;
    while (!name.empty() && (name.back() == '\n' || name.back() == '\r')) name.pop_back();
    if (!name.empty()) config.namespace_ = name;
  }
  config.user = "service account of this pod";
  config.source = "in-cluster service account (" + service_account_dir + ")";
  return config;
}

Result<ClusterConfig> load_default_config(const std::string& kubeconfig_path, const std::string& context) {
  if (!kubeconfig_path.empty()) {
    std::ifstream probe(kubeconfig_path);
    if (!probe) {
      return Error(ErrorCode::kNotFound, "kubeconfig " + kubeconfig_path + " does not exist or cannot be read",
                   kubeconfig_path, "pass --kubeconfig with the path of an existing kubeconfig file");
    }
    return load_kubeconfig(kubeconfig_path, context);
  }
  const char* list = std::getenv("KUBECONFIG");
  if (list != nullptr && *list != 0) return load_kubeconfig(list, context);
  const char* home = std::getenv("HOME");
  if (home != nullptr && *home != 0) {
    std::string path = std::string(home) + "/.kube/config";
    std::ifstream probe(path);
    if (probe) return load_kubeconfig(path, context);
  }
  Result<ClusterConfig> in_cluster = load_in_cluster_config();
  if (in_cluster.ok()) return in_cluster;
  return Error(ErrorCode::kNotFound,
               "no Kubernetes configuration: KUBECONFIG is unset, ~/.kube/config does not exist and this is not a pod",
               "kubeconfig", "set KUBECONFIG or pass --kubeconfig PATH");
}

}  // namespace stowage::kube
