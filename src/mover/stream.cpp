#include "mover/stream.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <future>

#include "chunk/fastcdc.h"
#include "mover/chunk_list.h"
#include "repo/tree.h"
#include "mover/snapshot_writer.h"
#include "util/work_queue.h"

namespace stowage {

Result<Snapshot> backup_stream(Repository& repo, int fd, const StreamBackupOptions& options) {
  SnapshotWriter writer(repo, SnapshotKind::kStream, options.name, options.tags, options.parent);
  StreamChunker chunker(repo.chunker());
  std::vector<ChunkRef> refs;
  uint64_t total = 0;
  Bytes buf(4 << 20);
  {
    WorkQueue queue(options.workers ? options.workers : default_workers(), 4);
    auto emit = [&](Bytes&& chunk) {
      ChunkRef ref{repo.blob_id(chunk), uint32_t(chunk.size())};
      refs.push_back(ref);
      if (!repo.has_blob(ref.id)) {
        auto data = std::make_shared<Bytes>(std::move(chunk));
        queue.submit([&repo, &queue, ref, data]() -> Status {
          if (queue.failed()) return ok_status();
          auto saved = repo.save_blob(BlobType::kData, ref.id, *data);
          if (!saved.ok()) return std::move(saved).error();
          return ok_status();
        });
      }
    };
    Bytes chunk;
    for (;;) {
      ssize_t n = read(fd, buf.data(), buf.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Error(ErrorCode::kIo, std::string("reading the stream failed: ") + strerror(errno), options.name);
      if (n == 0) break;
      total += uint64_t(n);
      if (options.progress) options.progress->bytes_done += uint64_t(n);
      chunker.feed(ByteView(buf.data(), size_t(n)));
      while (chunker.next(chunk)) emit(std::move(chunk));
      if (queue.failed()) break;
    }
    chunker.finish();
    while (chunker.next(chunk)) emit(std::move(chunk));
    TRY_STATUS(queue.wait());
  }
  Snapshot& snap = writer.snapshot();
  snap.root = TRY(save_chunk_list(repo, refs, total));
  snap.size = total;
  snap.summary.bytes = total;
  snap.summary.bytes_read = total;
  return writer.finish();
}

Status restore_stream(Repository& repo, const Snapshot& snap, int fd, const StreamRestoreOptions& options) {
  if (snap.kind != SnapshotKind::kStream)
    return Error(ErrorCode::kInvalidArgument, "snapshot " + snap.id.short_hex() + " is not a stream snapshot",
                 snap.id.hex());
  uint64_t size = 0;
  auto refs = TRY(load_chunk_list(repo, snap.root, &size));
  if (options.progress) options.progress->bytes_total = size;
  std::deque<std::future<Result<Bytes>>> ahead;
  size_t next = 0;
  auto fill = [&] {
    while (next < refs.size() && ahead.size() < std::max<size_t>(1, options.prefetch)) {
      BlobId id = refs[next++].id;
      ahead.push_back(std::async(std::launch::async, [&repo, id] { return repo.load_blob(id); }));
    }
  };
  fill();
  while (!ahead.empty()) {
    auto data = ahead.front().get();
    ahead.pop_front();
    if (!data.ok()) return std::move(data).error().with_context("stream snapshot " + snap.id.short_hex());
    fill();
    size_t done = 0;
    while (done < data->size()) {
      ssize_t n = write(fd, data->data() + done, data->size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return Error(ErrorCode::kIo, std::string("writing the stream failed: ") + strerror(errno));
      done += size_t(n);
    }
    if (options.progress) options.progress->bytes_done += data->size();
  }
  return ok_status();
}

}  // namespace stowage
