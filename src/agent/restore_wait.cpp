#include "agent/restore_wait.h"

#include <sys/stat.h>

#include <fstream>
#include <set>
#include <sstream>
#include <thread>

namespace stowage::agent {

namespace {

bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

std::string first_line(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

}  // namespace

Status wait_for_restore(const std::string& dir, const std::vector<std::string>& volumes,
                        const RestoreWaitOptions& options) {
  for (const auto& v : volumes)
    if (v.empty() || v.find('/') != std::string::npos || v == "." || v == "..")
      return Error(ErrorCode::kInvalidArgument, "\"" + v + "\" is not a volume name", v, "");
  auto start = std::chrono::steady_clock::now();
  auto last_report = start - std::chrono::hours(1);
  std::set<std::string> pending(volumes.begin(), volumes.end());
  while (!pending.empty()) {
    for (auto it = pending.begin(); it != pending.end();) {
      std::string failed = dir + "/" + *it + ".failed";
      if (exists(failed))
        return Error(ErrorCode::kIo, "restoring volume " + *it + " failed: " + first_line(failed), *it,
                     "see the VolumeRestore of this pod (kubectl get volumerestores -n stowage) and restore again");
      if (exists(dir + "/" + *it + ".done")) {
        if (options.say) options.say("volume " + *it + " restored: " + first_line(dir + "/" + *it + ".done"));
        it = pending.erase(it);
      } else {
        ++it;
      }
    }
    if (pending.empty()) break;
    auto now = std::chrono::steady_clock::now();
    if (options.timeout.count() > 0 && now - start >= options.timeout) {
      std::string names;
      for (const auto& p : pending) names += (names.empty() ? "" : ", ") + p;
      return Error(ErrorCode::kUnavailable, "volumes not restored after " + std::to_string(options.timeout.count()) +
                                                " s: " + names,
                   dir, "is the stowage agent running on this node?");
    }
    if (options.say && now - last_report >= std::chrono::seconds(10)) {
      last_report = now;
      std::ostringstream line;
      line << "waiting for the stowage agent to restore " << pending.size() << " volume(s):";
      for (const auto& p : pending) line << ' ' << p;
      options.say(line.str());
    }
    std::this_thread::sleep_for(options.poll);
  }
  return ok_status();
}

}  // namespace stowage::agent
