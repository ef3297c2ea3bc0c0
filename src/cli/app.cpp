#include "cli/app.h"

#include <fcntl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "cli/cluster_commands.h"
#include "cli/errors.h"
#include "cli/kdf_flags.h"
#include "cli/output.h"
#include "engine/replicated_volume.h"
#include "mover/block.h"
#include "mover/block_prefetch.h"
#include "mover/file_backup.h"
#include "mover/file_restore.h"
#include "mover/stream.h"
#include "repo/check.h"
#include "repo/copy.h"
#include "repo/lock.h"
#include "repo/maintenance.h"
#include "repo/repository.h"
#include "store/location.h"
#include "util/clock.h"
#include "util/duration.h"
#include "util/progress.h"

namespace stowage::cli {

namespace {

using json = nlohmann::ordered_json;

struct Globals {
  std::string repo_url;
  std::string password_file;
  std::string output = "table";
  bool json_progress = false;
  bool quiet = false;
  size_t workers = 0;
};

Result<std::string> read_password(const Globals& g, const char* env_name = "STOWAGE_PASSWORD",
                                  const std::string& file = "") {
  std::string path = !file.empty() ? file : g.password_file;
  if (path.empty()) {
    if (const char* p = getenv("STOWAGE_PASSWORD_FILE"); p && *p && std::string(env_name) == "STOWAGE_PASSWORD")
      path = p;
  }
  if (!path.empty()) {
    std::ifstream in(path);
    if (!in) return Error(ErrorCode::kInvalidArgument, "cannot read the password file", path);
    std::string pw;
    std::getline(in, pw);
    return pw;
  }
  if (const char* p = getenv(env_name); p && *p) return std::string(p);
  if (isatty(0)) {
    std::string prompt = std::string("enter password (") + env_name + "): ";
    const char* pw = getpass(prompt.c_str());
    if (pw && *pw) return std::string(pw);
  }
  return Error(ErrorCode::kInvalidArgument, "no repository password given", "",
               std::string("set ") + env_name + " or pass --password-file");
}

Result<std::shared_ptr<ObjectStore>> open_url(std::string url, bool create) {
  if (url.empty())
    return Error(ErrorCode::kInvalidArgument, "no repository given", "",
                 "pass --repo URL or set STOWAGE_REPOSITORY (file:///path or s3://bucket/prefix?endpoint=…)");
  StoreOptions options;
  options.create_if_missing = create;
  auto store = TRY(open_store(url, options));
  return std::shared_ptr<ObjectStore>(std::move(store));
}

Result<std::shared_ptr<ObjectStore>> open_location(const Globals& g, bool create) {
  std::string url = g.repo_url;
  if (url.empty())
    if (const char* r = getenv("STOWAGE_REPOSITORY")) url = r;
  return open_url(url, create);
}

// A second repository (copy source or target) with its own password variable.
Result<std::unique_ptr<Repository>> open_other_repo(const Globals& g, const std::string& url, const char* env_name,
                                                    const std::string& password_file) {
  auto store = TRY(open_url(url, false));
  std::string pw = TRY(read_password(g, env_name, password_file));
  return Repository::open(store, pw);
}

Result<std::unique_ptr<Repository>> open_repo(const Globals& g,
                                              const std::function<void(const RepoConfig&)>& before_key = nullptr) {
  auto store = TRY(open_location(g, false));
  std::string pw = TRY(read_password(g));
  return Repository::open(store, pw, before_key);
}

ProgressStyle progress_style(const Globals& g) {
  if (g.quiet) return ProgressStyle::kNone;
  if (g.json_progress) return ProgressStyle::kJson;
  return isatty(2) ? ProgressStyle::kTerminal : ProgressStyle::kNone;
}

json snapshot_json(const Snapshot& s) {
  const auto& m = s.summary;
  json j = {{"id", s.id.hex()},
            {"kind", snapshot_kind_name(s.kind)},
            {"time", format_time_utc(s.time_unix_nanos / 1000000000)},
            {"host", s.host},
            {"user", s.user},
            {"source", s.source},
            {"tags", s.tags},
            {"size", s.size},
            {"summary",
             {{"files", m.files}, {"dirs", m.dirs}, {"bytes", m.bytes}, {"bytes_read", m.bytes_read},
              {"bytes_new", m.bytes_new}, {"bytes_stored_new", m.bytes_stored_new}, {"blobs_new", m.blobs_new},
              {"files_unchanged", m.files_unchanged}, {"errors", m.errors}, {"seconds", m.seconds}}}};
  if (s.parent) j["parent"] = s.parent->hex();
  if (s.kind == SnapshotKind::kBlock) j["block_size"] = s.block_size;
  if (!s.warnings.empty()) j["warnings"] = s.warnings;
  return j;
}

OutputFormat format_of(const Globals& g) {
  OutputFormat f = OutputFormat::kTable;
  parse_output_format(g.output, f);
  return f;
}

// ---- repo commands -------------------------------------------------------

struct InitArgs {
  std::string copy_keys_from;
  std::string from_password_file;
  KdfFlags kdf;
  uint32_t pack_size_mib = 32;
  uint32_t block_size_kib = 1024;
  int compression_level = 1;
  int format_version = 0;  // 0: the newest; with --copy-keys-from, the newest whose chunk ids match the source's
  std::string object_lock;   // GOVERNANCE or COMPLIANCE
  std::string lock_period;   // Go duration
  std::string lock_margin;   // Go duration
};

Result<int64_t> duration_seconds(const std::string& text, const char* flag) {
  auto d = parse_duration(text);
  if (!d.ok() || d->count() <= 0)
    return Error(ErrorCode::kInvalidArgument, std::string(flag) + " \"" + text + "\" is not a positive duration", flag,
                 "use a Go duration such as 720h (30 days) or 168h");
  return int64_t(std::chrono::duration_cast<std::chrono::seconds>(*d).count());
}

int cmd_init(const Globals& g, const InitArgs& a) {
  InitOptions o;
  auto kdf = kdf_params(a.kdf);
  if (!kdf.ok()) return report(kdf.error());
  o.kdf = *kdf;
  auto store = open_location(g, true);
  if (!store.ok()) return report(store.error());
  auto pw = read_password(g);
  if (!pw.ok()) return report(pw.error());
  o.pack_size = a.pack_size_mib << 20;
  o.block_size = a.block_size_kib << 10;
  o.compression_level = a.compression_level;
  o.format_version = a.format_version ? a.format_version : kRepositoryFormatVersion;
  if (!a.object_lock.empty()) {
    auto mode = parse_retention_mode(a.object_lock);
    if (!mode.ok()) return report(mode.error());
    o.lock.mode = *mode;
    if (o.lock.enabled()) {
      if (a.lock_period.empty())
        return report(Error(ErrorCode::kInvalidArgument, "--object-lock needs --lock-period", "--lock-period",
                            "how long every snapshot stays undeletable, e.g. --lock-period 720h"));
      auto period = duration_seconds(a.lock_period, "--lock-period");
      if (!period.ok()) return report(period.error());
      auto margin = duration_seconds(a.lock_margin.empty() ? "168h" : a.lock_margin, "--lock-margin");
      if (!margin.ok()) return report(margin.error());
      o.lock.period_seconds = *period;
      o.lock.margin_seconds = *margin;
    }
  } else if (!a.lock_period.empty() || !a.lock_margin.empty()) {
    return report(Error(ErrorCode::kInvalidArgument, "--lock-period and --lock-margin need --object-lock", "--object-lock",
                        "add --object-lock GOVERNANCE or --object-lock COMPLIANCE"));
  }
  if (!a.copy_keys_from.empty()) {
    auto source = open_other_repo(g, a.copy_keys_from, "STOWAGE_FROM_PASSWORD", a.from_password_file);
    if (!source.ok()) return report(std::move(source).error().with_context("opening the repository to copy keys from"));
    Status s = Repository::init_sharing_keys(**store, *pw, **source, o.kdf, o.lock, a.format_version);
    if (!s.ok()) return report(s.error());
  } else if (Status s = Repository::init(**store, *pw, o); !s.ok()) {
    return report(s.error());
  }
  auto repo = Repository::open(*store, *pw);
  if (!repo.ok()) return report(repo.error());
  const LockPolicy& lock = (*repo)->config().lock;
  if (format_of(g) != OutputFormat::kTable) {
    json j{{"id", (*repo)->config().id}, {"location", (*store)->describe()}};
    if (lock.enabled())
      j["object_lock"] = {{"mode", retention_mode_name(lock.mode)}, {"period_seconds", lock.period_seconds},
                          {"margin_seconds", lock.margin_seconds}};
    print_document(j, format_of(g));
  } else {
    printf("created repository %s at %s\n", (*repo)->config().id.c_str(), (*store)->describe().c_str());
    if (lock.enabled())
      printf("object lock: %s, every snapshot locked for %s (+ %s margin)\n", retention_mode_name(lock.mode),
             format_duration(std::chrono::seconds(lock.period_seconds)).c_str(),
             format_duration(std::chrono::seconds(lock.margin_seconds)).c_str());
  }
  return kExitOk;
}

int cmd_check(const Globals& g, bool read_data) {
  auto repo = open_repo(g);
  if (!repo.ok()) return report(repo.error());
  Progress progress;
  ProgressReporter reporter(progress, read_data ? progress_style(g) : ProgressStyle::kNone, "check");
  auto r = check_repository(**repo, CheckOptions{read_data, &progress});
  reporter.stop();
  if (!r.ok()) return report(r.error());
  if (format_of(g) != OutputFormat::kTable) {
    print_document(json{{"ok", r->ok()}, {"errors", r->errors}, {"notices", r->notices},
                        {"damaged_snapshots", r->damaged_snapshots}, {"packs", r->packs}, {"blobs", r->blobs},
                        {"snapshots", r->snapshots}, {"bytes_read", r->bytes_read}},
                   format_of(g));
  } else {
    for (const auto& n : r->notices) printf("notice: %s\n", n.c_str());
    for (const auto& e : r->errors) printf("error: %s\n", e.c_str());
    for (const auto& [id, files] : r->damaged_snapshots) {
      printf("snapshot %s is damaged; affected:\n", id.substr(0, 12).c_str());
      for (const auto& f : files) printf("  %s\n", f.c_str());
    }
    printf("checked %llu packs, %llu blobs, %llu snapshots%s: %s\n", (unsigned long long)r->packs,
           (unsigned long long)r->blobs, (unsigned long long)r->snapshots, read_data ? " (all data read)" : "",
           r->ok() ? "no errors" : (std::to_string(r->errors.size()) + " errors").c_str());
  }
  return r->ok() ? kExitOk : kExitDamaged;
}

int cmd_prune(const Globals& g, bool dry_run, int64_t grace) {
  auto repo = open_repo(g);
  if (!repo.ok()) return report(repo.error());
  auto r = prune(**repo, PruneOptions{dry_run, grace});
  if (!r.ok()) return report(r.error());
  json j = {{"dry_run", dry_run}, {"packs_total", r->packs_total}, {"packs_deleted", r->packs_deleted},
            {"packs_partly_used", r->packs_partly_used}, {"unindexed_packs_deleted", r->unindexed_deleted},
            {"bytes_freed", r->bytes_freed}, {"blobs_used", r->blobs_used}, {"blobs_unused", r->blobs_unused},
            {"objects_locked", r->objects_locked}, {"locked_keys", r->locked_keys},
            {"pending_deletions_done", r->tombstoned_deleted}, {"records_deleted", r->records_deleted}};
  if (format_of(g) != OutputFormat::kTable) print_document(j, format_of(g));
  else {
    printf("%s %llu of %llu packs (%s), %llu unindexed packs; %llu partly used packs kept\n",
           dry_run ? "would delete" : "deleted", (unsigned long long)r->packs_deleted,
           (unsigned long long)r->packs_total, format_bytes(double(r->bytes_freed)).c_str(),
           (unsigned long long)r->unindexed_deleted, (unsigned long long)r->packs_partly_used);
    if (r->tombstoned_deleted)
      printf("deleted %llu objects whose retention has ended (recorded by earlier runs)\n",
             (unsigned long long)r->tombstoned_deleted);
    if (r->records_deleted)
      printf("deleted %llu settled bookkeeping records (tombstones, old retention records)\n",
             (unsigned long long)r->records_deleted);
    if (r->objects_locked)
      printf("%llu objects are still locked (Object Lock retention): recorded, deleted by a later prune\n",
             (unsigned long long)r->objects_locked);
  }
  return kExitOk;
}

int cmd_stats(const Globals& g) {
  auto repo = open_repo(g);
  if (!repo.ok()) return report(repo.error());
  auto s = repository_stats(**repo);
  if (!s.ok()) return report(s.error());
  json j = {{"snapshots", s->snapshots},     {"logical_bytes", s->logical_bytes},
            {"unique_bytes", s->unique_bytes}, {"stored_bytes", s->stored_bytes},
            {"packs", s->packs},             {"blobs", s->blobs},
            {"dedup_ratio", s->dedup_ratio()}, {"compression_ratio", s->compression_ratio()},
            {"pending_deletion_objects", s->pending_deletion_objects},
            {"pending_deletion_bytes", s->pending_deletion_bytes}};
  const int version = (*repo)->config().version;
  const char* chunk_ids = uses_blake3_ids(version) ? "keyed BLAKE3" : "HMAC-SHA-256";
  j["format_version"] = version;
  j["chunk_ids"] = chunk_ids;
  const LockPolicy& lock = (*repo)->config().lock;
  int64_t last_refresh = 0;
  if (lock.enabled()) {
    auto last = (*repo)->last_retention_refresh();
    if (!last.ok()) return report(last.error());
    last_refresh = *last;
    j["object_lock"] = {{"mode", retention_mode_name(lock.mode)}, {"period_seconds", lock.period_seconds},
                        {"margin_seconds", lock.margin_seconds}, {"last_refresh", format_time_utc(last_refresh)}};
  }
  if (format_of(g) != OutputFormat::kTable) {
    print_document(j, format_of(g));
    return kExitOk;
  }
  printf("format:             version %d (chunk ids: %s)\n", version, chunk_ids);
  printf("snapshots:          %llu\n", (unsigned long long)s->snapshots);
  printf("logical size:       %s\n", format_bytes(double(s->logical_bytes)).c_str());
  printf("unique data:        %s (dedup ratio %.2f)\n", format_bytes(double(s->unique_bytes)).c_str(),
         s->dedup_ratio());
  printf("stored size:        %s (compression ratio %.2f)\n", format_bytes(double(s->stored_bytes)).c_str(),
         s->compression_ratio());
  printf("packs / blobs:      %llu / %llu\n", (unsigned long long)s->packs, (unsigned long long)s->blobs);
  if (lock.enabled())
    printf("object lock:        %s, period %s, margin %s, last refresh %s\n", retention_mode_name(lock.mode),
           format_duration(std::chrono::seconds(lock.period_seconds)).c_str(),
           format_duration(std::chrono::seconds(lock.margin_seconds)).c_str(), format_time_utc(last_refresh).c_str());
  if (s->pending_deletion_objects)
    printf("pending deletion:   %llu objects (%s) still locked, deleted by a prune after their retention\n",
           (unsigned long long)s->pending_deletion_objects, format_bytes(double(s->pending_deletion_bytes)).c_str());
  return kExitOk;
}

int cmd_refresh_retention(const Globals& g) {
  auto repo = open_repo(g);
  if (!repo.ok()) return report(repo.error());
  if (!(*repo)->config().lock.enabled())
    return report(Error(ErrorCode::kInvalidArgument, "the repository has no Object Lock policy", "config",
                        "create the repository with 'stowage repo init --object-lock …'"));
  auto n = (*repo)->refresh_retention();
  if (!n.ok()) return report(n.error());
  if (format_of(g) != OutputFormat::kTable) print_document(json{{"objects_extended", *n}}, format_of(g));
  else printf("extended the retention of %llu objects\n", (unsigned long long)*n);
  return kExitOk;
}

int cmd_unlock(const Globals& g, bool force) {
  auto repo = open_repo(g);
  if (!repo.ok()) return report(repo.error());
  auto n = remove_locks(**repo, force);
  if (!n.ok()) return report(n.error());
  printf("removed %zu %slocks\n", *n, force ? "" : "stale ");
  return kExitOk;
}

int cmd_key_list(const Globals& g) {
  auto repo = open_repo(g);
  if (!repo.ok()) return report(repo.error());
  auto keys = (*repo)->list_keys();
  if (!keys.ok()) return report(keys.error());
  json arr = json::array();
  std::vector<std::vector<std::string>> rows;
  for (const auto& k : *keys) {
    bool current = k.id == (*repo)->key_slot_id();
    arr.push_back({{"id", k.id}, {"created", k.created}, {"host", k.host}, {"user", k.user}, {"kdf", k.kdf},
                   {"current", current}});
    rows.push_back({(current ? "*" : " ") + k.id.substr(0, 12), k.created, k.host, k.user, k.kdf});
  }
  if (format_of(g) != OutputFormat::kTable) print_document(arr, format_of(g));
  else print_table({" ID", "CREATED", "HOST", "USER", "KDF"}, rows);
  return kExitOk;
}

int cmd_key_add(const Globals& g, const std::string& new_password_file, const KdfFlags& kdf) {
  auto params = kdf_params(kdf);
  if (!params.ok()) return report(params.error());
  auto repo = open_repo(g);
  if (!repo.ok()) return report(repo.error());
  auto pw = read_password(g, "STOWAGE_NEW_PASSWORD", new_password_file);
  if (!pw.ok()) return report(pw.error());
  if (Status s = (*repo)->add_key(*pw, *params); !s.ok()) return report(s.error());
  printf("added a key slot\n");
  return kExitOk;
}

int cmd_key_remove(const Globals& g, const std::string& id) {
  auto repo = open_repo(g);
  if (!repo.ok()) return report(repo.error());
  if (Status s = (*repo)->remove_key(id); !s.ok()) return report(s.error());
  printf("removed key slot %s\n", id.c_str());
  return kExitOk;
}

// ---- snapshot commands ---------------------------------------------------

struct CreateArgs {
  std::string path;
  std::string block_device;
  std::string replicated;  // a replicated volume's target control port
  std::string changed_extents;
  bool from_stdin = false;
  std::string stdin_name = "stdin";
  std::vector<std::string> tags;
  std::string parent;
  bool no_parent = false;
};

Result<std::optional<ObjectId>> find_parent(Repository& repo, const CreateArgs& a, SnapshotKind kind,
                                            const std::string& source) {
  if (a.no_parent) return std::optional<ObjectId>();
  if (!a.parent.empty()) return std::optional<ObjectId>(TRY(repo.resolve_snapshot(a.parent)));
  auto all = TRY(repo.list_snapshots());
  std::string host = host_name();
  for (auto it = all.rbegin(); it != all.rend(); ++it)
    if (it->kind == kind && it->source == source && it->host == host) return std::optional<ObjectId>(it->id);
  return std::optional<ObjectId>();
}

int cmd_create(const Globals& g, const CreateArgs& a) {
  int modes = int(!a.path.empty()) + int(!a.block_device.empty()) + int(!a.replicated.empty()) + int(a.from_stdin);
  if (modes != 1) {
    fprintf(stderr, "stowage: error: give exactly one of PATH, --block DEVICE, --replicated HOST:PORT or --stdin\n");
    return kExitUsage;
  }
  std::optional<blockvol::HostPort> control;
  if (!a.replicated.empty()) {
    auto parsed = blockvol::parse_host_port(a.replicated);
    if (!parsed.ok())
      return report(Error(ErrorCode::kInvalidArgument, "--replicated needs the volume target's control port",
                          a.replicated, "pass HOST:PORT, e.g. 127.0.0.1:7200"));
    control = *parsed;
    if (!a.changed_extents.empty()) {
      fprintf(stderr, "stowage: error: --changed-extents is for --block; a replicated volume lists its own changes\n");
      return kExitUsage;
    }
  }
  // While the repository opens, a file backup lists the tree (DirPrefetch)
  // and a block backup with a changed-extent list reads and compresses those
  // blocks (BlockPrefetch).
  char resolved[PATH_MAX];
  const std::string source = !a.path.empty() && realpath(a.path.c_str(), resolved) ? resolved : a.path;
  std::unique_ptr<DirPrefetch> prefetch;
  if (!a.path.empty()) prefetch = std::make_unique<DirPrefetch>(source);
  std::unique_ptr<BlockSource> block_source;
  std::optional<std::vector<Extent>> extents;
  std::unique_ptr<BlockPrefetch> block_prefetch;
  if (!a.block_device.empty()) {
    auto opened = open_block_file_source(a.block_device);
    if (!opened.ok()) return report(opened.error());
    block_source = std::move(opened).value();
    if (!a.changed_extents.empty()) {
      std::ifstream in(a.changed_extents);
      if (!in) return report(Error(ErrorCode::kInvalidArgument, "cannot read the changed-extent list", a.changed_extents));
      std::stringstream ss;
      ss << in.rdbuf();
      auto parsed = parse_extents(ss.str());
      if (!parsed.ok()) return report(parsed.error());
      extents = std::move(parsed).value();
    }
  }
  auto repo = open_repo(g, [&](const RepoConfig& config) {
    if (extents)
      block_prefetch =
          std::make_unique<BlockPrefetch>(*block_source, *extents, config.block_size, config.compression_level);
  });
  if (!repo.ok()) return report(repo.error());
  auto lock = RepoLock::acquire(**repo, false);
  if (!lock.ok()) return report(lock.error());
  Progress progress;
  ProgressReporter reporter(progress, progress_style(g), "backup");
  Result<Snapshot> snap = Error(ErrorCode::kInternal, "no snapshot");
  std::optional<engine::ReplicatedBackupResult> replicated;
  if (!a.path.empty()) {
    auto parent = find_parent(**repo, a, SnapshotKind::kFiles, source);
    if (!parent.ok()) return report(parent.error());
    prefetch->stop();
    FileBackupOptions o;
    o.prefetch = prefetch.get();
    o.tags = a.tags;
    o.parent = *parent;
    o.save_workers = g.workers;
    o.progress = &progress;
    o.scan_totals = progress_style(g) != ProgressStyle::kNone;
    snap = backup_files(**repo, a.path, o);
  } else if (!a.block_device.empty()) {
    BlockBackupOptions o;
    o.tags = a.tags;
    o.workers = g.workers;
    o.progress = &progress;
    if (extents) {
      o.changed = std::move(*extents);
      auto parent = find_parent(**repo, a, SnapshotKind::kBlock, a.block_device);
      if (!parent.ok()) return report(parent.error());
      o.parent = *parent;
    } else if (!a.parent.empty()) {
      auto parent = (*repo)->resolve_snapshot(a.parent);
      if (!parent.ok()) return report(parent.error());
      o.parent = *parent;
    }
    if (block_prefetch) block_prefetch->stop();
    o.prefetch = block_prefetch.get();
    snap = backup_block(**repo, *block_source, o);
  } else if (control) {
    auto parent = find_parent(**repo, a, SnapshotKind::kBlock, engine::replicated_source(*control));
    if (!parent.ok()) return report(parent.error());
    engine::ReplicatedBackupOptions o;
    o.tags = a.tags;
    o.parent = *parent;
    o.workers = g.workers;
    o.progress = &progress;
    auto r = engine::backup_replicated_volume(**repo, *control, o);
    if (r.ok()) {
      snap = r->snapshot;
      replicated = std::move(*r);
    } else {
      snap = r.error();
    }
  } else {
    StreamBackupOptions o;
    o.name = a.stdin_name;
    o.tags = a.tags;
    o.workers = g.workers;
    o.progress = &progress;
    snap = backup_stream(**repo, 0, o);
  }
  reporter.stop();
  if (!snap.ok()) return report(snap.error());
  if (format_of(g) != OutputFormat::kTable) {
    json j = snapshot_json(*snap);
    if (replicated) {
      j["incremental"] = replicated->incremental;
      j["bytes_read"] = snap->summary.bytes_read;
      j["pause_ms"] = replicated->pause_ms;
      j["replicated"] = {{"volume_snapshot", replicated->volume_snapshot},
                         {"seq", replicated->seq},
                         {"parent_volume_snapshot", replicated->parent_volume_snapshot},
                         {"changed_bytes", replicated->changed_bytes},
                         {"replica", replicated->replica},
                         {"replica_failures", replicated->replica_failures},
                         {"deleted_volume_snapshot", replicated->deleted_volume_snapshot},
                         {"delete_ms", replicated->delete_ms}};
    }
    print_document(j, format_of(g));
  } else {
    const auto& m = snap->summary;
    printf("snapshot %s saved (%s %s)\n", snap->id.short_hex().c_str(), snapshot_kind_name(snap->kind),
           snap->source.c_str());
    if (snap->kind == SnapshotKind::kFiles)
      printf("  files: %llu (%llu unchanged), dirs: %llu\n", (unsigned long long)m.files,
             (unsigned long long)m.files_unchanged, (unsigned long long)m.dirs);
    printf("  processed %s, read %s, added %s (%s stored) in %s\n", format_bytes(double(m.bytes)).c_str(),
           format_bytes(double(m.bytes_read)).c_str(), format_bytes(double(m.bytes_new)).c_str(),
           format_bytes(double(m.bytes_stored_new)).c_str(), format_duration(m.seconds).c_str());
    if (replicated) {
      const auto& r = *replicated;
      printf("  volume snapshot %s (seq %llu), writes paused %.1f ms, read from replica %s\n",
             r.volume_snapshot.c_str(), (unsigned long long)r.seq, r.pause_ms, r.replica.c_str());
      if (r.incremental)
        printf("  incremental: %s changed since volume snapshot %s\n", format_bytes(double(r.changed_bytes)).c_str(),
               r.parent_volume_snapshot.c_str());
      else
        printf("  full: %s allocated\n", format_bytes(double(r.changed_bytes)).c_str());
      for (const auto& f : r.replica_failures) fprintf(stderr, "warning: gave up on replica %s\n", f.c_str());
    }
    for (const auto& w : snap->warnings) fprintf(stderr, "warning: %s\n", w.c_str());
  }
  return snap->summary.errors ? kExitIncomplete : kExitOk;
}

int cmd_list(const Globals& g, const std::vector<std::string>& tags) {
  auto repo = open_repo(g);
  if (!repo.ok()) return report(repo.error());
  std::vector<Error> problems;
  auto all = (*repo)->list_snapshots(&problems);
  if (!all.ok()) return report(all.error());
  for (const auto& p : problems) fprintf(stderr, "warning: %s\n", p.to_string().c_str());
  json arr = json::array();
  std::vector<std::vector<std::string>> rows;
  for (const auto& s : *all) {
    bool match = tags.empty();
    for (const auto& t : tags) match |= std::find(s.tags.begin(), s.tags.end(), t) != s.tags.end();
    if (!match) continue;
    arr.push_back(snapshot_json(s));
    std::string tag_text;
    for (const auto& t : s.tags) tag_text += (tag_text.empty() ? "" : ",") + t;
    rows.push_back({s.id.short_hex(), format_time_utc(s.time_unix_nanos / 1000000000), s.host,
                    snapshot_kind_name(s.kind), tag_text, format_bytes(double(s.size)), s.source});
  }
  if (format_of(g) != OutputFormat::kTable) print_document(arr, format_of(g));
  else print_table({"ID", "TIME", "HOST", "KIND", "TAGS", "SIZE", "SOURCE"}, rows);
  return kExitOk;
}

int cmd_show(const Globals& g, const std::string& ref, bool files) {
  auto repo = open_repo(g);
  if (!repo.ok()) return report(repo.error());
  auto id = (*repo)->resolve_snapshot(ref);
  if (!id.ok()) return report(id.error());
  auto snap = (*repo)->load_snapshot(*id);
  if (!snap.ok()) return report(snap.error());
  if (!files) {
    print_document(snapshot_json(*snap), format_of(g) == OutputFormat::kTable ? OutputFormat::kYaml : format_of(g));
    return kExitOk;
  }
  if (snap->kind != SnapshotKind::kFiles) {
    fprintf(stderr, "stowage: error: snapshot %s is a %s snapshot and has no file list\n", ref.c_str(),
            snapshot_kind_name(snap->kind));
    return kExitUsage;
  }
  json arr = json::array();
  Status s = walk_tree(**repo, snap->root, [&](const std::string& path, const Node& n) -> Status {
    if (format_of(g) == OutputFormat::kTable) {
      printf("%-8s %06o %5u %5u %12llu %s%s%s\n", node_type_name(n.type), n.mode, n.uid, n.gid,
             (unsigned long long)n.size, path.c_str(), n.type == NodeType::kSymlink ? " -> " : "",
             n.link_target.c_str());
    } else {
      arr.push_back({{"path", path}, {"type", node_type_name(n.type)}, {"mode", n.mode}, {"uid", n.uid},
                     {"gid", n.gid}, {"size", n.size}, {"mtime_ns", n.mtime_ns}});
    }
    return ok_status();
  });
  if (!s.ok()) return report(s.error());
  if (format_of(g) != OutputFormat::kTable) print_document(arr, format_of(g));
  return kExitOk;
}

int cmd_diff(const Globals& g, const std::string& a, const std::string& b) {
  auto repo = open_repo(g);
  if (!repo.ok()) return report(repo.error());
  std::map<std::string, std::string> files[2];
  const std::string refs[2] = {a, b};
  for (int i = 0; i < 2; i++) {
    auto id = (*repo)->resolve_snapshot(refs[i]);
    if (!id.ok()) return report(id.error());
    auto snap = (*repo)->load_snapshot(*id);
    if (!snap.ok()) return report(snap.error());
    if (snap->kind != SnapshotKind::kFiles)
      return report(Error(ErrorCode::kInvalidArgument, "diff compares file snapshots only", refs[i]));
    Status s = walk_tree(**repo, snap->root, [&](const std::string& path, const Node& n) -> Status {
      std::string sig = std::string(node_type_name(n.type)) + ":" + std::to_string(n.mode) + ":" +
                        std::to_string(n.uid) + ":" + std::to_string(n.gid) + ":" + n.link_target;
      for (const auto& c : n.content) sig += c.hex();
      files[i][path] = sig;
      return ok_status();
    });
    if (!s.ok()) return report(s.error());
  }
  json arr = json::array();
  for (const auto& [path, sig] : files[0]) {
    auto it = files[1].find(path);
    if (it == files[1].end()) arr.push_back({{"change", "removed"}, {"path", path}});
    else if (it->second != sig) arr.push_back({{"change", "modified"}, {"path", path}});
  }
  for (const auto& [path, sig] : files[1])
    if (!files[0].count(path)) arr.push_back({{"change", "added"}, {"path", path}});
  if (format_of(g) != OutputFormat::kTable) print_document(arr, format_of(g));
  else
    for (const auto& c : arr) {
      std::string change = c["change"];
      printf("%c %s\n", change == "added" ? '+' : change == "removed" ? '-' : 'M',
             c["path"].get<std::string>().c_str());
    }
  return kExitOk;
}

struct RestoreArgs {
  std::string ref;
  std::string target;
  std::string replicas;  // a replicated volume's replicas, comma-separated HOST:PORT
  std::vector<std::string> includes;
  bool to_stdout = false;
};

// A block snapshot into the replicas of a replicated volume
// (engine/replicated_volume.h).
int restore_replicated(const Globals& g, Repository& repo, const Snapshot& snap, const RestoreArgs& a) {
  if (!a.target.empty() || a.to_stdout) {
    fprintf(stderr, "stowage: error: give either --replicas or --target/--stdout\n");
    return kExitUsage;
  }
  std::vector<blockvol::HostPort> replicas;
  std::stringstream list(a.replicas);
  std::string item;
  while (std::getline(list, item, ',')) {
    if (item.empty()) continue;
    auto parsed = blockvol::parse_host_port(item);
    if (!parsed.ok())
      return report(Error(ErrorCode::kInvalidArgument, "--replicas needs HOST:PORT addresses", item,
                          "pass e.g. --replicas 127.0.0.1:7101,127.0.0.1:7102,127.0.0.1:7103"));
    replicas.push_back(*parsed);
  }
  Progress progress;
  ProgressReporter reporter(progress, progress_style(g), "restore");
  engine::ReplicatedRestoreOptions o;
  o.workers = g.workers;
  o.progress = &progress;
  auto r = engine::restore_replicated_volume(repo, snap, replicas, o);
  reporter.stop();
  if (!r.ok()) return report(r.error());
  if (format_of(g) != OutputFormat::kTable) {
    json addresses = json::array();
    for (const auto& h : replicas) addresses.push_back(h.to_string());
    print_document({{"id", snap.id.hex()},
                    {"replicas", addresses},
                    {"size", r->size},
                    {"bytes_written", r->bytes_written},
                    {"bytes_verified", r->bytes_verified},
                    {"volume_snapshot", r->volume_snapshot}},
                   format_of(g));
  } else if (!g.quiet) {
    printf("restored snapshot %s into %zu replicas (%s written to each, %s verified on each); unfenced\n",
           snap.id.short_hex().c_str(), replicas.size(), format_bytes(double(r->bytes_written)).c_str(),
           format_bytes(double(r->bytes_verified)).c_str());
  }
  return kExitOk;
}

int cmd_restore(const Globals& g, const RestoreArgs& a) {
  auto repo = open_repo(g);
  if (!repo.ok()) return report(repo.error());
  auto id = (*repo)->resolve_snapshot(a.ref);
  if (!id.ok()) return report(id.error());
  auto snap = (*repo)->load_snapshot(*id);
  if (!snap.ok()) return report(snap.error());
  if (!a.replicas.empty()) return restore_replicated(g, **repo, *snap, a);
  if (!a.to_stdout && a.target.empty()) {
    fprintf(stderr, "stowage: error: give --target (a directory, device or image file), --replicas or --stdout\n");
    return kExitUsage;
  }
  Progress progress;
  ProgressReporter reporter(progress, progress_style(g), "restore");
  Status result;
  FileRestoreSummary summary;
  switch (snap->kind) {
    case SnapshotKind::kFiles: {
      if (a.to_stdout) return report(Error(ErrorCode::kInvalidArgument, "a file snapshot restores to a directory", a.ref));
      FileRestoreOptions o;
      o.includes = a.includes;
      o.workers = g.workers;
      o.progress = &progress;
      auto r = restore_files(**repo, *snap, a.target, o);
      if (!r.ok()) result = r.error();
      else summary = *r;
      break;
    }
    case SnapshotKind::kBlock: {
      BlockRestoreOptions o;
      o.workers = g.workers;
      o.progress = &progress;
      result = a.to_stdout ? Status(Error(ErrorCode::kInvalidArgument, "a block snapshot restores to a device or image file"))
                           : restore_block(**repo, *snap, a.target, o);
      break;
    }
    case SnapshotKind::kStream: {
      StreamRestoreOptions o;
      o.progress = &progress;
      int fd = 1;
      if (!a.to_stdout) {
        fd = open(a.target.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0) return report(Error(ErrorCode::kIo, "cannot create the restore target", a.target));
      }
      result = restore_stream(**repo, *snap, fd, o);
      if (fd != 1) close(fd);
      break;
    }
  }
  reporter.stop();
  if (!result.ok()) return report(result.error());
  for (const auto& w : summary.warnings) fprintf(stderr, "warning: %s\n", w.c_str());
  if (!a.to_stdout && !g.quiet && format_of(g) == OutputFormat::kTable)
    fprintf(stderr, "restored snapshot %s to %s\n", snap->id.short_hex().c_str(), a.target.c_str());
  return summary.warnings.empty() ? kExitOk : kExitIncomplete;
}

struct CopyArgs {
  std::vector<std::string> ids;
  bool all = false;
  std::string to;
  std::string to_password_file;
  bool no_verify = false;
};

int cmd_copy(const Globals& g, const CopyArgs& a) {
  if (a.ids.empty() == !a.all) {
    fprintf(stderr, "stowage: error: give snapshot ids or --all\n");
    return kExitUsage;
  }
  auto source = open_repo(g);
  if (!source.ok()) return report(source.error());
  auto target = open_other_repo(g, a.to, "STOWAGE_TO_PASSWORD", a.to_password_file);
  if (!target.ok()) return report(std::move(target).error().with_context("opening the copy target"));
  std::vector<ObjectId> ids;
  if (a.all) {
    auto all = (*source)->list_snapshots();
    if (!all.ok()) return report(all.error());
    for (const auto& s : *all) ids.push_back(s.id);
  } else {
    for (const auto& ref : a.ids) {
      auto id = (*source)->resolve_snapshot(ref);
      if (!id.ok()) return report(id.error());
      ids.push_back(*id);
    }
  }
  Progress progress;
  ProgressReporter reporter(progress, progress_style(g), "copy");
  auto r = copy_snapshots(**source, **target, ids, CopyOptions{!a.no_verify, &progress});
  reporter.stop();
  if (!r.ok()) return report(r.error());
  json copied = json::array();
  for (const auto& [from, to] : r->copied) copied.push_back({{"source", from.hex()}, {"target", to.hex()}});
  json present = json::array();
  for (const auto& [id, target_id] : r->already_present) present.push_back(id.hex());
  if (format_of(g) != OutputFormat::kTable) {
    print_document(json{{"copied", copied}, {"already_present", present}, {"blobs_sent", r->blobs_sent},
                        {"bytes_sent", r->bytes_sent}, {"blobs_skipped", r->blobs_skipped},
                        {"blobs_verified", r->blobs_verified}},
                   format_of(g));
  } else {
    for (const auto& [from, to] : r->copied)
      printf("copied snapshot %s → %s\n", from.short_hex().c_str(), to.short_hex().c_str());
    for (const auto& [id, target_id] : r->already_present)
      printf("snapshot %s is already in the target (as %s)\n", id.short_hex().c_str(), target_id.short_hex().c_str());
    printf("sent %llu blobs (%s), %llu already there; verified %llu blobs in the target\n",
           (unsigned long long)r->blobs_sent, format_bytes(double(r->bytes_sent)).c_str(),
           (unsigned long long)r->blobs_skipped, (unsigned long long)r->blobs_verified);
  }
  return kExitOk;
}

struct ForgetArgs {
  std::vector<std::string> ids;
  RetentionPolicy policy;
  bool dry_run = false;
  bool prune_after = false;
};

int cmd_forget(const Globals& g, ForgetArgs& a) {
  auto repo = open_repo(g);
  if (!repo.ok()) return report(repo.error());
  if (a.ids.empty() && a.policy.empty()) {
    fprintf(stderr, "stowage: error: give snapshot ids or a policy (--keep-last, --keep-daily, …)\n");
    return kExitUsage;
  }
  std::vector<Snapshot> remove;
  if (!a.ids.empty()) {
    for (const auto& ref : a.ids) {
      auto id = (*repo)->resolve_snapshot(ref);
      if (!id.ok()) return report(id.error());
      auto snap = (*repo)->load_snapshot(*id);
      if (!snap.ok()) return report(snap.error());
      remove.push_back(*snap);
    }
  } else {
    auto all = (*repo)->list_snapshots();
    if (!all.ok()) return report(all.error());
    remove = apply_retention(*all, a.policy).remove;
  }
  json arr = json::array();
  json locked = json::array();
  for (const auto& s : remove) {
    bool deleted = true;
    if (!a.dry_run) {
      auto removed = (*repo)->remove_snapshot(s.id);
      if (!removed.ok()) return report(removed.error());
      deleted = *removed;
    }
    arr.push_back(s.id.hex());
    if (!deleted) locked.push_back(s.id.hex());
    if (format_of(g) == OutputFormat::kTable)
      printf("%s snapshot %s (%s %s)%s\n", a.dry_run ? "would forget" : "forgot", s.id.short_hex().c_str(),
             format_time_utc(s.time_unix_nanos / 1000000000).c_str(), s.source.c_str(),
             deleted ? "" : " — still locked: recorded, its object is deleted by a prune after its retention");
  }
  if (format_of(g) != OutputFormat::kTable)
    print_document(json{{"removed", arr}, {"locked", locked}, {"dry_run", a.dry_run}}, format_of(g));
  if (a.prune_after && !a.dry_run) return cmd_prune(g, false, 3600);
  return kExitOk;
}

}  // namespace

int run(int argc, char** argv) {
  CLI::App app{"stowage: backups of Kubernetes applications and their volumes, and of directories, block devices and streams"};
  app.require_subcommand(1);
  app.set_version_flag("--version",
                       "stowage 0.1.0 (repository format " + std::to_string(kRepositoryFormatVersion) + ")");
  Globals g;
  app.add_option("-r,--repo", g.repo_url, "repository URL: file:///path or s3://bucket/prefix?endpoint=…")
      ->envname("STOWAGE_REPOSITORY");
  app.add_option("--password-file", g.password_file, "file whose first line is the password")
      ->envname("STOWAGE_PASSWORD_FILE");
  app.add_option("-o,--output", g.output, "output format: table, json or yaml")
      ->check(CLI::IsMember({"table", "json", "yaml"}));
  app.add_flag("--json", g.json_progress, "progress as JSON lines on stderr");
  app.add_flag("-q,--quiet", g.quiet, "no progress output");
  app.add_option("--workers", g.workers, "worker threads (default: number of cores)");

  int code = kExitOk;
  KubeFlags kube_flags;
  kube_flags.output = &g.output;
  add_kube_flags(app, kube_flags);
  add_backup_commands(app, kube_flags, code);
  add_admin_commands(app, kube_flags, code);

  // repo
  auto* repo = app.add_subcommand("repo", "create and maintain repositories");
  repo->require_subcommand(1);
  InitArgs init;
  auto* init_cmd = repo->add_subcommand("init", "create a repository");
  add_kdf_flags(init_cmd, init.kdf, "the first key slot");
  init_cmd->add_option("--pack-size-mib", init.pack_size_mib, "target pack size in MiB (default 32)");
  init_cmd->add_option("--block-size-kib", init.block_size_kib, "block size for block devices in KiB (default 1024)");
  init_cmd->add_option("--compression-level", init.compression_level, "zstd level, 0 = off (default 1)");
  init_cmd->add_option("--format-version", init.format_version,
                       "repository format version (default " + std::to_string(kRepositoryFormatVersion) +
                           ", or with --copy-keys-from the newest whose chunk ids match the source's); 4, 3 or 2 "
                           "for a repository that older stowage releases also use (4: HMAC-SHA-256 chunk ids; "
                           "3: also no grouped small blobs; 2: also JSON trees)");
  init_cmd->add_option("--copy-keys-from", init.copy_keys_from,
                       "share the master key and chunking of this repository (a copy target); its password from "
                       "STOWAGE_FROM_PASSWORD or --from-password-file");
  init_cmd->add_option("--from-password-file", init.from_password_file, "password file of --copy-keys-from");
  init_cmd->add_option("--object-lock", init.object_lock,
                       "S3 Object Lock mode GOVERNANCE or COMPLIANCE: every object is written locked (the bucket must "
                       "have Object Lock enabled)");
  init_cmd->add_option("--lock-period", init.lock_period,
                       "with --object-lock: how long every snapshot stays undeletable, a Go duration (e.g. 720h)");
  init_cmd->add_option("--lock-margin", init.lock_margin,
                       "with --object-lock: extra retention, and the longest gap between retention refreshes "
                       "(default 168h)");
  init_cmd->callback([&] { code = cmd_init(g, init); });
  bool read_data = false;
  auto* check_cmd = repo->add_subcommand("check", "verify the repository");
  check_cmd->add_flag("--read-data", read_data, "also read, decrypt and verify every blob");
  check_cmd->callback([&] { code = cmd_check(g, read_data); });
  bool dry_run = false;
  int64_t grace = 3600;
  auto* prune_cmd = repo->add_subcommand("prune", "delete data that no snapshot references");
  prune_cmd->add_flag("--dry-run", dry_run, "only report what would be deleted");
  prune_cmd->add_option("--unindexed-grace", grace, "seconds an unindexed pack is kept (default 3600)");
  prune_cmd->callback([&] { code = cmd_prune(g, dry_run, grace); });
  repo->add_subcommand("stats", "sizes and deduplication")->callback([&] { code = cmd_stats(g); });
  repo->add_subcommand("refresh-retention",
                       "extend the Object Lock retention of every live object (backups do it when due)")
      ->callback([&] { code = cmd_refresh_retention(g); });
  bool force_unlock = false;
  auto* unlock_cmd = repo->add_subcommand("unlock", "remove stale locks");
  unlock_cmd->add_flag("--force", force_unlock, "remove all locks, even fresh ones");
  unlock_cmd->callback([&] { code = cmd_unlock(g, force_unlock); });
  auto* key = repo->add_subcommand("key", "manage passwords (key slots)");
  key->require_subcommand(1);
  key->add_subcommand("list", "list key slots")->callback([&] { code = cmd_key_list(g); });
  std::string new_pw_file;
  KdfFlags key_kdf;
  auto* key_add = key->add_subcommand("add", "add a password (STOWAGE_NEW_PASSWORD or --new-password-file)");
  key_add->add_option("--new-password-file", new_pw_file, "file whose first line is the new password");
  add_kdf_flags(key_add, key_kdf, "the new slot");
  key_add->callback([&] { code = cmd_key_add(g, new_pw_file, key_kdf); });
  std::string key_id;
  auto* key_rm = key->add_subcommand("remove", "remove a key slot");
  key_rm->add_option("ID", key_id, "key slot id (or unique prefix)")->required();
  key_rm->callback([&] { code = cmd_key_remove(g, key_id); });

  // snapshot
  auto* snap = app.add_subcommand("snapshot", "create, list, restore and forget snapshots");
  snap->require_subcommand(1);
  CreateArgs create;
  auto* create_cmd = snap->add_subcommand("create", "back up a directory, a block device/image, or stdin");
  create_cmd->add_option("PATH", create.path, "directory to back up");
  create_cmd->add_option("--block", create.block_device, "block device or image file to back up");
  create_cmd->add_option("--replicated", create.replicated,
                         "replicated volume to back up: its target's control port HOST:PORT (stowage-volume)");
  create_cmd->add_option("--changed-extents", create.changed_extents,
                         "file of 'offset length' lines: only these ranges changed since the parent");
  create_cmd->add_flag("--stdin", create.from_stdin, "back up standard input as a stream");
  create_cmd->add_option("--stdin-name", create.stdin_name, "name recorded for a stdin snapshot");
  create_cmd->add_option("--tag", create.tags, "tag (repeatable)")->allow_extra_args(false);
  create_cmd->add_option("--parent", create.parent, "parent snapshot (default: latest of the same source)");
  create_cmd->add_flag("--no-parent", create.no_parent, "read everything, ignore earlier snapshots");
  create_cmd->callback([&] { code = cmd_create(g, create); });
  std::vector<std::string> list_tags;
  auto* list_cmd = snap->add_subcommand("list", "list snapshots");
  list_cmd->add_option("--tag", list_tags, "only snapshots with this tag")->allow_extra_args(false);
  list_cmd->callback([&] { code = cmd_list(g, list_tags); });
  std::string show_ref;
  bool show_files = false;
  auto* show_cmd = snap->add_subcommand("show", "show a snapshot's manifest (or --files)");
  show_cmd->add_option("ID", show_ref, "snapshot id, prefix or 'latest'")->required();
  show_cmd->add_flag("--files", show_files, "list the files");
  show_cmd->callback([&] { code = cmd_show(g, show_ref, show_files); });
  std::string diff_a, diff_b;
  auto* diff_cmd = snap->add_subcommand("diff", "compare two file snapshots");
  diff_cmd->add_option("A", diff_a)->required();
  diff_cmd->add_option("B", diff_b)->required();
  diff_cmd->callback([&] { code = cmd_diff(g, diff_a, diff_b); });
  RestoreArgs restore;
  auto* restore_cmd = snap->add_subcommand("restore", "restore a snapshot");
  restore_cmd->add_option("ID", restore.ref, "snapshot id, prefix or 'latest'")->required();
  restore_cmd->add_option("-t,--target", restore.target, "directory, device or image file");
  restore_cmd->add_option("--replicas", restore.replicas,
                          "restore a block snapshot into these replicated-volume replicas (HOST:PORT,HOST:PORT,...)");
  restore_cmd->add_option("-i,--include", restore.includes, "restore only this path (repeatable)")->allow_extra_args(false);
  restore_cmd->add_flag("--stdout", restore.to_stdout, "write a stream snapshot to stdout");
  restore_cmd->callback([&] { code = cmd_restore(g, restore); });
  CopyArgs copy;
  auto* copy_cmd = snap->add_subcommand("copy", "copy snapshots to a repository made with --copy-keys-from");
  copy_cmd->add_option("IDS", copy.ids, "snapshot ids");
  copy_cmd->add_flag("--all", copy.all, "copy every snapshot");
  copy_cmd->add_option("--to", copy.to, "target repository URL")->required();
  copy_cmd->add_option("--to-password-file", copy.to_password_file,
                       "target password file (or STOWAGE_TO_PASSWORD)");
  copy_cmd->add_flag("--no-verify", copy.no_verify, "skip reading the copied blobs back from the target");
  copy_cmd->callback([&] { code = cmd_copy(g, copy); });
  ForgetArgs forget;
  auto* forget_cmd = snap->add_subcommand("forget", "remove snapshots by id or retention policy");
  forget_cmd->add_option("IDS", forget.ids, "snapshot ids");
  forget_cmd->add_option("--keep-last", forget.policy.keep_last);
  forget_cmd->add_option("--keep-hourly", forget.policy.keep_hourly);
  forget_cmd->add_option("--keep-daily", forget.policy.keep_daily);
  forget_cmd->add_option("--keep-weekly", forget.policy.keep_weekly);
  forget_cmd->add_option("--keep-monthly", forget.policy.keep_monthly);
  forget_cmd->add_option("--keep-yearly", forget.policy.keep_yearly);
  forget_cmd->add_option("--keep-tag", forget.policy.keep_tags)->allow_extra_args(false);
  forget_cmd->add_flag("--dry-run", forget.dry_run);
  forget_cmd->add_flag("--prune", forget.prune_after, "prune afterwards");
  forget_cmd->callback([&] { code = cmd_forget(g, forget); });

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? kExitOk : kExitUsage;
  }
  return code;
}

}  // namespace stowage::cli
