// Durations as Go and Kubernetes write them, the form Velero-style specs use
// for TTLs and timeouts: "720h0m0s", "30s", "1h30m", "500ms", "2h45m30.5s",
// "-1.5h", "0". parse_duration accepts exactly what Go's time.ParseDuration
// accepts; format_duration writes Go's canonical time.Duration.String().
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "util/result.h"

namespace stowage {

// A sequence of decimal numbers, each with an optional fraction and a unit
// (ns, us or µs, ms, s, m, h), with an optional leading sign; "0" alone is
// zero. Fractions are converted as Go converts them (to the same
// nanosecond; finer parts are truncated). kInvalidArgument
// names the text, says what is wrong (unknown unit, missing unit, overflow
// beyond about ±2562047h) and shows a valid example.
Result<std::chrono::nanoseconds> parse_duration(std::string_view text);

// Go's canonical form: "0s"; below one second in the largest fitting unit
// ("500ms", "1.5µs", "42ns"); otherwise hours, minutes and seconds with the
// leading zero units dropped ("720h0m0s", "1m30s", "2h45m30.5s"), "-" when
// negative. parse_duration(format_duration(d)) == d for every d.
std::string format_duration(std::chrono::nanoseconds duration);

}  // namespace stowage
