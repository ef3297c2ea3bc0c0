#include "repo/config.h"

#include <nlohmann/json.hpp>

#include "crypto/hash.h"

namespace stowage {

using nlohmann::json;

static json body_of(const RepoConfig& c) {
  json body{{"format", "stowage-repository"},
              {"version", c.version},
              {"id", c.id},
              {"created", c.created},
              {"chunker", {{"min", c.chunker.min_size}, {"avg", c.chunker.avg_size}, {"max", c.chunker.max_size}}},
              {"block_size", c.block_size},
              {"pack_size", c.pack_size},
              {"compression", {{"method", "zstd"}, {"level", c.compression_level}}}};
  // Only when set, so that a version 1 config's MAC stays what it was.
  if (c.lock.enabled())
    body["object_lock"] = {{"mode", retention_mode_name(c.lock.mode)},
                           {"period_seconds", c.lock.period_seconds},
                           {"margin_seconds", c.lock.margin_seconds}};
  return body;
}

static std::string mac_of(const json& body, const MasterKey& key) {
  auto mac = crypto::hmac_sha256(key.id_key, as_bytes(body.dump()));
  return hex_encode(mac);
}

Bytes encode_config(const RepoConfig& config, const MasterKey& key) {
  json body = body_of(config);
  json out = body;
  out["mac"] = mac_of(body, key);
  return to_bytes(out.dump(2));
}

Result<RepoConfig> decode_config(ByteView data) {
  json j = json::parse(as_string(data), nullptr, false);
  auto format = j.is_object() ? j.find("format") : j.end();
  if (j.is_discarded() || !j.is_object() || format == j.end() || *format != "stowage-repository")
    return Error(ErrorCode::kCorrupt, "the repository config is not a stowage repository config", "config",
                 "check the repository URL");
  try {
    RepoConfig c;
    c.version = j.at("version").get<int>();
    if (c.version > kRepositoryFormatVersion)
      return Error(ErrorCode::kUnsupported,
                   "repository format version " + std::to_string(c.version) + " is newer than this stowage reads (" +
                       std::to_string(kRepositoryFormatVersion) + ")",
                   "config", "upgrade stowage to a release that reads this format");
    c.id = j.at("id").get<std::string>();
    c.created = j.value("created", "");
    const json& ch = j.at("chunker");
    c.chunker = {ch.at("min").get<uint32_t>(), ch.at("avg").get<uint32_t>(), ch.at("max").get<uint32_t>()};
    c.block_size = j.at("block_size").get<uint32_t>();
    c.pack_size = j.at("pack_size").get<uint32_t>();
    c.compression_level = j.at("compression").at("level").get<int>();
    if (auto lock = j.find("object_lock"); lock != j.end()) {
      if (c.version < 2)
        return Error(ErrorCode::kCorrupt, "a version 1 repository config cannot have an Object Lock policy", "config");
      auto mode = parse_retention_mode(lock->at("mode").get<std::string>());
      if (!mode.ok() || *mode == RetentionMode::kNone)
        return Error(ErrorCode::kCorrupt, "the repository config has an unknown Object Lock mode", "config");
      c.lock.mode = *mode;
      c.lock.period_seconds = lock->at("period_seconds").get<int64_t>();
      c.lock.margin_seconds = lock->at("margin_seconds").get<int64_t>();
      if (c.lock.period_seconds <= 0 || c.lock.margin_seconds <= 0)
        return Error(ErrorCode::kCorrupt, "the repository config's Object Lock period and margin must be positive",
                     "config");
    }
    auto pow2 = [](uint32_t v) { return v && !(v & (v - 1)); };
    if (!pow2(c.chunker.avg_size) || c.chunker.min_size >= c.chunker.avg_size ||
        c.chunker.avg_size >= c.chunker.max_size || c.chunker.max_size > (64u << 20) || c.block_size < 4096 ||
        c.block_size > (64u << 20) || !pow2(c.block_size) || c.pack_size < (1u << 20) || c.pack_size > (1u << 30))
      return Error(ErrorCode::kCorrupt, "the repository config has out-of-range chunker, block or pack sizes",
                   "config");
    return c;
  } catch (const json::exception& e) {
    return Error(ErrorCode::kCorrupt, std::string("the repository config has missing or mistyped fields: ") + e.what(),
                 "config");
  }
}

Status verify_config(ByteView data, const MasterKey& key) {
  RepoConfig c = TRY(decode_config(data));
  json j = json::parse(as_string(data), nullptr, false);
  auto mac = j.find("mac");
  std::string stored = mac != j.end() && mac->is_string() ? mac->get<std::string>() : "";
  if (!crypto::equal_constant_time(as_bytes(stored), as_bytes(mac_of(body_of(c), key))))
    return Error(ErrorCode::kCorrupt, "the repository config does not match its MAC: it was modified", "config",
                 "restore the original config object from a copy of the repository");
  return ok_status();
}

}  // namespace stowage
