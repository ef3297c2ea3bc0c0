// stowage install|uninstall|server|backup-location ...: putting stowage into
// a cluster, running its server, and pointing it at object storage.
#include <csignal>
#include <cstdio>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

#include "agent/agent.h"
#include "agent/restore_wait.h"
#include "cli/cluster_commands.h"
#include "cli/errors.h"
#include "cli/kdf_flags.h"
#include "control/install.h"
#include "control/location_access.h"
#include "control/resources.h"
#include "control/server.h"
#include "kube/dynamic_client.h"
#include "util/bytes.h"

namespace stowage::cli {
namespace {

using Json = nlohmann::json;
namespace resources = control::resources;

Result<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error(ErrorCode::kNotFound, "cannot read " + path, path, "check the path");
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// "secret=key" -> {"name": secret, "key": key}.
Result<Json> secret_reference(const std::string& text, const std::string& flag) {
  size_t eq = text.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == text.size())
    return Error(ErrorCode::kInvalidArgument, flag + " \"" + text + "\" is not SECRET=KEY", text,
                 "name the Secret and its key, e.g. " + flag + " stowage-credentials=cloud");
  return Json{{"name", text.substr(0, eq)}, {"key", text.substr(eq + 1)}};
}

// Creates (or replaces) a Secret holding one file.
Status put_secret(ClusterSession& session, const std::string& name, const std::string& key, const std::string& value) {
  kube::DynamicClient dynamic(*session.client);
  Json secret = {{"apiVersion", "v1"}, {"kind", "Secret"}, {"type", "Opaque"},
                 {"metadata", {{"name", name}, {"namespace", session.namespace_name},
                               {"labels", {{"app.kubernetes.io/managed-by", "stowage"}}}}},
                 {"data", {{key, base64_encode(as_bytes(value))}}}};
  auto created = dynamic.create(resources::secret(), session.namespace_name, secret);
  if (created.ok()) return ok_status();
  if (created.error().code() != ErrorCode::kAlreadyExists) return created.error();
  auto existing = TRY(dynamic.get(resources::secret(), session.namespace_name, name));
  secret["metadata"]["resourceVersion"] = existing["metadata"]["resourceVersion"];
  TRY(dynamic.update(resources::secret(), session.namespace_name, secret));
  return ok_status();
}

Result<Logger> make_logger(const std::string& format, const std::string& level_name) {
  LoggerOptions log_options;
  log_options.format = format == "json" ? LogFormat::kJson : LogFormat::kLogfmt;
  log_options.level = TRY(parse_log_level(level_name));
  return Logger(log_options);
}

std::stop_source* g_server_stop = nullptr;
void on_stop_signal(int) {
  if (g_server_stop) g_server_stop->request_stop();
}

// A location's Object Lock, asked for and as the bucket has it:
// "GOVERNANCE (bucket: lock on, versioning Enabled)".
std::string object_lock_text(const Json& spec, const Json& status) {
  std::string asked = spec.contains("objectLock") ? spec["objectLock"].value("mode", std::string("?")) : "off";
  if (!status.contains("objectLock")) return asked;
  const Json& bucket = status["objectLock"];
  std::string versioning = bucket.value("versioning", std::string());
  return asked + " (bucket: lock " + (bucket.value("enabled", false) ? "on" : "off") +
         (versioning.empty() ? std::string() : ", versioning " + versioning) + ")";
}

// Runs a long-lived loop (server, agent) until SIGTERM or SIGINT.
int run_until_signalled(const std::function<Status(std::stop_token)>& loop) {
  std::stop_source stop;
  g_server_stop = &stop;
  std::signal(SIGTERM, on_stop_signal);
  std::signal(SIGINT, on_stop_signal);
  Status ran = loop(stop.get_token());
  g_server_stop = nullptr;
  return ran.ok() ? kExitOk : report(ran.error());
}

}  // namespace

void add_kube_flags(CLI::App& app, KubeFlags& flags) {
  app.add_option("--kubeconfig", flags.kubeconfig, "kubeconfig file (default: $KUBECONFIG, ~/.kube/config, in-cluster)");
  app.add_option("--context", flags.context, "kubeconfig context (default: the current one)");
  app.add_option("-n,--namespace", flags.namespace_name, "namespace of stowage's objects (default stowage)")
      ->envname("STOWAGE_NAMESPACE");
}

