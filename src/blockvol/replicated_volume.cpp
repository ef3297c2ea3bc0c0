#include "blockvol/replicated_volume.h"

#include <algorithm>

namespace stowage::blockvol {

using wire::Op;
using Clock = std::chrono::steady_clock;

const char* replica_state_name(ReplicaState state) {
  switch (state) {
    case ReplicaState::kOffline: return "offline";
    case ReplicaState::kFenced: return "fenced";
    case ReplicaState::kStandby: return "standby";
    case ReplicaState::kRebuilding: return "rebuilding";
    case ReplicaState::kHealthy: return "healthy";
  }
  return "unknown";
}


ReplicatedVolume::ReplicatedVolume(VolumeOptions options, Logger log)
    : options_(std::move(options)), log_(std::move(log)) {
  for (size_t i = 0; i < options_.replicas.size(); ++i) {
    auto link = std::make_unique<Link>();
    link->index = i;
    link->address = options_.replicas[i];
    links_.push_back(std::move(link));
  }
}

ReplicatedVolume::~ReplicatedVolume() {
  stopping_ = true;
  {
    std::lock_guard lock(state_mu_);
    state_changed_.notify_all();
  }
  for (auto& link : links_)
    if (link->thread.joinable()) link->thread.join();
}

void ReplicatedVolume::start() {
  started_at_ = Clock::now();
  for (auto& link : links_) {
    Link* l = link.get();
    l->thread = std::thread([this, l] { run_link(*l); });
  }
}

Status ReplicatedVolume::wait_ready(std::chrono::milliseconds timeout) {
  std::unique_lock lock(state_mu_);
  if (!state_changed_.wait_for(lock, timeout, [&] { return ready_.load() || stopping_.load(); }) || !ready_)
    return Error(ErrorCode::kUnavailable, "fewer than " + std::to_string(options_.quorum) +
                                              " unfenced replicas answered");
  return ok_status();
}

bool ReplicatedVolume::connect_link(Link& link) {
  std::unique_lock io(link.io);
  auto client = ReplicaClient::connect(link.address, options_.io_timeout);
  std::string problem;
  ReplicaState state = ReplicaState::kOffline;
  wire::VolumeInfo info;
  if (!client.ok()) {
    problem = client.error().to_string();
  } else {
    auto hello = (*client)->hello();
    if (!hello.ok()) {
      problem = hello.error().to_string();
    } else if (hello->size != options_.size || hello->block_size != kBlockSize) {
      problem = "replica has size " + std::to_string(hello->size) + ", the volume " + std::to_string(options_.size);
    } else if (hello->fenced) {
      problem = "replica is fenced";
      state = ReplicaState::kFenced;
    } else {
      info = *hello;
      link.client = std::move(*client);
      state = ReplicaState::kStandby;
    }
  }
  io.unlock();
  std::lock_guard lock(state_mu_);
  bool changed = link.last_error != problem || link.state != state;
  link.state = state;
  link.last_error = problem;
  if (state == ReplicaState::kStandby) {
    link.info = info;
    log_.info("replica connected", {{"replica", link.address.to_string()}, {"epoch", std::to_string(info.epoch)}});
  } else if (changed) {
    log_.warning("replica not usable", {{"replica", link.address.to_string()}, {"reason", problem}});
  }
  state_changed_.notify_all();
  return state == ReplicaState::kStandby;
}

void ReplicatedVolume::decide_startup() {
  std::lock_guard lock(state_mu_);
  for (auto& link : links_)
    if (link->state == ReplicaState::kHealthy) return;  // decided: the others are rebuilt
  std::vector<Link*> standby;
  for (auto& link : links_)
    if (link->state == ReplicaState::kStandby) standby.push_back(link.get());
  if (standby.size() < options_.quorum) return;
  size_t answered = 0;
  for (auto& link : links_) answered += link->state == ReplicaState::kStandby || link->state == ReplicaState::kFenced;
  if (!ready_ && answered < links_.size() && Clock::now() - started_at_ < options_.startup_grace) return;
  uint64_t newest = 0, max_seq = 0;
  for (Link* l : standby) {
    newest = std::max(newest, l->info.epoch);
    max_seq = std::max(max_seq, l->info.max_seq);
  }
  for (Link* l : standby) {
    if (l->info.epoch == newest) {
      l->state = ReplicaState::kHealthy;
      l->takes_writes = true;
    }
  }
  epoch_ = std::max(epoch_, newest);
  epoch_dirty_ = true;  // the first write moves the healthy ones to a new epoch
  next_seq_ = std::max(next_seq_, max_seq + 1);
  log_.info(ready_ ? "volume recovered after losing every replica" : "volume ready",
            {{"epoch", std::to_string(newest)}, {"replicas", std::to_string(standby.size())}});
  ready_ = true;
  state_changed_.notify_all();
}

void ReplicatedVolume::run_link(Link& link) {
  while (!stopping_) {
    ReplicaState state;
    {
      std::lock_guard lock(state_mu_);
      state = link.state;
    }
    if (state == ReplicaState::kOffline || state == ReplicaState::kFenced) {
      if (connect_link(link)) continue;
    } else if (state == ReplicaState::kStandby) {
      if (!ready_ || healthy_links().empty()) {
        // At startup, or when every replica was lost: no replica to rebuild
        // from, so choose the newest ones (by epoch) once a quorum answered.
        decide_startup();
      } else {
        Status rebuilt = rebuild(link);
        if (!rebuilt.ok()) {
          log_.warning("rebuild failed", {{"replica", link.address.to_string()}, {"error", rebuilt.error().to_string()}});
          lose(link, rebuilt.error());
        }
        continue;
      }
    }
    std::unique_lock lock(state_mu_);
    state_changed_.wait_for(lock, options_.reconnect_interval, [&] {
      return stopping_.load() || (link.state == ReplicaState::kStandby && ready_.load());
    });
  }
}

void ReplicatedVolume::lose(Link& link, const Error& error) {
  std::lock_guard lock(state_mu_);
  if (link.state == ReplicaState::kOffline) return;
  if (link.state == ReplicaState::kHealthy) epoch_dirty_ = true;
  log_.warning("replica lost", {{"replica", link.address.to_string()},
                                {"was", replica_state_name(link.state)},
                                {"error", error.to_string()}});
  link.state = ReplicaState::kOffline;
  link.takes_writes = false;
  link.last_error = error.to_string();
  state_changed_.notify_all();
}

std::vector<ReplicatedVolume::Link*> ReplicatedVolume::writable_links() {
  std::lock_guard lock(state_mu_);
  std::vector<Link*> out;
  for (auto& link : links_)
    if (link->takes_writes) out.push_back(link.get());
  return out;
}

std::vector<ReplicatedVolume::Link*> ReplicatedVolume::healthy_links() {
  std::lock_guard lock(state_mu_);
  std::vector<Link*> out;
  for (auto& link : links_)
    if (link->state == ReplicaState::kHealthy) out.push_back(link.get());
  return out;
}

ReplicatedVolume::Link* ReplicatedVolume::first_healthy() {
  auto healthy = healthy_links();
  return healthy.empty() ? nullptr : healthy.front();
}

std::vector<ReplicatedVolume::Reply> ReplicatedVolume::broadcast(const std::vector<Link*>& targets, Op op,
                                                                  uint16_t flags, uint64_t offset, uint32_t length,
                                                                  std::span<const uint8_t> payload) {
  const bool writes = op == Op::kWrite || op == Op::kWriteZeroes || op == Op::kFlush;
  std::vector<std::unique_lock<std::mutex>> locks;
  for (Link* t : targets) locks.emplace_back(t->io);  // targets are in index order
  std::vector<Reply> replies;
  for (size_t i = 0; i < targets.size(); ++i) {
    Link* t = targets[i];
    bool was_healthy;
    {
      std::lock_guard lock(state_mu_);
      bool eligible = writes ? t->takes_writes : t->state == ReplicaState::kHealthy;
      if (!eligible || !t->client) continue;
      was_healthy = t->state == ReplicaState::kHealthy;
    }
    Status s = t->client->send(op, flags, offset, length, payload);
    replies.push_back(Reply{t, was_healthy, s.ok() ? Result<std::vector<uint8_t>>(std::vector<uint8_t>{})
                                                    : Result<std::vector<uint8_t>>(std::move(s).error())});
  }
  for (auto& reply : replies) {
    if (reply.result.ok()) reply.result = reply.link->client->receive();
    if (!reply.result.ok()) {
      bool harmless = op == Op::kSnapshotDelete && reply.result.error().code() == ErrorCode::kNotFound;
      if (!harmless) lose(*reply.link, reply.result.error());
    }
  }
  // No acknowledgement while a lost healthy replica still shares the newest
  // epoch: move the remaining healthy ones (all of them are locked here) on.
  for (size_t round = 0; round <= links_.size(); ++round) {
    uint64_t epoch;
    {
      std::lock_guard lock(state_mu_);
      if (!epoch_dirty_) break;
      epoch_dirty_ = false;
      epoch = ++epoch_;
    }
    for (Link* t : targets) {
      bool healthy;
      {
        std::lock_guard lock(state_mu_);
        healthy = t->state == ReplicaState::kHealthy;
      }
      if (!healthy) continue;
      Status s = t->client->set_epoch(epoch);
      if (!s.ok()) {
        lose(*t, s.error());
        for (auto& reply : replies)
          if (reply.link == t && reply.result.ok()) reply.result = s.error();
      }
    }
    log_.info("moved to a new epoch", {{"epoch", std::to_string(epoch)}});
  }
  return replies;
}

Status ReplicatedVolume::quorum_result(const std::vector<Reply>& replies, const char* what) {
  size_t acks = 0, healthy = 0;
  const Error* first_error = nullptr;
  for (const auto& reply : replies) {
    if (!reply.was_healthy) continue;
    ++healthy;
    if (reply.result.ok())
      ++acks;
    else if (!first_error)
      first_error = &reply.result.error();
  }
  if (acks >= options_.quorum) return ok_status();
  std::string message = std::string(what) + " reached " + std::to_string(acks) + " of " + std::to_string(healthy) +
                        " healthy replicas; the quorum is " + std::to_string(options_.quorum);
  if (first_error) message += " (" + first_error->to_string() + ")";
  return Error(ErrorCode::kIo, message);
}

Status ReplicatedVolume::check_request(uint64_t offset, uint64_t length, uint64_t max_length) const {
  if (length == 0 || length > max_length || offset > options_.size || length > options_.size - offset)
    return Error(ErrorCode::kInvalidArgument, "request " + std::to_string(offset) + "+" + std::to_string(length) +
                                                  " is empty, too long or outside the volume");
  return ok_status();
}

Status ReplicatedVolume::read(uint64_t offset, std::span<uint8_t> out) {
  TRY_STATUS(check_request(offset, out.size(), wire::kMaxData));
  for (size_t attempt = 0; attempt <= links_.size(); ++attempt) {
    auto healthy = healthy_links();
    if (healthy.empty()) return Error(ErrorCode::kIo, "no healthy replica to read from");
    Link* link = healthy[read_turn_++ % healthy.size()];
    std::unique_lock io(link->io);
    {
      std::lock_guard lock(state_mu_);
      if (link->state != ReplicaState::kHealthy || !link->client) continue;
    }
    Status s = link->client->read(offset, out);
    if (s.ok()) return s;
    if (!replica_lost(s.error())) return s;
    lose(*link, s.error());
  }
  return Error(ErrorCode::kIo, "every replica failed the read");
}

Status ReplicatedVolume::write(uint64_t offset, std::span<const uint8_t> data, bool fua) {
  TRY_STATUS(check_request(offset, data.size(), wire::kMaxData));
  GateEntry entry(gate_);
  auto replies = broadcast(writable_links(), Op::kWrite, fua ? wire::kFlagFua : 0, offset, uint32_t(data.size()), data);
  return quorum_result(replies, "write");
}

Status ReplicatedVolume::write_zeroes(uint64_t offset, uint32_t length, bool fua) {
  TRY_STATUS(check_request(offset, length, UINT32_MAX));
  GateEntry entry(gate_);
  auto replies = broadcast(writable_links(), Op::kWriteZeroes, fua ? wire::kFlagFua : 0, offset, length, {});
  return quorum_result(replies, "write-zeroes");
}

Status ReplicatedVolume::flush() {
  GateEntry entry(gate_);
  auto replies = broadcast(writable_links(), Op::kFlush, 0, 0, 0, {});
  return quorum_result(replies, "flush");
}

nlohmann::json ReplicatedVolume::status() const {
  std::lock_guard lock(state_mu_);
  nlohmann::json j;
  j["ready"] = ready_.load();
  j["size"] = options_.size;
  j["quorum"] = options_.quorum;
  j["epoch"] = epoch_;
  j["next_seq"] = next_seq_;
  size_t healthy = 0;
  j["replicas"] = nlohmann::json::array();
  for (const auto& link : links_) {
    if (link->state == ReplicaState::kHealthy) ++healthy;
    j["replicas"].push_back({{"address", link->address.to_string()},
                             {"state", replica_state_name(link->state)},
                             {"takes_writes", link->takes_writes},
                             {"rebuilt_bytes", link->rebuilt_bytes},
                             {"last_error", link->last_error}});
  }
  j["healthy"] = healthy;
  j["degraded"] = healthy < links_.size();
  return j;
}

}  // namespace stowage::blockvol
