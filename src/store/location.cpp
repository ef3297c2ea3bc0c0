#include "store/location.h"

#include <cstdlib>
#include <map>

#include "store/fs_store.h"

namespace stowage {

namespace {

const char* kExamples =
    "valid examples: file:///var/backups/stowage, s3://my-bucket/backups?region=eu-west-1, "
    "s3://stowage-test/repo?endpoint=http://127.0.0.1:9000&region=us-east-1";

Error bad_url(const std::string& url, const std::string& why) {
  return Error(ErrorCode::kInvalidArgument, "invalid store location \"" + url + "\": " + why, url, kExamples);
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes %XX escapes; false on a malformed escape.
bool percent_decode(const std::string& text, std::string& out) {
  out.clear();
  for (size_t i = 0; i < text.size(); i++) {
    if (text[i] == '\0') return false;
    if (text[i] != '%') {
      out.push_back(text[i]);
      continue;
    }
    if (i + 2 >= text.size()) return false;
    int high = hex_value(text[i + 1]), low = hex_value(text[i + 2]);
    if (high < 0 || low < 0) return false;
    if (high == 0 && low == 0) return false;  // %00 would cut a path short in system calls
    out.push_back(char(high * 16 + low));
    i += 2;
  }
  return true;
}

// AWS region names: lower-case letters, digits and dashes ("eu-west-1"). The
// region becomes part of the default endpoint's host name, so nothing else
// may pass.
bool valid_region(const std::string& region) {
  if (region.empty() || region.size() > 32) return false;
  for (char c : region)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  return region.front() != '-' && region.back() != '-';
}

// host[:port] of an endpoint: a DNS name, IPv4 or [IPv6] literal and a port,
// nothing else (no path, query, fragment or user), checked by character set.
bool endpoint_host_ok(const std::string& host) {
  if (host.empty()) return false;
  for (char c : host)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
          c == '_' || c == ':' || c == '[' || c == ']'))
      return false;
  return true;
}

bool parse_bool(const std::string& text, bool& value) {
  if (text == "true" || text == "1" || text == "yes") value = true;
  else if (text == "false" || text == "0" || text == "no") value = false;
  else return false;
  return true;
}

bool valid_bucket_name(const std::string& name) {
  if (name.size() < 3 || name.size() > 63) return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.')) return false;
  }
  return name.front() != '-' && name.front() != '.' && name.back() != '-' && name.back() != '.';
}

std::string env_or_empty(const char* name) {
  const char* value = std::getenv(name);
  return value ? value : "";
}

