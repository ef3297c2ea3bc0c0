// Kubeconfig parsing: contexts, credentials of every supported kind, file
// references relative to the kubeconfig, KUBECONFIG list merging, in-cluster
// config, and the errors for what is missing or unsupported.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "kube/kubeconfig.h"
#include "util/bytes.h"

namespace stowage::kube {
namespace {

std::string b64(const std::string& text) { return base64_encode(as_bytes(text)); }

class TempDir {
 public:
  TempDir() {
    char pattern[] = "/tmp/stowage-kubeconfig-test.XXXXXX";
    path_ = mkdtemp(pattern);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string write(const std::string& name, const std::string& text) const {
    std::string file = path_ + "/" + name;
    std::ofstream(file) << text;
    return file;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

const std::string kCaPem = "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n";

std::string two_context_config() {
  return R"(apiVersion: v1
kind: Config
clusters:
- name: prod
  cluster:
    server: https://10.0.0.1:6443/
    certificate-authority-data: )" +
         b64(kCaPem) + R"(
- name: lab
  cluster:
    server: https://127.0.0.1:6443
    insecure-skip-tls-verify: true
users:
- name: admin
  user:
    token: secret-token
- name: alice
  user:
    client-certificate-data: )" +
         b64("CERT") + R"(
    client-key-data: )" + b64("KEY") + R"(
contexts:
- name: prod-admin
  context:
    cluster: prod
    user: admin
    namespace: shop
- name: lab-alice
  context:
    cluster: lab
    user: alice
current-context: prod-admin
)";
}

TEST(Kubeconfig, CurrentContextWithTokenAndCaData) {
  Result<ClusterConfig> config = parse_kubeconfig(two_context_config(), "/etc/kc");
  ASSERT_TRUE(config.ok()) << config.error().to_string();
  EXPECT_EQ(config->server, "https://10.0.0.1:6443");  // trailing slash dropped
  EXPECT_EQ(config->ca_pem, kCaPem);
  EXPECT_FALSE(config->insecure_skip_tls_verify);
  EXPECT_EQ(config->token, "secret-token");
  EXPECT_EQ(config->namespace_, "shop");
  EXPECT_EQ(config->context, "prod-admin");
  EXPECT_EQ(config->user, "admin");
  EXPECT_NE(config->source.find("/etc/kc"), std::string::npos);
}

TEST(Kubeconfig, ContextOverrideWithClientCertificate) {
  Result<ClusterConfig> config = parse_kubeconfig(two_context_config(), "/etc/kc", "lab-alice");
  ASSERT_TRUE(config.ok()) << config.error().to_string();
  EXPECT_EQ(config->server, "https://127.0.0.1:6443");
  EXPECT_TRUE(config->insecure_skip_tls_verify);
  EXPECT_EQ(config->client_cert_pem, "CERT");
  EXPECT_EQ(config->client_key_pem, "KEY");
  EXPECT_TRUE(config->token.empty());
  EXPECT_EQ(config->namespace_, "default");
}

TEST(Kubeconfig, UnknownContextListsTheKnownOnes) {
  Result<ClusterConfig> config = parse_kubeconfig(two_context_config(), "/etc/kc", "nope");
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.error().code(), ErrorCode::kNotFound);
  EXPECT_NE(config.error().message().find("\"nope\""), std::string::npos);
  EXPECT_NE(config.error().hint().find("lab-alice, prod-admin"), std::string::npos);
}

TEST(Kubeconfig, NoCurrentContext) {
  std::string text = two_context_config();
  text = text.substr(0, text.find("current-context:"));
  Result<ClusterConfig> config = parse_kubeconfig(text, "/etc/kc");
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(config.error().message().find("no current-context"), std::string::npos);
  EXPECT_NE(config.error().hint().find("--context"), std::string::npos);
}

TEST(Kubeconfig, ExecPluginIsRefusedClearly) {
  const std::string text = R"(
clusters: [{name: c, cluster: {server: "https://127.0.0.1:6443"}}]
users:
- name: eks
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: aws
      args: [eks, get-token]
contexts: [{name: x, context: {cluster: c, user: eks}}]
current-context: x
)";
  Result<ClusterConfig> config = parse_kubeconfig(text, "/k");
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.error().code(), ErrorCode::kUnsupported);
  EXPECT_NE(config.error().message().find("exec credential plugin (command aws)"), std::string::npos)
      << config.error().message();
  EXPECT_NE(config.error().message().find("not support"), std::string::npos);
  EXPECT_NE(config.error().hint().find("kubectl create token"), std::string::npos);
}

