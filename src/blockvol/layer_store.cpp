#include "blockvol/layer_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

namespace stowage::blockvol {
namespace {

constexpr size_t kMapPage = 4096;          // bitmap bytes written per dirty page
constexpr uint64_t kCopyBlocks = 256;      // blocks per copy when merging (1 MiB)
constexpr char kManifest[] = "volume.json";

Error io_error(const std::string& what, const std::string& object) {
  return Error(ErrorCode::kIo, what + ": " + std::strerror(errno), object);
}

Status pread_full(int fd, uint8_t* out, size_t length, uint64_t offset, const std::string& object) {
  size_t done = 0;
  while (done < length) {
    ssize_t n = ::pread(fd, out + done, length - done, off_t(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return io_error("pread", object);
    if (n == 0) {  // past the end of a short file: the rest reads as zeros
      std::memset(out + done, 0, length - done);
      return ok_status();
    }
    done += size_t(n);
  }
  return ok_status();
}

Status pwrite_full(int fd, const uint8_t* data, size_t length, uint64_t offset, const std::string& object) {
  size_t done = 0;
  while (done < length) {
    ssize_t n = ::pwrite(fd, data + done, length - done, off_t(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return io_error("pwrite", object);
    done += size_t(n);
  }
  return ok_status();
}

Status sync_dir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return io_error("open", dir);
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return io_error("fsync", dir);
  return ok_status();
}

std::string layer_file(uint64_t id, const char* suffix) {
  char name[64];
  std::snprintf(name, sizeof name, "layer-%06llu.%s", static_cast<unsigned long long>(id), suffix);
  return name;
}

}  // namespace

bool valid_snapshot_name(std::string_view name) {
  if (name.empty() || name.size() > 128 || name[0] == '.') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '-';
  });
}

struct LayerStore::Layer {
  uint64_t id = 0;
  std::optional<SnapshotInfo> snapshot;  // set once frozen
  int data_fd = -1;
  int map_fd = -1;
  std::string data_path;
  std::string map_path;
  std::vector<uint8_t> bitmap;      // bit b set: block b is held by this layer
  uint64_t held = 0;                // bits set in bitmap
  bool merging = false;             // being merged into (its snapshot is gone)
  std::set<size_t> dirty_pages;     // bitmap pages changed since the last flush
  bool data_dirty = false;          // data written since the last fdatasync