Result<StoreLocation> parse_file_url(const std::string& url) {
  std::string rest = url.substr(7);  // after "file://"
  if (rest.empty() || rest[0] != '/') {
    return bad_url(url, "a file location needs an absolute path after file:// (three slashes: file:///path)");
  }
  if (rest.find('?') != std::string::npos) return bad_url(url, "file:// locations take no ?parameters");
  StoreLocation location;
  location.kind = StoreLocation::Kind::kFile;
  if (!percent_decode(rest, location.file_root)) return bad_url(url, "malformed %-escape in the path");
  while (location.file_root.size() > 1 && location.file_root.back() == '/') location.file_root.pop_back();
  for (size_t start = 1; start < location.file_root.size();) {
    size_t slash = location.file_root.find('/', start);
    std::string component = location.file_root.substr(start, slash == std::string::npos ? slash : slash - start);
    if (component == "..") return bad_url(url, "the path may not contain '..'");
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return location;
}

Result<StoreLocation> parse_s3_url(const std::string& url) {
  std::string rest = url.substr(5);  // after "s3://"
  std::string query;
  if (size_t mark = rest.find('?'); mark != std::string::npos) {
    query = rest.substr(mark + 1);
    rest = rest.substr(0, mark);
  }
  size_t slash = rest.find('/');
  std::string bucket = rest.substr(0, slash);
  std::string prefix = slash == std::string::npos ? "" : rest.substr(slash + 1);
  if (bucket.empty()) return bad_url(url, "no bucket name after s3://");
  if (!valid_bucket_name(bucket)) {
    return bad_url(url, "\"" + bucket + "\" is not a valid bucket name (3-63 characters: a-z, 0-9, '.', '-')");
  }
  std::string decoded_prefix;
  if (!percent_decode(prefix, decoded_prefix)) return bad_url(url, "malformed %-escape in the prefix");
  while (!decoded_prefix.empty() && decoded_prefix.back() == '/') decoded_prefix.pop_back();
  if (decoded_prefix.find("//") != std::string::npos || (!decoded_prefix.empty() && decoded_prefix[0] == '/'))
    return bad_url(url, "the prefix has an empty path component");

  std::map<std::string, std::string> parameters;
  for (size_t start = 0; start < query.size();) {
    size_t end = query.find('&', start);
    if (end == std::string::npos) end = query.size();
    std::string pair = query.substr(start, end - start);
    start = end + 1;
    if (pair.empty()) continue;
    size_t equals = pair.find('=');
    if (equals == std::string::npos) return bad_url(url, "parameter \"" + pair + "\" has no =value");
    std::string name = pair.substr(0, equals), value;
    if (!percent_decode(pair.substr(equals + 1), value)) {
      return bad_url(url, "malformed %-escape in parameter " + name);
    }
    if (parameters.count(name)) return bad_url(url, "parameter " + name + " is given twice");
    parameters[name] = value;
  }

  StoreLocation location;
  location.kind = StoreLocation::Kind::kS3;
  S3Config& config = location.s3;
  config.bucket = bucket;
  config.prefix = decoded_prefix.empty() ? "" : decoded_prefix + "/";
  config.region = env_or_empty("AWS_REGION");
  if (config.region.empty()) config.region = env_or_empty("AWS_DEFAULT_REGION");
  if (config.region.empty()) config.region = "us-east-1";
  bool path_style_given = false;
  for (const auto& [name, value] : parameters) {
    if (name == "endpoint") {
      config.endpoint = value;
      while (!config.endpoint.empty() && config.endpoint.back() == '/') config.endpoint.pop_back();
      if (config.endpoint.rfind("http://", 0) != 0 && config.endpoint.rfind("https://", 0) != 0) {
        return bad_url(url, "endpoint \"" + value + "\" must start with http:// or https://");
      }
      if (!endpoint_host_ok(config.endpoint.substr(config.endpoint.find("://") + 3))) {
        return bad_url(url, "endpoint \"" + value + "\" must be scheme://host[:port] without a path, query or user");
      }
    } else if (name == "region") {
      if (!valid_region(value))
        return bad_url(url, "region \"" + value + "\" is not a region name (lower-case letters, digits, dashes)");
      config.region = value;
    } else if (name == "path-style") {
      if (!parse_bool(value, config.path_style)) return bad_url(url, "path-style must be true or false");
      path_style_given = true;
    } else if (name == "ca-bundle") {
      if (value.empty() || value[0] != '/') return bad_url(url, "ca-bundle must be an absolute path to a PEM file");
      config.ca_bundle = value;
    } else if (name == "insecure") {
      if (!parse_bool(value, config.insecure)) return bad_url(url, "insecure must be true or false");
    } else if (name == "profile") {
      if (value.empty()) return bad_url(url, "profile is empty");
      config.profile = value;
    } else if (name == "conditional-writes") {
      if (!parse_bool(value, config.conditional_writes)) return bad_url(url, "conditional-writes must be true or false");
    } else {
      return bad_url(url, "unknown parameter \"" + name +
                              "\" (known: endpoint, region, path-style, ca-bundle, insecure, conditional-writes, profile)");
    }
  }
  if (config.endpoint.empty()) {
    if (!valid_region(config.region))
      return bad_url(url, "region \"" + config.region + "\" (from AWS_REGION) is not a region name");
    config.endpoint = "https://s3." + config.region + ".amazonaws.com";
    if (!path_style_given) config.path_style = false;
  } else if (!path_style_given) {
    config.path_style = true;
  }
  return location;
}

}  // namespace

Result<StoreLocation> parse_store_url(const std::string& url) {
  if (url.rfind("file://", 0) == 0) return parse_file_url(url);
  if (url.rfind("s3://", 0) == 0) return parse_s3_url(url);
  if (!url.empty() && url[0] == '/') return bad_url(url, "a plain path is not a URL; write file://" + url);
  return bad_url(url, "unknown scheme (expected file:// or s3://)");
}

Result<std::unique_ptr<ObjectStore>> open_store(const std::string& url, const StoreOptions& options) {
  StoreLocation location = TRY(parse_store_url(url));
  std::unique_ptr<ObjectStore> store;
  if (location.kind == StoreLocation::Kind::kFile) {
    auto fs = std::make_unique<FsStore>(location.file_root);
    if (options.create_if_missing) TRY_STATUS(fs->ensure_root());
    store = std::move(fs);
  } else {
    S3Config config = std::move(location.s3);
    if (options.s3_credentials) {
      config.credentials = *options.s3_credentials;
    } else {
      Result<S3Credentials> credentials = load_s3_credentials(config.profile);
      if (!credentials.ok()) return std::move(credentials).error().with_context("opening " + url);
      config.credentials = std::move(credentials).value();
    }
    config.multipart_threshold = options.multipart_threshold;
    config.multipart_part_size = options.multipart_part_size;
    Result<std::unique_ptr<S3Store>> opened = S3Store::open(std::move(config));
    if (!opened.ok()) return std::move(opened).error().with_context("opening " + url);
    std::unique_ptr<S3Store> s3 = std::move(opened).value();
    S3Store* s3_view = s3.get();
    auto retrying = std::make_unique<RetryStore>(std::move(s3), options.retry);
    if (options.create_if_missing) {
      Status created = retrying->run_with_retries("creating bucket", s3_view->config().bucket,
                                                  [&] { return s3_view->ensure_bucket(); });
      if (!created.ok()) return std::move(created).error().with_context("opening " + url);
    }
    return std::unique_ptr<ObjectStore>(std::move(retrying));
  }
  return std::unique_ptr<ObjectStore>(std::make_unique<RetryStore>(std::move(store), options.retry));
}

}  // namespace stowage
