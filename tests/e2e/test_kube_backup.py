"""Kubernetes backups and restores end to end, against the testbed's real
kube-apiserver (with kwok nodes) and MinIO: stowage install, a backup
storage location, `stowage server` running the controllers, a sample
application (namespace, Deployment with backup hooks, Service, ConfigMap,
Secret, RBAC, a local PV with a WaitForFirstConsumer class, a CRD and a
custom resource), backups, restores with mappings, tampering, schedules."""
import json
import os
import subprocess
import time
import uuid
from urllib.parse import quote

import pytest

from conftest import base_env, binary, minio_url  # noqa: F401  (binary is a fixture)
from kubeenv import CUSTOM_RESOURCE, SAMPLE_APP, Kubectl, StowageCluster

# Fields the API server sets on its own: not compared.
SERVER_FIELDS = {"uid", "resourceVersion", "creationTimestamp", "generation", "managedFields", "selfLink"}
SERVER_ANNOTATIONS = {"kubectl.kubernetes.io/last-applied-configuration", "deployment.kubernetes.io/revision",
                      "pv.kubernetes.io/bind-completed", "pv.kubernetes.io/bound-by-controller"}


def comparable(obj):
    obj = json.loads(json.dumps(obj))
    meta = obj.get("metadata", {})
    for field in SERVER_FIELDS:
        meta.pop(field, None)
    annotations = {k: v for k, v in meta.get("annotations", {}).items() if k not in SERVER_ANNOTATIONS}
    meta.pop("annotations", None)
    if annotations:
        meta["annotations"] = annotations
    meta.pop("namespace", None)
    obj.pop("status", None)
    spec = obj.get("spec", {})
    if obj.get("kind") == "Service":
        spec.pop("clusterIP", None)
        spec.pop("clusterIPs", None)
    if obj.get("kind") == "PersistentVolumeClaim":
        spec.pop("volumeName", None)
    return obj


def s3_request(env, method, key, data=None):
    """A signed request to MinIO with curl (--aws-sigv4), bypassing stowage."""
    url = f"{env['STOWAGE_TEST_S3_ENDPOINT']}/{env['STOWAGE_TEST_S3_BUCKET']}/{key}"
    cmd = ["curl", "-sS", "-f", "--aws-sigv4", f"aws:amz:{env.get('AWS_REGION', 'us-east-1')}:s3",
           "--user", f"{env['AWS_ACCESS_KEY_ID']}:{env['AWS_SECRET_ACCESS_KEY']}", "-X", method, url]
    if data is not None:
        cmd += ["--data-binary", "@-", "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD"]
    result = subprocess.run(cmd, input=data, capture_output=True, timeout=60)
    assert result.returncode == 0, f"{method} {key}: {result.stderr!r}"
    return result.stdout


def bucket_request(env, bucket, method, path, *extra):
    """A signed request to a MinIO bucket (curl --aws-sigv4); (status, body), never raising on a status."""
    auth = ["--aws-sigv4", f"aws:amz:{env.get('AWS_REGION', 'us-east-1')}:s3", "--user",
            f"{env['AWS_ACCESS_KEY_ID']}:{env['AWS_SECRET_ACCESS_KEY']}", "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD"]
    r = subprocess.run(["curl", "-sS", "-X", method, *auth, *extra, "-w", "\n%{http_code}",
                        f"{env['STOWAGE_TEST_S3_ENDPOINT']}/{bucket}/{path}"], capture_output=True, text=True,
                       timeout=60, check=True)
    body, _, code = r.stdout.rpartition("\n")
    return int(code), body


@pytest.fixture(scope="module")
def world(binary, tmp_path_factory):  # noqa: F811
    env = base_env()
    kubectl = Kubectl(env)
    work = tmp_path_factory.mktemp("kube")
    ident = uuid.uuid4().hex[:8]
    stowage_ns = f"stowage-e2e-{ident}"
    cluster = StowageCluster(binary, stowage_ns, env, work)
    cluster.run("install", "--no-agent")
    prefix = f"kube-e2e-{ident}"
    credentials = work / "credentials"
    credentials.write_text(f"[default]\naws_access_key_id = {env['AWS_ACCESS_KEY_ID']}\n"
                           f"aws_secret_access_key = {env['AWS_SECRET_ACCESS_KEY']}\n")
    password = work / "password"
    password.write_text("location-password\n")
    cluster.run("backup-location", "create", "default", "--url", minio_url(env, prefix), "--credentials-file",
                credentials, "--password-file", password, "--default", "--validation-frequency", "2s")
    # Volume data is tested in test_kube_volumes.py (with node agents); here only objects.
    cluster.start_server("--default-volumes-to-fs-backup=false")
    app = {"id": ident, "ns": f"shop-{ident}", "sc": f"local-{ident}", "pv": f"shop-pv-{ident}",
           "pvdir": str(work / "pv"), "hookfile": str(work / "hooks.log"),
           "crd_group": f"e2e{ident}.example.com", "crd_plural": "caches", "crd_singular": "cache", "crd_kind": "Cache"}
    os.makedirs(app["pvdir"], exist_ok=True)
    w = {"env": env, "kubectl": kubectl, "cluster": cluster, "app": app, "prefix": prefix, "work": work}
    yield w
    cluster.stop_server()
    for ns in [app["ns"], f"{app['ns']}-copy", stowage_ns]:
        kubectl.run("delete", "namespace", ns, "--ignore-not-found", "--wait=false", check=False)
    kubectl.run("delete", "pv", app["pv"], "--ignore-not-found", "--wait=false", check=False)
    kubectl.run("delete", "storageclass", app["sc"], f"{app['sc']}-b", "--ignore-not-found", check=False)
    kubectl.run("delete", "crd", f"caches.{app['crd_group']}", "--ignore-not-found", "--wait=false", check=False)


