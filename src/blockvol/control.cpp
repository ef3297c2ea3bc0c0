#include "blockvol/control.h"

#include <sys/socket.h>

#include <thread>

namespace stowage::blockvol {
namespace {

constexpr size_t kMaxLine = 64 * 1024;

nlohmann::json failure(const Error& error) {
  return {{"ok", false}, {"error", error.to_string()}, {"code", error_code_name(error.code())}};
}

nlohmann::json extents_json(const std::vector<Extent>& extents) {
  nlohmann::json list = nlohmann::json::array();
  uint64_t total = 0;
  for (const auto& e : extents) {
    list.push_back({{"offset", e.offset}, {"length", e.length}});
    total += e.length;
  }
  return {{"ok", true}, {"extents", list}, {"bytes", total}};
}

// Reads up to '\n' (one byte at a time: requests are tiny).
Result<std::string> read_line(int fd) {
  std::string line;
  for (;;) {
    uint8_t c = 0;
    TRY_STATUS(read_full(fd, std::span<uint8_t>(&c, 1)));
    if (c == '\n') return line;
    line.push_back(char(c));
    if (line.size() > kMaxLine) return Error(ErrorCode::kInvalidArgument, "request line too long");
  }
}

}  // namespace

nlohmann::json ControlServer::handle(const nlohmann::json& request) {
  if (!request.is_object() || !request.contains("op") || !request["op"].is_string())
    return failure(Error(ErrorCode::kInvalidArgument, "request must be an object with a string \"op\""));
  const std::string op = request["op"];
  auto text = [&](const char* key) -> std::string {
    auto it = request.find(key);
    return it != request.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  auto timeout = [&]() {
    auto it = request.find("timeout_ms");
    int64_t ms = it != request.end() && it->is_number_integer() ? it->get<int64_t>() : 10000;
    return std::chrono::milliseconds(std::clamp<int64_t>(ms, 1, 3600 * 1000));
  };
  if (op == "status") {
    auto status = volume_.status();
    status["ok"] = true;
    return status;
  }
  if (op == "snapshot") {
    auto outcome = volume_.snapshot(text("name"), timeout());
    if (!outcome.ok()) return failure(outcome.error());
    return {{"ok", true}, {"name", outcome->name}, {"seq", outcome->seq}, {"pause_ms", outcome->pause_ms},
            {"replicas", outcome->replicas}};
  }
  if (op == "snapshots") {
    auto list = volume_.snapshots();
    if (!list.ok()) return failure(list.error());
    nlohmann::json out = nlohmann::json::array();
    for (const auto& s : *list) out.push_back({{"name", s.name}, {"seq", s.seq}, {"created", s.created_unix}});
    return {{"ok", true}, {"snapshots", out}};
  }
  if (op == "delete-snapshot") {
    auto deleted = volume_.delete_snapshot(text("name"), timeout());
    if (!deleted.ok()) return failure(deleted.error());
    return {{"ok", true}, {"name", text("name")}, {"replicas", *deleted}};
  }
  if (op == "changed-extents") {
    auto extents = volume_.changed_extents(text("from"), text("to"));
    if (!extents.ok()) return failure(extents.error());
    return extents_json(*extents);
  }
  return failure(Error(ErrorCode::kInvalidArgument, "unknown operation", op));
}

void ControlServer::serve_connection(Socket socket) {
  auto line = read_line(socket.fd());
  if (!line.ok()) return;
  nlohmann::json request = nlohmann::json::parse(*line, nullptr, false);
  nlohmann::json reply = request.is_discarded()
                             ? failure(Error(ErrorCode::kInvalidArgument, "request is not JSON"))
                             : handle(request);
  std::string out = reply.dump() + "\n";
  (void)write_full(socket.fd(), std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(out.data()), out.size()));
}

void ControlServer::serve(Socket listener) {
  while (!stopping_) {
    auto connection = accept_tcp(listener, std::chrono::milliseconds(200));
    if (!connection.ok()) continue;
    std::thread([this, c = std::move(*connection)]() mutable { serve_connection(std::move(c)); }).detach();
  }
}

Result<nlohmann::json> control_call(const HostPort& target, const nlohmann::json& request,
                                    std::chrono::milliseconds timeout) {
  auto socket = TRY(connect_tcp(target, std::chrono::milliseconds(5000)));
  set_io_timeout(socket, timeout);
  std::string out = request.dump() + "\n";
  TRY_STATUS(write_full(socket.fd(), std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(out.data()), out.size())));
  auto line = read_line(socket.fd());
  if (!line.ok()) return std::move(line).error().with_context("reading the reply of " + target.to_string());
  nlohmann::json reply = nlohmann::json::parse(*line, nullptr, false);
  if (reply.is_discarded() || !reply.is_object()) return Error(ErrorCode::kCorrupt, "the target's reply is not JSON", target.to_string());
  if (!reply.value("ok", false)) {
    ErrorCode code = ErrorCode::kInternal;
    std::string name = reply.value("code", "");
    for (ErrorCode c : {ErrorCode::kNotFound, ErrorCode::kAlreadyExists, ErrorCode::kInvalidArgument,
                        ErrorCode::kUnavailable, ErrorCode::kConflict, ErrorCode::kIo})
      if (name == error_code_name(c)) code = c;
    return Error(code, reply.value("error", "request failed"), target.to_string());
  }
  return reply;
}

}  // namespace stowage::blockvol
