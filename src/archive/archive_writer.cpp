#include "archive/archive_writer.h"

#include <string>

#include "archive/libarchive.h"

namespace stowage::archive {

struct ArchiveWriter::State {
  Sink sink;
  WriterOptions options;
  struct archive* archive = nullptr;
  Status sink_status;      // the first error the sink returned
  Status failed;           // sticky: once an add fails, every later call returns this
  bool finished = false;
  bool abandoned = false;  // destroyed without finish(): libarchive's last flush goes nowhere
  uint64_t entries = 0;

  ~State() {
    if (archive) {
      abandoned = true;
      la().archive_write_free(archive);
    }
  }
};

namespace {

la_ssize_t write_to_sink(struct archive*, void* client, const void* buffer, size_t length) {
  auto* state = static_cast<ArchiveWriter::State*>(client);
  if (state->abandoned) return la_ssize_t(length);
  if (!state->sink_status.ok()) return -1;
  Status s = state->sink(ByteView(static_cast<const uint8_t*>(buffer), length));
  if (!s.ok()) {
    state->sink_status = std::move(s);
    return -1;
  }
  return la_ssize_t(length);
}

const char* libarchive_message(struct archive* a) {
  const char* message = la().archive_error_string(a);
  return message ? message : "unknown libarchive error";
}

}  // namespace

ArchiveWriter::ArchiveWriter(std::unique_ptr<State> state) : state_(std::move(state)) {}
ArchiveWriter::ArchiveWriter(ArchiveWriter&&) noexcept = default;
ArchiveWriter& ArchiveWriter::operator=(ArchiveWriter&&) noexcept = default;
ArchiveWriter::~ArchiveWriter() = default;

uint64_t ArchiveWriter::entries_written() const { return state_ ? state_->entries : 0; }

Result<ArchiveWriter> ArchiveWriter::open(Sink sink, WriterOptions options) {
  TRY_STATUS(load_libarchive());
  if (!sink) return Error(ErrorCode::kInvalidArgument, "archive writer: no sink given");
  if (options.compression_level < 1 || options.compression_level > 9)
    return Error(ErrorCode::kInvalidArgument,
                 "archive writer: gzip compression level " + std::to_string(options.compression_level) +
                     " is not between 1 and 9");
  auto state = std::make_unique<State>();
  state->sink = std::move(sink);
  state->options = options;
  state->archive = la().archive_write_new();
  if (!state->archive) return Error(ErrorCode::kInternal, "archive writer: libarchive could not allocate a writer");
  struct archive* a = state->archive;
  auto setup_error = [&](const std::string& what) {
    return Error(ErrorCode::kInternal, "archive writer: " + what + ": " + libarchive_message(a));
  };
  // ARCHIVE_WARN here means libarchive would run an external gzip program:
  // refused, the archive must be written in-process.
  if (la().archive_write_add_filter_gzip(a) != ARCHIVE_OK) return setup_error("libarchive has no built-in gzip");
  if (la().archive_write_set_format_pax_restricted(a) != ARCHIVE_OK) return setup_error("pax format unavailable");
  std::string level = std::to_string(options.compression_level);
  if (la().archive_write_set_filter_option(a, "gzip", "compression-level", level.c_str()) != ARCHIVE_OK)
    return setup_error("setting the gzip level");
  // No time stamp in the gzip header: the same items give the same bytes.
  if (la().archive_write_set_filter_option(a, "gzip", "timestamp", nullptr) != ARCHIVE_OK)
    return setup_error("dropping the gzip time stamp");
  // No padding of the last 10 KiB tar record: the stream ends after the
  // end-of-archive blocks.
  if (la().archive_write_set_bytes_in_last_block(a, 1) != ARCHIVE_OK) return setup_error("setting the last block size");
  if (la().archive_write_open(a, state.get(), nullptr, write_to_sink, nullptr) != ARCHIVE_OK) {
    if (!state->sink_status.ok()) return std::move(state->sink_status).error();
    return setup_error("opening the archive");
  }
  return ArchiveWriter(std::move(state));
}

Status ArchiveWriter::fail_from_libarchive(const std::string& what, const std::string& object) {
  State& s = *state_;
  if (!s.sink_status.ok()) {
    Error e = s.sink_status.error();
    s.failed = Status(std::move(e).with_context("writing archive " + what));
  } else {
    s.failed = Error(ErrorCode::kIo, "writing archive " + what + ": " + libarchive_message(s.archive), object);
  }
  return s.failed;
}

Status ArchiveWriter::add_file(std::string_view path, ByteView content) {
  if (!state_) return Error(ErrorCode::kInternal, "archive writer: used after being moved from");
  State& s = *state_;
  if (!s.failed.ok()) return s.failed;
  if (s.finished) return Error(ErrorCode::kInternal, "archive writer: add_file after finish");
  std::string why;
  if (!is_safe_archive_path(path, &why))
    return Error(ErrorCode::kInvalidArgument,
                 "archive writer: \"" + display_path(path) + "\" is not a safe entry path: " + why,
                 display_path(path));
  std::string entry_path(path);
  std::string shown = display_path(path);

  struct archive_entry* entry = la().archive_entry_new();
  if (!entry) return Error(ErrorCode::kInternal, "archive writer: libarchive could not allocate an entry");
  la().archive_entry_copy_pathname(entry, entry_path.c_str());
  la().archive_entry_set_filetype(entry, AE_IFREG);
  la().archive_entry_set_perm(entry, 0644);
  la().archive_entry_set_uid(entry, 0);
  la().archive_entry_set_gid(entry, 0);
  la().archive_entry_set_mtime(entry, s.options.mtime, 0);
  la().archive_entry_set_size(entry, la_int64_t(content.size()));
  int rc = la().archive_write_header(s.archive, entry);
  la().archive_entry_free(entry);
  if (rc < ARCHIVE_WARN) return fail_from_libarchive("entry " + shown, shown);

  size_t written = 0;
  while (written < content.size()) {
    la_ssize_t n = la().archive_write_data(s.archive, content.data() + written, content.size() - written);
    if (n <= 0) return fail_from_libarchive("entry " + shown, shown);
    written += size_t(n);
  }
  if (la().archive_write_finish_entry(s.archive) < ARCHIVE_WARN) return fail_from_libarchive("entry " + shown, shown);
  s.entries++;
  return ok_status();
}

Status ArchiveWriter::add_item(const ItemPath& item, const nlohmann::json& object) {
  TRY_STATUS(validate_item_path(item));
  Status matches = check_item_matches_path(item, object);
  if (!matches.ok()) {
    const Error& e = matches.error();
    return Error(ErrorCode::kInvalidArgument, "archive writer: " + e.message(), e.object());
  }
  std::string text;
  try {
    text = object.dump(state_ ? state_->options.json_indent : 2, ' ', false, nlohmann::json::error_handler_t::strict);
  } catch (const nlohmann::json::exception& e) {
    return Error(ErrorCode::kInvalidArgument,
                 "archive writer: item " + item.describe() + " cannot be serialized: " + e.what(), item.describe());
  }
  return add_file(item_path(item), as_bytes(text));
}

Status ArchiveWriter::add_format_version() { return add_file(kFormatVersionPath, as_bytes(kFormatVersion)); }

Status ArchiveWriter::finish() {
  if (!state_) return Error(ErrorCode::kInternal, "archive writer: used after being moved from");
  State& s = *state_;
  if (!s.failed.ok()) return s.failed;
  if (s.finished) return Error(ErrorCode::kInternal, "archive writer: finish called twice");
  s.finished = true;
  if (la().archive_write_close(s.archive) != ARCHIVE_OK) return fail_from_libarchive("end", "");
  la().archive_write_free(s.archive);
  s.archive = nullptr;
  return ok_status();
}

}  // namespace stowage::archive