def deploy_app(w):
    k, app = w["kubectl"], w["app"]
    k.apply(SAMPLE_APP.format(**app))
    k.wait_until("the CRD to be established", lambda: k.get("crd", f"caches.{app['crd_group']}")["status"].get(
        "conditions") and any(c["type"] == "Established" and c["status"] == "True"
                               for c in k.get("crd", f"caches.{app['crd_group']}")["status"]["conditions"]))
    k.wait_until("the custom resource to be accepted", lambda: k.apply(CUSTOM_RESOURCE.format(**app)))
    k.wait_until("the PVC to be bound", lambda: k.get("pvc", "-n", app["ns"], "shop-data")["status"].get("phase") == "Bound")
    k.wait_until("the shop pod to run", lambda: any(p["status"].get("phase") == "Running"
                                                    for p in k.get("pods", "-n", app["ns"], "-l", "app=shop")["items"]))
    # What the scheduler records on a WaitForFirstConsumer claim that a dynamic
    # provisioner serves (set by hand: the testbed has no provisioner).
    k.run("annotate", "pvc", "-n", app["ns"], "shop-data", "volume.kubernetes.io/selected-node=node-a")


def backup_phase(w, name):
    return w["cluster"].json("backup", "get", name).get("status", {}).get("phase")


def test_location_is_checked_and_available(world):
    c = world["cluster"]
    loc = world["kubectl"].wait_until(
        "the location to be Available",
        lambda: (lambda l: l if l.get("status", {}).get("phase") == "Available" else None)(
            c.json("backup-location", "get", "default")), timeout=60)
    assert loc["status"]["lastValidationTime"]
    table = c.run("backup-location", "get").stdout
    assert "Available" in table and "Encrypted" in table, table


def test_backup_then_restore_after_namespace_deletion(world):
    k, c, app = world["kubectl"], world["cluster"], world["app"]
    deploy_app(world)
    originals = {kind: comparable(k.get(kind, "-n", app["ns"], name)) for kind, name in
                 [("configmap", "shop-config"), ("secret", "shop-db"), ("service", "shop"), ("deployment", "shop"),
                  ("serviceaccount", "shop"), ("rolebinding", "shop-view"), ("pvc", "shop-data"),
                  (f"caches.{app['crd_group']}", "shop-cache")]}
    result = c.run("backup", "create", "b1", "--include-namespaces", app["ns"], "--wait")
    assert "Completed" in result.stderr, result.stderr
    backup = c.json("backup", "get", "b1")
    status = backup["status"]
    assert status["phase"] == "Completed" and status["errors"] == 0, status
    assert status["archive"]["encrypted"] is True
    assert status["hookStatus"] == {"hooksAttempted": 2, "hooksFailed": 0}, status
    hooks = open(app["hookfile"]).read().split()
    assert hooks == ["frozen", "thawed"], hooks

    # What the location holds: Velero's layout, sealed, with nothing readable in it.
    archive = s3_request(world["env"], "GET", f"{world['prefix']}/backups/b1/b1.tar.gz")
    assert archive.startswith(b"STWSEAL1"), archive[:16]
    assert app["ns"].encode() not in archive and b"s3cr3t" not in archive
    described = c.run("backup", "describe", "b1", "--details").stdout
    for expected in ["Phase:        Completed", f"{app['ns']}/shop-config", f"caches.{app['crd_group']}", app["pv"]]:
        assert expected in described, described
    assert "Events:" in described and "InProgress" in described and "Completed" in described, described
    logs = c.run("backup", "logs", "b1").stdout
    assert "backup=b1" in logs and "archived" in logs, logs

    # Metrics and health on the server's endpoint.
    import urllib.request
    base = f"http://{c.metrics_address()}"
    metrics = urllib.request.urlopen(base + "/metrics", timeout=10).read().decode()
    assert 'stowage_backups_total{phase="Completed"} 1' in metrics, metrics
    assert 'stowage_backup_location_available{location="default"} 1' in metrics, metrics
    assert "stowage_backup_duration_seconds_count 1" in metrics, metrics
    assert urllib.request.urlopen(base + "/healthz", timeout=10).status == 200
    assert urllib.request.urlopen(base + "/readyz", timeout=10).status == 200

    # The plain Velero tarball on request.
    download = world["work"] / "b1.tar.gz"
    c.run("backup", "download", "b1", "-f", download)
    listing = subprocess.run(["tar", "tzf", download], capture_output=True, text=True, check=True).stdout.split()
    assert "metadata/version" in listing
    assert f"resources/configmaps/namespaces/{app['ns']}/shop-config.json" in listing
    assert f"resources/deployments.apps/v1-preferredversion/namespaces/{app['ns']}/shop.json" in listing
    assert f"resources/persistentvolumes/cluster/{app['pv']}.json" in listing

    # Lose the namespace (and release the PV), then restore.
    k.run("delete", "namespace", app["ns"], "--wait=true", "--timeout=120s")
    k.run("delete", "pv", app["pv"], "--wait=true", "--timeout=60s")
    result = c.run("restore", "create", "r1", "--from-backup", "b1", "--wait", check=False)
    assert result.returncode == 0, result.stderr + c.run("restore", "logs", "r1", check=False).stdout
    restore = c.json("restore", "get", "r1")
    assert restore["status"]["phase"] == "Completed", restore["status"]
    # The restore init hook: an init container in the restored pod template.
    deployment = k.get("deployment", "-n", app["ns"], "shop")
    init = deployment["spec"]["template"]["spec"]["initContainers"]
    assert [c["name"] for c in init] == ["restore-wait"] and init[0]["image"] == "busybox", init
    for kind, original in originals.items():
        name = original["metadata"]["name"]
        restored = comparable(k.get(kind, "-n", app["ns"], name))
        if kind == "deployment":
            del restored["spec"]["template"]["spec"]["initContainers"]
        assert restored == original, f"{kind} {name} differs:\n{json.dumps(original, indent=1)}\n{json.dumps(restored, indent=1)}"
    # The controller recreates the pod; the PVC binds to the restored PV again.
    k.wait_until("the restored PVC to bind", lambda: k.get("pvc", "-n", app["ns"], "shop-data")["status"].get("phase") == "Bound")
    k.wait_until("the restored deployment's pod to run", lambda: any(
        p["status"].get("phase") == "Running" for p in k.get("pods", "-n", app["ns"], "-l", "app=shop")["items"]))
    logs = c.run("restore", "logs", "r1").stdout
    assert "is recreated by its ReplicaSet" in logs or "is recreated by its Deployment" in logs, logs
    # The post-restore exec hook ran in the recreated pod once it was Running.
    assert restore["status"]["hookStatus"] == {"hooksAttempted": 1, "hooksFailed": 0}, restore["status"]
    assert open(app["hookfile"]).read().split() == ["frozen", "thawed", "restored"]


