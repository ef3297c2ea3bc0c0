// stowage-volume: the replicated block volume engine's processes and tools.
//   replica   serves one copy of a volume from a directory
//   target    exports the volume over NBD, replicating to the replicas
//   snapshot, snapshots, delete-snapshot, changed-extents, status: ask a target
//   read-snapshot, fence, unfence, fill, replica-info: talk to one replica
// docs/blockvol.md describes the engine and every command.
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <charconv>
#include <cstdio>
#include <iostream>
#include <thread>

#include "blockvol/control.h"
#include "blockvol/layer_store.h"
#include "blockvol/nbd_server.h"
#include "blockvol/replica_client.h"
#include "blockvol/replica_server.h"
#include "blockvol/replica_tools.h"
#include "blockvol/replicated_volume.h"
#include "util/log.h"

using namespace stowage;
using namespace stowage::blockvol;

namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;

// "1073741824", "64M", "1G", "512Ki": bytes (K, M, G, T are powers of 1024).
Result<uint64_t> parse_size(const std::string& text) {
  uint64_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr == text.data()) return Error(ErrorCode::kInvalidArgument, "bad size", text);
  std::string unit(ptr, text.data() + text.size());
  if (!unit.empty() && unit.back() == 'i') unit.pop_back();
  if (!unit.empty() && (unit.back() == 'B' || unit.back() == 'b')) unit.pop_back();
  uint64_t factor = 1;
  if (unit == "K" || unit == "k") factor = 1ull << 10;
  else if (unit == "M" || unit == "m") factor = 1ull << 20;
  else if (unit == "G" || unit == "g") factor = 1ull << 30;
  else if (unit == "T" || unit == "t") factor = 1ull << 40;
  else if (!unit.empty()) return Error(ErrorCode::kInvalidArgument, "bad size unit", text);
  if (value > UINT64_MAX / factor) return Error(ErrorCode::kInvalidArgument, "size too large", text);
  return value * factor;
}

int fail(const Error& error) {
  std::fprintf(stderr, "stowage-volume: %s\n", error.to_string().c_str());
  return kExitFailed;
}

sigset_t termination_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  return set;
}

