// Wall-clock time, host and user names: the few facts about the machine that
// snapshot manifests, key slots and locks record.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "util/result.h"

namespace stowage {

int64_t now_unix();
int64_t now_unix_nanos();
// RFC 3339 UTC, e.g. "2026-11-25T18:32:00Z".
std::string format_time_utc(int64_t unix_seconds);
// Parses RFC 3339 (see parse_rfc3339), dropping any fraction of a second;
// returns false when malformed.
bool parse_time_utc(const std::string& text, int64_t& unix_seconds);

// RFC 3339 in UTC as Kubernetes writes it: "2026-11-25T21:35:05Z", or with
// `fraction_digits` (0-9, truncated) digits of the second:
// "2026-11-25T21:35:05.123Z" for 3.
std::string format_rfc3339(std::chrono::system_clock::time_point time, int fraction_digits = 0);
// Parses RFC 3339: "2026-11-25T21:35:05Z", "2026-11-25T22:35:05.5+01:00",
// "…-05:00"; 't' and 'z' may be lower case; fractions beyond nanoseconds are
// truncated. kInvalidArgument names the text when it is not such a time.
Result<std::chrono::system_clock::time_point> parse_rfc3339(std::string_view text);
std::string host_name();
std::string user_name();

}  // namespace stowage
