#include "control/backup_copy.h"

#include "archive/gzip.h"
#include "control/controller_context.h"
#include "control/resources.h"
#include "control/volume_work.h"
#include "crypto/hash.h"
#include "kube/dynamic_client.h"
#include "repo/copy.h"
#include "util/clock.h"
#include "util/duration.h"

namespace stowage::control {

using Json = nlohmann::json;
using backupstore::BackupObject;

namespace {

constexpr const char* kDefaultTtl = "720h0m0s";
constexpr size_t kMaxLabelValue = 63;
constexpr uint64_t kMaxLogBytes = 256ull << 20;

// The objects a copy carries over (the metadata is written from them last).
constexpr BackupObject kCopiedObjects[] = {BackupObject::kContents, BackupObject::kResourceList,
                                           BackupObject::kResults, BackupObject::kVolumeInfo, BackupObject::kLog};

}  // namespace

std::string copy_name(const std::string& source, const std::string& location) {
  std::string name = source + "-" + location;
  if (name.size() <= kMaxLabelValue) return name;
  std::string tag = hex_encode(crypto::sha256(as_bytes(name))).substr(0, 8);
  name = name.substr(0, kMaxLabelValue - tag.size() - 1);
  while (!name.empty() && (name.back() == '-' || name.back() == '.')) name.pop_back();
  return name + "-" + tag;
}

Json copy_request(const Json& source, const std::string& location, const std::string& ttl, const std::string& name,
                  const std::string& namespace_name) {
  std::string source_name = name_of(source);
  Json source_spec = source.value("spec", Json::object());
  Json spec = {{"copyOf", source_name}, {"storageLocation", location}};
  std::string kept_ttl = ttl.empty() ? source_spec.value("ttl", std::string()) : ttl;
  if (!kept_ttl.empty()) spec["ttl"] = kept_ttl;
  return {{"apiVersion", resources::kApiVersion},
          {"kind", "Backup"},
          {"metadata",
           {{"name", name.empty() ? copy_name(source_name, location) : name},
            {"namespace", namespace_name},
            {"labels", {{resources::kCopyOfLabel, source_name}}}}},
          {"spec", spec}};
}

BackupCopier::BackupCopier(kube::ApiClient& client, LocationAccess& locations, backupstore::BackupLocation& target,
                           OperationLog& log)
    : client_(client), locations_(locations), target_(target), log_(log) {}

Json BackupCopier::run(const Json& copy) {
  const std::string name = name_of(copy);
  const Json spec = copy.value("spec", Json::object());
  const std::string source_name = spec.value("copyOf", std::string());
  const std::string target_location = spec.value("storageLocation", std::string());
  Json status = copy.value("status", Json::object());
  auto fail = [&](const std::string& reason) { return failed_status(status, log_, "Failed", reason); };

  std::string ttl_text = spec.value("ttl", std::string());
  auto ttl = parse_duration(ttl_text.empty() ? kDefaultTtl : ttl_text);
  if (!ttl.ok()) return fail("spec.ttl: " + ttl.error().to_string());

  // The source: a finished Backup whose objects its location holds.
  kube::DynamicClient dynamic(client_);
  auto source = dynamic.get(resources::backup(), locations_.namespace_name(), source_name);
  if (!source.ok()) return fail("the backup to copy, " + source_name + ", cannot be read: " + source.error().to_string());
  std::string source_phase = phase_of(source.value());
  if (source_phase != "Completed" && source_phase != "PartiallyFailed")
    return fail("backup " + source_name + " is " + (source_phase.empty() ? "New" : source_phase) +
                "; only a Completed or PartiallyFailed backup can be copied");
  std::string source_location = source.value()["spec"].value("storageLocation", std::string());
  if (source_location == target_location)
    return fail("backup " + source_name + " is already in location " + target_location + "; copy it to another one");
  auto from = locations_.open(source_location);
  if (!from.ok()) return fail("opening the source location " + source_location + ": " + from.error().to_string());
  auto stored = from.value()->read_backup(source_name);
  if (!stored.ok()) return fail("reading backup " + source_name + " from " + source_location + ": " + stored.error().to_string());
  if (!stored.value().manifest)
    return fail("backup " + source_name + " was not written by stowage (it has no manifest); only stowage backups can be copied");
  log_.info("copying backup " + source_name + " from location " + source_location + " to " + target_location);

  // Volume data first: the copy's volume list names the target's snapshots.
  auto records = read_volume_records(*from.value(), stored.value());
  if (!records.ok()) return fail("reading the volume list of " + source_name + ": " + records.error().to_string());
  Repository& source_repo = from.value()->repository();
  Repository& target_repo = target_.repository();
  std::vector<ObjectId> ids;  // of the records with a snapshot, in order
  for (const auto& record : records.value()) {
    if (!record.local_snapshot.empty())
      log_.warning("volume " + record.volume + " of pod " + record.namespace_name + "/" + record.pod +
                       " is a local snapshot (" + record.local_snapshot + " on node " + record.node +
                       "): it stays there and is not copied",
                   record.namespace_name);
    if (record.snapshot_id.empty()) continue;
    auto id = source_repo.resolve_snapshot(record.snapshot_id);
    if (!id.ok()) return fail("volume " + record.volume + " of pod " + record.namespace_name + "/" + record.pod +
                              ": snapshot " + record.snapshot_id + " is not in " + source_location + "'s repository: " +
                              id.error().to_string());
    ids.push_back(id.value());
  }
  Json copy_status = {{"sourceBackup", source_name}, {"sourceLocation", source_location},
                      {"volumeSnapshots", ids.size()}, {"blobsSent", 0}, {"bytesSent", 0}, {"blobsVerified", 0}};
  std::map<std::string, std::string> target_ids;  // source snapshot id (hex) → target's
  if (!ids.empty()) {
    if (source_repo.key_fingerprint() != target_repo.key_fingerprint())
      return fail("location " + target_location + "'s repository does not share the keys of " + source_location +
                  "'s, so volume data cannot be copied into it; create a location for copies with spec.copyKeysFrom: " +
                  source_location + " (it takes effect when that location's repository is first created)");
    // The agents wrote the volume data from their own processes: read both
    // indexes again so that every chunk they stored is known here.
    Status reloaded = source_repo.reload_index();
    if (reloaded.ok()) reloaded = target_repo.reload_index();
    if (!reloaded.ok()) return fail("reading the repositories' indexes: " + reloaded.error().to_string());
    auto copied = copy_snapshots(source_repo, target_repo, ids, CopyOptions{true, nullptr});
    if (!copied.ok()) return fail("copying the volume data: " + copied.error().to_string());
    for (const auto& [from_id, to_id] : copied.value().copied) target_ids[from_id.hex()] = to_id.hex();
    for (const auto& [from_id, to_id] : copied.value().already_present) target_ids[from_id.hex()] = to_id.hex();
    copy_status["blobsSent"] = copied.value().blobs_sent;
    copy_status["bytesSent"] = copied.value().bytes_sent;
    copy_status["blobsVerified"] = copied.value().blobs_verified;
    log_.info("copied " + std::to_string(ids.size()) + " volume snapshots: " + std::to_string(copied.value().blobs_sent) +
              " chunks sent (" + std::to_string(copied.value().bytes_sent) + " bytes), " +
              std::to_string(copied.value().blobs_skipped) + " already there, " +
              std::to_string(copied.value().blobs_verified) + " read back from the target");
  }
  auto next_id = ids.begin();
  for (auto& record : records.value())
    if (!record.snapshot_id.empty()) record.snapshot_id = target_ids.at((next_id++)->hex());

  // The backup's objects: read and checked against the source's manifest,
  // sealed for the copy, read back.
  int64_t expires = now_unix() + std::chrono::duration_cast<std::chrono::seconds>(ttl.value()).count();
  backupstore::BackupManifest manifest;
  manifest.archive_format = target_.settings().archive_format;
  std::vector<BackupObject> written_objects;
  for (BackupObject object : kCopiedObjects) {
    std::string source_file = backupstore::layout::backup_object_file(source_name, object);
    if (!stored.value().manifest->objects.count(source_file)) continue;
    Bytes content;
    if (object == BackupObject::kVolumeInfo) {
      Json info = Json::array();
      for (const auto& record : records.value()) info.push_back(record.to_json());
      auto gz = archive::gzip_compress(as_bytes(info.dump()));
      if (!gz.ok()) return fail("compressing the volume list failed");
      content = std::move(gz).value();
    } else {
      auto reader = from.value()->open_backup_object(stored.value(), object);
      auto read = reader.ok() ? backupstore::read_remaining(*reader.value()) : Result<Bytes>(reader.error());
      if (!read.ok()) return fail("reading " + source_file + " of backup " + source_name + ": " + read.error().to_string());
      content = std::move(read).value();
    }
    if (object == BackupObject::kLog) {
      // The source's log, then this copy's.
      auto text = archive::gzip_decompress(content, kMaxLogBytes, source_file);
      if (!text.ok()) return fail("reading the log of backup " + source_name + ": " + text.error().to_string());
      log_.info("copied the backup's objects; writing its metadata");
      std::string joined(as_string(text.value()));
      joined += log_.text();
      auto gz = archive::gzip_compress(as_bytes(joined));
      if (!gz.ok()) return fail("compressing the log failed");
      content = std::move(gz).value();
    }
    auto digest = target_.put_backup_object(name, object, content, expires);
    if (!digest.ok()) return fail("storing " + source_file + " in " + target_location + ": " + digest.error().to_string());
    manifest.objects[backupstore::layout::backup_object_file(name, object)] = digest.value();
    written_objects.push_back(object);
  }
  backupstore::StoredBackup written{name, Json::object(), manifest, true};
  for (BackupObject object : written_objects) {
    auto reader = target_.open_backup_object(written, object);
    auto read = reader.ok() ? backupstore::read_remaining(*reader.value()) : Result<Bytes>(reader.error());
    if (!read.ok())
      return fail("reading back " + backupstore::layout::backup_object_file(name, object) + " from " + target_location +
                  ": " + read.error().to_string());
  }

  // The source's status, with this copy's times, expiration and provenance.
  Json source_status = stored.value().backup.value("status", Json::object());
  for (const char* field : {"phase", "progress", "hookStatus", "volumeBackups", "errors", "warnings", "archive"})
    if (source_status.contains(field)) status[field] = source_status[field];
  status["archive"]["encrypted"] = manifest.archive_format == backupstore::ArchiveFormat::kEncrypted;
  std::string contents_file = backupstore::layout::backup_object_file(name, BackupObject::kContents);
  if (manifest.objects.count(contents_file)) {
    status["archive"]["size"] = manifest.objects[contents_file].size;
    status["archive"]["sha256"] = manifest.objects[contents_file].sha256;
  }
  status["expiration"] = format_time_utc(expires);
  status["completionTimestamp"] = format_time_utc(now_unix());
  copy_status["sourceCompletionTimestamp"] = source_status.value("completionTimestamp", std::string());
  copy_status["verified"] = true;
  status["copy"] = copy_status;

  Json metadata = stored.value().backup;
  metadata["metadata"] = {{"name", name}, {"namespace", copy["metadata"].value("namespace", std::string())},
                          {"labels", copy["metadata"].value("labels", Json::object())}};
  metadata["spec"] = stored.value().backup.value("spec", Json::object());
  metadata["spec"]["storageLocation"] = target_location;
  metadata["spec"]["copyOf"] = source_name;
  if (ttl_text.empty()) metadata["spec"].erase("ttl");
  else metadata["spec"]["ttl"] = ttl_text;
  metadata["spec"].erase("copyTo");  // a copy is not copied again
  metadata["status"] = status;
  if (manifest.archive_format == backupstore::ArchiveFormat::kPlain) metadata["apiVersion"] = "velero.io/v1";
  Status put = target_.put_backup_metadata(name, metadata, manifest);
  if (!put.ok()) return fail("storing the copy's metadata in " + target_location + ": " + put.error().to_string());
  return status;
}

}  // namespace stowage::control
