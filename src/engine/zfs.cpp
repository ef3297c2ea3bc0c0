#include "engine/zfs.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>

#include "mover/stream.h"
#include "util/clock.h"
#include "util/process.h"

namespace stowage::engine {

namespace {

const char* const kZfs = "zfs";

// Properties recorded but never set on a restored dataset: the mountpoint
// (the restored copy must not mount over the original) and those that only
// `zfs create` can set (the stream carries them, or they cannot change).
const std::set<std::string>& properties_not_restored() {
  static const std::set<std::string> names = {
      "mountpoint", "casesensitivity", "normalization", "utf8only", "volsize",  "volblocksize",
      "encryption", "keyformat",       "keylocation",   "pbkdf2iters", "version", "zoned",
  };
  return names;
}

bool name_char_ok(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
         c == ':' || c == '.';
}

Status check_component(const std::string& component, const std::string& whole, const char* what) {
  if (component.empty())
    return Error(ErrorCode::kInvalidArgument, std::string("invalid ZFS ") + what + " name: empty component", whole,
                 "write it as pool/dataset, without leading, trailing or doubled '/'");
  if (component == "." || component == "..")
    return Error(ErrorCode::kInvalidArgument, std::string("invalid ZFS ") + what + " name: '.' or '..' component",
                 whole, "name the dataset by its full path inside the pool");
  for (char c : component)
    if (!name_char_ok(c))
      return Error(ErrorCode::kInvalidArgument,
                   std::string("invalid ZFS ") + what + " name: character '" + std::string(1, c) + "' is not allowed",
                   whole, "use letters, digits and _-:. in names, '/' between components");
  return ok_status();
}

std::string tag_value(const Snapshot& snap, const std::string& prefix) {
  for (const auto& t : snap.tags)
    if (t.rfind(prefix, 0) == 0) return t.substr(prefix.size());
  return "";
}

// Runs a zfs command; the error names object and carries the hint.
Result<std::string> zfs(const std::vector<std::string>& args, const std::string& object, const std::string& hint = {}) {
  std::vector<std::string> argv{kZfs};
  argv.insert(argv.end(), args.begin(), args.end());
  auto out = run_checked(argv);
  if (!out.ok()) {
    Error e = std::move(out).error();
    Error named(e.code(), e.message(), object, e.hint().empty() ? hint : e.hint());
    if (e.code() == ErrorCode::kNotFound)
      named.set_hint("install ZFS (zfs-fuse or OpenZFS) on the node, with `zfs` on PATH");
    return named;
  }
  return out;
}

// Sets each recorded property on target; returns the ones that failed.
Status apply_properties(const std::string& target, const std::map<std::string, std::string>& properties) {
  std::vector<std::string> failed;
  std::string first_error;
  for (const auto& [name, value] : properties) {
    if (properties_not_restored().count(name)) continue;
    auto r = zfs({"set", name + "=" + value, target}, target);
    if (!r.ok()) {
      failed.push_back(name + "=" + value);
      if (first_error.empty()) first_error = r.error().message();
    }
  }
  if (failed.empty()) return ok_status();
  std::string list;
  for (const auto& f : failed) list += (list.empty() ? "" : " ") + f;
  return Error(ErrorCode::kIo,
               "the data of " + target + " was restored, but " + std::to_string(failed.size()) +
                   " recorded propert" + (failed.size() == 1 ? "y" : "ies") + " could not be set: " + list +
                   " (first error: " + first_error + ")",
               target, "set them by hand with `zfs set NAME=VALUE " + target + "` if this ZFS supports them");
}

std::string parent_of(const std::string& dataset) {
  auto slash = dataset.rfind('/');
  return slash == std::string::npos ? "" : dataset.substr(0, slash);
}

}  // namespace

Status validate_dataset_name(const std::string& dataset) {
  if (dataset.empty())
    return Error(ErrorCode::kInvalidArgument, "empty ZFS dataset name", dataset, "name the dataset as pool/dataset");
  if (dataset[0] == '-')
    return Error(ErrorCode::kInvalidArgument, "invalid ZFS dataset name: it starts with '-'", dataset,
                 "dataset names start with the pool name");
  if (dataset.find('@') != std::string::npos || dataset.find('#') != std::string::npos)
    return Error(ErrorCode::kInvalidArgument, "a dataset is expected here, not a snapshot or bookmark ('@' or '#')",
                 dataset, "pass the dataset without the @snapshot part");
  if (dataset.size() > 255)
    return Error(ErrorCode::kInvalidArgument, "ZFS dataset name longer than 255 characters", dataset);
  size_t start = 0;
  for (;;) {
    size_t slash = dataset.find('/', start);
    TRY_STATUS(check_component(dataset.substr(start, slash == std::string::npos ? std::string::npos : slash - start),
                               dataset, "dataset"));
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return ok_status();
}

Status validate_snapshot_short_name(const std::string& name) {
  if (!name.empty() && name[0] == '-')
    return Error(ErrorCode::kInvalidArgument, "invalid ZFS snapshot name: it starts with '-'", name);
  if (name.find('/') != std::string::npos || name.find('@') != std::string::npos)
    return Error(ErrorCode::kInvalidArgument, "invalid ZFS snapshot name: '/' or '@' in the part after '@'", name,
                 "give the snapshot's own name, e.g. stowage-nightly-1");
  return check_component(name, name, "snapshot");
}

Status validate_snapshot_name(const std::string& snapshot) {
  auto at = snapshot.find('@');
  if (at == std::string::npos)
    return Error(ErrorCode::kInvalidArgument, "not a ZFS snapshot name (no '@')", snapshot,
                 "write it as pool/dataset@snapshot");
  TRY_STATUS(validate_dataset_name(snapshot.substr(0, at)));
  return validate_snapshot_short_name(snapshot.substr(at + 1));
}

Result<bool> zfs_exists(const std::string& name) {
  auto r = TRY(run_process({kZfs, "list", "-H", "-o", "name", "-t", "all", name}));
  if (r.succeeded()) return true;
  if (r.err.find("does not exist") != std::string::npos) return false;
  return Error(command_error({kZfs, "list", "-H", "-o", "name", "-t", "all", name}, r))
      .set_object(name)
      .set_hint("check that the ZFS daemon or module is running (`zpool status`)");
}

Result<std::map<std::string, std::string>> zfs_local_properties(const std::string& dataset) {
  std::string out = TRY(zfs({"get", "-H", "-p", "-s", "local", "-o", "property,value", "all", dataset}, dataset));
  std::map<std::string, std::string> props;
  size_t pos = 0;
  while (pos < out.size()) {
    size_t nl = out.find('\n', pos);
    if (nl == std::string::npos) nl = out.size();
    std::string line = out.substr(pos, nl - pos);
    pos = nl + 1;
    if (line.empty()) continue;
    auto tab = line.find('\t');
    if (tab == std::string::npos || tab == 0)
      return Error(ErrorCode::kCorrupt, "unexpected `zfs get` output line: " + line, dataset);
    props[line.substr(0, tab)] = line.substr(tab + 1);
  }
  return props;
}

Result<std::string> zfs_mountpoint(const std::string& dataset) {
  std::string out = TRY(zfs({"get", "-H", "-o", "value", "mountpoint", dataset}, dataset));
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

namespace {

// The send stream into a stream snapshot, cut along its records: every
// DRR_WRITE payload (a block) is chunked on its own, apart from the headers
// around it, so an unchanged block yields the same chunk in every full
// stream (docs/engines.md, "Record-aligned chunks").
Result<Snapshot> backup_send_stream(Repository& repo, int fd, const StreamBackupOptions& options,
                                    ZfsStreamParser& parser) {
  StreamWriter out(repo, options);
  Bytes buf(4 << 20);
  std::vector<ZfsPiece> pieces;
  for (;;) {
    ssize_t n = read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0)
      return Error(ErrorCode::kIo, std::string("reading the send stream failed: ") + strerror(errno), options.name);
    if (n == 0) break;
    pieces.clear();
    parser.feed(ByteView(buf.data(), size_t(n)), pieces);
    size_t at = 0;
    for (const auto& piece : pieces) {
      TRY_STATUS(out.write(ByteView(buf.data() + at, piece.length)));
      at += piece.length;
      if (piece.cut_after) TRY_STATUS(out.cut());
    }
  }
  parser.finish();
  return out.finish();
}

}  // namespace

Result<std::string> snapshot_zfs_dataset(const std::string& dataset, const std::string& snapshot_name) {
  TRY_STATUS(validate_dataset_name(dataset));
  std::string name = snapshot_name.empty() ? "stowage-" + std::to_string(now_unix()) : snapshot_name;
  TRY_STATUS(validate_snapshot_short_name(name));
  if (!TRY(zfs_exists(dataset)))
    return Error(ErrorCode::kNotFound, "ZFS dataset does not exist", dataset,
                 "check the volume's dataset name with `zfs list`");
  const std::string local = dataset + "@" + name;
  if (TRY(zfs_exists(local)))
    return Error(ErrorCode::kAlreadyExists, "a ZFS snapshot of that name already exists", local,
                 "choose another snapshot name; if it was left by an interrupted backup, remove it with "
                 "`zfs destroy " + local + "`");
  TRY(zfs({"snapshot", local}, local));
  return local;
}

Result<ZfsBackupResult> backup_zfs_dataset(Repository& repo, const std::string& dataset,
                                           const ZfsBackupOptions& options) {
  ZfsBackupResult result;
  const std::string local = TRY(snapshot_zfs_dataset(dataset, options.snapshot_name));

  bool keep = false;
  struct DestroyUnlessKept {
    const std::string& snapshot;
    bool& keep;
    ~DestroyUnlessKept() {
      if (!keep) (void)run_process({kZfs, "destroy", snapshot});
    }
  } guard{local, keep};
  result.properties = TRY(zfs_local_properties(dataset));

  std::vector<std::string> tags = options.tags;
  tags.push_back(kZfsDatasetTag + dataset);
  tags.push_back(kZfsSnapshotTag + local);
  for (const auto& [prop, value] : result.properties) tags.push_back(kZfsPropertyTagPrefix + prop + "=" + value);

  auto send = TRY(PipedProcess::start({kZfs, "send", local}, PipedProcess::Direction::kReadStdout));
  StreamBackupOptions so;
  so.name = local;
  so.tags = std::move(tags);
  so.progress = options.progress;
  ZfsStreamParser parser;
  auto snap = backup_send_stream(repo, send->fd(), so, parser);
  result.stream = parser.stats();
  if (!snap.ok()) {
    send->kill();
    (void)send->wait();
    return std::move(snap).error().with_context("backing up the send stream of " + local);
  }
  Status sent = send->wait();
  if (!sent.ok()) {
    // The stream is incomplete: its repository snapshot must not stay.
    (void)repo.remove_snapshot(snap->id);
    Error e = std::move(sent).error();
    return Error(ErrorCode::kIo, e.message(), local,
                 "check the pool's health (`zpool status`) and that the snapshot was not destroyed meanwhile");
  }
  result.snapshot = std::move(snap).value();
  if (options.keep_local_snapshot) {
    keep = true;
    result.local_snapshot = local;
  }
  return result;
}

bool is_zfs_backup(const Snapshot& snapshot) {
  return snapshot.kind == SnapshotKind::kStream && !tag_value(snapshot, kZfsDatasetTag).empty();
}

std::map<std::string, std::string> zfs_backup_properties(const Snapshot& snapshot) {
  std::map<std::string, std::string> props;
  const std::string prefix = kZfsPropertyTagPrefix;
  for (const auto& t : snapshot.tags) {
    if (t.rfind(prefix, 0) != 0) continue;
    auto eq = t.find('=', prefix.size());
    if (eq == std::string::npos || eq == prefix.size()) continue;
    props[t.substr(prefix.size(), eq - prefix.size())] = t.substr(eq + 1);
  }
  return props;
}

Status restore_zfs_dataset(Repository& repo, const Snapshot& snapshot, const std::string& target_dataset,
                           Progress* progress) {
  if (!is_zfs_backup(snapshot))
    return Error(ErrorCode::kInvalidArgument,
                 "repository snapshot " + snapshot.id.short_hex() + " is not a ZFS backup (a " +
                     snapshot_kind_name(snapshot.kind) + " snapshot without a zfs.dataset tag)",
                 snapshot.id.hex(), "restore it with the restore of its own kind (files, block or stream)");
  TRY_STATUS(validate_dataset_name(target_dataset));
  const std::string parent = parent_of(target_dataset);
  if (parent.empty())
    return Error(ErrorCode::kInvalidArgument, "the restore target must be a dataset inside a pool, not a pool",
                 target_dataset, "name it pool/dataset");
  if (TRY(zfs_exists(target_dataset)))
    return Error(ErrorCode::kAlreadyExists, "the restore target dataset already exists", target_dataset,
                 "restore into a new dataset name, or destroy the existing one first (`zfs destroy -r " +
                     target_dataset + "`)");
  if (!TRY(zfs_exists(parent)))
    return Error(ErrorCode::kNotFound, "the parent of the restore target does not exist", parent,
                 "create it with `zfs create -p " + parent + "`");

  auto cleanup = [&] {
    auto exists = zfs_exists(target_dataset);
    if (exists.ok() && *exists) (void)run_process({kZfs, "destroy", "-r", target_dataset});
  };
  auto recv = TRY(PipedProcess::start({kZfs, "receive", target_dataset}, PipedProcess::Direction::kWriteStdin));
  Status streamed;
  {
    ScopedSigpipeBlock no_sigpipe;
    StreamRestoreOptions ro;
    ro.progress = progress;
    streamed = restore_stream(repo, snapshot, recv->fd(), ro);
  }
  if (!streamed.ok()) {
    recv->close_fd();
    recv->kill();
    Status received = recv->wait();
    cleanup();
    // A receive that refused the stream explains more than the EPIPE it caused.
    if (!received.ok() && recv->result().signal == 0)
      return Error(ErrorCode::kIo, received.error().message(), target_dataset,
                   "the stream of snapshot " + snapshot.id.short_hex() + " was refused; check the pool's free space "
                   "and that this ZFS can receive streams of " + tag_value(snapshot, kZfsDatasetTag));
    return std::move(streamed).error().with_context("restoring snapshot " + snapshot.id.short_hex() + " into " +
                                                    target_dataset);
  }
  Status received = recv->wait();
  if (!received.ok()) {
    cleanup();
    return Error(ErrorCode::kIo, received.error().message(), target_dataset,
                 "check the pool's free space and health (`zpool status`)");
  }

  // The stream carried the backup's snapshot; the restored volume is a plain
  // dataset, so that snapshot does not pin its blocks for ever.
  std::string recorded = tag_value(snapshot, kZfsSnapshotTag);
  auto at = recorded.find('@');
  if (at != std::string::npos) {
    std::string received_snapshot = target_dataset + recorded.substr(at);
    if (validate_snapshot_name(received_snapshot).ok() && TRY(zfs_exists(received_snapshot)))
      TRY(zfs({"destroy", received_snapshot}, received_snapshot));
  }
  return apply_properties(target_dataset, zfs_backup_properties(snapshot));
}

Status clone_zfs_snapshot(const std::string& snapshot, const std::string& target_dataset) {
  TRY_STATUS(validate_snapshot_name(snapshot));
  TRY_STATUS(validate_dataset_name(target_dataset));
  if (!TRY(zfs_exists(snapshot)))
    return Error(ErrorCode::kNotFound, "the local ZFS snapshot does not exist", snapshot,
                 "list the kept snapshots with `zfs list -t snapshot`; an expired backup's snapshot is gone");
  if (TRY(zfs_exists(target_dataset)))
    return Error(ErrorCode::kAlreadyExists, "the clone target dataset already exists", target_dataset,
                 "clone into a new dataset name");
  const std::string parent = parent_of(target_dataset);
  if (parent.empty() || !TRY(zfs_exists(parent)))
    return Error(ErrorCode::kNotFound, "the parent of the clone target does not exist", target_dataset,
                 parent.empty() ? "name the target pool/dataset" : "create it with `zfs create -p " + parent + "`");
  // The clone gets the origin dataset's locally set properties (quota,
  // compression, …) as the restored volume would.
  std::vector<std::string> args{"clone"};
  auto props = zfs_local_properties(snapshot.substr(0, snapshot.find('@')));
  if (props.ok())
    for (const auto& [name, value] : *props)
      if (!properties_not_restored().count(name)) {
        args.push_back("-o");
        args.push_back(name + "=" + value);
      }
  args.push_back(snapshot);
  args.push_back(target_dataset);
  TRY(zfs(args, target_dataset, "check the pool's health (`zpool status`)"));
  return ok_status();
}

Status destroy_zfs_snapshot(const std::string& snapshot) {
  TRY_STATUS(validate_snapshot_name(snapshot));
  if (!TRY(zfs_exists(snapshot)))
    return Error(ErrorCode::kNotFound, "the local ZFS snapshot does not exist", snapshot,
                 "nothing to expire; list snapshots with `zfs list -t snapshot`");
  auto r = TRY(run_process({kZfs, "destroy", snapshot}));
  if (r.succeeded()) return ok_status();
  Error e = command_error({kZfs, "destroy", snapshot}, r);
  if (r.err.find("dependent clones") != std::string::npos)
    return Error(ErrorCode::kConflict, e.message(), snapshot,
                 "a restored clone still uses it: destroy the clone, or `zfs promote` it, before expiring the snapshot");
  return Error(ErrorCode::kIo, e.message(), snapshot, "check the pool's health (`zpool status`)");
}

}  // namespace stowage::engine
