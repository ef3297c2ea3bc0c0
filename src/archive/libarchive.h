// libarchive for the archive layer (the Velero-layout tar.gz of a cluster
// backup), opened on first use instead of at program start. Linking it made
// every command load it and the libraries it depends on (libxml2, ICU, lzma,
// lz4, bz2, nettle): ~2.5 ms of each command's start-up here, paid also by
// the volume backups and restores that never touch an archive. The archive
// layer calls libarchive's functions through la(), after
// load_libarchive() succeeded.
#pragma once

#include <archive.h>
#include <archive_entry.h>

#include "util/result.h"

namespace stowage {

// The libarchive functions the archive layer calls.
#define STOWAGE_LIBARCHIVE_FUNCTIONS(X) \
  X(archive_entry_copy_pathname) \
  X(archive_entry_filetype) \
  X(archive_entry_free) \
  X(archive_entry_hardlink) \
  X(archive_entry_new) \
  X(archive_entry_pathname) \
  X(archive_entry_pathname_utf8) \
  X(archive_entry_set_filetype) \
  X(archive_entry_set_gid) \
  X(archive_entry_set_mtime) \
  X(archive_entry_set_pathname) \
  X(archive_entry_set_perm) \
  X(archive_entry_set_size) \
  X(archive_entry_set_uid) \
  X(archive_entry_size) \
  X(archive_entry_size_is_set) \
  X(archive_entry_symlink) \
  X(archive_error_string) \
  X(archive_filter_bytes) \
  X(archive_filter_count) \
  X(archive_free) \
  X(archive_read_data) \
  X(archive_read_data_skip) \
  X(archive_read_free) \
  X(archive_read_new) \
  X(archive_read_next_header) \
  X(archive_read_open) \
  X(archive_read_support_filter_zstd) \
  X(archive_read_support_format_tar) \
  X(archive_write_add_filter_gzip) \
  X(archive_write_close) \
  X(archive_write_data) \
  X(archive_write_finish_entry) \
  X(archive_write_free) \
  X(archive_write_header) \
  X(archive_write_new) \
  X(archive_write_open) \
  X(archive_write_open2) \
  X(archive_write_set_bytes_in_last_block) \
  X(archive_write_set_filter_option) \
  X(archive_write_set_format_pax_restricted) \
  X(archive_write_set_format_raw)

struct LibArchive {
#define STOWAGE_LIBARCHIVE_POINTER(name) decltype(&::name) name = nullptr;
  STOWAGE_LIBARCHIVE_FUNCTIONS(STOWAGE_LIBARCHIVE_POINTER)
#undef STOWAGE_LIBARCHIVE_POINTER
};

// Opens libarchive (libarchive.so.13) and binds its functions, once per
// process; every call returns the first call's outcome.
Status load_libarchive();
// The bound functions. Only after load_libarchive() succeeded: otherwise it
// stops the process, naming the error.
const LibArchive& la();

}  // namespace stowage