void add_admin_commands(CLI::App& app, KubeFlags& flags, int& code) {
  {
    auto options = std::make_shared<control::InstallOptions>();
    auto* cmd = app.add_subcommand("install", "install the CRDs, RBAC, server Deployment and agent DaemonSet");
    cmd->add_option("--image", options->image, "container image of the server and agents");
    cmd->add_flag("--crds-only", options->crds_only, "only the CustomResourceDefinitions");
    cmd->add_flag("--dry-run", options->dry_run, "let the API server validate everything, change nothing");
    cmd->add_flag("!--no-agent", options->with_agent, "without the node agents (no volume data)");
    cmd->callback([&flags, &code, options] {
      auto session = connect(flags);
      if (!session.ok()) { code = report(session.error()); return; }
      options->namespace_name = session.value().namespace_name;
      Status installed = control::install(*session.value().client, *options,
                                          [](std::string_view line) { fprintf(stderr, "%.*s\n", int(line.size()), line.data()); });
      code = installed.ok() ? kExitOk : report(installed.error());
      if (installed.ok()) fprintf(stderr, "stowage is installed in namespace %s.\n", options->namespace_name.c_str());
    });
  }
  {
    auto options = std::make_shared<control::UninstallOptions>();
    auto* cmd = app.add_subcommand("uninstall", "remove what install created (backups in object storage stay)");
    cmd->add_flag("--keep-crds", options->keep_crds, "keep the CRDs (and so every Backup, Restore and Schedule object)");
    cmd->callback([&flags, &code, options] {
      auto session = connect(flags);
      if (!session.ok()) { code = report(session.error()); return; }
      options->namespace_name = session.value().namespace_name;
      Status removed = control::uninstall(*session.value().client, *options,
                                          [](std::string_view line) { fprintf(stderr, "%.*s\n", int(line.size()), line.data()); });
      code = removed.ok() ? kExitOk : report(removed.error());
    });
  }
  {
    struct ServerFlags {
      control::ServerOptions options;
      KdfFlags kdf;
      int64_t resync_seconds = 30;
      int64_t location_check_seconds = 60;
      std::string log_format = "logfmt";
      std::string log_level = "info";
    };
    auto f = std::make_shared<ServerFlags>();
    auto* cmd = app.add_subcommand("server", "run the controllers (what the stowage Deployment runs)");
    cmd->add_option("--metrics-address", f->options.metrics_address, "HOST:PORT of /metrics, /healthz, /readyz (\"\" = off)");
    cmd->add_option("--backup-workers", f->options.backup_workers, "backups run at once (default 2)");
    cmd->add_option("--restore-workers", f->options.restore_workers, "restores run at once (default 2)");
    cmd->add_option("--resync-seconds", f->resync_seconds, "reconcile everything at least this often (default 30)");
    cmd->add_option("--location-check-seconds", f->location_check_seconds,
                    "default validationFrequency of backup storage locations (default 60)");
    add_kdf_flags(cmd, f->kdf, "repositories the server creates");
    cmd->add_option("--default-volumes-to-fs-backup", f->options.default_volumes_to_fs_backup,
                    "back up every pod volume unless excluded, for Backups that do not say (default true; false: "
                    "only volumes named in the pod annotation backup.stowage.io/volumes)");
    cmd->add_option("--helper-image", f->options.helper_image,
                    "image of the restore-wait init container added to restored pods (default stowage:0.1.0)");
    cmd->add_option("--log-format", f->log_format, "logfmt or json")->check(CLI::IsMember({"logfmt", "json"}));
    cmd->add_option("--log-level", f->log_level, "debug, info, warning or error");
    cmd->callback([&flags, &code, f] {
      auto kdf = kdf_params(f->kdf);
      if (!kdf.ok()) { code = report(kdf.error()); return; }
      f->options.kdf = *kdf;
      auto session = connect(flags);
      if (!session.ok()) { code = report(session.error()); return; }
      auto logger = make_logger(f->log_format, f->log_level);
      if (!logger.ok()) { code = report(logger.error()); return; }
      const Logger& log = logger.value();
      f->options.namespace_name = session.value().namespace_name;
      f->options.resync = std::chrono::seconds(std::max<int64_t>(1, f->resync_seconds));
      f->options.location_check = std::chrono::seconds(std::max<int64_t>(1, f->location_check_seconds));
      code = run_until_signalled(
          [&](std::stop_token stop) { return control::run_server(*session.value().client, f->options, log, stop); });
    });
  }

  {
    struct AgentFlags {
      agent::AgentOptions options;
      KdfFlags kdf;
      int64_t resync_seconds = 30;
      std::string log_format = "logfmt";
      std::string log_level = "info";
    };
    auto f = std::make_shared<AgentFlags>();
    auto* cmd = app.add_subcommand("agent", "run the node agent: the volume work items of one node (what the DaemonSet runs)");
    cmd->add_option("--node-name", f->options.node_name, "this node's name (the DaemonSet passes spec.nodeName)")
        ->envname("NODE_NAME")
        ->required();
    cmd->add_option("--kubelet-root", f->options.kubelet_root, "the kubelet's root directory (default /var/lib/kubelet)");
    cmd->add_option("--concurrency", f->options.concurrency, "work items at once (default 1)")
        ->check(CLI::Range(1, 64));
    cmd->add_option("--data-workers", f->options.data_workers, "threads per work item in the data path (default 2)")
        ->check(CLI::Range(1, 64));
    cmd->add_option("--metrics-address", f->options.metrics_address, "HOST:PORT of /metrics, /healthz, /readyz (default off)");
    cmd->add_option("--resync-seconds", f->resync_seconds, "look at every work item at least this often (default 30)");
    cmd->add_option("--max-attempts", f->options.max_attempts,
                    "starts of one work item across agent restarts before it fails (default 3)")
        ->check(CLI::Range(1, 100));
    add_kdf_flags(cmd, f->kdf, "repositories the agent creates");
    cmd->add_option("--log-format", f->log_format, "logfmt or json")->check(CLI::IsMember({"logfmt", "json"}));
    cmd->add_option("--log-level", f->log_level, "debug, info, warning or error");
    cmd->callback([&flags, &code, f] {
      auto kdf = kdf_params(f->kdf);
      if (!kdf.ok()) { code = report(kdf.error()); return; }
      f->options.kdf = *kdf;
      auto session = connect(flags);
      if (!session.ok()) { code = report(session.error()); return; }
      auto logger = make_logger(f->log_format, f->log_level);
      if (!logger.ok()) { code = report(logger.error()); return; }
      f->options.namespace_name = session.value().namespace_name;
      f->options.resync = std::chrono::seconds(std::max<int64_t>(1, f->resync_seconds));
      code = run_until_signalled([&](std::stop_token stop) {
        return agent::run_agent(*session.value().client, f->options, logger.value().with("node", f->options.node_name),
                                stop);
      });
    });
  }
  {
    struct WaitFlags {
      std::string dir = "/stowage-restore";
      std::vector<std::string> volumes;
      int64_t timeout_seconds = 0;
    };
    auto f = std::make_shared<WaitFlags>();
    auto* cmd = app.add_subcommand("restore-wait",
                                   "wait until the node agent has restored the named volumes (the init container "
                                   "stowage adds to restored pods)");
    cmd->add_option("--dir", f->dir, "the signal directory the agent writes into (default /stowage-restore)");
    cmd->add_option("--timeout-seconds", f->timeout_seconds, "give up after this long (default: never)");
    cmd->add_option("volumes", f->volumes, "the pod's volumes to wait for")->required();
    cmd->callback([&code, f] {
      agent::RestoreWaitOptions options;
      options.timeout = std::chrono::seconds(f->timeout_seconds);
      options.say = [](const std::string& line) { fprintf(stderr, "%s\n", line.c_str()); };
      Status waited = agent::wait_for_restore(f->dir, f->volumes, options);
      code = waited.ok() ? kExitOk : report(waited.error());
    });
  }

  auto* location = app.add_subcommand("backup-location", "where backups are stored (BackupStorageLocation)");
  location->require_subcommand(1);
  {
    struct LocationFlags {
      std::string name, url, bucket, prefix, config, credential, credentials_file, password_secret, password_file;
      std::string access_mode = "ReadWrite", archive_format = "Encrypted", validation_frequency;
      std::string lock_mode, lock_margin, lock_volume_period, copy_keys_from;
      bool is_default = false;
    };
    auto f = std::make_shared<LocationFlags>();
    auto* create = location->add_subcommand("create", "create a backup storage location");
    create->add_option("NAME", f->name)->required();
    create->add_option("--url", f->url, "s3://bucket/prefix?endpoint=...&region=... or file:///path");
    create->add_option("--bucket", f->bucket, "S3 bucket (instead of --url)");
    create->add_option("--prefix", f->prefix, "prefix in the bucket");
    create->add_option("--config", f->config, "region=R,s3Url=URL,s3ForcePathStyle=true,insecureSkipTLSVerify=true");
    create->add_option("--credential", f->credential, "SECRET=KEY holding an AWS shared-credentials file");
    create->add_option("--credentials-file", f->credentials_file, "an AWS shared-credentials file to store as Secret NAME-credentials");
    create->add_option("--password-secret", f->password_secret, "SECRET=KEY holding the repository password");
    create->add_option("--password-file", f->password_file,
                       "file with the repository password, stored as Secret NAME-repository (also STOWAGE_PASSWORD)");
    create->add_option("--access-mode", f->access_mode, "ReadWrite or ReadOnly")->check(CLI::IsMember({"ReadWrite", "ReadOnly"}));
    create->add_option("--archive-format", f->archive_format,
                       "Encrypted (default) or Plain (Velero-readable archives, no tamper evidence)")
        ->check(CLI::IsMember({"Encrypted", "Plain"}));
    create->add_option("--validation-frequency", f->validation_frequency, "how often the server checks it, e.g. 1m");
    create->add_flag("--default", f->is_default, "backups without --storage-location go here");
    create->add_option("--object-lock-mode", f->lock_mode,
                       "S3 Object Lock: write every object with a retention date, GOVERNANCE or COMPLIANCE (the "
                       "bucket must have Object Lock)")
        ->check(CLI::IsMember({"GOVERNANCE", "COMPLIANCE"}));
    create->add_option("--object-lock-margin", f->lock_margin, "retention beyond each backup's expiration, e.g. 24h");
    create->add_option("--object-lock-volume-period", f->lock_volume_period,
                       "how long volume data stays locked after each backup (default 720h; at least the longest ttl)");
    create->add_option("--copy-keys-from", f->copy_keys_from,
                       "a location whose backups are copied here (`backup copy --to NAME`): this location's "
                       "repository is created sharing its keys, so volume data is copied chunk by chunk");
    create->callback([&flags, &code, f] {
      auto fail = [&](const Error& e) { code = report(e); };
      if (f->url.empty() == f->bucket.empty()) return fail(Error(ErrorCode::kInvalidArgument, "give exactly one of --url and --bucket"));
      auto session = connect(flags);
      if (!session.ok()) return fail(session.error());
      Json spec = {{"accessMode", f->access_mode}, {"archiveFormat", f->archive_format}, {"default", f->is_default}};
      if (!f->lock_mode.empty()) {
        spec["objectLock"] = {{"mode", f->lock_mode}};
        if (!f->lock_margin.empty()) spec["objectLock"]["retentionMargin"] = f->lock_margin;
        if (!f->lock_volume_period.empty()) spec["objectLock"]["volumeDataPeriod"] = f->lock_volume_period;
      } else if (!f->lock_margin.empty() || !f->lock_volume_period.empty()) {
        return fail(Error(ErrorCode::kInvalidArgument, "--object-lock-margin and --object-lock-volume-period need --object-lock-mode"));
      }
      if (!f->url.empty()) spec["url"] = f->url;
      else spec["objectStorage"] = {{"bucket", f->bucket}, {"prefix", f->prefix}};
      if (!f->config.empty()) {
        Json config = Json::object();
        std::stringstream pairs(f->config);
        for (std::string pair; std::getline(pairs, pair, ',');) {
          size_t eq = pair.find('=');
          if (eq == std::string::npos) return fail(Error(ErrorCode::kInvalidArgument, "--config \"" + pair + "\" is not KEY=VALUE"));
          config[pair.substr(0, eq)] = pair.substr(eq + 1);
        }
        spec["config"] = config;
      }
      if (!f->credential.empty()) {
        auto ref = secret_reference(f->credential, "--credential");
        if (!ref.ok()) return fail(ref.error());
        spec["credential"] = ref.value();
      } else if (!f->credentials_file.empty()) {
        auto text = read_file(f->credentials_file);
        if (!text.ok()) return fail(text.error());
        Status put = put_secret(session.value(), f->name + "-credentials", "cloud", text.value());
        if (!put.ok()) return fail(put.error());
        spec["credential"] = {{"name", f->name + "-credentials"}, {"key", "cloud"}};
      }
      if (!f->password_secret.empty()) {
        auto ref = secret_reference(f->password_secret, "--password-secret");
        if (!ref.ok()) return fail(ref.error());
        spec["repositoryPassword"] = ref.value();
      } else {
        std::string password;
        if (!f->password_file.empty()) {
          auto text = read_file(f->password_file);
          if (!text.ok()) return fail(text.error());
          password = text.value().substr(0, text.value().find('\n'));
        } else if (const char* env = getenv("STOWAGE_PASSWORD")) {
          password = env;
        }
        if (password.empty())
          return fail(Error(ErrorCode::kInvalidArgument, "no repository password", f->name,
                            "pass --password-secret SECRET=KEY, --password-file FILE, or set STOWAGE_PASSWORD; keep a "
                            "copy outside the cluster: without it no backup in this location can be restored"));
        Status put = put_secret(session.value(), f->name + "-repository", "password", password);
        if (!put.ok()) return fail(put.error());
        spec["repositoryPassword"] = {{"name", f->name + "-repository"}, {"key", "password"}};
      }
      if (!f->validation_frequency.empty()) spec["validationFrequency"] = f->validation_frequency;
      if (!f->copy_keys_from.empty()) spec["copyKeysFrom"] = f->copy_keys_from;
      Json object = {{"apiVersion", resources::kApiVersion}, {"kind", "BackupStorageLocation"},
                     {"metadata", {{"name", f->name}, {"namespace", session.value().namespace_name}}}, {"spec", spec}};
      kube::DynamicClient dynamic(*session.value().client);
      auto created = dynamic.create(resources::backup_storage_location(), session.value().namespace_name, object);
      if (!created.ok()) return fail(created.error());
      fprintf(stderr, "BackupStorageLocation \"%s\" created; the server checks it and reports Available or Unavailable.\n",
              f->name.c_str());
      code = kExitOk;
    });
  }
  {
    auto name = std::make_shared<std::string>();
    auto* get = location->add_subcommand("get", "list backup storage locations, or show one");
    get->add_option("NAME", *name);
    get->callback([&flags, &code, name] {
      auto session = connect(flags);
      if (!session.ok()) { code = report(session.error()); return; }
      auto objects = get_objects(session.value(), resources::backup_storage_location(), *name);
      if (!objects.ok()) { code = report(objects.error()); return; }
      code = print_objects(flags, objects.value(), {"NAME", "PHASE", "URL", "ACCESS MODE", "ARCHIVES", "OBJECT LOCK", "DEFAULT", "LAST VALIDATED", "MESSAGE"},
                           [](const Json& o) -> std::vector<std::string> {
                             Json spec = o.value("spec", Json::object());
                             Json status = o.value("status", Json::object());
                             auto url = control::location_url(spec, o["metadata"].value("name", ""));
                             return {o["metadata"].value("name", ""), status.value("phase", std::string("Unknown")),
                                     url.ok() ? url.value() : url.error().message(),
                                     spec.value("accessMode", std::string("ReadWrite")),
                                     spec.value("archiveFormat", std::string("Encrypted")),
                                     object_lock_text(spec, status),
                                     spec.value("default", false) ? "true" : "false",
                                     status.value("lastValidationTime", std::string()), status.value("message", std::string())};
                           });
    });
  }
  {
    auto name = std::make_shared<std::string>();
    auto* cmd = location->add_subcommand("delete", "delete a backup storage location object (its data stays)");
    cmd->add_option("NAME", *name)->required();
    cmd->callback([&flags, &code, name] {
      auto session = connect(flags);
      if (!session.ok()) { code = report(session.error()); return; }
      kube::DynamicClient dynamic(*session.value().client);
      Status removed = dynamic.remove(resources::backup_storage_location(), session.value().namespace_name, *name);
      code = removed.ok() ? kExitOk : report(removed.error());
    });
  }
}

}  // namespace stowage::cli
