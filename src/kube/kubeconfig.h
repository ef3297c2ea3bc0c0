// ClusterConfig: everything needed to reach one API server as one identity —
// server URL, TLS trust, credentials, default namespace — loaded from
// kubeconfig files (the KUBECONFIG list, a context override) or from the
// service account of the pod stowage runs in. Exec and auth-provider plugins
// are not supported: such a user is refused with an error that says so.
#pragma once

#include <string>
#include <vector>

#include "util/result.h"

namespace stowage::kube {

struct ClusterConfig {
  std::string server;                 // "https://127.0.0.1:6443", may carry a path prefix
  std::string ca_pem;                 // PEM bundle to verify the server; empty: the system trust store
  bool insecure_skip_tls_verify = false;
  std::string proxy_url;              // cluster's proxy-url; empty: curl's environment defaults
  std::string token;                  // bearer token
  std::string token_file;             // when set, read per request batch (rotating service-account tokens)
  std::string client_cert_pem;        // client certificate chain (PEM)
  std::string client_key_pem;         // its private key (PEM)
  std::string username, password;     // basic auth
  std::string namespace_ = "default"; // the context's namespace or the service account's
  std::string context;                // the context used; empty in-cluster
  std::string user;                   // the kubeconfig user entry (or service account), for messages
  std::string source;                 // "kubeconfig /root/.kube/config, context kind" / "in-cluster service account"
  // Requests run as this user (Impersonate-User / Impersonate-Group headers):
  // the API server authorizes them as that identity, after checking that the
  // real one may impersonate it.
  std::string impersonate_user;
  std::vector<std::string> impersonate_groups;
};

// The files of a pod's service account.
inline constexpr const char* kServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount";

// Parses one kubeconfig document. `source_path` names it in errors and is the
// base of relative file paths; `context` overrides current-context.
Result<ClusterConfig> parse_kubeconfig(const std::string& yaml_text, const std::string& source_path,
                                       const std::string& context = {});

// Loads a colon-separated list of kubeconfig files with kubectl's merge rules:
// missing files are skipped, the first file to define a cluster, user or
// context name (or current-context) wins, relative paths resolve against the
// file that named them.
Result<ClusterConfig> load_kubeconfig(const std::string& path_list, const std::string& context = {});

// The pod's own identity: KUBERNETES_SERVICE_HOST/PORT and the token, CA and
// namespace files under `service_account_dir`.
Result<ClusterConfig> load_in_cluster_config(const std::string& service_account_dir = kServiceAccountDir);

// kubectl's order: the explicit path (--kubeconfig), else $KUBECONFIG, else
// ~/.kube/config, else the in-cluster service account.
Result<ClusterConfig> load_default_config(const std::string& kubeconfig_path = {}, const std::string& context = {});

}  // namespace stowage::kube
