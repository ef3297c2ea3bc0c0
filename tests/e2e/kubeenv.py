"""The Kubernetes side of the end-to-end tests: kubectl against the testbed's
real kube-apiserver, the stowage CLI pointed at one stowage namespace, a
`stowage server` run as a local process for that namespace, and a sample
stateful application to back up."""
import json
import os
import pathlib
import subprocess
import time
import uuid

import pytest

from conftest import ROOT, base_env, minio_url


class Kubectl:
    def __init__(self, env):
        self.env = env
        self.binary = env.get("STOWAGE_TEST_KUBECTL")
        if not self.binary or not env.get("KUBECONFIG"):
            pytest.fail("the kube testbed is not running: run testbed/up kube first")

    def run(self, *args, input=None, check=True):
        result = subprocess.run([self.binary, "--request-timeout=30s", *args], env=self.env, input=input,
                                capture_output=True, text=True, timeout=120)
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} exited {result.returncode}: {result.stderr}")
        return result

    def apply(self, manifest):
        return self.run("apply", "-f", "-", input=manifest)

    def get(self, *args, check=True):
        result = self.run("get", *args, "-o", "json", check=check)
        return json.loads(result.stdout) if result.returncode == 0 else None

    def wait_until(self, what, predicate, timeout=90):
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            try:
                last = predicate()
                if last:
                    return last
            except (AssertionError, json.JSONDecodeError, KeyError):
                pass
            time.sleep(0.5)
        raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {last!r})")


class StowageCluster:
    """The stowage CLI for one stowage namespace, and its server process."""

    def __init__(self, binary, namespace, env, workdir):
        self.binary = binary
        self.namespace = namespace
        self.env = env
        self.workdir = workdir
        self.server = None
        self.server_log = workdir / "server.log"
        self.agents = {}

    def run(self, *args, check=True, timeout=300, output=None):
        cmd = [self.binary, "-n", self.namespace, *map(str, args)]
        if output:
            cmd[1:1] = ["-o", output]
        result = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} exited {result.returncode}\nstdout: {result.stdout[-3000:]}\n"
                                 f"stderr: {result.stderr[-3000:]}\nserver log tail:\n{self.server_tail()}")
        return result

    def json(self, *args):
        return json.loads(self.run(*args, output="json").stdout)

    def start_server(self, *extra):
        log = open(self.server_log, "ab")
        self.server = subprocess.Popen(
            [self.binary, "-n", self.namespace, "server", "--metrics-address", "127.0.0.1:0", "--resync-seconds", "2",
             "--location-check-seconds", "2", "--kdf-memory-mib", "1", *extra],
            env=self.env, stdout=log, stderr=log)

    def start_agent(self, node, kubelet_root):
        """A node agent as a host process (kwok nodes are this host)."""
        log_path = self.workdir / f"agent-{node}.log"
        log = open(log_path, "ab")
        agent = subprocess.Popen(
            [self.binary, "-n", self.namespace, "agent", "--node-name", node, "--kubelet-root", str(kubelet_root),
             "--metrics-address", "127.0.0.1:0", "--resync-seconds", "2"],
            env=self.env, stdout=log, stderr=log)
        self.agents[node] = (agent, log_path)
        return agent

    def stop_agent(self, node):
        agent, _ = self.agents.pop(node, (None, None))
        if agent and agent.poll() is None:
            agent.terminate()
            try:
                agent.wait(timeout=30)
            except subprocess.TimeoutExpired:
                agent.kill()
                agent.wait()

    def agent_log(self, node):
        path = self.workdir / f"agent-{node}.log"
        return path.read_text(errors="replace") if path.exists() else "(no agent log)"

    def stop_server(self):
        if self.server and self.server.poll() is None:
            self.server.terminate()
            try:
                self.server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.server.kill()
                self.server.wait()
        self.server = None

    def metrics_address(self):
        """HOST:PORT the server's /metrics endpoint listens on (read from its log)."""
        import re
        found = re.findall(r'endpoint listening"? address=(\S+)', self.server_log.read_text(errors="replace"))
        assert found, "the server never logged its metrics address:\n" + self.server_tail()
        return found[-1]

    def server_tail(self, lines=40):
        try:
            return "\n".join(self.server_log.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no server log)"


