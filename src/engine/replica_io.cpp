#include "engine/replica_io.h"

#include <optional>
#include <thread>

#include "blockvol/control.h"
#include "blockvol/replica_client.h"

namespace stowage::engine {

using blockvol::HostPort;
using blockvol::ReplicaClient;

// Idle connections to one replica, lent to one worker thread at a time.
class ClientPool {
 public:
  explicit ClientPool(HostPort address) : address_(std::move(address)) {}
  const HostPort& address() const { return address_; }
  Result<std::unique_ptr<ReplicaClient>> take() {
    {
      std::lock_guard lock(mu_);
      if (!idle_.empty()) {
        auto client = std::move(idle_.back());
        idle_.pop_back();
        return client;
      }
    }
    return ReplicaClient::connect(address_, kReplicaTimeout);
  }
  void give_back(std::unique_ptr<ReplicaClient> client) {
    if (!client || client->broken()) return;
    std::lock_guard lock(mu_);
    idle_.push_back(std::move(client));
  }

 private:
  HostPort address_;
  std::mutex mu_;
  std::vector<std::unique_ptr<ReplicaClient>> idle_;
};

ReplicaSnapshotSource::ReplicaSnapshotSource(const std::vector<HostPort>& replicas, std::string snapshot,
                                             uint64_t seq, uint64_t size, std::string operation)
    : snapshot_(std::move(snapshot)), seq_(seq), size_(size), operation_(std::move(operation)) {
  for (const auto& r : replicas) pools_.push_back(std::make_unique<ClientPool>(r));
}

ReplicaSnapshotSource::~ReplicaSnapshotSource() = default;

Status ReplicaSnapshotSource::read(uint64_t offset, std::span<uint8_t> out) {
  for (;;) {
    size_t index = current_.load();
    if (index >= pools_.size()) {
      std::lock_guard lock(mu_);
      std::string why;
      for (const auto& f : failures_) why += (why.empty() ? "" : "; ") + f;
      return Error(ErrorCode::kUnavailable,
                   "no replica holding volume snapshot " + snapshot_ + " could be read (" + why + ")", snapshot_,
                   "check the replicas (stowage-volume status) and run the " + operation_ + " again");
    }
    ClientPool& pool = *pools_[index];
    auto client = pool.take();
    Status done = client.ok() ? ok_status() : Status(client.error());
    for (uint64_t pos = 0; done.ok() && pos < out.size(); pos += kMaxRequest) {
      auto piece = out.subspan(pos, std::min<uint64_t>(kMaxRequest, out.size() - pos));
      done = (*client)->read_snapshot(seq_, offset + pos, piece);
    }
    if (done.ok()) {
      pool.give_back(std::move(*client));
      return ok_status();
    }
    // A replica that is gone, or does not hold the snapshot: try the next.
    if (!blockvol::replica_lost(done.error()) && done.error().code() != ErrorCode::kNotFound)
      return std::move(done).error().with_context("reading volume snapshot " + snapshot_ + " from replica " +
                                                  pool.address().to_string());
    give_up(index, done.error());
  }
}

std::string ReplicaSnapshotSource::replica() const {
  size_t index = std::min(current_.load(), pools_.size() - 1);
  return pools_[index]->address().to_string();
}

std::vector<std::string> ReplicaSnapshotSource::failures() const {
  std::lock_guard lock(mu_);
  return failures_;
}

void ReplicaSnapshotSource::give_up(size_t index, const Error& why) {
  std::lock_guard lock(mu_);
  if (current_.load() != index) return;  // another reader moved on already
  failures_.push_back(pools_[index]->address().to_string() + ": " + why.to_string());
  current_.store(index + 1);
}

ReplicaFillSink::ReplicaFillSink(const std::vector<HostPort>& replicas, std::string operation)
    : operation_(std::move(operation)) {
  for (const auto& r : replicas) pools_.push_back(std::make_unique<ClientPool>(r));
}

ReplicaFillSink::~ReplicaFillSink() = default;

Status ReplicaFillSink::write(uint64_t offset, std::span<const uint8_t> data) {
  std::vector<std::unique_ptr<ReplicaClient>> clients(pools_.size());
  for (size_t i = 0; i < pools_.size(); i++) {
    auto client = pools_[i]->take();
    if (!client.ok()) return failed(i, client.error());
    clients[i] = std::move(*client);
  }
  for (uint64_t pos = 0; pos < data.size(); pos += kMaxRequest) {
    auto piece = data.subspan(pos, std::min<uint64_t>(kMaxRequest, data.size() - pos));
    std::vector<char> sent(clients.size(), 0);
    std::optional<std::pair<size_t, Error>> first_error;
    for (size_t i = 0; i < clients.size(); i++) {
      Status s = clients[i]->send(blockvol::wire::Op::kFill, 0, offset + pos, uint32_t(piece.size()), piece);
      if (s.ok()) sent[i] = 1;
      else if (!first_error) first_error.emplace(i, s.error());
    }
    for (size_t i = 0; i < clients.size(); i++) {
      if (!sent[i]) continue;
      auto reply = clients[i]->receive();
      if (!reply.ok() && !first_error) first_error.emplace(i, reply.error());
    }
    if (first_error) return failed(first_error->first, first_error->second);
  }
  for (size_t i = 0; i < clients.size(); i++) pools_[i]->give_back(std::move(clients[i]));
  bytes_written_ += data.size();
  return ok_status();
}

Status ReplicaFillSink::finish() {
  for (size_t i = 0; i < pools_.size(); i++) {
    auto client = pools_[i]->take();
    Status s = client.ok() ? (*client)->fence() : Status(client.error());
    if (!s.ok()) return failed(i, s.error());
    pools_[i]->give_back(std::move(*client));
  }
  return ok_status();
}

Error ReplicaFillSink::failed(size_t index, const Error& why) const {
  return Error(why.code(),
               "writing to replica " + pools_[index]->address().to_string() + " failed: " + why.message() +
                   "; every replica stays fenced",
               pools_[index]->address().to_string(),
               "check that replica (its process and disk) and run the " + operation_ + " again");
}

Result<std::vector<Extent>> replica_changed_extents(const std::vector<HostPort>& replicas, uint64_t from_seq,
                                                    uint64_t to_seq, const std::string& operation) {
  std::string why;
  for (const auto& r : replicas) {
    auto listed = [&]() -> Result<std::vector<blockvol::Extent>> {
      auto client = TRY(ReplicaClient::connect(r, kReplicaTimeout));
      return client->changed_extents(from_seq, to_seq);
    }();
    if (listed.ok()) {
      std::vector<Extent> out;
      for (const auto& e : *listed) out.push_back(Extent{e.offset, e.length});
      return out;
    }
    why += (why.empty() ? "" : "; ") + r.to_string() + ": " + listed.error().to_string();
  }
  return Error(ErrorCode::kUnavailable, "no replica listed the changed extents (" + why + ")", "",
               "check the replicas (stowage-volume status) and run the " + operation + " again");
}

Result<nlohmann::json> call_target(const HostPort& control, const nlohmann::json& request,
                                   std::chrono::milliseconds timeout) {
  auto reply = blockvol::control_call(control, request, timeout);
  if (!reply.ok()) {
    Error e = std::move(reply).error().with_context("the volume target's control port " + control.to_string() + " (" +
                                                    request.value("op", "") + ")");
    if (e.hint().empty())
      e.set_hint("check that the target runs with --control " + control.to_string() +
                 " (stowage-volume status --target " + control.to_string() + ")");
    return e;
  }
  return reply;
}

Result<TakenSnapshot> take_volume_snapshot(const HostPort& control, const std::string& name,
                                           std::chrono::milliseconds pause_timeout) {
  auto taken = TRY(call_target(control,
                               {{"op", "snapshot"}, {"name", name}, {"timeout_ms", int64_t(pause_timeout.count())}},
                               pause_timeout + kControlTimeout));
  TakenSnapshot out;
  out.seq = taken.value("seq", uint64_t(0));
  out.pause_ms = taken.value("pause_ms", 0.0);
  out.replicas = taken.value("replicas", std::vector<std::string>());
  return out;
}

Result<FilledReplicas> fill_replicas_verified(const std::vector<HostPort>& replicas, const ReplicaFillPlan& plan) {
  auto refuse = [](const HostPort& r, const Error& e, const std::string& doing) {
    return Error(e.code(), "cannot " + doing + " replica " + r.to_string() + ": " + e.message(), r.to_string(),
                 e.hint().empty() ? "check that the replica runs and is reachable" : e.hint());
  };
  for (const auto& r : replicas) {
    auto checked = [&]() -> Status {
      auto client = TRY(ReplicaClient::connect(r, kReplicaTimeout));
      auto info = TRY(client->hello());
      if (info.size < plan.size)
        return Error(ErrorCode::kInvalidArgument,
                     "it holds " + std::to_string(info.size) + " bytes, " + plan.size_owner + " " +
                         std::to_string(plan.size),
                     r.to_string(), "create the replica with --size " + std::to_string(plan.size) + " (or larger)");
      return ok_status();
    }();
    if (!checked.ok()) return refuse(r, checked.error(), plan.operation + " into");
  }
  for (const auto& r : replicas) {
    auto prepared = [&]() -> Status {
      auto client = TRY(ReplicaClient::connect(r, kReplicaTimeout));
      TRY_STATUS(client->fence());
      return client->reset();
    }();
    if (!prepared.ok()) return refuse(r, prepared.error(), "fence and reset");
  }

  FilledReplicas result;
  ReplicaFillSink sink(replicas, plan.operation);
  TRY_STATUS(plan.fill(sink));
  result.bytes_written = sink.bytes_written();

  const uint64_t seq = 1;  // a reset replica has no snapshots
  std::vector<Status> verified(replicas.size());
  std::atomic<uint64_t> bytes_read{0};
  {
    std::vector<std::thread> threads;
    for (size_t i = 0; i < replicas.size(); i++)
      threads.emplace_back([&, i] {
        verified[i] = [&]() -> Status {
          auto client = TRY(ReplicaClient::connect(replicas[i], kReplicaTimeout));
          TRY_STATUS(client->create_snapshot(seq, plan.snapshot_name));
          return plan.verify(replicas[i], seq, bytes_read);
        }();
      });
    for (auto& t : threads) t.join();
  }
  for (size_t i = 0; i < replicas.size(); i++)
    if (!verified[i].ok())
      return Error(verified[i].error().code(),
                   "replica " + replicas[i].to_string() + " did not verify: " + verified[i].error().message() +
                       "; every replica stays fenced",
                   replicas[i].to_string(), "check that replica and run the " + plan.operation + " again");
  result.bytes_verified = bytes_read / replicas.size();

  for (const auto& r : replicas) {
    auto unfenced = [&]() -> Status {
      auto client = TRY(ReplicaClient::connect(r, kReplicaTimeout));
      return client->unfence();
    }();
    if (!unfenced.ok())
      return Error(unfenced.error().code(), "cannot unfence replica " + r.to_string() + ": " + unfenced.error().message(),
                   r.to_string(), "unfence it by hand: stowage-volume unfence --replica " + r.to_string());
  }
  return result;
}

}  // namespace stowage::engine