// Blocks SIGTERM/SIGINT in every thread (call before starting any), so that
// wait_for_termination() receives them.
void block_termination() {
  sigset_t set = termination_signals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

void wait_for_termination() {
  sigset_t set = termination_signals();
  int sig = 0;
  sigwait(&set, &sig);
}

Logger make_logger(const std::string& level, const std::string& role) {
  LoggerOptions options;
  if (auto parsed = parse_log_level(level); parsed.ok()) options.level = *parsed;
  return Logger(options).with("role", role);
}

struct ReplicaFlags {
  std::string dir, listen, size, log_level = "info";
  bool create = false, fenced = false;
};

int run_replica(const ReplicaFlags& f) {
  block_termination();
  Logger log = make_logger(f.log_level, "replica").with("dir", f.dir);
  auto address = parse_host_port(f.listen);
  if (!address.ok()) return fail(address.error());
  Result<std::unique_ptr<LayerStore>> store = Error(ErrorCode::kInternal, "unset");
  if (f.create) {
    if (f.size.empty()) return fail(Error(ErrorCode::kInvalidArgument, "--create needs --size"));
    auto size = parse_size(f.size);
    if (!size.ok()) return fail(size.error());
    store = LayerStore::create(f.dir, *size, f.fenced);
  } else {
    store = LayerStore::open(f.dir);
    if (store.ok() && !f.size.empty()) {
      auto size = parse_size(f.size);
      if (!size.ok()) return fail(size.error());
      if (*size != (*store)->size())
        return fail(Error(ErrorCode::kInvalidArgument,
                          "--size " + f.size + " differs from the volume's size " + std::to_string((*store)->size()), f.dir));
    }
  }
  if (!store.ok()) return fail(store.error());
  auto listener = listen_tcp(*address);
  if (!listener.ok()) return fail(listener.error());
  ReplicaServer server(**store, log);
  log.info("replica serving", {{"listen", f.listen}, {"size", std::to_string((*store)->size())},
                               {"fenced", (*store)->fenced() ? "true" : "false"}});
  std::thread serving([&] { server.serve(std::move(*listener)); });
  wait_for_termination();
  server.stop();
  Status flushed = (*store)->flush();
  log.info("replica stopping", {{"flushed", flushed.ok() ? "true" : flushed.error().to_string()}});
  std::fflush(nullptr);
  _exit(flushed.ok() ? kExitOk : kExitFailed);  // connection threads are detached: leave without unwinding
}

struct TargetFlags {
  std::string listen, control, size, log_level = "info";
  std::vector<std::string> replicas;
  size_t quorum = 0;
  int io_timeout_ms = 30000;
};

int run_target(const TargetFlags& f) {
  block_termination();
  Logger log = make_logger(f.log_level, "target");
  auto nbd_address = parse_host_port(f.listen);
  if (!nbd_address.ok()) return fail(nbd_address.error());
  auto size = parse_size(f.size);
  if (!size.ok()) return fail(size.error());
  VolumeOptions options;
  options.size = *size;
  options.io_timeout = std::chrono::milliseconds(f.io_timeout_ms);
  for (const auto& r : f.replicas) {
    auto address = parse_host_port(r);
    if (!address.ok()) return fail(address.error());
    options.replicas.push_back(*address);
  }
  options.quorum = f.quorum ? f.quorum : options.replicas.size() / 2 + 1;
  if (options.quorum > options.replicas.size())
    return fail(Error(ErrorCode::kInvalidArgument, "--quorum is larger than the number of replicas"));
  if (options.quorum * 2 <= options.replicas.size())
    log.warning("quorum is not a majority: after a target restart a stale replica set could be chosen");
  ReplicatedVolume volume(options, log);
  std::optional<ControlServer> control;
  std::thread control_thread;
  if (!f.control.empty()) {
    auto address = parse_host_port(f.control);
    if (!address.ok()) return fail(address.error());
    auto listener = listen_tcp(*address);
    if (!listener.ok()) return fail(listener.error());
    control.emplace(volume, log);
    control_thread = std::thread([&, l = std::move(*listener)]() mutable { control->serve(std::move(l)); });
  }
  auto listener = listen_tcp(*nbd_address);
  if (!listener.ok()) return fail(listener.error());
  volume.start();
  log.info("waiting for a quorum of replicas", {{"quorum", std::to_string(options.quorum)}});
  std::thread nbd_thread([&, l = std::move(*listener)]() mutable {
    while (!volume.wait_ready(std::chrono::milliseconds(1000)).ok()) {
    }
    nbd::NbdServer server(volume, log);
    log.info("serving NBD", {{"listen", f.listen}, {"size", std::to_string(options.size)}});
    server.serve(std::move(l));
  });
  wait_for_termination();
  log.info("target stopping");
  std::fflush(nullptr);
  _exit(kExitOk);
}

struct ClientFlags {
  std::string target, output = "table", name, from, to;
  int timeout_ms = 10000;
};

int print_or_fail(const Result<nlohmann::json>& reply, const ClientFlags& f, const std::function<void(const nlohmann::json&)>& table) {
  if (!reply.ok()) return fail(reply.error());
  nlohmann::json j = *reply;
  j.erase("ok");
  if (f.output == "json")
    std::cout << j.dump(2) << "\n";
  else
    table(j);
  return kExitOk;
}

int run_client(const std::string& op, const ClientFlags& f) {
  auto target = parse_host_port(f.target);
  if (!target.ok()) return fail(target.error());
  nlohmann::json request = {{"op", op}, {"timeout_ms", f.timeout_ms}};
  if (!f.name.empty()) request["name"] = f.name;
  if (op == "changed-extents") {
    request["from"] = f.from == "-" ? "" : f.from;
    request["to"] = f.to == "-" ? "" : f.to;
  }
  // The target waits up to timeout_ms to drain; give it time to answer.
  auto reply = control_call(*target, request, std::chrono::milliseconds(f.timeout_ms * 3 + 30000));
  return print_or_fail(reply, f, [&](const nlohmann::json& j) {
    if (op == "snapshot") {
      std::printf("snapshot %s taken: sequence %llu, IO paused %.3f ms, on %zu replicas\n",
                  j["name"].get<std::string>().c_str(), (unsigned long long)j["seq"].get<uint64_t>(),
                  j["pause_ms"].get<double>(), j["replicas"].size());
    } else if (op == "snapshots") {
      std::printf("%-8s %-32s %s\n", "SEQ", "NAME", "CREATED");
      for (const auto& s : j["snapshots"])
        std::printf("%-8llu %-32s %lld\n", (unsigned long long)s["seq"].get<uint64_t>(),
                    s["name"].get<std::string>().c_str(), (long long)s["created"].get<int64_t>());
    } else if (op == "delete-snapshot") {
      std::printf("snapshot %s deleted on %zu replicas\n", f.name.c_str(), j["replicas"].size());
    } else if (op == "changed-extents") {
      for (const auto& e : j["extents"])
        std::printf("%llu %llu\n", (unsigned long long)e["offset"].get<uint64_t>(),
                    (unsigned long long)e["length"].get<uint64_t>());
      std::printf("# %llu bytes changed\n", (unsigned long long)j["bytes"].get<uint64_t>());
    } else {
      std::printf("ready: %s  size: %llu  quorum: %zu  epoch: %llu  healthy: %zu/%zu\n",
                  j["ready"].get<bool>() ? "yes" : "no", (unsigned long long)j["size"].get<uint64_t>(),
                  j["quorum"].get<size_t>(), (unsigned long long)j["epoch"].get<uint64_t>(),
                  j["healthy"].get<size_t>(), j["replicas"].size());
      for (const auto& r : j["replicas"])
        std::printf("  %-22s %-10s %s\n", r["address"].get<std::string>().c_str(), r["state"].get<std::string>().c_str(),
                    r["last_error"].get<std::string>().c_str());
    }
  });
}

struct ReplicaToolFlags {
  std::vector<std::string> replicas;
  std::string snapshot, file, output = "table";
};

Result<std::unique_ptr<ReplicaClient>> connect_replica(const std::string& text) {
  auto address = TRY(parse_host_port(text));
  return ReplicaClient::connect(address, std::chrono::milliseconds(120000));
}

int run_read_snapshot(const ReplicaToolFlags& f) {
  auto address = parse_host_port(f.replicas.at(0));
  if (!address.ok()) return fail(address.error());
  bool to_stdout = f.file.empty() || f.file == "-";
  FILE* out = to_stdout ? stdout : std::fopen(f.file.c_str(), "wb");
  if (!out) return fail(Error(ErrorCode::kIo, "cannot open the output", f.file));
  Status read = read_snapshot_to(*address, f.snapshot, out);
  if (!to_stdout && std::fclose(out) != 0 && read.ok()) read = Error(ErrorCode::kIo, "closing the output failed", f.file);
  return read.ok() ? kExitOk : fail(read.error());
}

int run_fill(const ReplicaToolFlags& f) {
  std::vector<HostPort> replicas;
  for (const auto& r : f.replicas) {
    auto address = parse_host_port(r);
    if (!address.ok()) return fail(address.error());
    replicas.push_back(*address);
  }
  bool from_stdin = f.file.empty() || f.file == "-";
  FILE* in = from_stdin ? stdin : std::fopen(f.file.c_str(), "rb");
  if (!in) return fail(Error(ErrorCode::kIo, "cannot open the input", f.file));
  auto filled = fill_replicas(replicas, in);
  if (!from_stdin) std::fclose(in);
  if (!filled.ok()) return fail(filled.error());
  std::printf("filled %llu bytes (%llu written, the rest zeros) into %zu replicas\n",
              (unsigned long long)filled->bytes_read, (unsigned long long)filled->bytes_written, replicas.size());
  return kExitOk;
}

int run_fence(const ReplicaToolFlags& f, bool fence) {
  for (const auto& r : f.replicas) {
    auto client = connect_replica(r);
    if (!client.ok()) return fail(client.error());
    Status s = fence ? (*client)->fence() : (*client)->unfence();
    if (!s.ok()) return fail(s.error());
  }
  return kExitOk;
}

int run_replica_info(const ReplicaToolFlags& f) {
  auto client = connect_replica(f.replicas.at(0));
  if (!client.ok()) return fail(client.error());
  auto info = (*client)->hello();
  if (!info.ok()) return fail(info.error());
  auto list = (*client)->snapshots();
  if (!list.ok()) return fail(list.error());
  nlohmann::json j = {{"size", info->size}, {"block_size", info->block_size}, {"fenced", info->fenced},
                      {"epoch", info->epoch}, {"max_seq", info->max_seq}};
  j["snapshots"] = nlohmann::json::array();
  for (const auto& s : *list) j["snapshots"].push_back({{"name", s.name}, {"seq", s.seq}, {"created", s.created_unix}});
  std::cout << j.dump(2) << "\n";
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"stowage-volume: a replicated block volume (replicas, an NBD target, crash-consistent snapshots)"};
  app.require_subcommand(1);
  int code = kExitOk;

  ReplicaFlags replica;
  auto* replica_cmd = app.add_subcommand("replica", "serve one replica of a volume from a directory");
  replica_cmd->add_option("--dir", replica.dir, "directory holding the volume")->required();
  replica_cmd->add_option("--listen", replica.listen, "HOST:PORT for the target and tools")->required();
  replica_cmd->add_option("--size", replica.size, "volume size in bytes (K/M/G suffixes); required with --create");
  replica_cmd->add_flag("--create", replica.create, "create a new volume in --dir");
  replica_cmd->add_flag("--fenced", replica.fenced, "with --create: start fenced (to be filled, then unfenced)");
  replica_cmd->add_option("--log-level", replica.log_level);
  replica_cmd->callback([&] { code = run_replica(replica); });

  TargetFlags target;
  auto* target_cmd = app.add_subcommand("target", "export the volume over NBD, replicating every write");
  target_cmd->add_option("--listen", target.listen, "HOST:PORT for NBD clients")->required();
  target_cmd->add_option("--replica", target.replicas, "HOST:PORT of a replica (repeat)")->required();
  target_cmd->add_option("--quorum", target.quorum, "acknowledgements a write needs (default: a majority)");
  target_cmd->add_option("--size", target.size, "volume size in bytes (K/M/G suffixes)")->required();
  target_cmd->add_option("--control", target.control, "HOST:PORT of the control port (snapshots, status)");
  target_cmd->add_option("--io-timeout-ms", target.io_timeout_ms, "a replica that does not answer within this is dropped");
  target_cmd->add_option("--log-level", target.log_level);
  target_cmd->callback([&] { code = run_target(target); });

  ClientFlags client;
  auto add_client = [&](const std::string& name, const std::string& help) {
    auto* cmd = app.add_subcommand(name, help);
    cmd->add_option("--target", client.target, "HOST:PORT of the target's control port")->required();
    cmd->add_option("-o,--output", client.output, "table or json")->check(CLI::IsMember({"table", "json"}));
    cmd->add_option("--timeout-ms", client.timeout_ms, "how long IO may take to drain (snapshot), or to wait for a rebuild");
    return cmd;
  };
  auto* snapshot_cmd = add_client("snapshot", "take a crash-consistent snapshot on every healthy replica");
  snapshot_cmd->add_option("name", client.name)->required();
  snapshot_cmd->callback([&] { code = run_client("snapshot", client); });
  add_client("status", "the target's replicas and their states")->callback([&] { code = run_client("status", client); });
  add_client("snapshots", "list the volume's snapshots")->callback([&] { code = run_client("snapshots", client); });
  auto* delete_cmd = add_client("delete-snapshot", "delete a snapshot on every healthy replica");
  delete_cmd->add_option("name", client.name)->required();
  delete_cmd->callback([&] { code = run_client("delete-snapshot", client); });
  auto* changed_cmd = add_client("changed-extents", "byte ranges written after FROM up to TO (\"-\": nothing / the live volume)");
  changed_cmd->add_option("from", client.from, "older snapshot, or - for the beginning")->required();
  changed_cmd->add_option("to", client.to, "newer snapshot, or - for the live volume")->required();
  changed_cmd->callback([&] { code = run_client("changed-extents", client); });

  ReplicaToolFlags tool;
  auto* read_cmd = app.add_subcommand("read-snapshot", "write a snapshot's content, as read from one replica");
  read_cmd->add_option("--replica", tool.replicas, "HOST:PORT of the replica")->required()->expected(1);
  read_cmd->add_option("--output", tool.file, "file to write (default: stdout)");
  read_cmd->add_option("snapshot", tool.snapshot)->required();
  read_cmd->callback([&] { code = run_read_snapshot(tool); });
  auto* fill_cmd = app.add_subcommand("fill", "write an image into fenced replicas (one read of the input)");
  fill_cmd->add_option("--replica", tool.replicas, "HOST:PORT of a fenced replica (repeat)")->required();
  fill_cmd->add_option("--input", tool.file, "image to read (default: stdin)");
  fill_cmd->callback([&] { code = run_fill(tool); });
  auto* fence_cmd = app.add_subcommand("fence", "fence replicas: they refuse target IO until unfenced");
  fence_cmd->add_option("--replica", tool.replicas)->required();
  fence_cmd->callback([&] { code = run_fence(tool, true); });
  auto* unfence_cmd = app.add_subcommand("unfence", "let replicas serve a target again");
  unfence_cmd->add_option("--replica", tool.replicas)->required();
  unfence_cmd->callback([&] { code = run_fence(tool, false); });
  auto* info_cmd = app.add_subcommand("replica-info", "one replica's size, fence, epoch and snapshots (JSON)");
  info_cmd->add_option("--replica", tool.replicas)->required()->expected(1);
  info_cmd->callback([&] { code = run_replica_info(tool); });

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? kExitOk : kExitUsage;
  }
  return code;
}