  ~Layer() {
    if (data_fd >= 0) ::close(data_fd);
    if (map_fd >= 0) ::close(map_fd);
  }
  bool test(uint64_t b) const { return (bitmap[b >> 3] >> (b & 7)) & 1; }
  void set(uint64_t b) {
    uint8_t& byte = bitmap[b >> 3];
    uint8_t bit = uint8_t(1u << (b & 7));
    if (!(byte & bit)) {
      byte |= bit;
      ++held;
      dirty_pages.insert((b >> 3) / kMapPage);
    }
  }
  // Data first, then the map pages that name it: a set bit on disk always
  // points at durable data. Bits only ever go from 0 to 1 within a layer,
  // so a torn page write leaves a mix that is still correct.
  Status sync() {
    if (data_dirty || !dirty_pages.empty()) {
      if (::fdatasync(data_fd) != 0) return io_error("fdatasync", data_path);
      data_dirty = false;
    }
    if (dirty_pages.empty()) return ok_status();
    for (size_t page : dirty_pages) {
      size_t begin = page * kMapPage;
      size_t len = std::min(kMapPage, bitmap.size() - begin);
      TRY_STATUS(pwrite_full(map_fd, bitmap.data() + begin, len, begin, map_path));
    }
    if (::fdatasync(map_fd) != 0) return io_error("fdatasync", map_path);
    dirty_pages.clear();
    return ok_status();
  }
};

LayerStore::LayerStore(std::string dir, uint64_t size) : dir_(std::move(dir)), size_(size) {}
LayerStore::~LayerStore() {
  std::unique_lock lock(mu_);
  (void)flush_locked();
}

Result<std::unique_ptr<LayerStore::Layer>> LayerStore::new_layer_locked() {
  auto layer = std::make_unique<Layer>();
  layer->id = next_layer_id_++;
  layer->data_path = dir_ + "/" + layer_file(layer->id, "data");
  layer->map_path = dir_ + "/" + layer_file(layer->id, "map");
  layer->bitmap.assign((blocks() + 7) / 8, 0);
  layer->data_fd = ::open(layer->data_path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (layer->data_fd < 0) return io_error("create", layer->data_path);
  layer->map_fd = ::open(layer->map_path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (layer->map_fd < 0) return io_error("create", layer->map_path);
  if (::ftruncate(layer->data_fd, off_t(size_)) != 0) return io_error("ftruncate", layer->data_path);
  if (::ftruncate(layer->map_fd, off_t(layer->bitmap.size())) != 0) return io_error("ftruncate", layer->map_path);
  if (::fsync(layer->data_fd) != 0 || ::fsync(layer->map_fd) != 0) return io_error("fsync", layer->data_path);
  TRY_STATUS(sync_dir(dir_));
  return layer;
}

Status LayerStore::save_manifest_locked() {
  nlohmann::json j;
  // Format 2 only while a merge is recorded: an older program would ignore
  // the record and read the layer being overwritten as the snapshot.
  j["format"] = merge_ ? 2 : 1;
  j["size"] = size_;
  j["block_size"] = kBlockSize;
  j["fenced"] = fenced_;
  j["epoch"] = epoch_;
  j["max_seq"] = max_seq_;
  j["next_layer_id"] = next_layer_id_;
  j["layers"] = nlohmann::json::array();
  for (const auto& layer : layers_) {
    nlohmann::json l;
    l["id"] = layer->id;
    if (layer->snapshot)
      l["snapshot"] = {{"seq", layer->snapshot->seq}, {"name", layer->snapshot->name},
                       {"created", layer->snapshot->created_unix}};
    j["layers"].push_back(l);
  }
  if (merge_) j["merge"] = {{"from", merge_->from}, {"into", merge_->into}};
  std::string text = j.dump(2) + "\n";
  std::string tmp = dir_ + "/" + kManifest + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return io_error("create", tmp);
  Status written = pwrite_full(fd, reinterpret_cast<const uint8_t*>(text.data()), text.size(), 0, tmp);
  if (written.ok() && ::fsync(fd) != 0) written = io_error("fsync", tmp);
  ::close(fd);
  TRY_STATUS(written);
  if (::rename(tmp.c_str(), (dir_ + "/" + kManifest).c_str()) != 0) return io_error("rename", tmp);
  return sync_dir(dir_);
}

Result<std::unique_ptr<LayerStore>> LayerStore::create(const std::string& dir, uint64_t size, bool fenced) {
  if (size == 0 || size % kBlockSize != 0)
    return Error(ErrorCode::kInvalidArgument, "volume size must be a positive multiple of 4096 bytes",
                 std::to_string(size));
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return io_error("mkdir", dir);
  std::string manifest = dir + "/" + kManifest;
  if (::access(manifest.c_str(), F_OK) == 0)
    return Error(ErrorCode::kAlreadyExists, "the directory already holds a volume", dir,
                 "open it without --create, or choose an empty directory");
  std::unique_ptr<LayerStore> store(new LayerStore(dir, size));
  std::unique_lock lock(store->mu_);
  store->fenced_ = fenced;
  store->layers_.push_back(TRY(store->new_layer_locked()));
  TRY_STATUS(store->save_manifest_locked());
  lock.unlock();
  return store;
}

Result<std::unique_ptr<LayerStore>> LayerStore::open(const std::string& dir) {
  std::string manifest_path = dir + "/" + kManifest;
  std::ifstream in(manifest_path);
  if (!in) return Error(ErrorCode::kNotFound, "no volume here (volume.json missing)", dir, "create it with --create");
  std::stringstream text;
  text << in.rdbuf();
  nlohmann::json j = nlohmann::json::parse(text.str(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Error(ErrorCode::kCorrupt, "volume.json is not JSON", manifest_path);
  try {
    int format = j.at("format").get<int>();
    if (format > kStoreFormat)
      return Error(ErrorCode::kUnsupported, "volume format " + std::to_string(format) + " is newer than this program",
                   manifest_path);
    if (j.at("block_size").get<uint32_t>() != kBlockSize)
      return Error(ErrorCode::kCorrupt, "unexpected block size", manifest_path);
    uint64_t size = j.at("size").get<uint64_t>();
    if (size == 0 || size % kBlockSize != 0) return Error(ErrorCode::kCorrupt, "bad volume size", manifest_path);
    std::unique_ptr<LayerStore> store(new LayerStore(dir, size));
    std::unique_lock lock(store->mu_);
    store->fenced_ = j.at("fenced").get<bool>();
    store->epoch_ = j.at("epoch").get<uint64_t>();
    store->max_seq_ = j.at("max_seq").get<uint64_t>();
    store->next_layer_id_ = j.at("next_layer_id").get<uint64_t>();
    std::set<std::string> referenced;
    for (const auto& l : j.at("layers")) {
      auto layer = std::make_unique<Layer>();
      layer->id = l.at("id").get<uint64_t>();
      if (layer->id >= store->next_layer_id_) return Error(ErrorCode::kCorrupt, "layer id out of range", manifest_path);
      if (l.contains("snapshot")) {
        const auto& s = l.at("snapshot");
        layer->snapshot = SnapshotInfo{s.at("seq").get<uint64_t>(), s.at("name").get<std::string>(),
                                       s.at("created").get<int64_t>()};
      }
      layer->data_path = dir + "/" + layer_file(layer->id, "data");
      layer->map_path = dir + "/" + layer_file(layer->id, "map");
      referenced.insert(layer_file(layer->id, "data"));
      referenced.insert(layer_file(layer->id, "map"));
      layer->data_fd = ::open(layer->data_path.c_str(), O_RDWR | O_CLOEXEC);
      if (layer->data_fd < 0) return io_error("open", layer->data_path);
      layer->map_fd = ::open(layer->map_path.c_str(), O_RDWR | O_CLOEXEC);
      if (layer->map_fd < 0) return io_error("open", layer->map_path);
      layer->bitmap.assign((store->blocks() + 7) / 8, 0);
      struct stat st {};
      if (::fstat(layer->map_fd, &st) != 0) return io_error("stat", layer->map_path);
      if (uint64_t(st.st_size) != layer->bitmap.size())
        return Error(ErrorCode::kCorrupt, "block map has the wrong size", layer->map_path);
      TRY_STATUS(pread_full(layer->map_fd, layer->bitmap.data(), layer->bitmap.size(), 0, layer->map_path));
      for (uint8_t byte : layer->bitmap) layer->held += uint64_t(std::popcount(byte));
      // Bits past the last block must be clear.
      for (uint64_t b = store->blocks(); b < layer->bitmap.size() * 8; ++b)
        if (layer->test(b)) return Error(ErrorCode::kCorrupt, "block map names a block past the end", layer->map_path);
      store->layers_.push_back(std::move(layer));
    }
    if (store->layers_.empty() || store->layers_.back()->snapshot)
      return Error(ErrorCode::kCorrupt, "the layer chain has no head", manifest_path);
    for (size_t i = 0; i + 1 < store->layers_.size(); ++i) {
      if (!store->layers_[i]->snapshot) return Error(ErrorCode::kCorrupt, "a layer below the head is not a snapshot", manifest_path);
      if (i > 0 && store->layers_[i]->snapshot->seq <= store->layers_[i - 1]->snapshot->seq)
        return Error(ErrorCode::kCorrupt, "snapshot sequence numbers do not increase", manifest_path);
    }
    // Leftovers of an interrupted snapshot, merge or reset.
    if (DIR* d = ::opendir(dir.c_str())) {
      while (dirent* e = ::readdir(d)) {
        std::string name = e->d_name;
        bool layer_file_name = name.rfind("layer-", 0) == 0;
        if ((layer_file_name && !referenced.count(name)) || name == std::string(kManifest) + ".tmp")
          ::unlink((dir + "/" + name).c_str());
      }
      ::closedir(d);
    }
    // A merge into an older layer that was interrupted: the layer being
    // merged into is no snapshot any more; redo the copy (the newer layer is
    // unchanged until the swap) and finish before serving anything.
    if (j.contains("merge")) {
      const auto& m = j.at("merge");
      Merge merge{m.at("from").get<uint64_t>(), m.at("into").get<uint64_t>()};
      size_t from = 0;
      while (from < store->layers_.size() && store->layers_[from]->id != merge.from) ++from;
      if (from == 0 || from == store->layers_.size() || store->layers_[from - 1]->id != merge.into)
        return Error(ErrorCode::kCorrupt, "the merge record does not name a layer and the one below it", manifest_path);
      store->merge_ = merge;
      store->layers_[from - 1]->merging = true;
      TRY_STATUS(store->finish_merge_locked());
    }
    lock.unlock();
    return store;
  } catch (const nlohmann::json::exception& e) {
    return Error(ErrorCode::kCorrupt, std::string("volume.json: ") + e.what(), manifest_path);
  }
}

bool LayerStore::fenced() const {
  std::shared_lock lock(mu_);
  return fenced_;
}
uint64_t LayerStore::epoch() const {
  std::shared_lock lock(mu_);
  return epoch_;
}
uint64_t LayerStore::max_seq() const {
  std::shared_lock lock(mu_);
  return max_seq_;
}

Status LayerStore::check_range(uint64_t offset, uint64_t length) const {
  if (offset > size_ || length > size_ - offset)
    return Error(ErrorCode::kInvalidArgument, "range " + std::to_string(offset) + "+" + std::to_string(length) +
                                                  " is outside the volume (" + std::to_string(size_) + " bytes)");
  return ok_status();
}

int LayerStore::find_layer(uint64_t seq) const {
  for (size_t i = 0; i < layers_.size(); ++i)
    if (layers_[i]->snapshot && !layers_[i]->merging && layers_[i]->snapshot->seq == seq) return int(i);
  return -1;
}

Status LayerStore::read_through(size_t top, uint64_t offset, std::span<uint8_t> out) const {
  auto source_of = [&](uint64_t block) -> int {
    for (size_t i = top + 1; i-- > 0;)
      if (layers_[i]->test(block)) return int(i);
    return -1;
  };
  const uint64_t end = offset + out.size();
  uint64_t pos = offset;
  while (pos < end) {
    uint64_t block = pos / kBlockSize;
    int source = source_of(block);
    uint64_t next = block + 1;
    while (next * kBlockSize < end && source_of(next) == source) ++next;
    uint64_t run_end = std::min(end, next * kBlockSize);
    uint8_t* dst = out.data() + (pos - offset);
    if (source < 0)
      std::memset(dst, 0, run_end - pos);
    else
      TRY_STATUS(pread_full(layers_[source]->data_fd, dst, run_end - pos, pos, layers_[source]->data_path));
    pos = run_end;
  }
  return ok_status();
}

Status LayerStore::read(uint64_t offset, std::span<uint8_t> out) const {
  TRY_STATUS(check_range(offset, out.size()));
  std::shared_lock lock(mu_);
  return read_through(layers_.size() - 1, offset, out);
}

Status LayerStore::read_snapshot(uint64_t seq, uint64_t offset, std::span<uint8_t> out) const {
  TRY_STATUS(check_range(offset, out.size()));
  std::shared_lock lock(mu_);
  int index = find_layer(seq);
  if (index < 0) return Error(ErrorCode::kNotFound, "no snapshot with sequence " + std::to_string(seq));
  return read_through(size_t(index), offset, out);
}

Status LayerStore::write_locked(uint64_t offset, std::span<const uint8_t> data) {
  Layer& head = *layers_.back();
  const uint64_t end = offset + data.size();
  uint64_t pos = offset;
  while (pos < end) {
    uint64_t block = pos / kBlockSize;
    uint64_t block_start = block * kBlockSize;
    uint64_t block_end = block_start + kBlockSize;
    const uint8_t* src = data.data() + (pos - offset);
    if (pos == block_start && end >= block_end) {  // a run of whole blocks
      uint64_t run_end = block_start + (end - block_start) / kBlockSize * kBlockSize;
      TRY_STATUS(pwrite_full(head.data_fd, src, run_end - pos, pos, head.data_path));
      for (uint64_t b = block; b < run_end / kBlockSize; ++b) head.set(b);
      pos = run_end;
    } else {  // part of one block
      uint64_t seg_end = std::min(end, block_end);
      if (head.test(block)) {
        TRY_STATUS(pwrite_full(head.data_fd, src, seg_end - pos, pos, head.data_path));
      } else {  // copy on write: the rest of the block comes from the layers below
        std::vector<uint8_t> buf(kBlockSize, 0);
        if (layers_.size() > 1) TRY_STATUS(read_through(layers_.size() - 2, block_start, buf));
        std::memcpy(buf.data() + (pos - block_start), src, seg_end - pos);
        TRY_STATUS(pwrite_full(head.data_fd, buf.data(), buf.size(), block_start, head.data_path));
        head.set(block);
      }
      pos = seg_end;
    }
  }
  head.data_dirty = true;
  return ok_status();
}

Status LayerStore::write(uint64_t offset, std::span<const uint8_t> data, bool fua) {
  TRY_STATUS(check_range(offset, data.size()));
  std::unique_lock lock(mu_);
  TRY_STATUS(write_locked(offset, data));
  if (fua) TRY_STATUS(flush_locked());
  return ok_status();
}

Status LayerStore::write_zeroes(uint64_t offset, uint64_t length, bool fua) {
  TRY_STATUS(check_range(offset, length));
  std::unique_lock lock(mu_);
  Layer& head = *layers_.back();
  const uint64_t end = offset + length;
  // Whole blocks become holes in the head (held, reading as zeros); the
  // partial blocks at either end are written.
  uint64_t first_full = (offset + kBlockSize - 1) / kBlockSize * kBlockSize;
  uint64_t last_full = end / kBlockSize * kBlockSize;
  std::vector<uint8_t> zeros(kBlockSize, 0);
  if (first_full >= last_full) {
    for (uint64_t pos = offset; pos < end;) {
      uint64_t n = std::min<uint64_t>(end - pos, kBlockSize - pos % kBlockSize);
      TRY_STATUS(write_locked(pos, std::span<const uint8_t>(zeros.data(), n)));
      pos += n;
    }
  } else {
    if (offset < first_full) TRY_STATUS(write_locked(offset, std::span<const uint8_t>(zeros.data(), first_full - offset)));
    if (last_full < end) TRY_STATUS(write_locked(last_full, std::span<const uint8_t>(zeros.data(), end - last_full)));
    if (::fallocate(head.data_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off_t(first_full),
                    off_t(last_full - first_full)) != 0) {
      std::vector<uint8_t> big(1 << 20, 0);
      for (uint64_t pos = first_full; pos < last_full;) {
        uint64_t n = std::min<uint64_t>(last_full - pos, big.size());
        TRY_STATUS(pwrite_full(head.data_fd, big.data(), n, pos, head.data_path));
        pos += n;
      }
    }
    for (uint64_t b = first_full / kBlockSize; b < last_full / kBlockSize; ++b) head.set(b);
    head.data_dirty = true;
  }
  if (fua) TRY_STATUS(flush_locked());
  return ok_status();
}

Status LayerStore::flush_locked() {
  for (auto& layer : layers_) TRY_STATUS(layer->sync());
  return ok_status();
}

Status LayerStore::flush() {
  std::unique_lock lock(mu_);
  return flush_locked();
}

Status LayerStore::create_snapshot(uint64_t seq, const std::string& name) {
  if (!valid_snapshot_name(name))
    return Error(ErrorCode::kInvalidArgument, "bad snapshot name", name, "use 1-128 of A-Z a-z 0-9 . _ -");
  std::unique_lock lock(mu_);
  if (seq <= max_seq_)
    return Error(ErrorCode::kConflict, "snapshot sequence " + std::to_string(seq) + " is not above the last one (" +
                                           std::to_string(max_seq_) + ")");
  for (const auto& layer : layers_)
    if (layer->snapshot && layer->snapshot->name == name)
      return Error(ErrorCode::kAlreadyExists, "a snapshot with this name exists", name);
  TRY_STATUS(flush_locked());
  auto head = TRY(new_layer_locked());
  Layer& frozen = *layers_.back();
  frozen.snapshot = SnapshotInfo{seq, name,
                                 std::chrono::duration_cast<std::chrono::seconds>(
                                     std::chrono::system_clock::now().time_since_epoch()).count()};
  uint64_t old_max = max_seq_;
  max_seq_ = seq;
  layers_.push_back(std::move(head));
  Status saved = save_manifest_locked();
  if (!saved.ok()) {
    ::unlink(layers_.back()->data_path.c_str());
    ::unlink(layers_.back()->map_path.c_str());
    layers_.pop_back();
    frozen.snapshot.reset();
    max_seq_ = old_max;
  }
  return saved;
}

Status LayerStore::delete_snapshot(uint64_t seq) {
  std::unique_lock lock(mu_);
  if (merge_) TRY_STATUS(finish_merge_locked());  // one that failed earlier
  int index = find_layer(seq);
  if (index < 0) return Error(ErrorCode::kNotFound, "no snapshot with sequence " + std::to_string(seq));
  Layer& gone = *layers_[size_t(index)];
  Layer& child = *layers_[size_t(index) + 1];
  if (child.held < gone.held) {
    // The child is smaller: copy its blocks into the layer, which then takes
    // the child's place. That overwrites the snapshot, so record the intent
    // first; open redoes an interrupted merge. Flushing first makes the
    // child's map on disk what a redo would copy.
    TRY_STATUS(flush_locked());
    merge_ = Merge{child.id, gone.id};
    gone.merging = true;
    Status saved = save_manifest_locked();
    if (!saved.ok()) {
      merge_.reset();
      gone.merging = false;
      return saved;
    }
    return finish_merge_locked();
  }
  // Copy every block the child does not hold itself; the child then reads
  // exactly as before, and the layer can go.
  TRY_STATUS(copy_blocks_locked(gone, child, /*keep_held=*/true));
  TRY_STATUS(child.sync());
  std::string data_path = gone.data_path, map_path = gone.map_path;
  layers_.erase(layers_.begin() + index);
  TRY_STATUS(save_manifest_locked());
  ::unlink(data_path.c_str());
  ::unlink(map_path.c_str());
  return ok_status();
}

// Copies src's blocks into dst in runs of up to kCopyBlocks (with keep_held,
// only those dst does not hold itself), marking them held in dst.
Status LayerStore::copy_blocks_locked(Layer& src, Layer& dst, bool keep_held) {
  auto wanted = [&](uint64_t b) { return src.test(b) && !(keep_held && dst.test(b)); };
  std::vector<uint8_t> buf(kCopyBlocks * kBlockSize);
  const uint64_t n = blocks();
  uint64_t runs = 0;
  for (uint64_t b = 0; b < n;) {
    if ((b & 7) == 0 && src.bitmap[b >> 3] == 0) {
      b += 8;
      continue;
    }
    if (!wanted(b)) {
      ++b;
      continue;
    }
    if (merge_fail_after_runs_ != 0 && runs == merge_fail_after_runs_)
      return Error(ErrorCode::kIo, "merge stopped by a test hook", dir_);
    uint64_t run = 1;
    while (b + run < n && run < kCopyBlocks && wanted(b + run)) ++run;
    size_t bytes = size_t(run * kBlockSize);
    TRY_STATUS(pread_full(src.data_fd, buf.data(), bytes, b * kBlockSize, src.data_path));
    TRY_STATUS(pwrite_full(dst.data_fd, buf.data(), bytes, b * kBlockSize, dst.data_path));
    for (uint64_t i = 0; i < run; ++i) dst.set(b + i);
    dst.data_dirty = true;
    merge_copied_blocks_ += run;
    ++runs;
    b += run;
  }
  return ok_status();
}

Status LayerStore::finish_merge_locked() {
  size_t from = 0;
  while (from < layers_.size() && layers_[from]->id != merge_->from) ++from;
  if (from == 0 || from == layers_.size() || layers_[from - 1]->id != merge_->into)
    return Error(ErrorCode::kInternal, "the recorded merge does not match the layer chain");
  Layer& src = *layers_[from];
  Layer& dst = *layers_[from - 1];
  // Copy every block the newer layer holds over the older one's version.
  // Idempotent: the source does not change until the swap below.
  TRY_STATUS(copy_blocks_locked(src, dst, /*keep_held=*/false));
  TRY_STATUS(dst.sync());  // data, then the map
  // The older layer's files now carry the newer layer's identity (its
  // snapshot, or none: the head).
  std::optional<SnapshotInfo> old_snapshot = dst.snapshot;
  dst.snapshot = src.snapshot;
  dst.merging = false;
  std::unique_ptr<Layer> removed = std::move(layers_[from]);
  layers_.erase(layers_.begin() + std::ptrdiff_t(from));
  std::optional<Merge> pending = merge_;
  merge_.reset();
  Status saved = save_manifest_locked();
  if (!saved.ok()) {
    layers_.insert(layers_.begin() + std::ptrdiff_t(from), std::move(removed));
    Layer& back = *layers_[from - 1];
    back.snapshot = old_snapshot;
    back.merging = true;
    merge_ = pending;
    return saved;
  }
  ::unlink(removed->data_path.c_str());
  ::unlink(removed->map_path.c_str());
  return ok_status();
}

uint64_t LayerStore::merge_copied_blocks() const {
  std::shared_lock lock(mu_);
  return merge_copied_blocks_;
}

void LayerStore::set_merge_fail_after_runs_for_test(uint64_t runs) {
  std::unique_lock lock(mu_);
  merge_fail_after_runs_ = runs;
}

std::vector<SnapshotInfo> LayerStore::snapshots() const {
  std::shared_lock lock(mu_);
  std::vector<SnapshotInfo> out;
  for (const auto& layer : layers_)
    if (layer->snapshot && !layer->merging) out.push_back(*layer->snapshot);
  return out;
}

Result<std::vector<Extent>> LayerStore::changed_extents(uint64_t from_seq, uint64_t to_seq) const {
  std::shared_lock lock(mu_);
  int from = -1;
  if (from_seq != 0) {
    from = find_layer(from_seq);
    if (from < 0) return Error(ErrorCode::kNotFound, "no snapshot with sequence " + std::to_string(from_seq));
  }
  int to = int(layers_.size()) - 1;
  if (to_seq != 0) {
    to = find_layer(to_seq);
    if (to < 0) return Error(ErrorCode::kNotFound, "no snapshot with sequence " + std::to_string(to_seq));
  }
  if (from >= to)
    return Error(ErrorCode::kInvalidArgument, "the first snapshot must be older than the second");
  std::vector<Extent> out;
  const uint64_t n = blocks();
  auto changed = [&](uint64_t b) {
    for (int i = from + 1; i <= to; ++i)
      if (layers_[size_t(i)]->test(b)) return true;
    return false;
  };
  auto byte_clear = [&](uint64_t b) {
    for (int i = from + 1; i <= to; ++i)
      if (layers_[size_t(i)]->bitmap[b >> 3] != 0) return false;
    return true;
  };
  for (uint64_t b = 0; b < n;) {
    if ((b & 7) == 0 && byte_clear(b)) {
      b += 8;
      continue;
    }
    if (changed(b)) {
      uint64_t offset = b * kBlockSize;
      if (!out.empty() && out.back().offset + out.back().length == offset)
        out.back().length += kBlockSize;
      else
        out.push_back(Extent{offset, kBlockSize});
    }
    ++b;
  }
  return out;
}

Status LayerStore::set_fenced(bool fenced) {
  std::unique_lock lock(mu_);
  if (fenced_ == fenced) return ok_status();
  TRY_STATUS(flush_locked());
  fenced_ = fenced;
  Status saved = save_manifest_locked();
  if (!saved.ok()) fenced_ = !fenced;
  return saved;
}

Status LayerStore::set_epoch(uint64_t epoch) {
  std::unique_lock lock(mu_);
  if (epoch_ == epoch) return ok_status();
  uint64_t old = epoch_;
  epoch_ = epoch;
  Status saved = save_manifest_locked();
  if (!saved.ok()) epoch_ = old;
  return saved;
}

Status LayerStore::reset() {
  std::unique_lock lock(mu_);
  auto head = TRY(new_layer_locked());
  std::vector<std::unique_ptr<Layer>> old;
  old.swap(layers_);
  layers_.push_back(std::move(head));
  uint64_t old_max = max_seq_;
  max_seq_ = 0;
  std::optional<Merge> old_merge = merge_;
  merge_.reset();
  Status saved = save_manifest_locked();
  if (!saved.ok()) {  // keep the old chain; the new head's files are orphans
    layers_.swap(old);
    max_seq_ = old_max;
    merge_ = old_merge;
    return saved;
  }
  for (auto& layer : old) {
    ::unlink(layer->data_path.c_str());
    ::unlink(layer->map_path.c_str());
  }
  return ok_status();
}

}  // namespace stowage::blockvol
