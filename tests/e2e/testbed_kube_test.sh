#!/usr/bin/env bash
# tests/e2e/testbed_kube_test.sh: proves that testbed component "kube" works,
# through the real apiserver, controller-manager, scheduler and kwok:
#   two Ready nodes; a pod pinned to node-a runs; `kubectl exec` runs a command
#   (kwok's ClusterExec, locally) and returns its output; a local PV with a
#   WaitForFirstConsumer StorageClass binds to a PVC used by a pod; the
#   non-admin identity is refused secrets (RBAC); namespace deletion completes.
#
# Usage:  testbed/up kube && source testbed/run/env && tests/e2e/testbed_kube_test.sh
# Needs KUBECONFIG, STOWAGE_TEST_LIMITED_KUBECONFIG, STOWAGE_TEST_KUBECTL.
# Exits non-zero, naming the failed check, on any failure.
set -uo pipefail

: "${KUBECONFIG:?not set: run testbed/up kube, then source testbed/run/env}"
: "${STOWAGE_TEST_LIMITED_KUBECONFIG:?not set: run testbed/up kube, then source testbed/run/env}"
: "${STOWAGE_TEST_KUBECTL:?not set: run testbed/up kube, then source testbed/run/env}"

K() { "$STOWAGE_TEST_KUBECTL" --request-timeout=30s "$@"; }
ID="$$-$RANDOM"
NS="stowage-e2e-$ID"
SC="stowage-e2e-local-$ID"
PV="stowage-e2e-pv-$ID"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/stowage-e2e-kube.XXXXXX")"
passed=0

cleanup() {
  K delete namespace "$NS" --ignore-not-found --wait=false >/dev/null 2>&1
  K delete pv "$PV" --ignore-not-found --wait=false >/dev/null 2>&1
  K delete storageclass "$SC" --ignore-not-found >/dev/null 2>&1
  rm -rf "$WORK"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  echo "$passed passed, 1 failed"
  exit 1
}
ok() { passed=$((passed + 1)); echo "ok $passed - $*"; }

# retry SECONDS CMD...: polls CMD every half second until it succeeds.
retry() {
  local secs="$1" i; shift
  for ((i = 0; i < secs * 2; i++)); do "$@" >/dev/null 2>&1 && return 0; sleep 0.5; done
  return 1
}

# 1. two Ready nodes
ready="$(K get nodes -o jsonpath='{range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Ready")].status}/{.status.addresses[?(@.type=="InternalIP")].address}{"\n"}{end}')" ||
  fail "kubectl get nodes failed"
for n in node-a node-b; do
  grep -qx "$n=True/127.0.0.1" <<<"$ready" || fail "node $n is not Ready with InternalIP 127.0.0.1; got: $(tr '\n' ' ' <<<"$ready")"
done
[ "$(grep -c '=True/' <<<"$ready")" -ge 2 ] || fail "fewer than 2 Ready nodes: $ready"
ok "kubectl get nodes: node-a and node-b Ready, InternalIP 127.0.0.1"

# 2. a namespace and a pod pinned to node-a, Running
K create namespace "$NS" >/dev/null || fail "create namespace $NS"
retry 30 K -n "$NS" get serviceaccount default || fail "serviceaccount default never appeared in $NS (kube-controller-manager running?)"
K -n "$NS" apply -f - >/dev/null <<EOF || fail "create pod pinned"
apiVersion: v1
kind: Pod
metadata:
  name: pinned
spec:
  nodeSelector:
    kubernetes.io/hostname: node-a
  containers:
  - name: main
    image: busybox
EOF
pod_running() { [ "$(K -n "$NS" get pod "$1" -o jsonpath='{.status.phase}/{.spec.nodeName}')" = "Running/$2" ]; }
retry 60 pod_running pinned node-a ||
  fail "pod pinned not Running on node-a within 60 s: $(K -n "$NS" get pod pinned -o wide 2>&1 | tail -1)"
ok "pod pinned to node-a is Running"

# 3. kubectl exec through the apiserver to kwok, run locally
out="$(K -n "$NS" exec pinned -- sh -c 'echo hello' 2>&1)" || fail "kubectl exec failed: $out"
[ "$out" = hello ] || fail "kubectl exec printed '$out', expected 'hello'"
ok "kubectl exec pinned -- sh -c 'echo hello' returned hello"

# 4. local PV (no provisioner, WaitForFirstConsumer) bound through a pod
mkdir -p "$WORK/nodes/node-a/pv1"
K apply -f - >/dev/null <<EOF || fail "create StorageClass/PV"
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: $SC
provisioner: kubernetes.io/no-provisioner
volumeBindingMode: WaitForFirstConsumer
---
apiVersion: v1
kind: PersistentVolume
metadata:
  name: $PV
spec:
  capacity:
    storage: 1Gi
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: $SC
  local:
    path: $WORK/nodes/node-a/pv1
  nodeAffinity:
    required:
      nodeSelectorTerms:
      - matchExpressions:
        - key: kubernetes.io/hostname
          operator: In
          values: [node-a]
EOF
K -n "$NS" apply -f - >/dev/null <<EOF || fail "create PVC/pod"
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: data
spec:
  accessModes: [ReadWriteOnce]
  storageClassName: $SC
  resources:
    requests:
      storage: 1Gi
---
apiVersion: v1
kind: Pod
metadata:
  name: with-volume
spec:
  containers:
  - name: main
    image: busybox
    volumeMounts:
    - name: data
      mountPath: /data
  volumes:
  - name: data
    persistentVolumeClaim:
      claimName: data
EOF
pvc_bound() { [ "$(K -n "$NS" get pvc data -o jsonpath='{.status.phase}/{.spec.volumeName}')" = "Bound/$PV" ]; }
retry 60 pvc_bound || fail "PVC data not Bound to $PV within 60 s: $(K -n "$NS" get pvc data 2>&1 | tail -1)"
retry 60 pod_running with-volume node-a ||
  fail "pod with-volume not Running on node-a within 60 s: $(K -n "$NS" get pod with-volume -o wide 2>&1 | tail -1)"
ok "PVC Bound to local PV $PV; its pod Running on node-a"

# 5. the limited identity is refused by RBAC
out="$(K --kubeconfig "$STOWAGE_TEST_LIMITED_KUBECONFIG" get secrets -A 2>&1)" &&
  fail "limited identity was allowed to list secrets: $out"
grep -q Forbidden <<<"$out" || fail "limited identity failed, but not with Forbidden: $out"
grep -q 'stowage-limited' <<<"$out" || fail "Forbidden for an unexpected user: $out"
ok "limited kubeconfig: get secrets -A is Forbidden"

# 6. namespace deletion completes (needs kube-controller-manager)
K delete namespace "$NS" --wait=true --timeout=90s >/dev/null || fail "delete namespace $NS did not complete in 90 s"
K get namespace "$NS" >/dev/null 2>&1 && fail "namespace $NS still exists after delete"
ok "namespace $NS deleted"

echo "$passed passed, 0 failed"