def test_secrets_never_reach_logs_events_or_status(world):
    """The Secret's value and the repository password appear nowhere an operator
    or a bucket reader can see: stored logs, results, events, statuses, the server log."""
    k, c, app = world["kubectl"], world["cluster"], world["app"]
    secrets = [f"s3cr3t-{app['id']}".encode(), b"location-password", world["env"]["AWS_SECRET_ACCESS_KEY"].encode()]
    seen = {
        "backup logs": c.run("backup", "logs", "b1").stdout.encode(),
        "restore logs": c.run("restore", "logs", "r1").stdout.encode(),
        "restore results": c.run("restore", "logs", "r1", "--results").stdout.encode(),
        "backup status": c.run("backup", "get", "b1", output="json").stdout.encode(),
        "restore status": c.run("restore", "get", "r1", output="json").stdout.encode(),
        "location status": c.run("backup-location", "get", output="json").stdout.encode(),
        "events": k.run("get", "events", "-n", c.namespace, "-o", "json").stdout.encode(),
        "describe": c.run("backup", "describe", "b1", "--details").stdout.encode(),
        "server log": c.server_log.read_bytes(),
    }
    for where, text in seen.items():
        assert text, f"{where} is empty: the check would prove nothing"
        for secret in secrets:
            assert secret not in text, f"{where} contains a secret value"


def test_restore_into_another_namespace_with_mappings(world):
    k, c, app = world["kubectl"], world["cluster"], world["app"]
    target = f"{app['ns']}-copy"
    k.apply(f"apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata: {{name: {app['sc']}-b}}\n"
            "provisioner: kubernetes.io/no-provisioner\nvolumeBindingMode: WaitForFirstConsumer\n")
    c.run("restore", "create", "r2", "--from-backup", "b1", "--namespace-mappings", f"{app['ns']}:{target}",
          "--storage-class-mappings", f"{app['sc']}:{app['sc']}-b", "--node-name-mappings", "node-a:node-b",
          "--restore-volumes", "false", "--wait")
    pvc = k.get("pvc", "-n", target, "shop-data")
    assert pvc["spec"]["storageClassName"] == f"{app['sc']}-b"
    assert pvc["metadata"].get("annotations", {}).get("volume.kubernetes.io/selected-node") == "node-b", pvc["metadata"]
    assert "volumeName" not in pvc["spec"] or not pvc["spec"]["volumeName"], "the PV stays bound to the original claim"
    binding = k.get("rolebinding", "-n", target, "shop-view")
    assert binding["subjects"][0]["namespace"] == target
    assert k.get("configmap", "-n", target, "shop-config")["data"]["mode"] == "production"
    assert k.get(f"caches.{app['crd_group']}", "-n", target, "shop-cache")["spec"] == {"size": 3, "tier": "gold"}
    # The original namespace was not touched.
    assert k.get("configmap", "-n", app["ns"], "shop-config")["metadata"]["namespace"] == app["ns"]


