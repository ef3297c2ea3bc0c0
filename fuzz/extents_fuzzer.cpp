// Fuzzes parse_extents (the file of `stowage snapshot create --block ...
// --changed-extents FILE`) and the code that consumes its result: when the
// list parses (and is short), an incremental backup_block runs with it against
// a small image whose full backup is its parent, in an in-memory repository.
// Whatever the extents say, the backup must succeed and describe the image
// exactly as the parent does (the image never changes).
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_common.h"
#include "mover/block.h"
#include "store/memory_store.h"

using namespace stowage;

namespace {

constexpr uint32_t kBlock = 4096;
constexpr size_t kImageSize = 10 * kBlock + 100;  // 11 blocks, the last one short

struct Fixture {
  std::string image;
  std::unique_ptr<Repository> repo;
  Snapshot parent;
};

Fixture* fixture() {
  static Fixture* f = [] {
    auto* fx = new Fixture;
    // An anonymous in-memory file, opened by backup_block through /proc so
    // that nothing is left behind when a crash ends the process.
    int fd = memfd_create("stowage-extents-fuzz-image", MFD_CLOEXEC);
    if (fd < 0) abort();
    Bytes image(kImageSize);
    for (size_t i = 0; i < image.size(); i++) image[i] = uint8_t((i * 2654435761u) >> 13);
    std::fill(image.begin() + 3 * kBlock, image.begin() + 4 * kBlock, 0);  // one hole
    if (write(fd, image.data(), image.size()) != ssize_t(image.size())) abort();
    fx->image = "/proc/self/fd/" + std::to_string(fd);  // fd stays open for the process's life

    auto store = std::make_shared<MemoryStore>();
    InitOptions init;
    init.kdf = crypto::ScryptParams{16, 8, 1};
    init.block_size = kBlock;
    init.pack_size = 1 << 20;
    if (!Repository::init(*store, "pw", init).ok()) abort();
    auto repo = Repository::open(store, "pw");
    if (!repo.ok()) abort();
    fx->repo = std::move(repo).value();
    BlockBackupOptions full;
    full.workers = 1;
    auto parent = backup_block(*fx->repo, fx->image, full);
    if (!parent.ok()) abort();
    fx->parent = std::move(parent).value();
    return fx;
  }();
  return f;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::maybe_write_seeds("extents", [] {
    return fuzz::Seeds{{"two_lines", to_bytes("0 4096\n8192 100\n")},
                       {"comments", to_bytes("# changed blocks\n  12288\t4096  # a hole\r\n\n40960 100\n")},
                       {"empty", to_bytes("")},
                       {"past_end", to_bytes("1000000 5\n40000 999999\n")}};
  });
  (void)fixture();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  Result<std::vector<Extent>> extents = parse_extents(text);
  if (!extents.ok() || extents->size() > 32) return 0;

  Fixture* fx = fixture();
  BlockBackupOptions options;
  options.workers = 1;
  options.parent = fx->parent.id;
  options.changed = *extents;
  Result<Snapshot> snap = backup_block(*fx->repo, fx->image, options);
  FUZZ_CHECK(snap.ok());
  FUZZ_CHECK(snap->root == fx->parent.root && snap->size == fx->parent.size);
  FUZZ_CHECK(fx->repo->remove_snapshot(snap->id).ok());
  return 0;
}
