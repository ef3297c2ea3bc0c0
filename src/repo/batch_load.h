// Batched blob loads for restores: many blobs read with few requests. The
// wanted blobs are sorted by pack and offset, neighbours in one pack are merged
// into one ranged read (the unwanted bytes of a small gap between them are read
// and dropped), and every blob is then opened and verified from the range's
// buffer exactly as Repository::load_blob does it (same checks, same errors
// naming the pack). load_blob stays the way to read a single blob.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "repo/repository.h"
#include "util/work_queue.h"

namespace stowage {

struct RangeReadOptions {
  // Two wanted blobs of one pack are read together when at most this many
  // unwanted bytes lie between them.
  uint64_t max_gap = 1 << 20;
  // A merged read grows no longer than this. A blob longer than it is read on
  // its own, never split.
  uint64_t max_range = 16 << 20;
  // Ranges read and opened at once (threads).
  size_t threads = 4;
  // Ranges planned but not yet started; submit() blocks beyond that.
  size_t queued = 16;
};

// Options for `threads` readers whose ranges together stay within about
// 128 MiB: each range at most 128 MiB / threads, between 2 and 16 MiB (so 4
// threads read 16 MiB ranges, 64 threads 2 MiB ones).
RangeReadOptions range_read_options(size_t threads);

// One ranged read of a pack, and the wanted blobs it covers in offset order.
struct PackRange {
  ObjectId pack;
  uint64_t offset = 0;
  uint64_t length = 0;
  std::vector<PackEntry> blobs;
};

// Plans the reads of blobs: ranges sorted by (pack, offset), each distinct
// blob in exactly one range, whatever the order and repetitions of the input.
std::vector<PackRange> plan_pack_ranges(std::vector<BlobLocation> blobs, const RangeReadOptions& options);

// Loads batches of blobs on its own threads by planned ranges, and hands each
// blob, verified, to its batch's sink. Ranges start in the order of the ids
// given (a range when the first of its blobs is due) and finish in any order.
// Memory: at most `threads` ranges are held at once, each no longer than
// max(max_range, the longest sealed blob), plus one opened blob per thread —
// with the defaults 4 × (16 MiB + one blob), about 70 MiB for 1 MiB blobs;
// with range_read_options(n), about max(128 MiB, n × 2 MiB) plus n blobs.
class BlobBatchLoader {
 public:
  // Receives one blob of a batch, or the error that reading or verifying it
  // met (so that the caller can say which of its files it was for). Runs on
  // loader threads, concurrently for blobs of different ranges. Returning an
  // error fails the loader: the reads not yet started are abandoned.
  using Sink = std::function<Status(const BlobId& id, Result<Bytes>&& plaintext)>;

  explicit BlobBatchLoader(Repository& repo, const RangeReadOptions& options = {});
  ~BlobBatchLoader();  // waits for the reads already queued
  BlobBatchLoader(const BlobBatchLoader&) = delete;
  BlobBatchLoader& operator=(const BlobBatchLoader&) = delete;

  // Plans the reads of ids and queues them; sink gets every distinct id once.
  // done (optional) runs exactly once, even when this fails: when the last
  // read of the batch has finished or was abandoned after an error, possibly
  // before submit returns. Fails at once, queuing nothing, when an id is in no
  // index; fails with the loader's first error once it has failed.
  Status submit(const std::vector<BlobId>& ids, Sink sink, std::function<void()> done = {});
  // Waits until every queued read finished; returns the first error.
  Status wait();
  bool failed() const;

 private:
  struct Batch;
  Status read_range(const PackRange& range, const Sink& sink) const;

  Repository& repo_;
  RangeReadOptions options_;
  std::unique_ptr<WorkQueue> queue_;
};

// Loads ids with a loader of its own and waits for them all.
Status load_blobs(Repository& repo, const std::vector<BlobId>& ids, const BlobBatchLoader::Sink& sink,
                  const RangeReadOptions& options = {});

}  // namespace stowage
