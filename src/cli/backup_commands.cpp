// stowage backup|restore|schedule ...: create, inspect and delete the
// stowage.io objects that the server acts on, and read what a backup or
// restore stored in its location (logs, the archive).
#include <cstdio>
#include <fstream>
#include <iostream>

#include "archive/gzip.h"
#include "cli/cluster_commands.h"
#include "cli/errors.h"
#include "control/backup_copy.h"
#include "control/location_access.h"
#include "control/resources.h"
#include "control/restore_runner.h"
#include "kube/dynamic_client.h"
#include "control/schedule_controller.h"
#include "kube/yaml_json.h"
#include "util/clock.h"

namespace stowage::cli {
namespace {

using Json = nlohmann::json;
namespace resources = control::resources;

// Flags that describe what a backup selects (backup create, schedule create).
struct SelectionFlags {
  std::vector<std::string> include_namespaces, exclude_namespaces, include_resources, exclude_resources;
  std::string include_cluster_resources;  // "", "true", "false"
  std::string selector;
  std::string ttl;
  std::string storage_location;
  std::string default_volumes;  // "", "true", "false"
  std::string item_operation_timeout;
  std::vector<std::string> copy_to;
  std::string snapshot_volumes;  // "", "true", "false"
};

void add_selection_flags(CLI::App* command, SelectionFlags& f, bool backup) {
  command->add_option("--include-namespaces", f.include_namespaces, "namespaces to include (default: all)")->delimiter(',');
  command->add_option("--exclude-namespaces", f.exclude_namespaces, "namespaces to exclude")->delimiter(',');
  command->add_option("--include-resources", f.include_resources, "resources to include, e.g. deployments,pvc (default: all)")
      ->delimiter(',');
  command->add_option("--exclude-resources", f.exclude_resources, "resources to exclude")->delimiter(',');
  command->add_option("--include-cluster-resources", f.include_cluster_resources,
                      "include cluster-scoped resources: true or false (default: only when all namespaces are "
                      "included, plus what selected objects need)")
      ->check(CLI::IsMember({"true", "false"}));
  command->add_option("-l,--selector", f.selector, "only objects with these labels, e.g. app=web,tier!=db");
  if (backup) {
    command->add_option("--ttl", f.ttl, "how long to keep the backup, e.g. 720h0m0s (default 720h)");
    command->add_option("--storage-location", f.storage_location, "BackupStorageLocation (default: the default one)");
    command->add_option("--default-volumes-to-fs-backup", f.default_volumes,
                        "true: back up every pod volume's data unless the pod excludes it; false: only volumes the "
                        "pod annotation backup.stowage.io/volumes names (default: the server's setting)")
        ->check(CLI::IsMember({"true", "false"}));
    command->add_option("--item-operation-timeout", f.item_operation_timeout,
                        "how long one pod's volume data may take, e.g. 1h (default 4h)");
    command->add_option("--snapshot-volumes", f.snapshot_volumes,
                        "true: keep ZFS and replicated volumes as local snapshots next to the volume instead of "
                        "uploading their data (restorable as clones in this cluster); default: only for engines "
                        "with a VolumeSnapshotLocation of their provider (zfs.openebs.io, blockvol.stowage.io)")
        ->check(CLI::IsMember({"true", "false"}));
    command->add_option("--copy-to", f.copy_to,
                        "copy the backup to these BackupStorageLocations once it completes (a Backup "
                        "BACKUP-LOCATION each; for volume data, a location made with --copy-keys-from)")
        ->delimiter(',');
  }
}

Result<Json> selection_spec(const SelectionFlags& f) {
  Json spec = Json::object();
  if (!f.include_namespaces.empty()) spec["includedNamespaces"] = f.include_namespaces;
  if (!f.exclude_namespaces.empty()) spec["excludedNamespaces"] = f.exclude_namespaces;
  if (!f.include_resources.empty()) spec["includedResources"] = f.include_resources;
  if (!f.exclude_resources.empty()) spec["excludedResources"] = f.exclude_resources;
  if (!f.include_cluster_resources.empty()) spec["includeClusterResources"] = f.include_cluster_resources == "true";
  if (!f.selector.empty()) spec["labelSelector"] = TRY(parse_selector(f.selector));
  if (!f.ttl.empty()) spec["ttl"] = f.ttl;
  if (!f.storage_location.empty()) spec["storageLocation"] = f.storage_location;
  if (!f.default_volumes.empty()) spec["defaultVolumesToFsBackup"] = f.default_volumes == "true";
  if (!f.item_operation_timeout.empty()) spec["itemOperationTimeout"] = f.item_operation_timeout;
  if (!f.snapshot_volumes.empty()) spec["snapshotVolumes"] = f.snapshot_volumes == "true";
  for (const auto& location : f.copy_to) spec["copyTo"].push_back({{"storageLocation", location}});
  return spec;
}

std::string selector_text(const Json& spec) {
  if (!spec.contains("labelSelector")) return "<none>";
  std::string out;
  Json labels = spec["labelSelector"].value("matchLabels", Json::object());
  for (const auto& [k, v] : labels.items())
    out += (out.empty() ? "" : ",") + k + "=" + v.get<std::string>();
  return out.empty() ? spec["labelSelector"].dump() : out;
}

Json new_object(const char* kind, const std::string& name, const std::string& ns, Json spec) {
  return {{"apiVersion", resources::kApiVersion}, {"kind", kind},
          {"metadata", {{"name", name}, {"namespace", ns}}}, {"spec", std::move(spec)}};
}

int create_object(ClusterSession& session, const kube::ApiResource& type, const Json& object) {
  kube::DynamicClient dynamic(*session.client);
  auto created = dynamic.create(type, session.namespace_name, object);
  if (!created.ok()) return report(created.error());
  fprintf(stderr, "%s \"%s\" created in namespace %s.\n", type.kind.c_str(),
          object["metadata"]["name"].get<std::string>().c_str(), session.namespace_name.c_str());
  return kExitOk;
}

int delete_object(ClusterSession& session, const kube::ApiResource& type, const std::string& name) {
  kube::DynamicClient dynamic(*session.client);
  Status removed = dynamic.remove(type, session.namespace_name, name);
  if (!removed.ok()) return report(removed.error());
  fprintf(stderr, "%s \"%s\" deleted%s.\n", type.kind.c_str(), name.c_str(),
          type.kind == "Backup" ? " (the server removes its data from the location)" : "");
  return kExitOk;
}

std::string status_field(const Json& o, const char* field) {
  Json status = o.value("status", Json::object());
  if (!status.contains(field)) return "";
  return status[field].is_string() ? status[field].get<std::string>() : status[field].dump();
}

// Opens the location that holds a backup (for logs and download).
Result<std::pair<std::shared_ptr<backupstore::BackupLocation>, Json>> backup_location_of(ClusterSession& session,
                                                                                       const std::string& backup) {
  kube::DynamicClient dynamic(*session.client);
  auto object = dynamic.get(resources::backup(), session.namespace_name, backup);
  if (!object.ok() && object.error().code() == ErrorCode::kNotFound)
    return Error(ErrorCode::kNotFound, "backup " + backup + " does not exist in namespace " + session.namespace_name,
                 backup, "list them with `stowage backup get`");
  Json b = TRY(std::move(object));
  control::LocationAccess access(*session.client, session.namespace_name);
  auto location = TRY(access.open(b["spec"].value("storageLocation", std::string())));
  return std::make_pair(location, b);
}

Result<Bytes> read_backup_file(ClusterSession& session, const std::string& backup, backupstore::BackupObject object) {
  auto [location, b] = TRY(backup_location_of(session, backup));
  bool velero = b["metadata"].value("annotations", Json::object()).contains("stowage.io/written-by");
  auto stored = TRY(location->read_backup(backup, velero));
  auto reader = TRY(location->open_backup_object(stored, object));
  return backupstore::read_remaining(*reader);
}

void print_backup_describe(ClusterSession& session, const Json& b) {
  Json spec = b.value("spec", Json::object());
  Json status = b.value("status", Json::object());
  auto list = [](const Json& spec, const char* field, const char* empty) {
    if (!spec.contains(field) || spec[field].empty()) return std::string(empty);
    std::string out;
    for (const auto& v : spec[field]) out += (out.empty() ? "" : ", ") + v.get<std::string>();
    return out;
  };
  printf("Name:         %s\nNamespace:    %s\nLabels:       %s\n", b["metadata"].value("name", "").c_str(),
         b["metadata"].value("namespace", "").c_str(), b["metadata"].value("labels", Json::object()).dump().c_str());
  printf("\nPhase:        %s\n", status.value("phase", std::string("New")).c_str());
  if (status.contains("failureReason")) printf("Failure:      %s\n", status["failureReason"].get<std::string>().c_str());
  for (const auto& v : status.value("validationErrors", Json::array())) printf("Validation:   %s\n", v.get<std::string>().c_str());
  printf("Errors:       %d\nWarnings:     %d\n", status.value("errors", 0), status.value("warnings", 0));
  printf("\nNamespaces:\n  Included:   %s\n  Excluded:   %s\n", list(spec, "includedNamespaces", "*").c_str(),
         list(spec, "excludedNamespaces", "<none>").c_str());
  printf("Resources:\n  Included:   %s\n  Excluded:   %s\n  Cluster-scoped: %s\n", list(spec, "includedResources", "*").c_str(),
         list(spec, "excludedResources", "<none>").c_str(),
         spec.contains("includeClusterResources") ? spec["includeClusterResources"].dump().c_str() : "auto");
  printf("Label selector: %s\n", selector_text(spec).c_str());
  printf("Storage location: %s\nTTL:          %s\n", spec.value("storageLocation", std::string("<default>")).c_str(),
         spec.value("ttl", std::string("720h0m0s")).c_str());
  Json hooks = status.value("hookStatus", Json::object());
  printf("Hooks:        %d attempted, %d failed\n", hooks.value("hooksAttempted", 0), hooks.value("hooksFailed", 0));
  printf("\nStarted:      %s\nCompleted:    %s\nExpiration:   %s\n", status.value("startTimestamp", std::string()).c_str(),
         status.value("completionTimestamp", std::string()).c_str(), status.value("expiration", std::string()).c_str());
  Json progress = status.value("progress", Json::object());
  printf("Items:        %d of %d backed up\n", progress.value("itemsBackedUp", 0), progress.value("totalItems", 0));
  if (status.contains("volumeBackups"))
    printf("Volumes:      %d backed up, %d failed, of %d (kubectl get volumebackups -l %s=%s)\n",
           status["volumeBackups"].value("completed", 0), status["volumeBackups"].value("failed", 0),
           status["volumeBackups"].value("total", 0), resources::kBackupLabel, b["metadata"].value("name", "").c_str());
  if (spec.contains("copyOf")) {
    Json copy = status.value("copy", Json::object());
    printf("Copy of:      %s", spec["copyOf"].get<std::string>().c_str());
    if (!copy.empty())
      printf(" (from location %s, as completed at %s; %d volume snapshots, %s chunks sent, %s read back, %s)",
             copy.value("sourceLocation", std::string()).c_str(), copy.value("sourceCompletionTimestamp", std::string()).c_str(),
             copy.value("volumeSnapshots", 0), copy["blobsSent"].dump().c_str(), copy["blobsVerified"].dump().c_str(),
             copy.value("verified", false) ? "verified" : "not verified");
    printf("\n");
  }
  for (const auto& target : spec.value("copyTo", Json::array()))
    printf("Copy to:      %s (Backup %s)\n", target.value("storageLocation", std::string()).c_str(),
           control::copy_name(b["metadata"].value("name", ""), target.value("storageLocation", std::string())).c_str());
  if (status.contains("archive"))
    printf("Archive:      %s, %s bytes, sha256 %s\n", status["archive"].value("encrypted", true) ? "encrypted" : "plain (Velero-readable)",
           status["archive"]["size"].dump().c_str(), status["archive"].value("sha256", std::string()).c_str());
  auto events = events_of(session, b);
  if (!events.empty()) {
    printf("\nEvents:\n");
    for (const auto& e : events) printf("  %s\n", e.c_str());
  }
}

void print_restore_describe(ClusterSession& session, const Json& r) {
  Json spec = r.value("spec", Json::object());
  Json status = r.value("status", Json::object());
  printf("Name:         %s\nNamespace:    %s\n", r["metadata"].value("name", "").c_str(), r["metadata"].value("namespace", "").c_str());
  printf("Backup:       %s\n", r["metadata"].value("labels", Json::object()).value(resources::kBackupLabel, spec.value("backupName", std::string())).c_str());
  if (spec.contains("scheduleName")) printf("Schedule:     %s\n", spec["scheduleName"].get<std::string>().c_str());
  printf("\nPhase:        %s\n", status.value("phase", std::string("New")).c_str());
  if (status.contains("failureReason")) printf("Failure:      %s\n", status["failureReason"].get<std::string>().c_str());
  for (const auto& v : status.value("validationErrors", Json::array())) printf("Validation:   %s\n", v.get<std::string>().c_str());
  printf("Errors:       %d\nWarnings:     %d\n", status.value("errors", 0), status.value("warnings", 0));
  for (const char* mapping : {"namespaceMapping", "storageClassMapping", "nodeNameMapping"})
    if (spec.contains(mapping)) printf("%s: %s\n", mapping, spec[mapping].dump().c_str());
  printf("Existing objects: %s\n", spec.value("existingResourcePolicy", std::string("none")).c_str());
  Json progress = status.value("progress", Json::object());
  printf("\nStarted:      %s\nCompleted:    %s\nItems:        %d of %d restored\n",
         status.value("startTimestamp", std::string()).c_str(), status.value("completionTimestamp", std::string()).c_str(),
         progress.value("itemsRestored", 0), progress.value("totalItems", 0));
  if (status.contains("volumeRestores"))
    printf("Volumes:      %d restored, %d failed, of %d (kubectl get volumerestores -l %s=%s)\n",
           status["volumeRestores"].value("completed", 0), status["volumeRestores"].value("failed", 0),
           status["volumeRestores"].value("total", 0), resources::kRestoreLabel, r["metadata"].value("name", "").c_str());
  for (const auto& w : status.value("withheldItems", Json::array()))
    printf("Withheld:     %s (grants access in the cluster; restore with --include-cluster-resources=true)\n",
           w.get<std::string>().c_str());
  auto events = events_of(session, r);
  if (!events.empty()) {
    printf("\nEvents:\n");
    for (const auto& e : events) printf("  %s\n", e.c_str());
  }
}

int describe(const KubeFlags& flags, const kube::ApiResource& type, const std::string& name,
             void (*print)(ClusterSession&, const Json&), const std::function<void(ClusterSession&, const Json&)>& details) {
  auto session = connect(flags);
  if (!session.ok()) return report(session.error());
  auto objects = get_objects(session.value(), type, name);
  if (!objects.ok()) return report(objects.error());
  if (output_format(flags) != OutputFormat::kTable) return print_objects(flags, objects.value(), {}, nullptr);
  for (const auto& o : objects.value()) {
    print(session.value(), o);
    if (details) details(session.value(), o);
    printf("\n");
  }
  return kExitOk;
}

// The backup's log, item list or results, gunzipped.
int print_backup_file(const KubeFlags& flags, const std::string& name, backupstore::BackupObject object) {
  auto session = connect(flags);
  if (!session.ok()) return report(session.error());
  auto data = read_backup_file(session.value(), name, object);
  if (!data.ok()) return report(data.error());
  auto text = archive::gzip_decompress(data.value(), 1ull << 30, name);
  if (!text.ok()) return report(text.error());
  fwrite(text.value().data(), 1, text.value().size(), stdout);
  return kExitOk;
}

}  // namespace

void add_backup_commands(CLI::App& app, KubeFlags& flags, int& code) {
  // backup
  auto* backup = app.add_subcommand("backup", "back up Kubernetes objects (and, with the agents, their volumes)");
  backup->require_subcommand(1);
  {
    auto sel = std::make_shared<SelectionFlags>();
    auto name = std::make_shared<std::string>();
    auto wait = std::make_shared<bool>(false);
    auto from_schedule = std::make_shared<std::string>();
    auto* create = backup->add_subcommand("create", "create a backup");
    create->add_option("NAME", *name, "backup name")->required();
    add_selection_flags(create, *sel, true);
    create->add_option("--from-schedule", *from_schedule, "take the spec of this schedule's template");
    create->add_flag("-w,--wait", *wait, "wait until the backup finishes; exit 0 Completed, 3 PartiallyFailed, 1 failed");
    create->callback([&flags, &code, sel, name, wait, from_schedule] {
      auto session = connect(flags);
      if (!session.ok()) { code = report(session.error()); return; }
      auto spec = selection_spec(*sel);
      if (!spec.ok()) { code = report(spec.error()); return; }
      Json object = new_object("Backup", *name, session.value().namespace_name, spec.value());
      if (!from_schedule->empty()) {
        kube::DynamicClient dynamic(*session.value().client);
        auto schedule = dynamic.get(resources::schedule(), session.value().namespace_name, *from_schedule);
        if (!schedule.ok()) { code = report(schedule.error()); return; }
        Json tmpl = schedule.value()["spec"].value("template", Json::object());
        tmpl.erase("metadata");
        for (const auto& [k, v] : spec.value().items()) tmpl[k] = v;
        object["spec"] = tmpl;
        object["metadata"]["labels"][resources::kScheduleLabel] = *from_schedule;
      }
      code = create_object(session.value(), resources::backup(), object);
      if (code == kExitOk && *wait) code = wait_for_completion(session.value(), resources::backup(), *name);
    });
  }
  {
    auto name = std::make_shared<std::string>();
    auto to = std::make_shared<std::string>();
    auto copy = std::make_shared<std::string>();
    auto ttl = std::make_shared<std::string>();
    auto wait = std::make_shared<bool>(false);
    auto* cmd = backup->add_subcommand("copy", "copy a backup (objects and volume data) to another location, as a new backup");
    cmd->add_option("NAME", *name, "the Completed or PartiallyFailed backup to copy")->required();
    cmd->add_option("--to", *to, "the BackupStorageLocation to copy to")->required();
    cmd->add_option("--name", *copy, "the copy's name (default NAME-LOCATION)");
    cmd->add_option("--ttl", *ttl, "how long to keep the copy (default: the backup's ttl)");
    cmd->add_flag("-w,--wait", *wait, "wait until the copy finishes; exit 0 Completed, 3 PartiallyFailed, 1 failed");
    cmd->callback([&flags, &code, name, to, copy, ttl, wait] {
      auto session = connect(flags);
      if (!session.ok()) { code = report(session.error()); return; }
      kube::DynamicClient dynamic(*session.value().client);
      auto source = dynamic.get(resources::backup(), session.value().namespace_name, *name);
      if (!source.ok()) { code = report(source.error()); return; }
      Json request = control::copy_request(source.value(), *to, *ttl, *copy, session.value().namespace_name);
      code = create_object(session.value(), resources::backup(), request);
      if (code == kExitOk && *wait)
        code = wait_for_completion(session.value(), resources::backup(), request["metadata"]["name"].get<std::string>());
    });
  }
  {
    auto name = std::make_shared<std::string>();
    auto* get = backup->add_subcommand("get", "list backups, or show one");
    get->add_option("NAME", *name);
    get->callback([&flags, &code, name] {
      auto session = connect(flags);
      if (!session.ok()) { code = report(session.error()); return; }
      auto objects = get_objects(session.value(), resources::backup(), *name);
      if (!objects.ok()) { code = report(objects.error()); return; }
      code = print_objects(flags, objects.value(),
                           {"NAME", "STATUS", "ERRORS", "WARNINGS", "CREATED", "EXPIRES", "STORAGE LOCATION", "SELECTOR"},
                           [](const Json& o) -> std::vector<std::string> {
                             std::string expires = status_field(o, "expiration");
                             return {o["metadata"].value("name", ""), status_field(o, "phase").empty() ? "New" : status_field(o, "phase"),
                                     status_field(o, "errors"), status_field(o, "warnings"),
                                     o["metadata"].value("creationTimestamp", ""), expires,
                                     o["spec"].value("storageLocation", std::string()), selector_text(o["spec"])};
                           });
    });
  }
  {
    auto name = std::make_shared<std::string>();
    auto details = std::make_shared<bool>(false);
    auto* cmd = backup->add_subcommand("describe", "show a backup's spec, status, hooks and events");
    cmd->add_option("NAME", *name)->required();
    cmd->add_flag("--details", *details, "also list every object in the backup (read from its location)");
    cmd->callback([&flags, &code, name, details] {
      code = describe(flags, resources::backup(), *name, print_backup_describe,
                      [details](ClusterSession& session, const Json& b) {
                        if (!*details) return;
                        auto data = read_backup_file(session, b["metadata"].value("name", ""), backupstore::BackupObject::kResourceList);
                        auto text = data.ok() ? archive::gzip_decompress(data.value(), 1ull << 30, "item list")
                                              : Result<Bytes>(data.error());
                        if (!text.ok()) { printf("\nResource list: %s\n", text.error().message().c_str()); return; }
                        Json list = Json::parse(text.value().begin(), text.value().end(), nullptr, false);
                        printf("\nResource list:\n");
                        if (list.is_object())
                          for (const auto& [gvk, names] : list.items()) {
                            printf("  %s:\n", gvk.c_str());
                            for (const auto& n : names) printf("    - %s\n", n.get<std::string>().c_str());
                          }
                      });
    });
  }
  {
    auto name = std::make_shared<std::string>();
    auto* cmd = backup->add_subcommand("logs", "print a backup's log (from its location)");
    cmd->add_option("NAME", *name)->required();
    cmd->callback([&flags, &code, name] { code = print_backup_file(flags, *name, backupstore::BackupObject::kLog); });
  }
  {
    auto name = std::make_shared<std::string>();
    auto* cmd = backup->add_subcommand("delete", "delete a backup and its data in the location");
    auto confirm = std::make_shared<bool>(false);
    cmd->add_option("NAME", *name)->required();
    cmd->add_flag("--confirm", *confirm, "(accepted for Velero compatibility; deletion does not prompt)");
    cmd->callback([&flags, &code, name, confirm] {
      auto session = connect(flags);
      if (!session.ok()) { code = report(session.error()); return; }
      code = delete_object(session.value(), resources::backup(), *name);
    });
  }
  {
    auto name = std::make_shared<std::string>();
    auto file = std::make_shared<std::string>();
    auto* cmd = backup->add_subcommand("download", "write the backup's archive as a plain Velero-layout tarball");
    cmd->add_option("NAME", *name)->required();
    cmd->add_option("-f,--file", *file, "output file (default NAME-data.tar.gz; - for stdout)");
    cmd->callback([&flags, &code, name, file] {
      auto session = connect(flags);
      if (!session.ok()) { code = report(session.error()); return; }
      auto data = read_backup_file(session.value(), *name, backupstore::BackupObject::kContents);
      if (!data.ok()) { code = report(data.error()); return; }
      std::string path = file->empty() ? *name + "-data.tar.gz" : *file;
      if (path == "-") {
        fwrite(data.value().data(), 1, data.value().size(), stdout);
      } else {
        std::ofstream out(path, std::ios::binary | std::ios::trunc);
        out.write(reinterpret_cast<const char*>(data.value().data()), static_cast<std::streamsize>(data.value().size()));
        if (!out) { code = report(Error(ErrorCode::kIo, "cannot write " + path, path, "")); return; }
        fprintf(stderr, "Backup %s downloaded to %s (%zu bytes).\n", name->c_str(), path.c_str(), data.value().size());
      }
      code = kExitOk;
    });
  }

  // restore
  auto* restore = app.add_subcommand("restore", "restore Kubernetes objects from a backup");
  restore->require_subcommand(1);
  {
    struct RestoreFlags {
      std::string name, from_backup, from_schedule, namespace_mappings, storage_class_mappings, node_name_mappings;
      std::string existing_policy = "none", modifiers_file, service_account;
      bool from_velero = false, wait = false, preserve_node_ports = false;
      std::string restore_pvs;
    };
    auto f = std::make_shared<RestoreFlags>();
    auto sel = std::make_shared<SelectionFlags>();
    auto* create = restore->add_subcommand("create", "create a restore");
    create->add_option("NAME", f->name, "restore name (default: BACKUP-YYYYMMDDhhmmss)");
    create->add_option("--from-backup", f->from_backup, "the backup to restore");
    create->add_option("--from-schedule", f->from_schedule, "restore the latest Completed backup of this schedule");
    create->add_flag("--from-velero-backup", f->from_velero,
                     "the backup was written by Velero: accept it without a stowage manifest (each item is still checked)");
    add_selection_flags(create, *sel, false);
    create->add_option("--namespace-mappings", f->namespace_mappings, "restore namespaces under new names: old:new,...");
    create->add_option("--storage-class-mappings", f->storage_class_mappings, "storage classes to use instead: old:new,...");
    create->add_option("--node-name-mappings", f->node_name_mappings, "nodes to use instead (PVC selected-node, local PV affinity): old:new,...");
    create->add_option("--existing-resource-policy", f->existing_policy, "none (keep what exists) or update")
        ->check(CLI::IsMember({"none", "update"}));
    create->add_option("--resource-modifier-file", f->modifiers_file, "YAML or JSON file with resource modifier rules");
    create->add_option("--restore-volumes", f->restore_pvs, "restore PersistentVolumes: true or false (default true)")
        ->check(CLI::IsMember({"true", "false"}));
    create->add_flag("--preserve-nodeports", f->preserve_node_ports, "keep the node ports of services");
    create->add_option("--service-account", f->service_account,
                       "create the objects as this ServiceAccount of the stowage namespace (impersonated), so the "
                       "restore can do only what it may");
    create->add_flag("-w,--wait", f->wait, "wait until the restore finishes; exit 0 Completed, 3 PartiallyFailed, 1 failed");
    create->callback([&flags, &code, f, sel] {
      auto fail = [&](const Error& e) { code = report(e); };
      if (f->from_backup.empty() == f->from_schedule.empty())
        return fail(Error(ErrorCode::kInvalidArgument, "give exactly one of --from-backup and --from-schedule"));
      auto session = connect(flags);
      if (!session.ok()) return fail(session.error());
      auto spec_result = selection_spec(*sel);
      if (!spec_result.ok()) return fail(spec_result.error());
      Json spec = spec_result.value();
      if (!f->from_backup.empty()) spec["backupName"] = f->from_backup;
      else spec["scheduleName"] = f->from_schedule;
      struct Mapping { const std::string* text; const char* field; const char* flag; };
      for (const Mapping& m : {Mapping{&f->namespace_mappings, "namespaceMapping", "--namespace-mappings"},
                               Mapping{&f->storage_class_mappings, "storageClassMapping", "--storage-class-mappings"},
                               Mapping{&f->node_name_mappings, "nodeNameMapping", "--node-name-mappings"}}) {
        if (m.text->empty()) continue;
        auto parsed = parse_mapping(*m.text, m.flag);
        if (!parsed.ok()) return fail(parsed.error());
        spec[m.field] = parsed.value();
      }
      spec["existingResourcePolicy"] = f->existing_policy;
      if (!f->restore_pvs.empty()) spec["restorePVs"] = f->restore_pvs == "true";
      if (f->preserve_node_ports) spec["preserveNodePorts"] = true;
      if (!f->service_account.empty()) spec["serviceAccountName"] = f->service_account;
      if (!f->modifiers_file.empty()) {
        std::ifstream in(f->modifiers_file);
        std::stringstream text;
        text << in.rdbuf();
        if (!in) return fail(Error(ErrorCode::kNotFound, "cannot read " + f->modifiers_file, f->modifiers_file, ""));
        auto parsed = kube::yaml_to_json(text.str(), f->modifiers_file);
        if (!parsed.ok()) return fail(parsed.error());
        spec["resourceModifiers"] = parsed.value();
      }
      std::string name = f->name;
      if (name.empty())
        name = control::timestamped_name(f->from_backup.empty() ? f->from_schedule : f->from_backup,
                                         std::chrono::system_clock::now());
      Json object = new_object("Restore", name, session.value().namespace_name, spec);
      if (f->from_velero) object["metadata"]["annotations"][control::kAllowUnverifiedAnnotation] = "true";
      code = create_object(session.value(), resources::restore(), object);
      if (code == kExitOk && f->wait) code = wait_for_completion(session.value(), resources::restore(), name);
    });
  }
  {
    auto name = std::make_shared<std::string>();
    auto* get = restore->add_subcommand("get", "list restores, or show one");
    get->add_option("NAME", *name);
    get->callback([&flags, &code, name] {
      auto session = connect(flags);
      if (!session.ok()) { code = report(session.error()); return; }
      auto objects = get_objects(session.value(), resources::restore(), *name);
      if (!objects.ok()) { code = report(objects.error()); return; }
      code = print_objects(flags, objects.value(), {"NAME", "BACKUP", "STATUS", "STARTED", "COMPLETED", "ERRORS", "WARNINGS", "CREATED"},
                           [](const Json& o) -> std::vector<std::string> {
                             std::string backup = o["metadata"].value("labels", Json::object()).value(resources::kBackupLabel, o["spec"].value("backupName", std::string()));
                             return {o["metadata"].value("name", ""), backup,
                                     status_field(o, "phase").empty() ? "New" : status_field(o, "phase"),
                                     status_field(o, "startTimestamp"), status_field(o, "completionTimestamp"),
                                     status_field(o, "errors"), status_field(o, "warnings"),
                                     o["metadata"].value("creationTimestamp", "")};
                           });
    });
  }
  {
    auto name = std::make_shared<std::string>();
    auto* cmd = restore->add_subcommand("describe", "show a restore's spec, status and events");
    cmd->add_option("NAME", *name)->required();
    cmd->callback([&flags, &code, name] { code = describe(flags, resources::restore(), *name, print_restore_describe, nullptr); });
  }
  {
    auto name = std::make_shared<std::string>();
    auto results = std::make_shared<bool>(false);
    auto* cmd = restore->add_subcommand("logs", "print a restore's log (from the backup's location)");
    cmd->add_option("NAME", *name)->required();
    cmd->add_flag("--results", *results, "print the warnings and errors by namespace (JSON) instead");
    cmd->callback([&flags, &code, name, results] {
      auto session = connect(flags);
      if (!session.ok()) { code = report(session.error()); return; }
      kube::DynamicClient dynamic(*session.value().client);
      auto r = dynamic.get(resources::restore(), session.value().namespace_name, *name);
      if (!r.ok()) { code = report(r.error()); return; }
      std::string backup = r.value()["metadata"].value("labels", Json::object()).value(resources::kBackupLabel, "");
      if (backup.empty()) { code = report(Error(ErrorCode::kNotFound, "restore " + *name + " has not started yet", *name, "")); return; }
      auto located = backup_location_of(session.value(), backup);
      if (!located.ok()) { code = report(located.error()); return; }
      auto reader = located.value().first->open_restore_object(
          *name, *results ? backupstore::RestoreObject::kResults : backupstore::RestoreObject::kLog);
      auto data = reader.ok() ? backupstore::read_remaining(*reader.value()) : Result<Bytes>(reader.error());
      auto text = data.ok() ? archive::gzip_decompress(data.value(), 1ull << 30, *name) : Result<Bytes>(data.error());
      if (!text.ok()) { code = report(text.error()); return; }
      fwrite(text.value().data(), 1, text.value().size(), stdout);
      if (*results) printf("\n");
      code = kExitOk;
    });
  }
  {
    auto name = std::make_shared<std::string>();
    auto* cmd = restore->add_subcommand("delete", "delete a restore object (restored objects stay)");
    cmd->add_option("NAME", *name)->required();
    cmd->callback([&flags, &code, name] {
      auto session = connect(flags);
      if (!session.ok()) { code = report(session.error()); return; }
      code = delete_object(session.value(), resources::restore(), *name);
    });
  }

  // schedule
  auto* schedule = app.add_subcommand("schedule", "take backups on a cron schedule");
  schedule->require_subcommand(1);
  {
    auto sel = std::make_shared<SelectionFlags>();
    auto name = std::make_shared<std::string>();
    auto cron = std::make_shared<std::string>();
    auto zone = std::make_shared<std::string>();
    auto paused = std::make_shared<bool>(false);
    auto skip = std::make_shared<bool>(false);
    auto* create = schedule->add_subcommand("create", "create a schedule");
    create->add_option("NAME", *name)->required();
    create->add_option("--schedule", *cron, "cron expression: \"0 1 * * *\", \"@every 6h\", \"CRON_TZ=Europe/Berlin 0 3 * * *\"")->required();
    create->add_option("--time-zone", *zone, "IANA time zone of the cron fields (default UTC)");
    create->add_flag("--paused", *paused, "create it paused");
    create->add_flag("--skip-immediately", *skip, "do not take a backup right away; wait for the first scheduled time");
    add_selection_flags(create, *sel, true);
    create->callback([&flags, &code, sel, name, cron, zone, paused, skip] {
      auto session = connect(flags);
      if (!session.ok()) { code = report(session.error()); return; }
      auto tmpl = selection_spec(*sel);
      if (!tmpl.ok()) { code = report(tmpl.error()); return; }
      Json spec = {{"schedule", *cron}, {"template", tmpl.value()}, {"paused", *paused}, {"skipImmediately", *skip}};
      if (!zone->empty()) spec["timeZone"] = *zone;
      code = create_object(session.value(), resources::schedule(), new_object("Schedule", *name, session.value().namespace_name, spec));
    });
  }
  {
    auto name = std::make_shared<std::string>();
    auto* get = schedule->add_subcommand("get", "list schedules, or show one");
    get->add_option("NAME", *name);
    get->callback([&flags, &code, name] {
      auto session = connect(flags);
      if (!session.ok()) { code = report(session.error()); return; }
      auto objects = get_objects(session.value(), resources::schedule(), *name);
      if (!objects.ok()) { code = report(objects.error()); return; }
      code = print_objects(flags, objects.value(), {"NAME", "STATUS", "SCHEDULE", "BACKUP TTL", "LAST BACKUP", "NEXT RUN", "PAUSED"},
                           [](const Json& o) -> std::vector<std::string> {
                             Json spec = o.value("spec", Json::object());
                             return {o["metadata"].value("name", ""), status_field(o, "phase").empty() ? "New" : status_field(o, "phase"),
                                     spec.value("schedule", std::string()),
                                     spec.value("template", Json::object()).value("ttl", std::string("720h0m0s")),
                                     status_field(o, "lastBackup"), status_field(o, "nextRun"),
                                     spec.value("paused", false) ? "true" : "false"};
                           });
    });
  }
  {
    auto name = std::make_shared<std::string>();
    auto* cmd = schedule->add_subcommand("describe", "show a schedule and its backups");
    cmd->add_option("NAME", *name)->required();
    cmd->callback([&flags, &code, name] {
      auto session = connect(flags);
      if (!session.ok()) { code = report(session.error()); return; }
      auto objects = get_objects(session.value(), resources::schedule(), *name);
      if (!objects.ok()) { code = report(objects.error()); return; }
      if (output_format(flags) != OutputFormat::kTable) { code = print_objects(flags, objects.value(), {}, nullptr); return; }
      const Json& s = objects.value()[0];
      printf("Name:         %s\nPhase:        %s\nSchedule:     %s\nTime zone:    %s\nPaused:       %s\n",
             name->c_str(), status_field(s, "phase").c_str(), s["spec"].value("schedule", std::string()).c_str(),
             s["spec"].value("timeZone", std::string("UTC")).c_str(), s["spec"].value("paused", false) ? "true" : "false");
      for (const auto& v : s.value("status", Json::object()).value("validationErrors", Json::array()))
        printf("Validation:   %s\n", v.get<std::string>().c_str());
      printf("Last backup:  %s\nNext run:     %s\nTemplate:     %s\n", status_field(s, "lastBackup").c_str(),
             status_field(s, "nextRun").c_str(), s["spec"].value("template", Json::object()).dump().c_str());
      auto backups = get_objects(session.value(), resources::backup(), "", std::string(resources::kScheduleLabel) + "=" + *name);
      if (backups.ok()) {
        printf("\nBackups:\n");
        for (const auto& b : backups.value())
          printf("  %s\t%s\n", b["metadata"].value("name", "").c_str(), status_field(b, "phase").c_str());
      }
      auto events = events_of(session.value(), s);
      if (!events.empty()) {
        printf("\nEvents:\n");
        for (const auto& e : events) printf("  %s\n", e.c_str());
      }
      code = kExitOk;
    });
  }
  for (bool pause : {true, false}) {
    auto name = std::make_shared<std::string>();
    auto* cmd = schedule->add_subcommand(pause ? "pause" : "unpause", pause ? "stop taking backups" : "take backups again");
    cmd->add_option("NAME", *name)->required();
    cmd->callback([&flags, &code, name, pause] {
      auto session = connect(flags);
      if (!session.ok()) { code = report(session.error()); return; }
      kube::DynamicClient dynamic(*session.value().client);
      auto patched = dynamic.patch(resources::schedule(), session.value().namespace_name, *name, kube::PatchType::kMerge,
                                   {{"spec", {{"paused", pause}}}});
      if (!patched.ok()) { code = report(patched.error()); return; }
      fprintf(stderr, "Schedule \"%s\" %s.\n", name->c_str(), pause ? "paused" : "unpaused");
      code = kExitOk;
    });
  }
  {
    auto name = std::make_shared<std::string>();
    auto* cmd = schedule->add_subcommand("delete", "delete a schedule (its backups stay until their TTL)");
    cmd->add_option("NAME", *name)->required();
    cmd->callback([&flags, &code, name] {
      auto session = connect(flags);
      if (!session.ok()) { code = report(session.error()); return; }
      code = delete_object(session.value(), resources::schedule(), *name);
    });
  }
}

}  // namespace stowage::cli
