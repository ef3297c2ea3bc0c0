#include "engine/replicated_snapshot.h"

#include <algorithm>
#include <optional>

#include "blockvol/layer_store.h"
#include "blockvol/replica_client.h"
#include "crypto/hash.h"
#include "engine/replica_io.h"
#include "util/work_queue.h"

namespace stowage::engine {

namespace {

using blockvol::HostPort;
using blockvol::ReplicaClient;

constexpr uint64_t kClonePiece = 4u << 20;  // bytes a clone reads, hashes and sends at once
static_assert(kClonePiece <= kMaxRequest);

// The sequence number of snapshot `name` on one replica, or nothing when it
// holds no snapshot of that name.
Result<std::optional<uint64_t>> snapshot_seq(ReplicaClient& client, const std::string& name) {
  auto listed = TRY(client.snapshots());
  for (const auto& s : listed)
    if (s.name == name) return std::optional<uint64_t>(s.seq);
  return std::optional<uint64_t>();
}

// The replicas of a reference that answer and hold its snapshot, in order.
struct LocatedSnapshot {
  std::vector<HostPort> holders;
  uint64_t seq = 0;
  uint64_t size = 0;                  // the volume's size
  std::vector<std::string> failures;  // the other replicas, with why
};

Result<LocatedSnapshot> locate_snapshot(const ReplicatedSnapshotRef& ref, const std::string& reference) {
  LocatedSnapshot out;
  bool unreachable = false;
  for (const auto& r : ref.replicas) {
    uint64_t size = 0;
    std::optional<uint64_t> seq;
    Status asked = [&]() -> Status {
      auto client = TRY(ReplicaClient::connect(r, kReplicaTimeout));
      size = TRY(client->hello()).size;
      seq = TRY(snapshot_seq(*client, ref.name));
      return ok_status();
    }();
    if (!asked.ok()) {
      unreachable = true;
      out.failures.push_back(r.to_string() + ": " + asked.error().to_string());
    } else if (!seq) {
      out.failures.push_back(r.to_string() + ": does not hold it (any more)");
    } else if (!out.holders.empty() && (*seq != out.seq || size != out.size)) {
      out.failures.push_back(r.to_string() + ": holds it as sequence " + std::to_string(*seq) + " of a volume of " +
                             std::to_string(size) + " bytes, not sequence " + std::to_string(out.seq) + " of " +
                             std::to_string(out.size) + " bytes");
    } else {
      if (out.holders.empty()) {
        out.seq = *seq;
        out.size = size;
      }
      out.holders.push_back(r);
    }
  }
  if (out.holders.empty()) {
    std::string why;
    for (const auto& f : out.failures) why += (why.empty() ? "" : "; ") + f;
    return Error(unreachable ? ErrorCode::kUnavailable : ErrorCode::kNotFound,
                 "no replica holds volume snapshot " + ref.name + " (" + why + ")", reference,
                 unreachable ? "start the source volume's replicas and run the clone again"
                             : "the snapshot was deleted: restore from an uploaded backup instead");
  }
  return out;
}

// A piece of the snapshot a clone copied, with the SHA-256 of the bytes read.
struct CopiedPiece {
  uint64_t offset = 0;
  uint64_t length = 0;
  crypto::Digest digest{};
};

// Reads every piece from the source and sends each non-zero one to every
// replica (`workers` pieces in flight), recording the pieces' hashes, then
// finishes the sink (durable, still fenced).
Status copy_pieces(ReplicaSnapshotSource& source, ReplicaFillSink& sink, std::vector<CopiedPiece>& pieces,
                   size_t workers, Progress* progress) {
  {
    WorkQueue queue(std::max<size_t>(workers, 1), 4);
    for (size_t i = 0; i < pieces.size() && !queue.failed(); i++) {
      queue.submit([&, i]() -> Status {
        if (queue.failed()) return ok_status();
        TRY_STATUS(check_cancelled(progress));
        CopiedPiece& piece = pieces[i];
        Bytes buf(piece.length);
        Status read = source.read(piece.offset, buf);
        if (!read.ok())
          return std::move(read).error().with_context("reading the source (every destination replica stays fenced)");
        piece.digest = crypto::sha256(buf);
        if (!all_zero(buf)) TRY_STATUS(sink.write(piece.offset, buf));  // a reset replica reads zeros already
        if (progress) progress->bytes_done += piece.length;
        return ok_status();
      });
    }
    TRY_STATUS(queue.wait());
  }
  return sink.finish();
}

// Reads every copied piece back from one replica (its volume snapshot
// `seq`) and compares its hash with the source's; the replica may hold no
// data outside the pieces (it was reset, and only pieces were written).
Status verify_pieces(const std::vector<CopiedPiece>& pieces, const HostPort& address, uint64_t seq,
                     std::atomic<uint64_t>& bytes_read, const Progress* progress) {
  auto client = TRY(ReplicaClient::connect(address, kReplicaTimeout));
  Bytes buf;
  for (const auto& piece : pieces) {
    TRY_STATUS(check_cancelled(progress));
    buf.resize(piece.length);
    TRY_STATUS(client->read_snapshot(seq, piece.offset, buf));
    bytes_read += piece.length;
    if (crypto::sha256(buf) != piece.digest)
      return Error(ErrorCode::kCorrupt,
                   "the " + std::to_string(piece.length) + " bytes at offset " + std::to_string(piece.offset) +
                       " differ from the source snapshot's",
                   address.to_string());
  }
  // Pieces are in offset order and do not overlap.
  auto allocated = TRY(client->changed_extents(0, seq));
  size_t next = 0;
  for (const auto& e : allocated) {
    uint64_t at = e.offset;
    while (at < e.offset + e.length) {
      while (next < pieces.size() && pieces[next].offset + pieces[next].length <= at) next++;
      if (next == pieces.size() || pieces[next].offset > at)
        return Error(ErrorCode::kCorrupt,
                     "it holds data at offset " + std::to_string(at) + ", where the source snapshot holds none",
                     address.to_string());
      at = pieces[next].offset + pieces[next].length;
    }
  }
  return ok_status();
}

}  // namespace

std::string format_replicated_snapshot(const ReplicatedSnapshotRef& ref) {
  std::string out(kReplicatedSnapshotPrefix);
  for (size_t i = 0; i < ref.replicas.size(); i++) out += (i ? "," : "") + ref.replicas[i].to_string();
  return out + "@" + ref.name;
}

bool is_replicated_snapshot(std::string_view reference) { return reference.starts_with(kReplicatedSnapshotPrefix); }

Result<ReplicatedSnapshotRef> parse_replicated_snapshot(std::string_view reference) {
  auto malformed = [reference](const std::string& why) {
    return Error(ErrorCode::kInvalidArgument,
                 "'" + std::string(reference) + "' is not a replicated volume snapshot reference: " + why,
                 std::string(reference), "expected " + std::string(kReplicatedSnapshotPrefix) + "HOST:PORT,HOST:PORT,...@NAME");
  };
  if (!is_replicated_snapshot(reference)) return malformed("it does not start with " + std::string(kReplicatedSnapshotPrefix));
  std::string_view rest = reference.substr(kReplicatedSnapshotPrefix.size());
  size_t at = rest.rfind('@');
  if (at == std::string_view::npos) return malformed("no @NAME");
  ReplicatedSnapshotRef ref;
  ref.name = std::string(rest.substr(at + 1));
  if (!blockvol::valid_snapshot_name(ref.name)) return malformed("'" + ref.name + "' is not a snapshot name");
  std::string_view list = rest.substr(0, at);
  if (list.empty()) return malformed("no replicas");
  for (;;) {
    size_t comma = list.find(',');
    auto replica = blockvol::parse_host_port(list.substr(0, comma));
    if (!replica.ok()) return malformed("'" + std::string(list.substr(0, comma)) + "' is not HOST:PORT");
    ref.replicas.push_back(std::move(*replica));
    if (comma == std::string_view::npos) break;
    list = list.substr(comma + 1);
  }
  return ref;
}

Result<std::string> keep_replicated_snapshot(const HostPort& control, const std::string& name,
                                             std::chrono::milliseconds pause_timeout) {
  if (!blockvol::valid_snapshot_name(name))
    return Error(ErrorCode::kInvalidArgument, "'" + name + "' is not a valid volume snapshot name", name,
                 "use 1 to 128 letters, digits, '.', '_' or '-', not starting with '.'");
  auto taken = TRY(take_volume_snapshot(control, name, pause_timeout));
  ReplicatedSnapshotRef ref;
  ref.name = name;
  for (const auto& address : taken.replicas) {
    auto parsed = blockvol::parse_host_port(address);
    if (parsed.ok()) ref.replicas.push_back(std::move(*parsed));
  }
  if (ref.replicas.empty()) {
    (void)call_target(control, {{"op", "delete-snapshot"}, {"name", name}});
    return Error(ErrorCode::kInternal, "the target reported no replica holding the new volume snapshot " + name,
                 control.to_string(), "check its replicas with: stowage-volume status --target " + control.to_string());
  }
  return format_replicated_snapshot(ref);
}

Result<ReplicatedCloneResult> clone_replicated_snapshot(const std::string& reference,
                                                        const std::vector<HostPort>& destinations,
                                                        const ReplicatedCloneOptions& options) {
  ReplicatedSnapshotRef ref = TRY(parse_replicated_snapshot(reference));
  if (destinations.empty())
    return Error(ErrorCode::kInvalidArgument, "no replicas to clone into", reference,
                 "name the new volume's replicas (replicas=HOST:PORT,...)");
  std::string sources;
  for (const auto& s : ref.replicas) sources += (sources.empty() ? "" : ", ") + s.to_string();
  for (const auto& d : destinations)
    for (const auto& s : ref.replicas)
      if (d.to_string() == s.to_string())
        return Error(ErrorCode::kInvalidArgument,
                     "replica " + d.to_string() + " holds volume snapshot " + ref.name +
                         ", the source of the clone; a clone cannot be written over its source",
                     d.to_string(),
                     "clone into new replicas (stowage-volume replica --create --fenced) other than " + sources);

  ReplicatedCloneResult result;
  result.volume_snapshot = ref.name;
  LocatedSnapshot located = TRY(locate_snapshot(ref, reference));
  result.size = located.size;
  auto extents = TRY(replica_changed_extents(located.holders, 0, located.seq, "clone"));
  std::vector<CopiedPiece> pieces;
  for (const auto& e : extents)
    for (uint64_t pos = 0; pos < e.length; pos += kClonePiece)
      pieces.push_back(CopiedPiece{e.offset + pos, std::min<uint64_t>(kClonePiece, e.length - pos), {}});
  for (const auto& p : pieces) result.bytes_copied += p.length;
  if (options.progress) options.progress->bytes_total = result.bytes_copied;
  ReplicaSnapshotSource source(located.holders, ref.name, located.seq, located.size, "clone");

  ReplicaFillPlan plan;
  plan.operation = "clone";
  plan.size = located.size;
  plan.size_owner = "the snapshot's volume";
  plan.snapshot_name = ref.name;
  plan.fill = [&](ReplicaFillSink& sink) {
    return copy_pieces(source, sink, pieces, options.workers ? options.workers : 4, options.progress);
  };
  plan.verify = [&](const HostPort& replica, uint64_t seq, std::atomic<uint64_t>& bytes_read) {
    return verify_pieces(pieces, replica, seq, bytes_read, options.progress);
  };
  auto filled = fill_replicas_verified(destinations, plan);
  result.replica = source.replica();
  result.replica_failures = located.failures;
  for (auto& f : source.failures()) result.replica_failures.push_back(std::move(f));
  if (!filled.ok()) return std::move(filled).error().with_context("cloning volume snapshot " + ref.name);
  result.bytes_written = filled->bytes_written;
  result.bytes_verified = filled->bytes_verified;
  return result;
}

Result<std::vector<std::string>> delete_replicated_snapshot(const std::string& reference) {
  ReplicatedSnapshotRef ref = TRY(parse_replicated_snapshot(reference));
  std::vector<std::string> deleted;
  std::vector<std::string> failures;
  std::optional<ErrorCode> first_code;
  std::string first_failed;
  for (const auto& r : ref.replicas) {
    bool removed = false;
    Status done = [&]() -> Status {
      auto client = TRY(ReplicaClient::connect(r, kReplicaTimeout));
      auto seq = TRY(snapshot_seq(*client, ref.name));
      if (!seq) return ok_status();
      Status s = client->delete_snapshot(*seq);
      if (!s.ok() && s.error().code() == ErrorCode::kNotFound) return ok_status();  // deleted meanwhile
      TRY_STATUS(s);
      removed = true;
      return ok_status();
    }();
    if (!done.ok()) {
      failures.push_back(r.to_string() + ": " + done.error().to_string());
      if (!first_code) {
        first_code = done.error().code();
        first_failed = r.to_string();
      }
    } else if (removed) {
      deleted.push_back(r.to_string());
    }
  }
  if (first_code) {
    std::string why;
    for (const auto& f : failures) why += (why.empty() ? "" : "; ") + f;
    // Never kNotFound: a caller takes that as "already gone".
    ErrorCode code = *first_code == ErrorCode::kNotFound ? ErrorCode::kUnavailable : *first_code;
    return Error(code, "volume snapshot " + ref.name + " could not be deleted on every replica (" + why + ")",
                 first_failed,
                 "start the replica again and repeat the deletion (replicas that no longer hold the snapshot are "
                 "skipped)");
  }
  return deleted;
}

}  // namespace stowage::engine
