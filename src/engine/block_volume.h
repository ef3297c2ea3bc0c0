// Local PV device: a block volume (a block device, a loop device or an image
// file) backed up block by block (mover's backup_block) from a point-in-time
// copy, so the stored image is consistent even while the volume is in use.
//
// Consistency, in the order Auto tries it (docs/engines.md):
//  - Reflink: the volume is an image file, or a loop device whose backing
//    file lies on a filesystem with reflinks (btrfs, xfs): the image is cloned
//    with FICLONE into a temporary file next to it (instant, shares extents),
//    the clone is read and deleted. If the volume's filesystem is mounted it
//    is frozen for the instant of the clone only.
//  - Freeze: the device's filesystem is mounted: `fsfreeze --freeze` for the
//    whole read, then `--unfreeze` (always, also on error). The freeze window
//    is bounded: a watchdog thaws the filesystem after max_freeze and the
//    backup fails rather than store an inconsistent image.
//  - None: read as is (an unmounted, idle device), and say so.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mover/block.h"
#include "repo/repository.h"
#include "util/progress.h"

namespace stowage::engine {

enum class Consistency { kAuto, kReflink, kFreeze, kNone };
const char* consistency_name(Consistency c);  // "auto", "reflink", "freeze", "none"
Result<Consistency> parse_consistency(std::string_view text);

struct BlockVolumeBackupOptions {
  std::vector<std::string> tags;  // "block.consistency=<method>" is added
  std::optional<ObjectId> parent;
  std::optional<std::vector<Extent>> changed;  // needs parent (see mover/block.h)
  Consistency consistency = Consistency::kAuto;
  std::chrono::milliseconds max_freeze{std::chrono::seconds(60)};  // longest time a filesystem stays frozen
  size_t workers = 0;
  Progress* progress = nullptr;
};

struct BlockVolumeBackupResult {
  Snapshot snapshot;
  Consistency method = Consistency::kNone;  // the method used: kReflink, kFreeze or kNone
  std::string detail;                       // how, in words (for logs and the backup's status)
  std::string frozen_mountpoint;            // the filesystem frozen, if any
  double frozen_seconds = 0;                // how long it stayed frozen
};

Result<BlockVolumeBackupResult> backup_block_volume(Repository& repo, const std::string& device_or_image,
                                                    const BlockVolumeBackupOptions& options);

// Writes a block snapshot to device (or image file). Refuses a target that is
// mounted or otherwise held open exclusively (kConflict), and an image file
// attached to a mounted loop device.
Status restore_block_volume(Repository& repo, const Snapshot& snapshot, const std::string& device,
                            Progress* progress);

// Helpers, public for tests and the node agent.
struct MountEntry {
  std::string mountpoint;
  std::string fstype;
  std::string source;
};
// The first mount of block device dev (by its device number, or by source
// path), or nullopt.
Result<std::optional<MountEntry>> find_mount_of_device(dev_t dev, const std::string& device_path);
// The backing file of a loop device ("/dev/loop3"), or "" when device is not
// an attached loop device.
std::string loop_backing_file(const std::string& device);
// The loop device ("/dev/loopN") an image file is attached to, or "".
std::string loop_device_of_image(const std::string& image);

}  // namespace stowage::engine
