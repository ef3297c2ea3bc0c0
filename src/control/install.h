// install / uninstall: puts stowage into a cluster from the manifests
// compiled into the binary (control/manifests.h) — namespace, CRDs, RBAC,
// server Deployment, agent DaemonSet — and takes it out again. Both are
// idempotent: install applies every object with server-side apply (a second
// run changes nothing), uninstall treats an object already gone as done.
// Every wait is bounded and says what it waits for.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>

#include "control/manifests.h"
#include "kube/api_client.h"
#include "util/result.h"

namespace stowage::control {

// The field manager install applies as (metadata.managedFields).
inline constexpr const char* kInstallFieldManager = "stowage-install";

struct InstallOptions {
  std::string namespace_name = kManifestNamespace;
  std::string image;        // empty: the manifests' own (stowage:0.1.0)
  bool crds_only = false;   // only the CustomResourceDefinitions
  bool dry_run = false;     // the server validates every object (dryRun=All) and persists nothing
  bool with_agent = true;   // false: no agent DaemonSet, ServiceAccount or RBAC
  std::chrono::seconds wait_timeout{120};  // bound of each wait (CRDs Established, a namespace still terminating)
};

// Applies every object in order (namespace, CRDs — then waits until each is
// Established — ServiceAccounts, RBAC, server, agent), as field manager
// "stowage-install", forcing ownership of fields someone else changed.
// `report` (may be empty) gets one line per object ("namespace/stowage:
// created", "...: unchanged") and per wait. With dry_run, objects whose
// namespace does not exist yet are reported but cannot be validated.
Status install(kube::ApiClient& client, const InstallOptions& options,
               const std::function<void(std::string_view)>& report);

struct UninstallOptions {
  std::string namespace_name = kManifestNamespace;
  bool keep_crds = false;  // keep the CRDs, and with them every stowage object outside the namespace
  std::chrono::seconds wait_timeout{180};  // one bound for the namespace and the CRDs to go
};

// Deletes what install created, in reverse order, then waits until the
// namespace (and, unless keep_crds, the CRDs) are gone. stowage.io
// finalizers are removed from the objects about to go, since no server is
// left to act on them (the data in object storage stays). Objects already
// gone are reported as such; running it twice succeeds.
Status uninstall(kube::ApiClient& client, const UninstallOptions& options,
                 const std::function<void(std::string_view)>& report);

}  // namespace stowage::control
