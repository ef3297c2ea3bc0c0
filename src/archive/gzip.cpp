#include "archive/gzip.h"

#include <archive.h>
#include <archive_entry.h>

#include <memory>

namespace stowage::archive {
namespace {

struct ArchiveCloser {
  void operator()(struct archive* a) const { archive_free(a); }
};
using ArchivePtr = std::unique_ptr<struct archive, ArchiveCloser>;

la_ssize_t append_to_bytes(struct archive*, void* client, const void* buffer, size_t length) {
  auto* out = static_cast<Bytes*>(client);
  const auto* p = static_cast<const uint8_t*>(buffer);
  out->insert(out->end(), p, p + length);
  return static_cast<la_ssize_t>(length);
}

}  // namespace

Result<Bytes> gzip_compress(ByteView data) {
  Bytes out;
  ArchivePtr a(archive_write_new());
  archive_write_set_format_raw(a.get());
  archive_write_add_filter_gzip(a.get());
  archive_write_set_bytes_in_last_block(a.get(), 1);
  if (archive_write_open2(a.get(), &out, nullptr, append_to_bytes, nullptr, nullptr) != ARCHIVE_OK)
    return Error(ErrorCode::kInternal, std::string("gzip: ") + archive_error_string(a.get()));
  std::unique_ptr<archive_entry, void (*)(archive_entry*)> entry(archive_entry_new(), archive_entry_free);
  archive_entry_set_filetype(entry.get(), AE_IFREG);
  archive_entry_set_pathname(entry.get(), "data");
  archive_entry_set_size(entry.get(), static_cast<la_int64_t>(data.size()));
  if (archive_write_header(a.get(), entry.get()) != ARCHIVE_OK ||
      (!data.empty() && archive_write_data(a.get(), data.data(), data.size()) < 0) ||
      archive_write_close(a.get()) != ARCHIVE_OK)
    return Error(ErrorCode::kInternal, std::string("gzip: ") + archive_error_string(a.get()));
  return out;
}

Result<Bytes> gzip_decompress(ByteView data, uint64_t max_bytes, const std::string& object) {
  auto corrupt = [&](const std::string& why) {
    return Error(ErrorCode::kCorrupt, object + " " + why, object, "the object is damaged or not one a backup tool wrote");
  };
  ArchivePtr a(archive_read_new());
  archive_read_support_filter_gzip(a.get());
  archive_read_support_format_raw(a.get());
  if (archive_read_open_memory(a.get(), data.data(), data.size()) != ARCHIVE_OK)
    return corrupt(std::string("is not gzip data: ") + archive_error_string(a.get()));
  if (archive_filter_code(a.get(), 0) != ARCHIVE_FILTER_GZIP) return corrupt("is not gzip data");
  archive_entry* entry = nullptr;
  if (archive_read_next_header(a.get(), &entry) != ARCHIVE_OK)
    return corrupt(std::string("cannot be read: ") + archive_error_string(a.get()));
  Bytes out;
  uint8_t buffer[64 * 1024];
  for (;;) {
    la_ssize_t n = archive_read_data(a.get(), buffer, sizeof buffer);
    if (n < 0) return corrupt(std::string("is damaged: ") + archive_error_string(a.get()));
    if (n == 0) break;
    if (out.size() + static_cast<uint64_t>(n) > max_bytes)
      return corrupt("expands to more than " + std::to_string(max_bytes) + " bytes (a decompression bomb?)");
    out.insert(out.end(), buffer, buffer + n);
  }
  return out;
}

}  // namespace stowage::archive
