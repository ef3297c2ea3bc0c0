// The Kubernetes commands of the CLI, in the style of velero and kubectl:
// backup, restore and schedule (backup_commands.cpp); install, uninstall,
// server and backup-location (admin_commands.cpp). docs/cli.md lists them.
#pragma once

#include <CLI/CLI.hpp>

#include "cli/cluster_session.h"

namespace stowage::cli {

// Adds --kubeconfig, --context and -n to `app` (shared by every cluster command).
void add_kube_flags(CLI::App& app, KubeFlags& flags);
void add_backup_commands(CLI::App& app, KubeFlags& flags, int& code);
void add_admin_commands(CLI::App& app, KubeFlags& flags, int& code);

}  // namespace stowage::cli
