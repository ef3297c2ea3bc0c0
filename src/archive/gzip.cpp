#include "archive/gzip.h"

#include <algorithm>
#include <cstring>
#include <memory>

#include "archive/gzip_decoder.h"
#include "archive/libarchive.h"

namespace stowage::archive {
namespace {

struct ArchiveCloser {
  void operator()(struct archive* a) const { la().archive_free(a); }
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
  TRY_STATUS(load_libarchive());
  Bytes out;
  ArchivePtr a(la().archive_write_new());
  la().archive_write_set_format_raw(a.get());
  la().archive_write_add_filter_gzip(a.get());
  la().archive_write_set_bytes_in_last_block(a.get(), 1);
  if (la().archive_write_open2(a.get(), &out, nullptr, append_to_bytes, nullptr, nullptr) != ARCHIVE_OK)
    return Error(ErrorCode::kInternal, std::string("gzip: ") + la().archive_error_string(a.get()));
  std::unique_ptr<archive_entry, void (*)(archive_entry*)> entry(la().archive_entry_new(), la().archive_entry_free);
  la().archive_entry_set_filetype(entry.get(), AE_IFREG);
  la().archive_entry_set_pathname(entry.get(), "data");
  la().archive_entry_set_size(entry.get(), static_cast<la_int64_t>(data.size()));
  if (la().archive_write_header(a.get(), entry.get()) != ARCHIVE_OK ||
      (!data.empty() && la().archive_write_data(a.get(), data.data(), data.size()) < 0) ||
      la().archive_write_close(a.get()) != ARCHIVE_OK)
    return Error(ErrorCode::kInternal, std::string("gzip: ") + la().archive_error_string(a.get()));
  return out;
}

Result<Bytes> gzip_decompress(ByteView data, uint64_t max_bytes, const std::string& object) {
  auto corrupt = [&](const std::string& why) {
    return Error(ErrorCode::kCorrupt, object + " " + why, object, "the object is damaged or not one a backup tool wrote");
  };
  if (!starts_like_gzip(data)) return corrupt("is not gzip data");
  size_t offset = 0;
  auto decoder = GzipDecoder::open([&](MutableByteView out) -> Result<size_t> {
    size_t n = std::min(out.size(), data.size() - offset);
    std::memcpy(out.data(), data.data() + offset, n);
    offset += n;
    return n;
  });
  if (!decoder.ok()) return corrupt(decoder.error().message());
  Bytes out;
  uint8_t buffer[64 * 1024];
  for (;;) {
    auto n = decoder.value().read(buffer);
    if (!n.ok()) return corrupt(n.error().message());
    if (n.value() == 0) break;
    if (out.size() + n.value() > max_bytes)
      return corrupt("expands to more than " + std::to_string(max_bytes) + " bytes (a decompression bomb?)");
    out.insert(out.end(), buffer, buffer + n.value());
  }
  return out;
}

}  // namespace stowage::archive
