// ArchiveWriter: writes a backup tarball in Velero's format 1.1.0 — a
// gzip-compressed POSIX tar (ustar headers, pax extensions only where ustar
// cannot hold a path) — streaming into a sink as it goes, so memory does not
// grow with the archive. Holds regular files only (mode 0644, owner 0:0).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>

#include <nlohmann/json.hpp>

#include "archive/item_path.h"
#include "util/bytes.h"
#include "util/result.h"

namespace stowage::archive {

// The format version written to metadata/version.
inline constexpr std::string_view kFormatVersion = "1.1.0";
inline constexpr std::string_view kFormatVersionPath = "metadata/version";

struct WriterOptions {
  int64_t mtime = 0;           // modification time of every entry, seconds since the epoch
  int compression_level = 6;   // gzip level, 1 (fastest) to 9
  int json_indent = 2;         // indent of items' JSON; -1: compact (Velero's own writer is compact)
};

class ArchiveWriter {
 public:
  // Receives the compressed archive in pieces, in order. An error it returns
  // ends the archive: the call that caused the write returns that error.
  using Sink = std::function<Status(ByteView)>;

  static Result<ArchiveWriter> open(Sink sink, WriterOptions options = {});

  ArchiveWriter(ArchiveWriter&&) noexcept;
  ArchiveWriter& operator=(ArchiveWriter&&) noexcept;
  ~ArchiveWriter();  // without finish(): the partial archive is abandoned, the sink not called again

  // A regular file at `path` (a relative path of safe components).
  Status add_file(std::string_view path, ByteView content);
  // The object at item_path(item); the path must be valid and agree with the
  // object (check_item_matches_path), else kInvalidArgument.
  Status add_item(const ItemPath& item, const nlohmann::json& object);
  // metadata/version holding "1.1.0". Velero writes it first.
  Status add_format_version();
  // Ends the tar and the gzip stream and hands the rest to the sink. No call
  // is allowed after it.
  Status finish();

  uint64_t entries_written() const;

  struct State;  // implementation detail, public so that libarchive's callbacks reach it

 private:
  explicit ArchiveWriter(std::unique_ptr<State> state);
  Status fail_from_libarchive(const std::string& what, const std::string& object);
  std::unique_ptr<State> state_;
};

}  // namespace stowage::archive
