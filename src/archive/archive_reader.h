// ArchiveReader: reads a backup tarball in Velero's format 1.x (tar, gzip- or
// zstd-compressed or not) entry by entry from a stream, trusting nothing in
// it: every path is checked, only regular files and directories are allowed,
// and every size is bounded (Limits) while the data is read, so a hostile or
// damaged archive costs bounded memory and ends in a kCorrupt error that names
// the entry. gzip is decoded by GzipDecoder (CRC-32 and length verified, to
// the end of the stream); zstd by libarchive's filter; tar is parsed by
// libarchive. Nothing is ever written to the filesystem.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include <nlohmann/json.hpp>

#include "archive/gzip_decoder.h"
#include "archive/item_path.h"
#include "util/bytes.h"
#include "util/result.h"

namespace stowage::archive {

struct Limits {
  size_t max_entry_bytes = size_t(16) << 20;     // one item or metadata file; larger is refused unread
  uint64_t max_total_bytes = uint64_t(8) << 30;  // the whole tar stream after decompression
  size_t max_items = 1'000'000;                  // item entries (every copy counts)
  int max_json_depth = 64;                       // nesting of an item's JSON
};

struct ArchiveEntry {
  enum Kind {
    kFormatVersion,  // metadata/version: `text` holds the version ("1.1.0")
    kItem,           // resources/...: `item` and `object` set (object agrees with its path)
    kOther,          // any other (safe) path: content not read; the caller may warn
  };
  std::string path;
  Kind kind = kOther;
  std::optional<ItemPath> item;
  nlohmann::json object;
  std::string text;
};

class ArchiveReader {
 public:
  // Fills the view with the next bytes of the archive and returns how many it
  // wrote; 0 means the end. An error it returns ends reading with that error.
  using Source = ByteSource;

  static Result<ArchiveReader> open(Source source, Limits limits = {});
  // Reads from memory; `data` must outlive the reader.
  static Result<ArchiveReader> open(ByteView data, Limits limits = {});

  ArchiveReader(ArchiveReader&&) noexcept;
  ArchiveReader& operator=(ArchiveReader&&) noexcept;
  ~ArchiveReader();

  // The next file entry (directories are skipped), or nullopt at the end of
  // the archive. Errors: kCorrupt for anything damaged, unsafe or over a
  // limit; kUnsupported for a format version other than 1.x; the source's
  // own error. After an error every call returns the same error.
  Result<std::optional<ArchiveEntry>> next();

  size_t items_read() const;
  // Bytes of the tar stream decompressed so far (what max_total_bytes bounds).
  uint64_t bytes_expanded() const;
  // The format version read from metadata/version; "" until it was seen.
  const std::string& format_version() const;

  struct State;  // implementation detail, public so that libarchive's callbacks reach it

 private:
  explicit ArchiveReader(std::unique_ptr<State> state);
  static Result<ArchiveReader> open_state(std::unique_ptr<State> state);
  Result<std::optional<ArchiveEntry>> read_next();
  std::unique_ptr<State> state_;
};

// Parses the text of metadata/version: "1.1.0" and any other 1.x.y is
// accepted; another major version is kUnsupported, anything that is not
// MAJOR.MINOR.PATCH is kCorrupt.
Status check_format_version(std::string_view text);

}  // namespace stowage::archive
