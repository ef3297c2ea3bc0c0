// gzip of single objects (a backup's log, item list and results are .gz
// files, as Velero writes them): written through libarchive's raw format,
// read through GzipDecoder (which checks every member's CRC and length).
#pragma once

#include <cstdint>
#include <string>

#include "util/bytes.h"
#include "util/result.h"

namespace stowage::archive {

Result<Bytes> gzip_compress(ByteView data);
// Fails with kCorrupt naming `object` when the data is not gzip, is damaged,
// or expands past max_bytes (a decompression bomb).
Result<Bytes> gzip_decompress(ByteView data, uint64_t max_bytes, const std::string& object);

}  // namespace stowage::archive
