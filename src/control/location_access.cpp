#include "control/location_access.h"

#include "control/resources.h"
#include "kube/dynamic_client.h"
#include "kube/query.h"
#include "store/location.h"

namespace stowage::control {

using Json = nlohmann::json;

Result<std::string> location_url(const Json& spec, const std::string& name) {
  if (spec.contains("url") && spec["url"].is_string() && !spec["url"].get<std::string>().empty())
    return spec["url"].get<std::string>();
  if (!spec.contains("objectStorage") || !spec["objectStorage"].is_object() ||
      spec["objectStorage"].value("bucket", std::string()).empty())
    return Error(ErrorCode::kInvalidArgument, "BackupStorageLocation " + name + " has neither spec.url nor spec.objectStorage.bucket",
                 name, "set spec.url (s3://bucket/prefix?endpoint=...) or spec.objectStorage.bucket");
  const Json& storage = spec["objectStorage"];
  std::string url = "s3://" + storage["bucket"].get<std::string>();
  std::string prefix = storage.value("prefix", std::string());
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  if (!prefix.empty()) url += "/" + prefix;
  Json config = spec.value("config", Json::object());
  kube::Query query;
  std::string endpoint = config.value("s3Url", config.value("endpoint", std::string()));
  query.add("endpoint", endpoint);
  query.add("region", config.value("region", std::string()));
  std::string path_style = config.value("s3ForcePathStyle", std::string());
  if (!path_style.empty()) query.add("path-style", path_style);
  std::string insecure = config.value("insecureSkipTLSVerify", std::string());
  if (!insecure.empty()) query.add("insecure", insecure);
  if (!query.empty()) url += "?" + query.str();
  return url;
}

LocationAccess::LocationAccess(kube::ApiClient& client, std::string namespace_name, crypto::KdfParams kdf)
    : client_(client), namespace_(std::move(namespace_name)), kdf_(kdf) {}

Result<Json> LocationAccess::get_location(const std::string& name) {
  kube::DynamicClient dynamic(client_);
  if (!name.empty()) {
    auto location = dynamic.get(resources::backup_storage_location(), namespace_, name);
    if (!location.ok() && location.error().code() == ErrorCode::kNotFound)
      return Error(ErrorCode::kNotFound, "BackupStorageLocation " + namespace_ + "/" + name + " does not exist", name,
                   "create it with `stowage backup-location create` or name an existing one");
    return location;
  }
  auto all = TRY(dynamic.list(resources::backup_storage_location(), namespace_));
  for (const auto& location : all.items)
    if (location.value("spec", Json::object()).value("default", false)) return location;
  for (const auto& location : all.items)
    if (location["metadata"].value("name", std::string()) == "default") return location;
  if (all.items.size() == 1) return all.items[0];
  return Error(ErrorCode::kNotFound, "no default BackupStorageLocation in namespace " + namespace_, namespace_,
               "mark one with spec.default: true or name one in spec.storageLocation");
}

Result<std::string> LocationAccess::secret_value(const Json& reference, const std::string& field,
                                                 const std::string& location_name) {
  std::string secret = reference.value("name", std::string());
  std::string key = reference.value("key", std::string());
  if (secret.empty() || key.empty())
    return Error(ErrorCode::kInvalidArgument, "BackupStorageLocation " + location_name + ": spec." + field +
                                                  " needs both name and key",
                 location_name, "");
  kube::DynamicClient dynamic(client_);
  auto object = dynamic.get(resources::secret(), namespace_, secret);
  if (!object.ok())
    return Error(object.error().code(), "BackupStorageLocation " + location_name + ": cannot read Secret " + namespace_ +
                                            "/" + secret + " (spec." + field + "): " + object.error().message(),
                 secret, "create the Secret in namespace " + namespace_);
  Json data = object.value().value("data", Json::object());
  if (!data.contains(key) || !data[key].is_string())
    return Error(ErrorCode::kNotFound, "Secret " + namespace_ + "/" + secret + " has no key \"" + key + "\" (spec." +
                                           field + " of BackupStorageLocation " + location_name + ")",
                 secret, "add the key to the Secret");
  Bytes decoded;
  if (!base64_decode(data[key].get<std::string>(), decoded))
    return Error(ErrorCode::kCorrupt, "Secret " + namespace_ + "/" + secret + " key \"" + key + "\" is not base64",
                 secret, "");
  return std::string(as_string(decoded));
}

Result<std::shared_ptr<backupstore::BackupLocation>> LocationAccess::open(const std::string& name) {
  return open(TRY(get_location(name)));
}

Result<std::shared_ptr<backupstore::BackupLocation>> LocationAccess::open(const Json& location) {
  return open(location, 0);
}

Result<std::shared_ptr<backupstore::BackupLocation>> LocationAccess::open(const Json& location, int depth) {
  std::string name = location["metadata"].value("name", std::string());
  Json spec = location.value("spec", Json::object());
  std::string url = TRY(location_url(spec, name));
  if (!spec.contains("repositoryPassword"))
    return Error(ErrorCode::kInvalidArgument, "BackupStorageLocation " + name + " has no spec.repositoryPassword",
                 name, "reference a Secret key holding the repository password");
  std::string password = TRY(secret_value(spec["repositoryPassword"], "repositoryPassword", name));
  std::string credentials;
  if (spec.contains("credential") && spec["credential"].is_object())
    credentials = TRY(secret_value(spec["credential"], "credential", name));
  std::string fingerprint = spec.dump() + "\n" + std::to_string(std::hash<std::string>{}(password + "\n" + credentials));
  {
    std::lock_guard lock(mutex_);
    auto it = cache_.find(name);
    if (it != cache_.end() && it->second.fingerprint == fingerprint) return it->second.location;
  }
  StoreOptions options;
  if (!credentials.empty())
    options.s3_credentials = TRY(parse_s3_credentials(credentials, "default", "Secret of BackupStorageLocation " + name));
  auto store = open_store(url, options);
  if (!store.ok())
    return Error(store.error().code(), "BackupStorageLocation " + name + ": " + store.error().message(), name,
                 store.error().hint());
  backupstore::LocationSettings settings;
  settings.read_only = spec.value("accessMode", std::string("ReadWrite")) == "ReadOnly";
  settings.archive_format =
      spec.value("archiveFormat", std::string("Encrypted")) == "Plain" ? backupstore::ArchiveFormat::kPlain
                                                                       : backupstore::ArchiveFormat::kEncrypted;
  settings.kdf = kdf_;
  TRY_STATUS(backupstore::apply_object_lock_spec(spec, settings));
  // A copy target: its repository, when this creates it, shares the keys of
  // the named location's (docs/kubernetes.md, "Copies to a second location").
  std::shared_ptr<backupstore::BackupLocation> keys_source;
  std::string keys_from = spec.value("copyKeysFrom", std::string());
  if (!keys_from.empty()) {
    if (keys_from == name || depth >= 4)
      return Error(ErrorCode::kInvalidArgument, "BackupStorageLocation " + name + ": spec.copyKeysFrom " + keys_from +
                                                    " names itself or a chain of more than 4 locations",
                   name, "name the location whose backups are copied here");
    auto source = open(TRY(get_location(keys_from)), depth + 1);
    if (!source.ok())
      return Error(source.error().code(), "BackupStorageLocation " + name + ": opening spec.copyKeysFrom " + keys_from +
                                              ": " + source.error().message(), name, source.error().hint());
    keys_source = std::move(source).value();
    settings.share_keys_with = &keys_source->repository();
  }
  auto opened = backupstore::BackupLocation::open(std::shared_ptr<ObjectStore>(std::move(store).value()), password, settings);
  if (!opened.ok())
    return Error(opened.error().code(), "BackupStorageLocation " + name + ": " + opened.error().message(), name,
                 opened.error().hint());
  std::shared_ptr<backupstore::BackupLocation> shared = std::move(opened).value();
  std::lock_guard lock(mutex_);
  cache_[name] = {fingerprint, shared};
  return shared;
}

}  // namespace stowage::control
