#include "mover/block.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <sstream>
#include <unordered_map>

#include "mover/block_prefetch.h"
#include "mover/chunk_list.h"
#include "mover/snapshot_writer.h"
#include "repo/batch_load.h"
#include "util/work_queue.h"

namespace stowage {

namespace {

constexpr size_t kBlocksPerTask = 32;
constexpr size_t kBlocksPerBatch = 4096;  // restore: blocks planned per batched load
constexpr uint64_t kWriteBehind = 64ull << 20;  // restore: bytes written between write-behind rounds

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

Result<uint64_t> device_size(int fd, const std::string& path) {
  struct stat st;
  if (fstat(fd, &st) != 0) return Error(ErrorCode::kIo, std::string("stat failed: ") + strerror(errno), path);
  if (S_ISREG(st.st_mode)) return uint64_t(st.st_size);
  if (S_ISBLK(st.st_mode)) {
    uint64_t size = 0;
    if (ioctl(fd, BLKGETSIZE64, &size) != 0)
      return Error(ErrorCode::kIo, std::string("cannot read the device size: ") + strerror(errno), path);
    return size;
  }
  return Error(ErrorCode::kInvalidArgument, "not a block device or regular file", path);
}

Status read_full(int fd, uint8_t* buf, size_t len, uint64_t offset, const std::string& path) {
  size_t done = 0;
  while (done < len) {
    ssize_t n = pread(fd, buf + done, len - done, off_t(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error(ErrorCode::kIo, std::string("read failed: ") + strerror(errno), path);
    if (n == 0) return Error(ErrorCode::kIo, "device ended before its reported size (shrunk during backup?)", path);
    done += size_t(n);
  }
  return ok_status();
}

Status write_full(int fd, const uint8_t* buf, size_t len, uint64_t offset, const std::string& path) {
  size_t done = 0;
  while (done < len) {
    ssize_t n = pwrite(fd, buf + done, len - done, off_t(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Error(ErrorCode::kIo, std::string("write failed: ") + strerror(errno), path);
    done += size_t(n);
  }
  return ok_status();
}

class FileBlockSource : public BlockSource {
 public:
  FileBlockSource(std::string path, int fd, uint64_t size) : path_(std::move(path)), fd_{fd}, size_(size) {}
  std::string name() const override { return path_; }
  uint64_t size() const override { return size_; }
  Status read(uint64_t offset, std::span<uint8_t> out) override {
    return read_full(fd_.fd, out.data(), out.size(), offset, path_);
  }

 private:
  std::string path_;
  Fd fd_;
  uint64_t size_;
};

class FileBlockSink : public BlockSink {
 public:
  FileBlockSink(std::string path, int fd) : path_(std::move(path)), fd_{fd} {}
  std::string name() const override { return path_; }
  Status prepare(uint64_t size) override {
    struct stat st;
    if (fstat(fd_.fd, &st) != 0)
      return Error(ErrorCode::kIo, std::string("stat failed: ") + strerror(errno), path_);
    is_file_ = S_ISREG(st.st_mode);
    if (is_file_) {
      // Truncating to zero first turns every block we skip into a hole.
      if (ftruncate(fd_.fd, 0) != 0 || ftruncate(fd_.fd, off_t(size)) != 0)
        return Error(ErrorCode::kIo, std::string("cannot size the image file: ") + strerror(errno), path_);
      return ok_status();
    }
    uint64_t dev_size = TRY(device_size(fd_.fd, path_));
    if (dev_size < size)
      return Error(ErrorCode::kInvalidArgument, "the target device (" + std::to_string(dev_size) +
                                                    " bytes) is smaller than the snapshot (" + std::to_string(size) + ")",
                   path_);
    return ok_status();
  }
  Status write(uint64_t offset, std::span<const uint8_t> data) override {
    TRY_STATUS(write_full(fd_.fd, data.data(), data.size(), offset, path_));
    write_behind(data.size());
    return ok_status();
  }
  Status write_zeroes(uint64_t offset, uint64_t length) override {
    if (is_file_) return ok_status();  // already a hole
    // A device keeps old contents: zero the range explicitly.
    uint64_t range[2] = {offset, length};
    if (ioctl(fd_.fd, BLKZEROOUT, range) == 0) return ok_status();
    Bytes zeros(length);
    return write_full(fd_.fd, zeros.data(), length, offset, path_);
  }
  Status finish() override {
    if (fsync(fd_.fd) != 0) return Error(ErrorCode::kIo, std::string("fsync failed: ") + strerror(errno), path_);
    return ok_status();
  }

 private:
  // Every kWriteBehind bytes: starts the writeback of the dirty pages and
  // drops those already written back from the page cache (POSIX_FADV_DONTNEED
  // does both), so that a large restore neither piles up dirty pages for the
  // final fsync nor makes the kernel reclaim others' cache to hold its own.
  // Advice only: a failure changes nothing the restore relies on.
  void write_behind(size_t n) {
    uint64_t total = written_.fetch_add(n) + n;
    if (total / kWriteBehind != (total - n) / kWriteBehind) (void)posix_fadvise(fd_.fd, 0, 0, POSIX_FADV_DONTNEED);
  }

  std::string path_;
  Fd fd_;
  bool is_file_ = false;
  std::atomic<uint64_t> written_{0};
};

}  // namespace

Result<std::unique_ptr<BlockSource>> open_block_file_source(const std::string& device) {
  Fd fd{open(device.c_str(), O_RDONLY | O_CLOEXEC)};
  if (fd.fd < 0) return Error(ErrorCode::kIo, std::string("cannot open: ") + strerror(errno), device);
  uint64_t size = TRY(device_size(fd.fd, device));
  auto source = std::make_unique<FileBlockSource>(device, fd.fd, size);
  fd.fd = -1;  // owned by the source now
  return std::unique_ptr<BlockSource>(std::move(source));
}

Result<std::unique_ptr<BlockSink>> open_block_file_sink(const std::string& target) {
  int fd = open(target.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return Error(ErrorCode::kIo, std::string("cannot open the restore target: ") + strerror(errno), target);
  return std::unique_ptr<BlockSink>(std::make_unique<FileBlockSink>(target, fd));
}

// Parses one unsigned decimal number at pos (no sign, no overflow).
static bool parse_number(const std::string& line, size_t& pos, uint64_t& value) {
  while (pos < line.size() && (line[pos] == ' ' || line[pos] == '\t' || line[pos] == '\r')) pos++;
  size_t start = pos;
  value = 0;
  while (pos < line.size() && line[pos] >= '0' && line[pos] <= '9') {
    uint64_t digit = uint64_t(line[pos] - '0');
    if (value > (UINT64_MAX - digit) / 10) return false;
    value = value * 10 + digit;
    pos++;
  }
  return pos > start;
}

Result<std::vector<Extent>> parse_extents(std::string_view text) {
  std::vector<Extent> out;
  std::istringstream in{std::string(text)};
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    number++;
    auto hash = line.find('#');
    if (hash != std::string::npos) line.resize(hash);
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    Extent e;
    size_t pos = 0;
    bool ok = parse_number(line, pos, e.offset) && pos < line.size() && (line[pos] == ' ' || line[pos] == '\t') &&
              parse_number(line, pos, e.length) && line.find_first_not_of(" \t\r", pos) == std::string::npos &&
              e.length <= UINT64_MAX - e.offset;
    if (!ok)
      return Error(ErrorCode::kInvalidArgument,
                   "changed-extent list line " + std::to_string(number) +
                       " is not 'offset length' (two unsigned decimal byte counts)",
                   line);
    out.push_back(e);
  }
  return out;
}

Result<Snapshot> backup_block(Repository& repo, BlockSource& source, const BlockBackupOptions& options) {
  const std::string device = source.name();
  SnapshotWriter writer(repo, SnapshotKind::kBlock, options.source.empty() ? device : options.source, options.tags,
                        options.parent);
  const uint64_t size = source.size();
  const uint64_t bs = repo.config().block_size;
  const uint64_t nblocks = (size + bs - 1) / bs;
  std::vector<ChunkRef> refs(nblocks);
  std::vector<char> need(nblocks, 1);

  if (options.changed && !options.parent && !options.changed_lists_allocation)
    return Error(ErrorCode::kInvalidArgument, "a changed-extent list needs a parent snapshot to take the rest from",
                 device, "pass --parent, or omit the extent list for a full read");
  if (options.changed && !options.parent) {
    // Only the allocated ranges are read; everything else is a hole.
    for (uint64_t b = 0; b < nblocks; b++) {
      refs[b] = ChunkRef{BlobId{}, uint32_t(std::min(bs, size - b * bs))};
      need[b] = 0;
    }
  }
  if (options.parent) {
    Snapshot parent = TRY(repo.load_snapshot(*options.parent));
    if (parent.kind != SnapshotKind::kBlock || parent.block_size != bs)
      return Error(ErrorCode::kInvalidArgument, "parent snapshot " + parent.id.short_hex() +
                                                    " is not a block snapshot with the same block size",
                   parent.id.hex());
    if (options.changed) {
      auto prev = TRY(load_chunk_list(repo, parent.root));
      for (uint64_t b = 0; b < nblocks && b < prev.size(); b++) {
        uint64_t expect = std::min(bs, size - b * bs);
        if (prev[b].length == expect && (prev[b].id.is_zero() || repo.has_blob(prev[b].id))) {
          refs[b] = prev[b];
          need[b] = 0;
        }
      }
    }
  }
  if (options.changed) {
    for (const Extent& e : *options.changed) {
      if (e.length == 0 || e.offset >= size) continue;
      uint64_t last = e.offset + std::min(e.length, size - e.offset) - 1;  // no overflow: offset < size
      for (uint64_t b = e.offset / bs; b <= last / bs; b++) need[b] = 1;
    }
  }

  BlockPrefetch* prefetch =
      options.prefetch && options.prefetch->matches(bs, repo.config().compression_level) ? options.prefetch : nullptr;
  std::atomic<uint64_t> bytes_read{0};
  if (options.progress) {
    uint64_t total = 0;
    for (uint64_t b = 0; b < nblocks; b++)
      if (need[b]) total += std::min(bs, size - b * bs);
    options.progress->bytes_total = total;
  }
  {
    WorkQueue queue(options.workers ? options.workers : default_workers(), 4);
    for (uint64_t first = 0; first < nblocks && !queue.failed(); first += kBlocksPerTask) {
      uint64_t last = std::min(nblocks, first + kBlocksPerTask);
      bool any = false;
      for (uint64_t b = first; b < last; b++) any |= need[b] != 0;
      if (!any) continue;
      queue.submit([&, first, last]() -> Status {
        if (queue.failed()) return ok_status();
        Bytes buf;  // for blocks not prefetched; sized on first use (new memory costs a page fault per 4 KiB)
        for (uint64_t b = first; b < last; b++) {
          if (!need[b]) continue;
          uint64_t len = std::min(bs, size - b * bs);
          std::optional<PrefetchedBlock> pre;
          if (prefetch) pre = prefetch->take(b);
          if (pre && pre->data.size() != len) pre.reset();
          if (!pre) {
            buf.resize(bs);
            TRY_STATUS(source.read(b * bs, std::span<uint8_t>(buf.data(), len)));
          }
          bytes_read += len;
          ByteView block = pre ? ByteView(pre->data) : ByteView(buf.data(), len);
          refs[b].length = uint32_t(len);
          if (all_zero(block)) {
            refs[b].id = BlobId{};
          } else {
            refs[b].id = repo.blob_id(block);
            if (pre)
              TRY(repo.save_blob(BlobType::kData, refs[b].id, block, pre->method, pre->compressed));
            else
              TRY(repo.save_blob(BlobType::kData, refs[b].id, block));
          }
          if (options.progress) options.progress->bytes_done += len;
          TRY_STATUS(check_cancelled(options.progress));
        }
        return ok_status();
      });
    }
    TRY_STATUS(queue.wait());
  }
  Snapshot& snap = writer.snapshot();
  snap.root = TRY(save_chunk_list(repo, refs, size));
  snap.size = size;
  snap.block_size = uint32_t(bs);
  snap.summary.bytes = size;
  snap.summary.bytes_read = bytes_read;
  return writer.finish();
}

Result<Snapshot> backup_block(Repository& repo, const std::string& device, const BlockBackupOptions& options) {
  auto source = TRY(open_block_file_source(device));
  return backup_block(repo, *source, options);
}

Status restore_block(Repository& repo, const Snapshot& snap, BlockSink& sink, const BlockRestoreOptions& options) {
  if (snap.kind != SnapshotKind::kBlock)
    return Error(ErrorCode::kInvalidArgument, "snapshot " + snap.id.short_hex() + " is not a block snapshot",
                 snap.id.hex());
  uint64_t size = 0;
  auto refs = TRY(load_chunk_list(repo, snap.root, &size));
  TRY_STATUS(sink.prepare(size));
  if (options.progress) options.progress->bytes_total = size;
  // The blocks are read by pack in coalesced ranges, out of order, in batches
  // of kBlocksPerBatch; a block that appears at several offsets is read once
  // per batch and written to each.
  BlobBatchLoader loader(repo, range_read_options(options.workers ? options.workers : 2 * default_workers()));
  using Batch = std::unordered_map<BlobId, std::vector<uint64_t>, BlobIdHash>;  // block → offsets
  Batch batch;
  std::vector<BlobId> ids;  // of the batch, in image order
  size_t batched = 0;
  auto submit = [&]() -> Status {
    if (batch.empty()) return ok_status();
    auto offsets = std::make_shared<const Batch>(std::move(batch));
    batch = Batch{};
    batched = 0;
    std::vector<BlobId> order = std::move(ids);
    ids = {};
    Progress* progress = options.progress;
    return loader.submit(order, [offsets, progress, &sink](const BlobId& id, Result<Bytes>&& data) -> Status {
      TRY_STATUS(check_cancelled(progress));
      const std::vector<uint64_t>& places = offsets->at(id);
      if (!data.ok()) return std::move(data).error().with_context("block at offset " + std::to_string(places[0]));
      for (uint64_t at : places) {
        TRY_STATUS(sink.write(at, std::span<const uint8_t>(data->data(), data->size())));
        if (progress) progress->bytes_done += data->size();
      }
      return ok_status();
    });
  };
  uint64_t offset = 0;
  Status planned = ok_status();
  for (const ChunkRef& ref : refs) {
    if (loader.failed()) break;
    uint64_t at = offset;
    offset += ref.length;
    if (ref.id.is_zero()) {
      planned = sink.write_zeroes(at, ref.length);
      if (!planned.ok()) break;
      if (options.progress) options.progress->bytes_done += ref.length;
      continue;
    }
    std::vector<uint64_t>& places = batch[ref.id];
    if (places.empty()) ids.push_back(ref.id);
    places.push_back(at);
    if (++batched >= kBlocksPerBatch) {
      planned = submit();
      if (!planned.ok()) break;
    }
  }
  if (planned.ok()) planned = submit();
  Status loaded = loader.wait();
  TRY_STATUS(std::move(planned));
  TRY_STATUS(std::move(loaded));
  return sink.finish();
}

Status restore_block(Repository& repo, const Snapshot& snap, const std::string& target,
                     const BlockRestoreOptions& options) {
  if (snap.kind != SnapshotKind::kBlock)
    return Error(ErrorCode::kInvalidArgument, "snapshot " + snap.id.short_hex() + " is not a block snapshot",
                 snap.id.hex());
  auto sink = TRY(open_block_file_sink(target));
  return restore_block(repo, snap, *sink, options);
}

}  // namespace stowage