def test_tampered_archive_is_refused_before_anything_is_created(world):
    k, c, app, env = world["kubectl"], world["cluster"], world["app"], world["env"]
    c.run("backup", "create", "b-tamper", "--include-namespaces", app["ns"], "--include-resources", "configmaps",
          "--wait")
    key = f"{world['prefix']}/backups/b-tamper/b-tamper.tar.gz"
    data = bytearray(s3_request(env, "GET", key))
    data[len(data) // 2] ^= 0x01
    s3_request(env, "DELETE", key)
    s3_request(env, "PUT", key, bytes(data))
    target = f"tampered-{app['id']}"
    result = c.run("restore", "create", "r-tamper", "--from-backup", "b-tamper", "--namespace-mappings",
                   f"{app['ns']}:{target}", "--wait", check=False)
    assert result.returncode == 1, result.stderr
    status = c.json("restore", "get", "r-tamper")["status"]
    assert status["phase"] == "Failed", status
    assert "b-tamper.tar.gz" in status["failureReason"] and "nothing was restored" in status["failureReason"], status
    assert k.get("namespace", target, check=False) is None, "a refused restore created the namespace"
    # A restore queued behind the bad one still completes.
    c.run("restore", "create", "r-after-tamper", "--from-backup", "b1", "--namespace-mappings",
          f"{app['ns']}:{target}", "--include-resources", "configmaps", "--wait")
    assert k.get("configmap", "-n", target, "shop-config")["data"]["mode"] == "production"
    k.run("delete", "namespace", target, "--wait=false")


def test_restore_as_a_service_account_can_do_only_what_it_may(world):
    k, c, app = world["kubectl"], world["cluster"], world["app"]
    target = f"imp-{app['id']}"
    k.run("create", "namespace", target)
    k.run("create", "serviceaccount", "-n", c.namespace, "restorer")
    k.run("create", "role", "-n", target, "configmaps-only", "--verb=create,get", "--resource=configmaps")
    k.run("create", "rolebinding", "-n", target, "restorer", "--role=configmaps-only",
          f"--serviceaccount={c.namespace}:restorer")
    result = c.run("restore", "create", "r-impersonated", "--from-backup", "b1", "--include-resources",
                   "configmaps,secrets", "--namespace-mappings", f"{app['ns']}:{target}", "--service-account",
                   "restorer", "--wait", check=False)
    assert result.returncode == 3, result.stderr
    assert k.get("configmap", "-n", target, "shop-config")["data"]["mode"] == "production"
    assert k.get("secret", "-n", target, "shop-db", check=False) is None, "the restore did more than its account may"
    logs = c.run("restore", "logs", "r-impersonated").stdout
    assert f"system:serviceaccount:{c.namespace}:restorer" in logs and "Forbidden" in logs, logs
    k.run("delete", "namespace", target, "--wait=false")


def test_cluster_scoped_rbac_needs_explicit_consent(world):
    k, c, app = world["kubectl"], world["cluster"], world["app"]
    name = f"shop-admin-{app['id']}"
    k.apply(f"apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {{name: {name}, labels: {{grant: {app['id']}}}}}\n"
            "roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}\n"
            f"subjects: [{{kind: ServiceAccount, name: shop, namespace: {app['ns']}}}]\n")
    c.run("backup", "create", "b-rbac", "--include-resources", "clusterrolebindings", "--include-cluster-resources=true",
          "--selector", f"grant={app['id']}", "--wait")
    k.run("delete", "clusterrolebinding", name)
    c.run("restore", "create", "r-rbac-1", "--from-backup", "b-rbac", "--wait", check=False)
    assert k.get("clusterrolebinding", name, check=False) is None, "restored a ClusterRoleBinding without consent"
    logs = c.run("restore", "logs", "r-rbac-1").stdout
    assert "grants access" in logs, logs
    described = c.run("restore", "describe", "r-rbac-1").stdout
    assert f"Withheld:     clusterrolebindings.rbac.authorization.k8s.io {name}" in described, described
    c.run("restore", "create", "r-rbac-2", "--from-backup", "b-rbac", "--include-cluster-resources=true", "--wait")
    assert k.get("clusterrolebinding", name)["roleRef"]["name"] == "cluster-admin"
    k.run("delete", "clusterrolebinding", name)


def test_failing_hooks_follow_their_error_policy(world):
    k, c, app = world["kubectl"], world["cluster"], world["app"]
    ns = app["ns"]
    for policy, pod in [("Fail", "hook-fail"), ("Continue", "hook-continue")]:
        k.apply(f"apiVersion: v1\nkind: Pod\nmetadata:\n  name: {pod}\n  namespace: {ns}\n  labels: {{hook-test: '{policy}'}}\n"
                f"  annotations:\n    pre.hook.backup.stowage.io/command: '[\"/bin/sh\", \"-c\", \"exit 7\"]'\n"
                f"    pre.hook.backup.stowage.io/on-error: {policy}\n"
                "spec:\n  nodeName: node-a\n  containers: [{name: main, image: busybox}]\n")
        k.wait_until(f"pod {pod} to run", lambda: k.get("pod", "-n", ns, pod)["status"].get("phase") == "Running")
    result = c.run("backup", "create", "b-hook-fail", "--include-namespaces", ns, "--selector", "hook-test=Fail",
                   "--wait", check=False)
    assert result.returncode == 3, result.stderr
    status = c.json("backup", "get", "b-hook-fail")["status"]
    assert status["phase"] == "PartiallyFailed" and status["hookStatus"]["hooksFailed"] == 1, status
    assert "exited with code 7" in c.run("backup", "logs", "b-hook-fail").stdout
    c.run("backup", "create", "b-hook-continue", "--include-namespaces", ns, "--selector", "hook-test=Continue", "--wait")
    status = c.json("backup", "get", "b-hook-continue")["status"]
    assert status["phase"] == "Completed" and status["warnings"] >= 1, status


def test_unreachable_location_is_reported(world):
    c = world["cluster"]
    c.run("backup-location", "create", "nowhere", "--url",
          "s3://nowhere/x?endpoint=http://127.0.0.1:9&region=us-east-1", "--password-file",
          world["work"] / "password", "--validation-frequency", "2s")
    loc = world["kubectl"].wait_until(
        "the unreachable location to be Unavailable",
        lambda: (lambda l: l if l.get("status", {}).get("phase") == "Unavailable" else None)(
            c.json("backup-location", "get", "nowhere")), timeout=90)
    assert loc["status"]["message"], loc["status"]
    result = c.run("backup", "create", "b-nowhere", "--storage-location", "nowhere", "--include-namespaces",
                   world["app"]["ns"], "--wait", check=False, timeout=600)
    assert result.returncode == 1, result.stderr
    status = c.json("backup", "get", "b-nowhere")["status"]
    assert status["phase"] == "Failed" and "nowhere" in status["failureReason"], status
    c.run("backup-location", "delete", "nowhere")


def test_schedule_takes_backups_and_ttl_collects_them(world):
    k, c, app = world["kubectl"], world["cluster"], world["app"]
    c.run("schedule", "create", "every-minute", "--schedule", "@every 1m", "--include-namespaces", app["ns"],
          "--include-resources", "configmaps", "--ttl", "90s")
    selector = "stowage.io/schedule-name=every-minute"

    def completed_backups():
        items = k.get("backups.stowage.io", "-n", c.namespace, "-l", selector)["items"]
        return [b["metadata"]["name"] for b in items if b.get("status", {}).get("phase") == "Completed"]

    first = k.wait_until("the schedule's immediate backup", lambda: completed_backups(), timeout=60)
    assert first[0].startswith("every-minute-") and len(first[0]) == len("every-minute-") + 14, first
    second = k.wait_until("the schedule's second backup", lambda: (lambda b: b if len(b) >= 2 else None)(
        completed_backups()), timeout=120)
    schedule = c.json("schedule", "get", "every-minute")
    assert schedule["status"]["phase"] == "Enabled" and schedule["status"]["nextRun"], schedule["status"]
    # Restore the latest backup of the schedule.
    c.run("restore", "create", "r-sched", "--from-schedule", "every-minute", "--namespace-mappings",
          f"{app['ns']}:sched-{app['id']}", "--wait")
    assert k.get("configmap", "-n", f"sched-{app['id']}", "shop-config")["data"]["mode"] == "production"
    k.run("delete", "namespace", f"sched-{app['id']}", "--wait=false")
    c.run("schedule", "pause", "every-minute")
    k.wait_until("the schedule to be Paused",
                 lambda: c.json("schedule", "get", "every-minute")["status"]["phase"] == "Paused")
    # TTL 90 s: the first backup and its objects in the location go away.
    gone = second[0]
    k.wait_until(f"backup {gone} to expire and be deleted",
                 lambda: k.get("backups.stowage.io", "-n", c.namespace, gone, check=False) is None, timeout=180)
    listing = s3_request(world["env"], "GET", "?list-type=2&prefix=" + quote(f"{world['prefix']}/backups/{gone}/", safe=""))
    assert b"<Key>" not in listing, listing


def test_work_interrupted_by_a_server_restart_is_failed_saying_so(world):
    k, c = world["kubectl"], world["cluster"]
    c.stop_server()
    # As a server that died mid-way leaves them: claimed, InProgress, nothing stored.
    for kind, name in [("backups.stowage.io", "b-interrupted"), ("restores.stowage.io", "r-interrupted")]:
        spec = "{}" if kind.startswith("backups") else "{backupName: b1}"
        k.apply(f"apiVersion: stowage.io/v1\nkind: {'Backup' if kind.startswith('backups') else 'Restore'}\n"
                f"metadata: {{name: {name}, namespace: {c.namespace}}}\nspec: {spec}\n")
        k.run("patch", kind, name, "-n", c.namespace, "--subresource=status", "--type=merge",
              "-p", '{"status":{"phase":"InProgress"}}')
    c.start_server("--default-volumes-to-fs-backup=false")
    for kind, name in [("backup", "b-interrupted"), ("restore", "r-interrupted")]:
        status = k.wait_until(f"{kind} {name} to be failed after the restart", lambda: (
            lambda s: s if s.get("phase") == "Failed" else None)(c.json(kind, "get", name).get("status", {})), timeout=60)
        assert "server stopped while this" in status["failureReason"], status


def velero_archive(entries):
    """A gzip tarball built the way Velero lays it out, with whatever entries
    the test wants (tarfile lets it add what stowage never writes)."""
    import io
    import tarfile
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, content, kind in entries:
            info = tarfile.TarInfo(name)
            if kind == "symlink":
                info.type = tarfile.SYMTYPE
                info.linkname = content
                tar.addfile(info)
                continue
            data = content if isinstance(content, bytes) else json.dumps(content).encode()
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def put_velero_backup(w, prefix, name, entries, item_list):
    import gzip
    env = w["env"]
    metadata = {"apiVersion": "velero.io/v1", "kind": "Backup", "metadata": {"name": name, "namespace": "velero"},
                "spec": {"includedNamespaces": ["*"]}, "status": {"phase": "Completed", "version": 1,
                                                                  "formatVersion": "1.1.0"}}
    s3_request(env, "PUT", f"{prefix}/backups/{name}/{name}.tar.gz", velero_archive(entries))
    s3_request(env, "PUT", f"{prefix}/backups/{name}/{name}-resource-list.json.gz",
               gzip.compress(json.dumps(item_list).encode()))
    s3_request(env, "PUT", f"{prefix}/backups/{name}/velero-backup.json", json.dumps(metadata).encode())


def test_velero_written_backups_restore_item_by_item_and_hostile_ones_are_refused(world):
    k, c, app = world["kubectl"], world["cluster"], world["app"]
    prefix = f"{world['prefix']}-velero"
    src = f"legacy-{app['id']}"

    def cm(name):
        return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": src},
                "data": {"from": "velero"}}

    crb = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
           "metadata": {"name": f"evil-{app['id']}"},
           "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
           "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": src}]}
    good = [("metadata/version", b"1.1.0", "file"),
            (f"resources/configmaps/namespaces/{src}/cm1.json", cm("cm1"), "file"),
            (f"resources/configmaps/v1-preferredversion/namespaces/{src}/cm1.json", cm("cm1"), "file"),
            (f"resources/configmaps/namespaces/{src}/smuggled.json", cm("smuggled"), "file"),
            (f"resources/clusterrolebindings.rbac.authorization.k8s.io/cluster/{crb['metadata']['name']}.json", crb, "file")]
    item_list = {"v1/ConfigMap": [f"{src}/cm1"],
                 "rbac.authorization.k8s.io/v1/ClusterRoleBinding": [crb["metadata"]["name"]]}
    put_velero_backup(world, prefix, "vb-good", good, item_list)
    hostile = {
        "vb-traversal": [("metadata/version", b"1.1.0", "file"), ("resources/configmaps/namespaces/../../../etc/x.json", cm("x"), "file")],
        "vb-symlink": [("metadata/version", b"1.1.0", "file"), (f"resources/configmaps/namespaces/{src}/link.json", "/etc/passwd", "symlink")],
        "vb-newer": [("metadata/version", b"2.0.0", "file"), (f"resources/configmaps/namespaces/{src}/cm1.json", cm("cm1"), "file")],
        "vb-invalid-json": [("metadata/version", b"1.1.0", "file"), (f"resources/configmaps/namespaces/{src}/cm1.json", b"{not json", "file")],
        "vb-mismatch": [("metadata/version", b"1.1.0", "file"), (f"resources/secrets/namespaces/{src}/cm1.json", cm("cm1"), "file")],
    }
    for name, entries in hostile.items():
        put_velero_backup(world, prefix, name, entries, item_list)
    url = minio_url(world["env"], prefix)
    c.run("backup-location", "create", "legacy", "--url", url, "--credentials-file", world["work"] / "credentials",
          "--password-file", world["work"] / "password", "--archive-format", "Plain", "--validation-frequency", "2s")
    names = ["vb-good", *hostile]
    k.wait_until("the Velero backups to be synced", lambda: all(
        k.get("backups.stowage.io", "-n", c.namespace, n, check=False) for n in names), timeout=60)
    assert c.json("backup", "get", "vb-good")["status"]["phase"] == "Completed"

    target = f"restored-{app['id']}"
    mapping = f"{src}:{target}"
    # Without consent to an unverified (Velero) backup: refused.
    result = c.run("restore", "create", "r-velero-refused", "--from-backup", "vb-good", "--namespace-mappings", mapping,
                   "--wait", check=False)
    assert result.returncode == 1
    assert "--from-velero-backup" in c.json("restore", "get", "r-velero-refused")["status"]["failureReason"]
    # With it: the listed item comes back; the smuggled one and the unasked-for RBAC do not.
    result = c.run("restore", "create", "r-velero", "--from-backup", "vb-good", "--from-velero-backup",
                   "--namespace-mappings", mapping, "--wait", check=False)
    assert result.returncode == 3, result.stderr  # PartiallyFailed: the smuggled entry was refused
    assert k.get("configmap", "-n", target, "cm1")["data"] == {"from": "velero"}
    assert k.get("configmap", "-n", target, "smuggled", check=False) is None
    assert k.get("clusterrolebinding", crb["metadata"]["name"], check=False) is None
    logs = c.run("restore", "logs", "r-velero").stdout
    assert "smuggled.json is not in the backup's item list" in logs, logs
    assert "grants access" in logs, logs

    expectations = {"vb-traversal": "..", "vb-symlink": "link", "vb-newer": "2.0.0", "vb-invalid-json": "cm1.json",
                    "vb-mismatch": "cm1.json"}
    for name, needle in expectations.items():
        other = f"{target}-{name[3:]}"
        result = c.run("restore", "create", f"r-{name}", "--from-backup", name, "--from-velero-backup",
                       "--namespace-mappings", f"{src}:{other}", "--wait", check=False)
        status = c.json("restore", "get", f"r-{name}")["status"]
        assert result.returncode in (1, 3), (name, result.stderr)
        assert k.get("namespace", other, check=False) is None, f"{name}: the refused restore created {other}"
        reason = status.get("failureReason", "") + c.run("restore", "logs", f"r-{name}", check=False).stdout
        assert needle in reason, (name, status)
    k.run("delete", "namespace", target, "--wait=false")


