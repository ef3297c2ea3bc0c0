#include "archive/archive_reader.h"

#include <algorithm>
#include <vector>

#include "archive/archive_writer.h"
#include "archive/libarchive.h"

namespace stowage::archive {

struct ArchiveReader::State {
  Source source;
  ByteView memory;  // open(ByteView): the whole archive
  bool from_memory = false;
  size_t memory_offset = 0;
  Bytes peeked;  // the first bytes, read to recognize gzip; handed out before the source's next ones
  size_t peeked_offset = 0;
  std::optional<GzipDecoder> gzip;  // set when the archive is gzip-compressed
  std::vector<uint8_t> buffer;      // what libarchive reads from
  Limits limits;
  struct archive* archive = nullptr;
  Status source_status;  // the first error the source returned
  Status failed;         // sticky
  bool done = false;
  size_t items = 0;
  uint64_t expanded = 0;
  std::string format_version;
  std::string last_entry;  // display form of the last entry header read, for errors between entries

  ~State() {
    if (archive) la().archive_read_free(archive);
  }
};

namespace {

constexpr size_t kSourceBufferBytes = 64 * 1024;
constexpr size_t kReadChunkBytes = 64 * 1024;
constexpr const char* kDamagedHint =
    "the backup tarball is damaged, truncated or not a backup tarball; take a new backup or restore from another";
constexpr const char* kLimitHint =
    "a backup tarball this large is not one stowage or Velero writes; if it is genuine, raise the reader's limit";

// The archive's bytes as stored: the peeked ones first, then the rest.
Result<size_t> read_stored(ArchiveReader::State& s, MutableByteView out) {
  if (s.peeked_offset < s.peeked.size()) {
    size_t n = std::min(out.size(), s.peeked.size() - s.peeked_offset);
    std::copy_n(s.peeked.begin() + long(s.peeked_offset), n, out.begin());
    s.peeked_offset += n;
    return n;
  }
  if (s.from_memory) {
    size_t n = std::min(out.size(), s.memory.size() - s.memory_offset);
    std::copy_n(s.memory.begin() + long(s.memory_offset), n, out.begin());
    s.memory_offset += n;
    return n;
  }
  Result<size_t> n = s.source(out);
  if (n.ok() && *n > out.size())
    return Error(ErrorCode::kInternal, "archive reader: the source reported more bytes than it was given");
  return n;
}

// libarchive's read callback: the tar stream (gzip already decoded) or, for
// zstd, the stored bytes that libarchive's zstd filter decodes.
la_ssize_t read_for_libarchive(struct archive*, void* client, const void** buffer) {
  auto* s = static_cast<ArchiveReader::State*>(client);
  if (!s->source_status.ok()) return -1;
  if (s->from_memory && !s->gzip) {  // hand the whole archive over at once, no copy
    *buffer = s->memory.data() + s->memory_offset;
    size_t n = s->memory.size() - s->memory_offset;
    s->memory_offset = s->memory.size();
    return la_ssize_t(n);
  }
  MutableByteView out(s->buffer.data(), s->buffer.size());
  Result<size_t> n = s->gzip ? s->gzip->read(out) : read_stored(*s, out);
  if (!n.ok()) {
    s->source_status = std::move(n).error();
    return -1;
  }
  *buffer = s->buffer.data();
  return la_ssize_t(*n);
}

const char* libarchive_message(struct archive* a) {
  const char* message = la().archive_error_string(a);
  return message ? message : "unknown libarchive error";
}

const char* entry_type_name(mode_t type) {
  switch (type) {
    case AE_IFLNK: return "a symbolic link";
    case AE_IFCHR: return "a character device";
    case AE_IFBLK: return "a block device";
    case AE_IFIFO: return "a FIFO";
    case AE_IFSOCK: return "a socket";
    default: return "not a regular file or directory";
  }
}

Error entry_error(ErrorCode code, const std::string& shown, const std::string& what, const char* hint = kDamagedHint) {
  return Error(code, "archive entry \"" + shown + "\": " + what, shown, hint);
}

// Thrown by the JSON parser callback to stop at once when nesting is too deep;
// caught in parse_item_json, never leaves this file.
struct JsonTooDeep {};

}  // namespace

Status check_format_version(std::string_view text) {
  std::string shown = display_path(text);
  int parts = 0;
  uint64_t major = 0;
  size_t i = 0;
  while (true) {
    size_t start = i;
    uint64_t value = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9' && i - start < 9) value = value * 10 + (text[i++] - '0');
    if (i == start) break;
    if (parts == 0) major = value;
    parts++;
    if (i < text.size() && text[i] == '.' && parts < 3) {
      i++;
      continue;
    }
    break;
  }
  if (parts != 3 || i != text.size())
    return Error(ErrorCode::kCorrupt,
                 "archive entry \"metadata/version\": \"" + shown + "\" is not a format version (MAJOR.MINOR.PATCH)",
                 "metadata/version", kDamagedHint);
  if (major > 1)
    return Error(ErrorCode::kUnsupported,
                 "archive format version " + shown + " is newer than this stowage reads (1.x)", "metadata/version",
                 "restore with a newer stowage (or the Velero release that wrote the backup)");
  if (major < 1)
    return Error(ErrorCode::kUnsupported,
                 "archive format version " + shown + " is older than any this stowage reads (1.x)", "metadata/version");
  return ok_status();
}

ArchiveReader::ArchiveReader(std::unique_ptr<State> state) : state_(std::move(state)) {}
ArchiveReader::ArchiveReader(ArchiveReader&&) noexcept = default;
ArchiveReader& ArchiveReader::operator=(ArchiveReader&&) noexcept = default;
ArchiveReader::~ArchiveReader() = default;

size_t ArchiveReader::items_read() const { return state_ ? state_->items : 0; }
uint64_t ArchiveReader::bytes_expanded() const { return state_ ? state_->expanded : 0; }
const std::string& ArchiveReader::format_version() const {
  static const std::string kNone;
  return state_ ? state_->format_version : kNone;
}

Result<ArchiveReader> ArchiveReader::open(Source source, Limits limits) {
  if (!source) return Error(ErrorCode::kInvalidArgument, "archive reader: no source given");
  auto state = std::make_unique<State>();
  state->source = std::move(source);
  state->limits = limits;
  // The first bytes tell gzip from the rest.
  state->peeked.resize(kSourceBufferBytes);
  size_t have = 0;
  while (have < 2) {
    Result<size_t> n = state->source(MutableByteView(state->peeked.data() + have, state->peeked.size() - have));
    if (!n.ok()) return std::move(n).error().with_context("reading archive");
    if (*n == 0) break;
    if (*n > state->peeked.size() - have)
      return Error(ErrorCode::kInternal, "archive reader: the source reported more bytes than it was given");
    have += *n;
  }
  state->peeked.resize(have);
  return open_state(std::move(state));
}

Result<ArchiveReader> ArchiveReader::open(ByteView data, Limits limits) {
  auto state = std::make_unique<State>();
  state->memory = data;
  state->from_memory = true;
  state->limits = limits;
  return open_state(std::move(state));
}

Result<ArchiveReader> ArchiveReader::open_state(std::unique_ptr<State> state) {
  TRY_STATUS(load_libarchive());
  state->buffer.resize(kSourceBufferBytes);
  if (starts_like_gzip(state->from_memory ? state->memory : ByteView(state->peeked))) {
    State* s = state.get();  // heap-allocated: stays put when the reader moves
    state->gzip = TRY(GzipDecoder::open([s](MutableByteView out) { return read_stored(*s, out); }));
  }
  state->archive = la().archive_read_new();
  if (!state->archive) return Error(ErrorCode::kInternal, "archive reader: libarchive could not allocate a reader");
  struct archive* a = state->archive;
  auto setup_error = [&](const std::string& what) {
    return Error(ErrorCode::kInternal, "archive reader: " + what + ": " + libarchive_message(a));
  };
  // gzip is decoded before libarchive sees it (GzipDecoder). ARCHIVE_WARN
  // would mean an external zstd program: refused, everything runs in-process.
  if (la().archive_read_support_filter_zstd(a) != ARCHIVE_OK) return setup_error("libarchive has no built-in zstd");
  if (la().archive_read_support_format_tar(a) != ARCHIVE_OK) return setup_error("tar format unavailable");
  if (la().archive_read_open(a, state.get(), nullptr, read_for_libarchive, nullptr) != ARCHIVE_OK) {
    if (!state->source_status.ok()) return std::move(state->source_status).error().with_context("reading archive");
    return Error(ErrorCode::kCorrupt, std::string("backup tarball cannot be read: ") + libarchive_message(a),
                 "archive", kDamagedHint);
  }
  // libarchive stacks filters as long as their headers match (zstd inside
  // zstd inside ...). A backup tarball is compressed once: refuse more, so
  // that every layer's decoder state does not multiply.
  int layers = (state->gzip ? 1 : 0) + la().archive_filter_count(a) - 1;  // libarchive counts the uncompressed input too
  if (layers > 1)
    return Error(ErrorCode::kCorrupt,
                 "backup tarball is compressed " + std::to_string(layers) + " times over; a backup tarball is "
                 "compressed once (gzip or zstd)",
                 "archive", kDamagedHint);
  return ArchiveReader(std::move(state));
}

Result<std::optional<ArchiveEntry>> ArchiveReader::next() {
  if (!state_) return Error(ErrorCode::kInternal, "archive reader: used after being moved from");
  if (!state_->failed.ok()) return state_->failed.error();
  if (state_->done) return std::optional<ArchiveEntry>();
  Result<std::optional<ArchiveEntry>> result = read_next();
  if (!result.ok()) {
    state_->failed = result.error();
  } else if (!result->has_value()) {
    state_->done = true;
  }
  return result;
}

namespace {

// An error of libarchive (or of the source underneath it) while reading.
Error stream_error(ArchiveReader::State& s, const std::string& where) {
  if (!s.source_status.ok()) {
    Error e = s.source_status.error();
    e.set_object(s.last_entry.empty() ? "archive" : s.last_entry);
    return std::move(e).with_context("reading archive " + where);
  }
  std::string object = s.last_entry.empty() ? "archive" : s.last_entry;
  return Error(ErrorCode::kCorrupt, "backup tarball is damaged " + where + ": " + libarchive_message(s.archive),
               object, kDamagedHint);
}

void update_expanded(ArchiveReader::State& s) {
  la_int64_t position = la().archive_filter_bytes(s.archive, 0);
  if (position > 0) s.expanded = std::max(s.expanded, uint64_t(position));
  if (s.gzip) s.expanded = std::max(s.expanded, s.gzip->decompressed_bytes());
}

// After the tar's end: reads the gzip stream to its end, so that the last
// member's CRC-32 and length are checked too.
Status drain_gzip(ArchiveReader::State& s) {
  while (true) {
    Result<size_t> n = s.gzip->read(MutableByteView(s.buffer.data(), s.buffer.size()));
    if (!n.ok()) {
      s.source_status = std::move(n).error();
      return stream_error(s, "after its end-of-archive marker");
    }
    if (*n == 0) return ok_status();
    update_expanded(s);
    if (s.expanded > s.limits.max_total_bytes)
      return Error(ErrorCode::kCorrupt,
                   "backup tarball expands to more than max_total_bytes (" +
                       std::to_string(s.limits.max_total_bytes) + " bytes) after its end-of-archive marker",
                   "archive", kLimitHint);
  }
}

// Reads the content of the current entry, at most limits.max_entry_bytes, and
// counts it into the expanded total as it arrives.
Result<std::string> read_content(ArchiveReader::State& s, const std::string& shown) {
  const Limits& limits = s.limits;
  uint64_t start = s.expanded;
  std::string content;
  while (true) {
    // One byte past the limit is enough to know the entry is over it.
    size_t room = limits.max_entry_bytes - content.size();
    size_t chunk = room >= kReadChunkBytes ? kReadChunkBytes : room + 1;
    size_t old_size = content.size();
    content.resize(old_size + chunk);
    la_ssize_t n = la().archive_read_data(s.archive, content.data() + old_size, chunk);
    if (n < 0) return stream_error(s, "in entry \"" + shown + "\"");
    content.resize(old_size + size_t(n));
    if (n == 0) break;
    s.expanded = std::max(s.expanded, start + content.size());
    if (s.expanded > limits.max_total_bytes)
      return entry_error(ErrorCode::kCorrupt, shown,
                         "the archive expands to more than max_total_bytes (" +
                             std::to_string(limits.max_total_bytes) + " bytes)",
                         kLimitHint);
    if (content.size() > limits.max_entry_bytes)
      return entry_error(ErrorCode::kCorrupt, shown,
                         "the content is larger than max_entry_bytes (" + std::to_string(limits.max_entry_bytes) +
                             " bytes)",
                         kLimitHint);
  }
  return content;
}

Result<nlohmann::json> parse_item_json(const std::string& content, const std::string& shown, int max_depth) {
  nlohmann::json::parser_callback_t refuse_deep = [max_depth](int depth, nlohmann::json::parse_event_t,
                                                              nlohmann::json&) {
    if (depth > max_depth) throw JsonTooDeep{};
    return true;
  };
  nlohmann::json object;
  try {
    object = nlohmann::json::parse(content, refuse_deep);
  } catch (const JsonTooDeep&) {
    return entry_error(ErrorCode::kCorrupt, shown,
                       "the JSON nests deeper than max_json_depth (" + std::to_string(max_depth) + ")");
  } catch (const nlohmann::json::exception& e) {
    return entry_error(ErrorCode::kCorrupt, shown, std::string("invalid JSON: ") + e.what());
  }
  if (!object.is_object())
    return entry_error(ErrorCode::kCorrupt, shown,
                       std::string("the content is a JSON ") + object.type_name() + ", not an object");
  return object;
}

}  // namespace

Result<std::optional<ArchiveEntry>> ArchiveReader::read_next() {
  State& s = *state_;
  struct archive* a = s.archive;
  const Limits& limits = s.limits;
  while (true) {
    struct archive_entry* header = nullptr;
    int rc = la().archive_read_next_header(a, &header);
    if (rc == ARCHIVE_EOF) {
      if (s.gzip) TRY_STATUS(drain_gzip(s));
      return std::optional<ArchiveEntry>();
    }
    if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN)
      return stream_error(s, s.last_entry.empty() ? std::string("at its first entry")
                                                  : "after entry \"" + s.last_entry + "\"");
    update_expanded(s);

    const char* raw_path = la().archive_entry_pathname_utf8(header);
    if (!raw_path) raw_path = la().archive_entry_pathname(header);
    if (!raw_path)
      return Error(ErrorCode::kCorrupt, "backup tarball has an entry without a path after \"" + s.last_entry + "\"",
                   "archive", kDamagedHint);
    std::string path(raw_path);
    std::string shown = display_path(path);
    s.last_entry = shown;

    if (const char* target = la().archive_entry_hardlink(header))
      return entry_error(ErrorCode::kCorrupt, shown,
                         "is a hard link (to \"" + display_path(target) +
                             "\"); a backup tarball holds only regular files and directories");
    mode_t type = la().archive_entry_filetype(header);
    if (type != AE_IFREG && type != AE_IFDIR) {
      std::string what = std::string("is ") + entry_type_name(type);
      if (type == AE_IFLNK && la().archive_entry_symlink(header))
        what += " (to \"" + display_path(la().archive_entry_symlink(header)) + "\")";
      return entry_error(ErrorCode::kCorrupt, shown, what + "; a backup tarball holds only regular files and directories");
    }

    std::string why;
    std::string_view checked = path;
    if (type == AE_IFDIR && checked.size() > 1 && checked.back() == '/') checked.remove_suffix(1);
    if (!is_safe_archive_path(checked, &why)) return entry_error(ErrorCode::kCorrupt, shown, "unsafe path: " + why);

    uint64_t declared = la().archive_entry_size_is_set(header) && la().archive_entry_size(header) > 0
                            ? uint64_t(la().archive_entry_size(header))
                            : 0;
    // The whole entry is decompressed whether read or skipped: count it first.
    if (declared > limits.max_total_bytes || s.expanded > limits.max_total_bytes - declared)
      return entry_error(ErrorCode::kCorrupt, shown,
                         "the archive expands to more than max_total_bytes (" +
                             std::to_string(limits.max_total_bytes) + " bytes) with this entry of " +
                             std::to_string(declared) + " bytes",
                         kLimitHint);

    ArchiveEntry entry;
    entry.path = path;
    bool is_item = path.rfind("resources/", 0) == 0;
    bool is_version = path == kFormatVersionPath;
    if (type == AE_IFDIR || (!is_item && !is_version)) {
      if (la().archive_read_data_skip(a) != ARCHIVE_OK) return stream_error(s, "in entry \"" + shown + "\"");
      update_expanded(s);
      if (type == AE_IFDIR) continue;
      entry.kind = ArchiveEntry::kOther;
      return std::optional<ArchiveEntry>(std::move(entry));
    }

    if (declared > limits.max_entry_bytes)
      return entry_error(ErrorCode::kCorrupt, shown,
                         "its size, " + std::to_string(declared) + " bytes, is over max_entry_bytes (" +
                             std::to_string(limits.max_entry_bytes) + " bytes)",
                         kLimitHint);

    if (is_version) {
      if (!s.format_version.empty())
        return entry_error(ErrorCode::kCorrupt, shown, "the archive holds metadata/version twice");
      std::string text = TRY(read_content(s, shown));
      while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' '))
        text.pop_back();
      TRY_STATUS(check_format_version(text));
      s.format_version = text;
      entry.kind = ArchiveEntry::kFormatVersion;
      entry.text = std::move(text);
      return std::optional<ArchiveEntry>(std::move(entry));
    }

    ItemPath item = TRY(parse_item_path(path));
    if (s.items >= limits.max_items)
      return entry_error(ErrorCode::kCorrupt, shown,
                         "the archive holds more than max_items (" + std::to_string(limits.max_items) + ") items",
                         kLimitHint);
    s.items++;
    std::string content = TRY(read_content(s, shown));
    nlohmann::json object = TRY(parse_item_json(content, shown, limits.max_json_depth));
    content = std::string();
    TRY_STATUS(check_item_matches_path(item, object));
    entry.kind = ArchiveEntry::kItem;
    entry.item = std::move(item);
    entry.object = std::move(object);
    return std::optional<ArchiveEntry>(std::move(entry));
  }
}

}  // namespace stowage::archive
