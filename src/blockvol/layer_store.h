// LayerStore: a replica's copy of a volume in local files, with
// copy-on-write snapshots. The volume is a chain of layers, oldest first;
// each layer is a sparse data file plus a bitmap of the blocks it holds.
// The last layer (the head) takes writes; a snapshot freezes the head and
// starts a new one; deleting a snapshot merges the smaller of its layer and
// the next one into the other.
// Reads fall through the chain. On-disk layout: docs/blockvol.md.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <span>
#include <string>
#include <vector>

#include "util/result.h"

namespace stowage::blockvol {

inline constexpr uint32_t kBlockSize = 4096;
// volume.json "format": 1, or 2 while a snapshot deletion that merges a
// layer into an older one is in progress (its "merge" record must not be
// ignored). This program reads both.
inline constexpr int kStoreFormat = 2;

struct SnapshotInfo {
  uint64_t seq = 0;         // given by the target; strictly increasing in a chain
  std::string name;
  int64_t created_unix = 0;
};

// A byte range of the volume.
struct Extent {
  uint64_t offset = 0;
  uint64_t length = 0;
  bool operator==(const Extent&) const = default;
};

// Snapshot names: 1–128 of [A-Za-z0-9._-], not starting with '.'.
bool valid_snapshot_name(std::string_view name);

class LayerStore {
 public:
  // A new, empty volume in `dir` (created if missing; must hold no volume).
  // `size` must be a positive multiple of kBlockSize.
  static Result<std::unique_ptr<LayerStore>> create(const std::string& dir, uint64_t size, bool fenced);
  // The volume in `dir`; leftovers of an interrupted operation are removed.
  static Result<std::unique_ptr<LayerStore>> open(const std::string& dir);
  ~LayerStore();
  LayerStore(const LayerStore&) = delete;
  LayerStore& operator=(const LayerStore&) = delete;

  uint64_t size() const { return size_; }
  bool fenced() const;
  uint64_t epoch() const;
  uint64_t max_seq() const;  // highest snapshot sequence ever taken here (0: none)

  // The head (the live volume). The range must lie inside the volume.
  Status read(uint64_t offset, std::span<uint8_t> out) const;
  // A snapshot's content.
  Status read_snapshot(uint64_t seq, uint64_t offset, std::span<uint8_t> out) const;
  // Writes into the head; with `fua` durable before returning.
  Status write(uint64_t offset, std::span<const uint8_t> data, bool fua);
  Status write_zeroes(uint64_t offset, uint64_t length, bool fua);
  // Makes every earlier write durable: data first, then the bitmaps.
  Status flush();

  // Freezes the head as snapshot `seq` (> max_seq()) and starts a new head.
  Status create_snapshot(uint64_t seq, const std::string& name);
  // Removes the snapshot: merges the smaller of its layer and the next one
  // into the other (crash-safe; an interrupted merge finishes on open).
  Status delete_snapshot(uint64_t seq);
  // Blocks copied by snapshot deletions since this store was opened.
  uint64_t merge_copied_blocks() const;
  // Tests: a merge into the older layer fails (as if the process died) after
  // this many copied runs; 0 turns it off.
  void set_merge_fail_after_runs_for_test(uint64_t runs);
  std::vector<SnapshotInfo> snapshots() const;
  // Blocks written after snapshot `from_seq` (0: since the beginning) up to
  // and including snapshot `to_seq` (0: the head), as coalesced byte ranges.
  Result<std::vector<Extent>> changed_extents(uint64_t from_seq, uint64_t to_seq) const;

  Status set_fenced(bool fenced);
  Status set_epoch(uint64_t epoch);
  // Drops every layer and snapshot: the volume reads as zeros again
  // (a replica about to be rebuilt, which then receives the source's
  // snapshots with their sequence numbers). Keeps fence and epoch.
  Status reset();

 private:
  struct Layer;
  LayerStore(std::string dir, uint64_t size);

  uint64_t blocks() const { return size_ / kBlockSize; }
  Status check_range(uint64_t offset, uint64_t length) const;
  int find_layer(uint64_t seq) const;  // index in layers_, or -1
  // Reads through layers_[0..top] (inclusive).
  Status read_through(size_t top, uint64_t offset, std::span<uint8_t> out) const;
  Status write_locked(uint64_t offset, std::span<const uint8_t> data);
  Status flush_locked();
  Status save_manifest_locked();
  Result<std::unique_ptr<Layer>> new_layer_locked();
  // Copies every block of layers_[from] into layers_[from - 1] (which takes
  // its place) and removes layers_[from]; the merge record must be saved.
  Status copy_blocks_locked(Layer& src, Layer& dst, bool keep_held);
  Status finish_merge_locked();

  const std::string dir_;
  const uint64_t size_;
  mutable std::shared_mutex mu_;
  std::vector<std::unique_ptr<Layer>> layers_;  // oldest first; back() is the head
  uint64_t next_layer_id_ = 1;
  bool fenced_ = false;
  uint64_t epoch_ = 0;
  uint64_t max_seq_ = 0;
  // A merge of layer `from` into the layer `into` just below it, recorded in
  // volume.json and not finished yet.
  struct Merge {
    uint64_t from = 0;
    uint64_t into = 0;
  };
  std::optional<Merge> merge_;
  uint64_t merge_copied_blocks_ = 0;
  uint64_t merge_fail_after_runs_ = 0;
};

}  // namespace stowage::blockvol
