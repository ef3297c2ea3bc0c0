#include "mover/stream.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <future>
#include <mutex>
#include <unordered_map>

#include "chunk/fastcdc.h"
#include "mover/chunk_list.h"
#include "repo/batch_load.h"
#include "repo/tree.h"
#include "mover/snapshot_writer.h"
#include "util/work_queue.h"

namespace stowage {

class StreamWriter::Impl {
 public:
  Impl(Repository& repo, const StreamBackupOptions& options)
      : repo_(repo),
        options_(options),
        writer_(repo, SnapshotKind::kStream, options.name, options.tags, options.parent),
        queue_(std::make_unique<WorkQueue>(options.workers ? options.workers : default_workers(), 4)) {
    chunker_.emplace(repo.chunker());
  }

  Status write(ByteView data) {
    if (queue_->failed()) return queue_->wait();
    total_ += data.size();
    if (options_.progress) options_.progress->bytes_done += data.size();
    TRY_STATUS(check_cancelled(options_.progress));
    chunker_->feed(data);
    drain();
    return ok_status();
  }

  Status cut() {
    if (queue_->failed()) return queue_->wait();
    chunker_->finish();
    drain();
    chunker_.emplace(repo_.chunker());
    return ok_status();
  }

  Result<Snapshot> finish() {
    chunker_->finish();
    drain();
    Status waited = queue_->wait();
    queue_.reset();
    TRY_STATUS(std::move(waited));
    Snapshot& snap = writer_.snapshot();
    snap.root = TRY(save_chunk_list(repo_, std::vector<ChunkRef>(refs_.begin(), refs_.end()), total_));
    snap.size = total_;
    snap.summary.bytes = total_;
    snap.summary.bytes_read = total_;
    return writer_.finish();
  }

 private:
  void drain() {
    while (chunker_->next(chunk_)) emit(std::move(chunk_));
  }

  // The workers compute the chunk's id (so a stream is hashed by all of them,
  // not by the thread that reads it) and save it unless the repository has
  // it; the id lands in the chunk's slot of refs_.
  void emit(Bytes&& chunk) {
    ChunkRef* slot = &refs_.emplace_back(ChunkRef{BlobId{}, uint32_t(chunk.size())});
    auto data = std::make_shared<Bytes>(std::move(chunk));
    Repository& repo = repo_;
    WorkQueue& queue = *queue_;
    queue.submit([&repo, &queue, slot, data]() -> Status {
      if (queue.failed()) return ok_status();
      slot->id = repo.blob_id(*data);  // save_blob skips a blob the repository has
      auto saved = repo.save_blob(BlobType::kData, slot->id, *data);
      if (!saved.ok()) return std::move(saved).error();
      return ok_status();
    });
  }

  Repository& repo_;
  StreamBackupOptions options_;
  SnapshotWriter writer_;
  std::optional<StreamChunker> chunker_;
  std::deque<ChunkRef> refs_;  // a deque: a worker's slot stays in place while more are appended
  uint64_t total_ = 0;
  Bytes chunk_;
  std::unique_ptr<WorkQueue> queue_;  // last: destroyed (joined) first
};

StreamWriter::StreamWriter(Repository& repo, const StreamBackupOptions& options)
    : impl_(std::make_unique<Impl>(repo, options)) {}
StreamWriter::~StreamWriter() = default;
Status StreamWriter::write(ByteView data) { return impl_->write(data); }
Status StreamWriter::cut() { return impl_->cut(); }
Result<Snapshot> StreamWriter::finish() { return impl_->finish(); }

Result<Snapshot> backup_stream(Repository& repo, int fd, const StreamBackupOptions& options) {
  StreamWriter out(repo, options);
  Bytes buf(4 << 20);
  for (;;) {
    ssize_t n = read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error(ErrorCode::kIo, std::string("reading the stream failed: ") + strerror(errno), options.name);
    if (n == 0) break;
    TRY_STATUS(out.write(ByteView(buf.data(), size_t(n))));
  }
  return out.finish();
}

namespace {

// A run of consecutive chunks of the stream, loaded in one batch (by pack, out
// of order) before it is written out in order.
struct StreamWindow {
  size_t first = 0, end = 0;  // chunk indexes
  std::unordered_map<BlobId, Bytes, BlobIdHash> blobs;
  std::mutex mu;
  std::promise<void> loaded;
};

// Queues the loads of the chunks from `first` on, up to window_bytes of them.
std::shared_ptr<StreamWindow> load_window(BlobBatchLoader& loader, const std::vector<ChunkRef>& refs, size_t first,
                                          uint64_t window_bytes, Status& submitted) {
  auto window = std::make_shared<StreamWindow>();
  window->first = first;
  uint64_t bytes = 0;
  std::vector<BlobId> ids;
  size_t end = first;
  while (end < refs.size() && (end == first || bytes + refs[end].length <= window_bytes)) {
    bytes += refs[end].length;
    ids.push_back(refs[end++].id);
  }
  window->end = end;
  submitted = loader.submit(
      ids,
      [window](const BlobId& id, Result<Bytes>&& data) -> Status {
        if (!data.ok()) return std::move(data).error();
        std::lock_guard lock(window->mu);
        window->blobs[id] = std::move(data).value();
        return ok_status();
      },
      [window] { window->loaded.set_value(); });
  return window;
}

Status write_all(int fd, ByteView data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Error(ErrorCode::kIo, std::string("writing the stream failed: ") + strerror(errno));
    done += size_t(n);
  }
  return ok_status();
}

}  // namespace

Status restore_stream(Repository& repo, const Snapshot& snap, int fd, const StreamRestoreOptions& options) {
  if (snap.kind != SnapshotKind::kStream)
    return Error(ErrorCode::kInvalidArgument, "snapshot " + snap.id.short_hex() + " is not a stream snapshot",
                 snap.id.hex());
  uint64_t size = 0;
  auto refs = TRY(load_chunk_list(repo, snap.root, &size));
  if (options.progress) options.progress->bytes_total = size;
  // While one window is written out, the next one loads.
  BlobBatchLoader loader(repo, range_read_options(2 * default_workers()));
  const uint64_t window_bytes = std::max<uint64_t>(1, options.window_bytes);
  Status submitted = ok_status();
  std::shared_ptr<StreamWindow> current = load_window(loader, refs, 0, window_bytes, submitted);
  Status result = ok_status();
  while (result.ok()) {
    current->loaded.get_future().wait();
    if (!submitted.ok() || loader.failed()) {
      Status failed = submitted.ok() ? loader.wait() : std::move(submitted);
      result = std::move(failed).error().with_context("stream snapshot " + snap.id.short_hex());
      break;
    }
    std::shared_ptr<StreamWindow> next;
    if (current->end < refs.size()) next = load_window(loader, refs, current->end, window_bytes, submitted);
    for (size_t i = current->first; i < current->end && result.ok(); i++) {
      const Bytes& data = current->blobs.at(refs[i].id);
      result = write_all(fd, data);
      if (result.ok() && options.progress) options.progress->bytes_done += data.size();
    }
    if (result.ok()) result = check_cancelled(options.progress);
    if (!next) break;
    current = std::move(next);
  }
  (void)loader.wait();  // a failure is in result already
  return result;
}

}  // namespace stowage