class Zeros:
    """A file object of n zero bytes, produced as read (tarfile streams it)."""

    def __init__(self, n):
        self.left = n

    def read(self, size=-1):
        size = self.left if size < 0 else min(size, self.left)
        self.left -= size
        return bytes(size)


def server_peak_rss(cluster):
    with open(f"/proc/{cluster.server.pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM for the server")


def test_archive_bomb_is_refused_with_bounded_memory(world):
    """A 2 GiB entry compressed to a few MiB: refused while streaming, naming
    the entry; the server's peak memory grows by far less than the entry."""
    import gzip
    import io
    import tarfile
    k, c, app = world["kubectl"], world["cluster"], world["app"]
    prefix = f"{world['prefix']}-bomb"
    src = f"bomb-{app['id']}"
    entry = f"resources/configmaps/namespaces/{src}/bomb.json"
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=1) as gz:
        with tarfile.open(fileobj=gz, mode="w|") as tar:
            version = tarfile.TarInfo("metadata/version")
            version.size = 5
            tar.addfile(version, io.BytesIO(b"1.1.0"))
            bomb = tarfile.TarInfo(entry)
            bomb.size = 2 << 30
            tar.addfile(bomb, Zeros(bomb.size))
    env = world["env"]
    s3_request(env, "PUT", f"{prefix}/backups/vb-bomb/vb-bomb.tar.gz", buffer.getvalue())
    s3_request(env, "PUT", f"{prefix}/backups/vb-bomb/vb-bomb-resource-list.json.gz",
               gzip.compress(json.dumps({"v1/ConfigMap": [f"{src}/bomb"]}).encode()))
    s3_request(env, "PUT", f"{prefix}/backups/vb-bomb/velero-backup.json", json.dumps({
        "apiVersion": "velero.io/v1", "kind": "Backup", "metadata": {"name": "vb-bomb", "namespace": "velero"},
        "spec": {}, "status": {"phase": "Completed", "version": 1, "formatVersion": "1.1.0"}}).encode())
    c.run("backup-location", "create", "bombs", "--url", minio_url(env, prefix), "--credentials-file",
          world["work"] / "credentials", "--password-file", world["work"] / "password", "--archive-format", "Plain",
          "--validation-frequency", "2s")
    k.wait_until("the bomb to be synced", lambda: k.get("backups.stowage.io", "-n", c.namespace, "vb-bomb", check=False),
                 timeout=60)
    before = server_peak_rss(c)
    result = c.run("restore", "create", "r-bomb", "--from-backup", "vb-bomb", "--from-velero-backup", "--wait",
                   check=False, timeout=600)
    assert result.returncode == 1, result.stderr
    status = c.json("restore", "get", "r-bomb")["status"]
    assert "nothing was restored" in status["failureReason"] and "bomb.json" in status["failureReason"], status
    growth = server_peak_rss(c) - before
    print(f"server peak memory: {before >> 20} MiB before, grew by {growth >> 20} MiB for a {2 << 30 >> 20} MiB entry")
    assert growth < 64 << 20, growth
    assert k.get("namespace", src, check=False) is None