SAMPLE_APP = """
apiVersion: v1
kind: Namespace
metadata:
  name: {ns}
  labels: {{app.kubernetes.io/part-of: shop}}
---
apiVersion: v1
kind: ConfigMap
metadata: {{name: shop-config, namespace: {ns}, labels: {{app: shop}}}}
data: {{mode: production, "settings.ini": "[db]\\nmax_connections = 40\\n"}}
---
apiVersion: v1
kind: Secret
metadata: {{name: shop-db, namespace: {ns}, labels: {{app: shop}}}}
type: Opaque
stringData: {{password: "s3cr3t-{id}"}}
---
apiVersion: v1
kind: Service
metadata: {{name: shop, namespace: {ns}, labels: {{app: shop}}}}
spec:
  selector: {{app: shop}}
  ports: [{{name: http, port: 80, targetPort: 8080}}]
---
apiVersion: v1
kind: ServiceAccount
metadata: {{name: shop, namespace: {ns}}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: shop-view, namespace: {ns}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}}
subjects: [{{kind: ServiceAccount, name: shop, namespace: {ns}}}]
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {{name: {sc}}}
provisioner: kubernetes.io/no-provisioner
volumeBindingMode: WaitForFirstConsumer
---
apiVersion: v1
kind: PersistentVolume
metadata: {{name: {pv}}}
spec:
  capacity: {{storage: 1Gi}}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: {sc}
  local: {{path: {pvdir}}}
  nodeAffinity:
    required:
      nodeSelectorTerms:
      - matchExpressions:
        - {{key: kubernetes.io/hostname, operator: In, values: [node-a]}}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {{name: shop-data, namespace: {ns}, labels: {{app: shop}}}}
spec:
  accessModes: [ReadWriteOnce]
  storageClassName: {sc}
  resources: {{requests: {{storage: 1Gi}}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: shop, namespace: {ns}, labels: {{app: shop}}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: shop}}}}
  template:
    metadata:
      labels: {{app: shop}}
      annotations:
        pre.hook.backup.stowage.io/command: '["/bin/sh", "-c", "echo frozen >> {hookfile}"]'
        post.hook.backup.stowage.io/command: '["/bin/sh", "-c", "echo thawed >> {hookfile}"]'
        init.hook.restore.stowage.io/container-image: busybox
        init.hook.restore.stowage.io/container-name: restore-wait
        init.hook.restore.stowage.io/command: '["/bin/sh", "-c", "true"]'
        post.hook.restore.stowage.io/command: '["/bin/sh", "-c", "echo restored >> {hookfile}"]'
        post.hook.restore.stowage.io/on-error: Continue
        post.hook.restore.stowage.io/wait-timeout: 30s
    spec:
      serviceAccountName: shop
      containers:
      - name: db
        image: postgres:16
        env: [{{name: POSTGRES_PASSWORD, valueFrom: {{secretKeyRef: {{name: shop-db, key: password}}}}}}]
        volumeMounts: [{{name: data, mountPath: /var/lib/postgresql/data}}]
      volumes:
      - name: data
        persistentVolumeClaim: {{claimName: shop-data}}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {{name: {crd_plural}.{crd_group}}}
spec:
  group: {crd_group}
  scope: Namespaced
  names: {{plural: {crd_plural}, singular: {crd_singular}, kind: {crd_kind}}}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {{type: integer}}
              tier: {{type: string}}
"""

CUSTOM_RESOURCE = """
apiVersion: {crd_group}/v1
kind: {crd_kind}
metadata: {{name: shop-cache, namespace: {ns}, labels: {{app: shop}}}}
spec: {{size: 3, tier: gold}}
"""
