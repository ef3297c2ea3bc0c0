// Work done on replicas directly, not through a target: reading a
// snapshot's whole content, and filling fenced replicas from one stream
// (what a restore does before it unfences the volume).
#pragma once

#include <cstdio>
#include <string>
#include <vector>

#include "blockvol/net.h"
#include "util/result.h"

namespace stowage::blockvol {

// Writes snapshot `name`'s content as read from `replica` (holes as zeros).
Status read_snapshot_to(const HostPort& replica, const std::string& name, FILE* out);

struct FillResult {
  uint64_t bytes_read = 0;     // the image's length
  uint64_t bytes_written = 0;  // the non-zero runs sent to each replica
};

// Reads `in` once and writes every run of non-zero 4 KiB blocks to every
// replica (sent to all before any reply is awaited); all must be fenced and
// of one size, at least as large as the image. Ends with a durable state.
Result<FillResult> fill_replicas(const std::vector<HostPort>& replicas, FILE* in);

}  // namespace stowage::blockvol