def test_object_lock_location_locks_backups_and_defers_their_deletion(world):
    """A location with spec.objectLock on a bucket with Object Lock: status.objectLock
    reports the bucket, every object of a backup is retained until its expiration +
    margin, and deleting the backup early succeeds while its locked objects stay,
    recorded under pending-deletions/ and not synced back."""
    import xml.etree.ElementTree as ET
    k, c, env, app = world["kubectl"], world["cluster"], world["env"], world["app"]
    bucket = f"stowage-kube-lock-{app['id']}"

    def s3(method, path, *extra):
        return bucket_request(env, bucket, method, path, *extra)

    assert s3("PUT", "", "-H", "x-amz-bucket-object-lock-enabled: true")[0] == 200
    url = (f"s3://{bucket}/loc?endpoint={env['STOWAGE_TEST_S3_ENDPOINT']}&region={env.get('AWS_REGION', 'us-east-1')}"
           "&path-style=true")
    c.run("backup-location", "create", "locked", "--url", url, "--credentials-file", world["work"] / "credentials",
          "--password-file", world["work"] / "password", "--validation-frequency", "2s",
          "--object-lock-mode", "GOVERNANCE", "--object-lock-margin", "1h", "--object-lock-volume-period", "48h")
    status = k.wait_until("the locked location to be Available with status.objectLock", lambda: (
        lambda s: s if s.get("phase") == "Available" and s.get("objectLock", {}).get("enabled") else None)(
        c.json("backup-location", "get", "locked").get("status", {})), timeout=60)
    assert status["objectLock"]["versioning"] == "Enabled", status
    table = c.run("backup-location", "get", "locked").stdout
    assert "GOVERNANCE (bucket: lock on, versioning Enabled)" in table, table

    c.run("backup", "create", "b-locked", "--include-namespaces", app["ns"], "--include-resources", "configmaps",
          "--storage-location", "locked", "--ttl", "24h", "--wait")
    backup = c.json("backup", "get", "b-locked")
    assert backup["status"]["phase"] == "Completed", backup["status"]
    code, body = s3("GET", "loc/backups/b-locked/velero-backup.json?retention=")
    assert code == 200, body
    retention = ET.fromstring(body)
    ns = {"s3": "http://s3.amazonaws.com/doc/2006-03-01/"}
    mode = retention.findtext("s3:Mode", namespaces=ns) or retention.findtext("Mode")
    until = retention.findtext("s3:RetainUntilDate", namespaces=ns) or retention.findtext("RetainUntilDate")
    assert mode == "GOVERNANCE", body
    expiration = time.mktime(time.strptime(backup["status"]["expiration"], "%Y-%m-%dT%H:%M:%SZ"))
    retained = time.mktime(time.strptime(until[:19], "%Y-%m-%dT%H:%M:%S"))
    assert abs(retained - (expiration + 3600)) <= 2, (until, backup["status"]["expiration"])
    # The repository for volume data in the location was created locked too (its config object).
    code, body = s3("GET", "loc/repository/config?retention=")
    assert code == 200 and "GOVERNANCE" in body, body

    # Deleting it now: the Backup goes, the locked objects stay, recorded.
    c.run("backup", "delete", "b-locked", check=False)
    k.run("delete", "backups.stowage.io", "-n", c.namespace, "b-locked", "--wait=false", check=False)
    k.wait_until("the locked backup's Backup object to go",
                 lambda: k.get("backups.stowage.io", "-n", c.namespace, "b-locked", check=False) is None, timeout=90)
    assert s3("HEAD", "loc/backups/b-locked/velero-backup.json", "-I")[0] == 200
    assert s3("HEAD", "loc/pending-deletions/b-locked", "-I")[0] == 200
    time.sleep(6)  # several validations and syncs: the backup is not brought back
    assert k.get("backups.stowage.io", "-n", c.namespace, "b-locked", check=False) is None


