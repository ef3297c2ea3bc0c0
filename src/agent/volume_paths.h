// Where a pod volume's data lives on this node, as the agent sees it: the
// directory of a hostPath/local PV, or the pod's volume directory that the
// kubelet made under its root (<root>/pods/<uid>/volumes/<plugin>/<name>,
// with a CSI volume's files under .../mount), and the restore-wait signal
// directory (the pod's emptyDir named stowage-restore-signal).
#pragma once

#include <string>

#include "util/result.h"

namespace stowage::agent {

// The kubelet's directory of one pod volume: `dir_name` is the PV name for
// a claim, the volume's own name otherwise. kNotFound until it exists.
Result<std::string> kubelet_volume_dir(const std::string& kubelet_root, const std::string& pod_uid,
                                       const std::string& dir_name);

// The restore-wait init container's signal directory of a pod.
std::string restore_signal_dir(const std::string& kubelet_root, const std::string& pod_uid);

// Writes <dir>/<volume>.done (or .failed with the reason) atomically.
Status write_restore_signal(const std::string& dir, const std::string& volume, bool done, const std::string& text);

}  // namespace stowage::agent
