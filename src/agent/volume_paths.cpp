#include "agent/volume_paths.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace stowage::agent {

namespace fs = std::filesystem;

namespace {

bool safe_component(const std::string& s) {
  return !s.empty() && s != "." && s != ".." && s.find('/') == std::string::npos;
}

}  // namespace

Result<std::string> kubelet_volume_dir(const std::string& kubelet_root, const std::string& pod_uid,
                                       const std::string& dir_name) {
  if (!safe_component(pod_uid) || !safe_component(dir_name))
    return Error(ErrorCode::kInvalidArgument, "pod uid \"" + pod_uid + "\" or volume \"" + dir_name + "\" is not a name",
                 dir_name, "");
  fs::path volumes = fs::path(kubelet_root) / "pods" / pod_uid / "volumes";
  std::error_code ec;
  if (fs::is_directory(volumes, ec)) {
    for (const auto& plugin : fs::directory_iterator(volumes, ec)) {
      fs::path candidate = plugin.path() / dir_name;
      if (!fs::is_directory(fs::symlink_status(candidate, ec))) continue;
      if (fs::is_directory(fs::symlink_status(candidate / "mount", ec))) return (candidate / "mount").string();
      return candidate.string();
    }
  }
  return Error(ErrorCode::kNotFound, "volume " + dir_name + " of pod " + pod_uid + " is not mounted on this node",
               volumes.string(), "the kubelet mounts it when the pod starts; check the agent's --kubelet-root");
}

std::string restore_signal_dir(const std::string& kubelet_root, const std::string& pod_uid) {
  return (fs::path(kubelet_root) / "pods" / pod_uid / "volumes" / "kubernetes.io~empty-dir" / "stowage-restore-signal")
      .string();
}

Status write_restore_signal(const std::string& dir, const std::string& volume, bool done, const std::string& text) {
  if (!safe_component(volume)) return Error(ErrorCode::kInvalidArgument, "bad volume name " + volume, volume, "");
  std::string final_path = dir + "/" + volume + (done ? ".done" : ".failed");
  std::string temp = dir + "/." + volume + ".tmp";
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0)
    return Error(ErrorCode::kIo, "cannot write the restore signal: " + std::string(std::strerror(errno)), temp, "");
  std::string line = text + "\n";
  bool ok = ::write(fd, line.data(), line.size()) == ssize_t(line.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(temp.c_str(), final_path.c_str()) != 0)
    return Error(ErrorCode::kIo, "cannot write the restore signal: " + std::string(std::strerror(errno)), final_path, "");
  return ok_status();
}

}  // namespace stowage::agent