def test_schedule_with_a_short_ttl_on_a_locked_location(world):
    """Issue 9: a schedule whose backups expire within seconds, on a bucket
    with Object Lock: every backup completes, expiry defers the deletion of
    objects still retained (expiration + margin) and finishes it once the
    retention ends, and the bucket holds one version of every key it ever
    held — nothing overwritten, no delete marker."""
    import xml.etree.ElementTree as ET
    k, c, env, app = world["kubectl"], world["cluster"], world["env"], world["app"]
    bucket = f"stowage-kube-ttl-{app['id']}"

    def s3(method, path, *extra):
        return bucket_request(env, bucket, method, path, *extra)

    def versions(prefix):
        code, body = s3("GET", f"?max-keys=1000&prefix={quote(prefix, safe='')}&versions=")
        assert code == 200, body
        root = ET.fromstring(body)
        ns = {"s3": "http://s3.amazonaws.com/doc/2006-03-01/"}
        out = {}
        for tag, marker in (("Version", False), ("DeleteMarker", True)):
            for v in root.findall(f"s3:{tag}", ns):
                out.setdefault(v.findtext("s3:Key", namespaces=ns), []).append(marker)
        return out

    assert s3("PUT", "", "-H", "x-amz-bucket-object-lock-enabled: true")[0] == 200
    url = (f"s3://{bucket}/loc?endpoint={env['STOWAGE_TEST_S3_ENDPOINT']}&region={env.get('AWS_REGION', 'us-east-1')}"
           "&path-style=true")
    c.run("backup-location", "create", "locked-ttl", "--url", url, "--credentials-file", world["work"] / "credentials",
          "--password-file", world["work"] / "password", "--validation-frequency", "2s",
          "--object-lock-mode", "GOVERNANCE", "--object-lock-margin", "5s")
    k.wait_until("the location to be Available", lambda: c.json("backup-location", "get", "locked-ttl").get(
        "status", {}).get("phase") == "Available", timeout=60)
    c.run("schedule", "create", "short-ttl", "--schedule", "@every 24h", "--include-namespaces", app["ns"],
          "--include-resources", "configmaps", "--storage-location", "locked-ttl", "--ttl", "3s")
    try:
        first = k.wait_until("the schedule's first backup", lambda: [
            b for b in k.get("backups.stowage.io", "-n", c.namespace, "-l", "stowage.io/schedule-name=short-ttl")["items"]
            if b.get("status", {}).get("phase") == "Completed"], timeout=120)[0]["metadata"]["name"]
        c.run("backup", "create", "short-ttl-2", "--from-schedule", "short-ttl", "--wait")
        names = [first, "short-ttl-2"]
        stored = versions("loc/backups/")
        for name in names:
            assert f"loc/backups/{name}/velero-backup.json" in stored, stored.keys()
        # Expiry: both Backups go at once, their objects when the retention (expiration + 5 s) has ended.
        k.wait_until("the expired backups to be deleted", lambda: all(
            k.get("backups.stowage.io", "-n", c.namespace, n, check=False) is None for n in names), timeout=120)
        k.wait_until("their objects and pending-deletion records to be gone", lambda: not any(
            key.startswith(tuple(f"loc/{p}/{n}" for n in names for p in ("backups", "pending-deletions")))
            for key in versions("loc/")), timeout=120)
        for key, kinds in versions("loc/").items():
            assert kinds == [False], (key, kinds)  # one version, never a delete marker
        events = [e for e in k.get("events", "-n", c.namespace)["items"] if e["involvedObject"].get("name") in names]
        reasons = {e["reason"] for e in events}
        assert {"Expired", "DeletionDeferred"} <= reasons, reasons  # deleted while still retained: deferred
    finally:
        c.run("schedule", "delete", "short-ttl", check=False)
