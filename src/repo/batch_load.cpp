#include "repo/batch_load.h"

#include <algorithm>
#include <atomic>
#include <unordered_map>

#include "repo/layout.h"

namespace stowage {

RangeReadOptions range_read_options(size_t threads) {
  constexpr uint64_t kMemory = 128 << 20, kMin = 2 << 20, kMax = 16 << 20;
  RangeReadOptions options;
  options.threads = std::max<size_t>(1, threads);
  options.max_range = std::clamp<uint64_t>(kMemory / options.threads, kMin, kMax);
  return options;
}

std::vector<PackRange> plan_pack_ranges(std::vector<BlobLocation> blobs, const RangeReadOptions& options) {
  std::sort(blobs.begin(), blobs.end(), [](const BlobLocation& a, const BlobLocation& b) {
    if (a.pack != b.pack) return a.pack < b.pack;
    if (a.entry.offset != b.entry.offset) return a.entry.offset < b.entry.offset;
    return a.entry.id < b.entry.id;
  });
  std::vector<PackRange> ranges;
  uint64_t end = 0;  // of the last range
  for (size_t i = 0; i < blobs.size(); i++) {
    const BlobLocation& blob = blobs[i];
    if (i > 0 && blob.pack == blobs[i - 1].pack && blob.entry.offset == blobs[i - 1].entry.offset &&
        blob.entry.id == blobs[i - 1].entry.id)
      continue;  // asked for twice
    const uint64_t start = blob.entry.offset, stop = start + blob.entry.length;
    if (!ranges.empty() && ranges.back().pack == blob.pack) {
      PackRange& range = ranges.back();
      if (stop <= end) {  // inside what the range reads already: another blob of the same group
        range.blobs.push_back(blob.entry);
        continue;
      }
      const uint64_t gap = start > end ? start - end : 0;
      const uint64_t grown = std::max(end, stop);
      if (gap <= options.max_gap && grown - range.offset <= options.max_range) {
        range.length = grown - range.offset;
        range.blobs.push_back(blob.entry);
        end = grown;
        continue;
      }
    }
    ranges.push_back(PackRange{blob.pack, start, blob.entry.length, {blob.entry}});
    end = stop;
  }
  return ranges;
}

// The reads of one submitted batch; the last one to finish calls done.
struct BlobBatchLoader::Batch {
  Sink sink;
  std::function<void()> done;
  std::atomic<size_t> unfinished{1};  // one held by submit() until every read is queued

  void finish(size_t count = 1) {
    if (unfinished.fetch_sub(count) == count && done) done();
  }
};

BlobBatchLoader::BlobBatchLoader(Repository& repo, const RangeReadOptions& options)
    : repo_(repo),
      options_(options),
      queue_(std::make_unique<WorkQueue>(std::max<size_t>(1, options.threads), std::max<size_t>(1, options.queued))) {}

BlobBatchLoader::~BlobBatchLoader() { (void)queue_->wait(); }

bool BlobBatchLoader::failed() const { return queue_->failed(); }

Status BlobBatchLoader::wait() { return queue_->wait(); }

Status BlobBatchLoader::submit(const std::vector<BlobId>& ids, Sink sink, std::function<void()> done) {
  auto batch = std::make_shared<Batch>();
  batch->sink = std::move(sink);
  batch->done = std::move(done);
  struct Release {  // done runs even when planning fails
    Batch& batch;
    ~Release() { batch.finish(); }
  } release{*batch};
  if (queue_->failed()) return queue_->wait();

  std::unordered_map<BlobId, size_t, BlobIdHash> first;  // where each id first appears in ids
  first.reserve(ids.size());
  std::vector<BlobLocation> locations;
  locations.reserve(ids.size());
  for (size_t i = 0; i < ids.size(); i++)
    if (first.try_emplace(ids[i], i).second) locations.push_back(TRY(repo_.index().find(ids[i])));
  std::vector<PackRange> ranges = plan_pack_ranges(std::move(locations), options_);
  // Ranges are read in the caller's order (the earliest of their blobs in
  // ids), so that a restore advances from front to back, as it was written.
  std::vector<std::pair<size_t, size_t>> order;  // (earliest position, range)
  order.reserve(ranges.size());
  for (size_t r = 0; r < ranges.size(); r++) {
    size_t earliest = ids.size();
    for (const PackEntry& entry : ranges[r].blobs) earliest = std::min(earliest, first.at(entry.id));
    order.emplace_back(earliest, r);
  }
  std::sort(order.begin(), order.end());

  batch->unfinished += ranges.size();
  for (size_t i = 0; i < order.size(); i++) {
    auto range = std::make_shared<PackRange>(std::move(ranges[order[i].second]));
    bool queued = queue_->submit([this, batch, range]() -> Status {
      Status status = queue_->failed() ? ok_status() : read_range(*range, batch->sink);
      if (!status.ok()) queue_->fail(status.error());  // before done runs, so that it sees the failure
      batch->finish();
      return status;
    });
    if (!queued) {
      batch->finish(ranges.size() - i);
      return queue_->wait();
    }
  }
  return ok_status();
}

Status BlobBatchLoader::read_range(const PackRange& range, const Sink& sink) const {
  const std::string key = layout::pack(range.pack);
  auto data = repo_.store().get_range(key, range.offset, range.length);
  if (data.ok() && data->size() != range.length)
    data = Error(ErrorCode::kUnavailable,
                 "the store returned " + std::to_string(data->size()) + " bytes instead of " +
                     std::to_string(range.length),
                 key, "retry");
  if (!data.ok()) {
    // Every blob of the range gets the error, until a sink reports it.
    const std::string what = range.blobs.size() == 1 ? "blob " + range.blobs[0].id.short_hex()
                                                     : std::to_string(range.blobs.size()) + " blobs";
    Error error = std::move(data).error().with_context("reading " + what + " from " + key);
    for (const PackEntry& entry : range.blobs) TRY_STATUS(sink(entry.id, Error(error)));
    return ok_status();
  }
  BlobGroupCache groups;  // the blobs of one group are neighbours in the range
  for (const PackEntry& entry : range.blobs) {
    if (queue_->failed()) break;
    ByteView sealed(data->data() + (entry.offset - range.offset), entry.length);
    TRY_STATUS(sink(entry.id, repo_.open_blob(entry, sealed, key, &groups)));
  }
  return ok_status();
}

Status load_blobs(Repository& repo, const std::vector<BlobId>& ids, const BlobBatchLoader::Sink& sink,
                  const RangeReadOptions& options) {
  BlobBatchLoader loader(repo, options);
  Status submitted = loader.submit(ids, sink);
  Status waited = loader.wait();
  TRY_STATUS(std::move(submitted));
  return waited;
}

}  // namespace stowage
