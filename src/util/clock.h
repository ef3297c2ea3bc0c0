// Wall-clock time, host and user names: the few facts about the machine that
// snapshot manifests, key slots and locks record.
#pragma once

#include <cstdint>
#include <string>

namespace stowage {

int64_t now_unix();
int64_t now_unix_nanos();
// RFC 3339 UTC, e.g. "2026-11-25T18:32:00Z".
std::string format_time_utc(int64_t unix_seconds);
// Parses RFC 3339 UTC ("…Z"); returns false when malformed.
bool parse_time_utc(const std::string& text, int64_t& unix_seconds);
std::string host_name();
std::string user_name();

}  // namespace stowage
