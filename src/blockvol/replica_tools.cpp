#include "blockvol/replica_tools.h"

#include <algorithm>
#include <memory>

#include "blockvol/replica_client.h"

namespace stowage::blockvol {
namespace {

constexpr auto kToolTimeout = std::chrono::milliseconds(120000);

}  // namespace

Status read_snapshot_to(const HostPort& replica, const std::string& name, FILE* out) {
  auto client = TRY(ReplicaClient::connect(replica, kToolTimeout));
  auto info = TRY(client->hello());
  auto list = TRY(client->snapshots());
  uint64_t seq = 0;
  for (const auto& s : list)
    if (s.name == name) seq = s.seq;
  if (seq == 0) return Error(ErrorCode::kNotFound, "no such snapshot on " + replica.to_string(), name);
  std::vector<uint8_t> buf(4 << 20);
  for (uint64_t pos = 0; pos < info.size; pos += buf.size()) {
    std::span<uint8_t> chunk(buf.data(), std::min<uint64_t>(buf.size(), info.size - pos));
    TRY_STATUS(client->read_snapshot(seq, pos, chunk));
    if (std::fwrite(chunk.data(), 1, chunk.size(), out) != chunk.size())
      return Error(ErrorCode::kIo, "writing the snapshot's content failed");
  }
  if (std::fflush(out) != 0) return Error(ErrorCode::kIo, "writing the snapshot's content failed");
  return ok_status();
}

Result<FillResult> fill_replicas(const std::vector<HostPort>& replicas, FILE* in) {
  std::vector<std::unique_ptr<ReplicaClient>> clients;
  uint64_t size = 0;
  for (const auto& r : replicas) {
    auto client = TRY(ReplicaClient::connect(r, kToolTimeout));
    auto info = TRY(client->hello());
    if (!info.fenced)
      return Error(ErrorCode::kConflict, "replica is not fenced", r.to_string(), "fence it first: stowage-volume fence");
    if (size && info.size != size) return Error(ErrorCode::kInvalidArgument, "replicas differ in size", r.to_string());
    size = info.size;
    clients.push_back(std::move(client));
  }
  FillResult result;
  std::vector<uint8_t> buf(4 << 20);
  auto zero_block = [&](size_t at, size_t n) {
    size_t len = std::min<size_t>(kBlockSize, n - at);
    return std::all_of(buf.begin() + long(at), buf.begin() + long(at + len), [](uint8_t c) { return c == 0; });
  };
  for (;;) {
    size_t n = std::fread(buf.data(), 1, buf.size(), in);
    if (n == 0) break;
    if (result.bytes_read + n > size) return Error(ErrorCode::kInvalidArgument, "the image is larger than the volume");
    for (size_t b = 0; b < n;) {
      if (zero_block(b, n)) {
        b += kBlockSize;
        continue;
      }
      size_t end = b;
      while (end < n && !zero_block(end, n)) end += kBlockSize;
      end = std::min(end, n);
      std::span<const uint8_t> data(buf.data() + b, end - b);
      for (auto& c : clients) TRY_STATUS(c->send(wire::Op::kFill, 0, result.bytes_read + b, uint32_t(data.size()), data));
      for (auto& c : clients) TRY(c->receive());
      result.bytes_written += data.size();
      b = end;
    }
    result.bytes_read += n;
  }
  if (std::ferror(in)) return Error(ErrorCode::kIo, "reading the image failed");
  // A fenced replica refuses a target's flush; fencing again flushes and
  // keeps the flag.
  for (auto& c : clients) TRY_STATUS(c->fence());
  return result;
}

}  // namespace stowage::blockvol