TEST(Kubeconfig, AuthProviderIsRefused) {
  const std::string text = R"(
clusters: [{name: c, cluster: {server: "https://127.0.0.1:6443"}}]
users: [{name: g, user: {auth-provider: {name: gcp}}}]
contexts: [{name: x, context: {cluster: c, user: g}}]
current-context: x
)";
  Result<ClusterConfig> config = parse_kubeconfig(text, "/k");
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.error().code(), ErrorCode::kUnsupported);
  EXPECT_NE(config.error().message().find("\"gcp\""), std::string::npos);
}

TEST(Kubeconfig, BasicAuth) {
  const std::string text = R"(
clusters: [{name: c, cluster: {server: "http://127.0.0.1:8080"}}]
users: [{name: u, user: {username: bob, password: "p:w"}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
)";
  Result<ClusterConfig> config = parse_kubeconfig(text, "/k");
  ASSERT_TRUE(config.ok()) << config.error().to_string();
  EXPECT_EQ(config->username, "bob");
  EXPECT_EQ(config->password, "p:w");
}

TEST(Kubeconfig, Errors) {
  auto error_of = [](const std::string& text) {
    Result<ClusterConfig> config = parse_kubeconfig(text, "/k");
    return config.ok() ? std::string("ok") : config.error().to_string();
  };
  EXPECT_NE(error_of("clusters: [unclosed").find("cannot be parsed"), std::string::npos);
  EXPECT_NE(error_of("- a\n- b\n").find("not a YAML mapping"), std::string::npos);
  const std::string tail = "\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n";
  EXPECT_NE(error_of("clusters: [{name: c, cluster: {}}]\nusers: [{name: u, user: {token: t}}]" + tail)
                .find("has no server"),
            std::string::npos);
  EXPECT_NE(error_of("clusters: [{name: c, cluster: {server: 127.0.0.1:6443}}]\nusers: [{name: u, user: {token: t}}]" +
                     tail)
                .find("not an https:// or http:// URL"),
            std::string::npos);
  EXPECT_NE(error_of("clusters: [{name: c, cluster: {server: 'https://h', certificate-authority-data: '@@@'}}]\n"
                     "users: [{name: u, user: {token: t}}]" + tail)
                .find("not valid base64"),
            std::string::npos);
  EXPECT_NE(error_of("clusters: [{name: c, cluster: {server: 'https://h'}}]\nusers: []" + tail)
                .find("names user \"u\""),
            std::string::npos);
  EXPECT_NE(error_of("clusters: []\nusers: [{name: u, user: {token: t}}]" + tail).find("names cluster \"c\""),
            std::string::npos);
  EXPECT_NE(error_of("clusters: [{name: c, cluster: {server: 'https://h'}}]\n"
                     "users: [{name: u, user: {client-certificate-data: " + b64("C") + "}}]" + tail)
                .find("without its key"),
            std::string::npos);
  EXPECT_NE(error_of("clusters: [{name: c, cluster: {server: 'https://h', insecure-skip-tls-verify: true, "
                     "certificate-authority-data: " + b64("X") + "}}]\nusers: [{name: u, user: {token: t}}]" + tail)
                .find("both a certificate authority and insecure-skip-tls-verify"),
            std::string::npos);
  EXPECT_NE(error_of("clusters: [{name: c, cluster: {server: 'https://h'}}]\n"
                     "users: [{name: u, user: {token: t, username: a, password: b}}]" + tail)
                .find("both a bearer token and a username"),
            std::string::npos);
}

TEST(Kubeconfig, FilesRelativeToTheKubeconfig) {
  TempDir dir;
  std::filesystem::create_directories(dir.path() + "/pki");
  dir.write("pki/ca.crt", kCaPem);
  dir.write("pki/client.crt", "CERT");
  dir.write("pki/client.key", "KEY");
  dir.write("token", "file-token\n");
  std::string path = dir.write("config", R"(
clusters: [{name: c, cluster: {server: "https://127.0.0.1:6443", certificate-authority: pki/ca.crt}}]
users:
- {name: certs, user: {client-certificate: pki/client.crt, client-key: pki/client.key}}
- {name: tokens, user: {tokenFile: token}}
contexts:
- {name: a, context: {cluster: c, user: certs}}
- {name: b, context: {cluster: c, user: tokens}}
current-context: a
)");
  Result<ClusterConfig> certs = load_kubeconfig(path);
  ASSERT_TRUE(certs.ok()) << certs.error().to_string();
  EXPECT_EQ(certs->ca_pem, kCaPem);
  EXPECT_EQ(certs->client_cert_pem, "CERT");
  EXPECT_EQ(certs->client_key_pem, "KEY");
  Result<ClusterConfig> tokens = load_kubeconfig(path, "b");
  ASSERT_TRUE(tokens.ok()) << tokens.error().to_string();
  EXPECT_EQ(tokens->token, "file-token");
  EXPECT_EQ(tokens->token_file, dir.path() + "/token");

  std::filesystem::remove(dir.path() + "/pki/ca.crt");
  Result<ClusterConfig> missing = load_kubeconfig(path);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
  EXPECT_NE(missing.error().message().find("pki/ca.crt"), std::string::npos);
}

TEST(Kubeconfig, PathListMergesFirstDefinitionWins) {
  TempDir dir;
  std::string first = dir.write("first", R"(
clusters: [{name: c, cluster: {server: "https://first:6443"}}]
users: [{name: u, user: {token: first-token}}]
current-context: from-second
)");
  std::string second = dir.write("second", R"(
clusters: [{name: c, cluster: {server: "https://second:6443"}}, {name: d, cluster: {server: "https://d:6443"}}]
users: [{name: u, user: {token: second-token}}]
contexts: [{name: from-second, context: {cluster: c, user: u}}, {name: other, context: {cluster: d, user: u}}]
current-context: other
)");
  std::string list = first + ":" + dir.path() + "/does-not-exist:" + second;
  Result<ClusterConfig> config = load_kubeconfig(list);
  ASSERT_TRUE(config.ok()) << config.error().to_string();
  EXPECT_EQ(config->context, "from-second");  // the first current-context set
  EXPECT_EQ(config->server, "https://first:6443");
  EXPECT_EQ(config->token, "first-token");
  Result<ClusterConfig> other = load_kubeconfig(list, "other");
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(other->server, "https://d:6443");

  Result<ClusterConfig> none = load_kubeconfig(dir.path() + "/a:" + dir.path() + "/b");
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().code(), ErrorCode::kNotFound);
  EXPECT_NE(none.error().hint().find("KUBECONFIG"), std::string::npos);
}

