// Finding S3 credentials: environment first, then the shared credentials file.
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "store/s3_store.h"

namespace stowage {

namespace {

std::string env_or_empty(const char* name) {
  const char* value = std::getenv(name);
  return value ? value : "";
}

std::string trim(const std::string& text) {
  size_t begin = text.find_first_not_of(" \t\r\n");
  if (begin == std::string::npos) return "";
  size_t end = text.find_last_not_of(" \t\r\n");
  return text.substr(begin, end - begin + 1);
}

const char* kCredentialsHint =
    "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or add the profile to the shared credentials file "
    "(AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials; the profile is AWS_PROFILE or \"default\")";

}  // namespace

Result<S3Credentials> parse_s3_credentials(const std::string& text, const std::string& profile,
                                           const std::string& source) {
  std::istringstream file(text);
  S3Credentials credentials;
  bool in_profile = false, found_profile = false;
  std::string line;
  while (std::getline(file, line)) {
    line = trim(line);
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line.front() == '[' && line.back() == ']') {
      std::string section = trim(line.substr(1, line.size() - 2));
      // ~/.aws/config style "[profile name]" is accepted too.
      if (section.rfind("profile ", 0) == 0) section = trim(section.substr(8));
      in_profile = section == profile;
      found_profile = found_profile || in_profile;
      continue;
    }
    if (!in_profile) continue;
    size_t equals = line.find('=');
    if (equals == std::string::npos) continue;
    std::string name = trim(line.substr(0, equals));
    std::string value = trim(line.substr(equals + 1));
    if (name == "aws_access_key_id") credentials.access_key_id = value;
    else if (name == "aws_secret_access_key") credentials.secret_access_key = value;
    else if (name == "aws_session_token") credentials.session_token = value;
  }
  if (!found_profile) {
    return Error(ErrorCode::kNotFound, "profile \"" + profile + "\" not found in the S3 credentials " + source,
                 source, kCredentialsHint);
  }
  if (credentials.access_key_id.empty() || credentials.secret_access_key.empty()) {
    return Error(ErrorCode::kInvalidArgument,
                 "profile \"" + profile + "\" in " + source + " lacks aws_access_key_id or aws_secret_access_key",
                 source, kCredentialsHint);
  }
  return credentials;
}

Result<S3Credentials> load_s3_credentials_file(const std::string& path, const std::string& profile) {
  std::ifstream file(path);
  if (!file) {
    return Error(ErrorCode::kNotFound, "cannot read the S3 credentials file " + path, path, kCredentialsHint);
  }
  std::stringstream text;
  text << file.rdbuf();
  return parse_s3_credentials(text.str(), profile, "file " + path);
}

Result<S3Credentials> load_s3_credentials(const std::string& profile_override) {
  S3Credentials from_env{env_or_empty("AWS_ACCESS_KEY_ID"), env_or_empty("AWS_SECRET_ACCESS_KEY"),
                         env_or_empty("AWS_SESSION_TOKEN")};
  if (!profile_override.empty()) from_env = {};  // a location that names a profile uses only it
  if (!from_env.access_key_id.empty() && !from_env.secret_access_key.empty()) return from_env;
  if (!from_env.access_key_id.empty() || !from_env.secret_access_key.empty()) {
    return Error(ErrorCode::kInvalidArgument,
                 "only one of AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY is set", "environment",
                 "set both, or neither to use the shared credentials file");
  }
  std::string path = env_or_empty("AWS_SHARED_CREDENTIALS_FILE");
  if (path.empty()) {
    std::string home = env_or_empty("HOME");
    if (home.empty()) {
      return Error(ErrorCode::kInvalidArgument, "no S3 credentials: AWS_ACCESS_KEY_ID is unset and HOME is unknown",
                   "environment", kCredentialsHint);
    }
    path = home + "/.aws/credentials";
  }
  std::string profile = profile_override.empty() ? env_or_empty("AWS_PROFILE") : profile_override;
  if (profile.empty()) profile = "default";
  Result<S3Credentials> from_file = load_s3_credentials_file(path, profile);
  if (!from_file.ok() && from_file.error().code() == ErrorCode::kNotFound) {
    return Error(ErrorCode::kInvalidArgument,
                 "no S3 credentials: AWS_ACCESS_KEY_ID is unset and " + from_file.error().message(), path,
                 kCredentialsHint);
  }
  return from_file;
}

}  // namespace stowage