TEST(Kubeconfig, InCluster) {
  TempDir dir;
  dir.write("token", "sa-token\n");
  dir.write("ca.crt", kCaPem);
  dir.write("namespace", "stowage-system");
  const char* saved_host = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* saved_port = std::getenv("KUBERNETES_SERVICE_PORT");
  std::string host = saved_host ? saved_host : "", port = saved_port ? saved_port : "";

  unsetenv("KUBERNETES_SERVICE_HOST");
  Result<ClusterConfig> outside = load_in_cluster_config(dir.path());
  ASSERT_FALSE(outside.ok());
  EXPECT_NE(outside.error().message().find("not running inside a Kubernetes pod"), std::string::npos);

  setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
  setenv("KUBERNETES_SERVICE_PORT", "443", 1);
  Result<ClusterConfig> config = load_in_cluster_config(dir.path());
  ASSERT_TRUE(config.ok()) << config.error().to_string();
  EXPECT_EQ(config->server, "https://[fd00::1]:443");
  EXPECT_EQ(config->token, "sa-token");
  EXPECT_EQ(config->token_file, dir.path() + "/token");
  EXPECT_EQ(config->ca_pem, kCaPem);
  EXPECT_EQ(config->namespace_, "stowage-system");

  std::filesystem::remove(dir.path() + "/token");
  Result<ClusterConfig> no_token = load_in_cluster_config(dir.path());
  ASSERT_FALSE(no_token.ok());
  EXPECT_NE(no_token.error().hint().find("automountServiceAccountToken"), std::string::npos);

  if (saved_host) setenv("KUBERNETES_SERVICE_HOST", host.c_str(), 1); else unsetenv("KUBERNETES_SERVICE_HOST");
  if (saved_port) setenv("KUBERNETES_SERVICE_PORT", port.c_str(), 1); else unsetenv("KUBERNETES_SERVICE_PORT");
}

}  // namespace
}  // namespace stowage::kube
