"""Volume data in the cluster, end to end, against the testbed's real
kube-apiserver (kwok nodes) and MinIO: `stowage server` and a node agent
(`stowage agent --node-name node-a`, a host process: kwok nodes are this
host), a pod with a local PV, an emptyDir and an excluded volume. Backups
create VolumeBackups that the agent executes (full, then incremental);
restores inject the restore-wait init container and create VolumeRestores
that the agent executes once the pod is on its node; the data comes back
bit for bit. Also: a node without an agent fails its volumes at once, an
agent restarted mid-item starts the item again (and gives up after
--max-attempts), the agent's metrics, ZFS and block volumes, and a backup
copied to a second S3 server (versitygw) that restores alone after the
first location is gone (the last test: it deletes that location).

kwok runs no kubelet: what the kubelet does for a pod's volumes — make each
emptyDir's directory under <kubelet root>/pods/<uid>/volumes/ — is done by
`kubelet_volumes` below, in the test, and nothing else is simulated. The
init container cannot run on kwok either: the test checks the pod spec it
gets and runs `stowage restore-wait` itself against the signal directory the
agent wrote (TESTBED.md, "A real kubelet node")."""
import json
import os
import shutil
import subprocess
import threading
import time
import uuid

import pytest

from conftest import base_env, binary, minio_url, s3_request  # noqa: F401  (binary is a fixture)
from kubeenv import Kubectl, StowageCluster
from treeutil import assert_same_tree, make_tree

APP = """
apiVersion: v1
kind: Namespace
metadata: {{name: {ns}}}
---
apiVersion: v1
kind: ConfigMap
metadata: {{name: settings, namespace: {ns}}}
data: {{mode: test}}
---
apiVersion: v1
kind: PersistentVolume
metadata: {{name: {pv}}}
spec:
  capacity: {{storage: 1Gi}}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: ""
  claimRef: {{namespace: {ns}, name: data}}
  local: {{path: {pvdir}}}
  nodeAffinity:
    required:
      nodeSelectorTerms:
      - matchExpressions:
        - {{key: kubernetes.io/hostname, operator: In, values: [node-a]}}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {{name: data, namespace: {ns}}}
spec:
  accessModes: [ReadWriteOnce]
  storageClassName: ""
  volumeName: {pv}
  resources: {{requests: {{storage: 1Gi}}}}
---
apiVersion: v1
kind: Pod
metadata:
  name: db
  namespace: {ns}
  annotations: {{backup.stowage.io/volumes-excludes: cache}}
spec:
  nodeName: node-a
  containers: [{{name: db, image: registry.example/db:1}}]
  volumes:
  - {{name: data, persistentVolumeClaim: {{claimName: data}}}}
  - {{name: scratch, emptyDir: {{}}}}
  - {{name: cache, emptyDir: {{}}}}
  - {{name: settings, configMap: {{name: settings}}}}
"""

# A pod on a node where no agent runs.
ORPHAN = """
apiVersion: v1
kind: Pod
metadata: {{name: elsewhere, namespace: {ns}}}
spec:
  nodeName: node-b
  containers: [{{name: app, image: registry.example/app:1}}]
  volumes: [{{name: tmp, emptyDir: {{}}}}]
"""


class KubeletVolumes:
    """What the kubelet does for a pod's emptyDir volumes on its node: make
    <root>/pods/<uid>/volumes/kubernetes.io~empty-dir/<name>. Polls the pods
    of one namespace until stopped."""

    def __init__(self, kubectl, namespace, root):
        self.kubectl, self.namespace, self.root = kubectl, namespace, root
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop.is_set():
            result = self.kubectl.run("get", "pods", "-n", self.namespace, "-o", "json", check=False)
            if result.returncode == 0:
                for pod in json.loads(result.stdout)["items"]:
                    if not pod["spec"].get("nodeName"):
                        continue
                    for v in pod["spec"].get("volumes", []):
                        if "emptyDir" in v:
                            os.makedirs(self.dir(pod["metadata"]["uid"], v["name"]), exist_ok=True)
            self.stop.wait(0.5)

    def dir(self, uid, volume):
        return os.path.join(self.root, "pods", uid, "volumes", "kubernetes.io~empty-dir", volume)


@pytest.fixture(scope="module")
def world(binary, tmp_path_factory):  # noqa: F811
    env = base_env()
    kubectl = Kubectl(env)
    work = tmp_path_factory.mktemp("volumes")
    ident = uuid.uuid4().hex[:8]
    cluster = StowageCluster(binary, f"stowage-vol-{ident}", env, work)
    cluster.run("install", "--no-agent")
    credentials = work / "credentials"
    credentials.write_text(f"[default]\naws_access_key_id = {env['AWS_ACCESS_KEY_ID']}\n"
                           f"aws_secret_access_key = {env['AWS_SECRET_ACCESS_KEY']}\n")
    password = work / "password"
    password.write_text("volume-password\n")
    cluster.run("backup-location", "create", "default", "--url", minio_url(env, f"kube-vol-{ident}"),
                "--credentials-file", credentials, "--password-file", password, "--default",
                "--validation-frequency", "2s")
    cluster.start_server()
    kubelet_root = work / "kubelet"
    cluster.start_agent("node-a", kubelet_root)
    kubectl.wait_until("the agent to hold its Lease", lambda: kubectl.run(
        "get", "lease", "-n", cluster.namespace, "stowage-agent-node-a", check=False).returncode == 0)
    app = {"ns": f"vol-{ident}", "pv": f"vol-pv-{ident}", "pvdir": str(work / "pv")}
    os.makedirs(app["pvdir"])
    kubelet = KubeletVolumes(kubectl, app["ns"], str(kubelet_root))
    w = {"env": env, "kubectl": kubectl, "cluster": cluster, "app": app, "work": work, "kubelet": kubelet,
         "kubelet_root": kubelet_root, "binary": binary,
         "repository": minio_url(env, f"kube-vol-{ident}/repository"), "password": password,
         "prefix": f"kube-vol-{ident}"}
    yield w
    kubelet.stop.set()
    cluster.stop_agent("node-a")
    cluster.stop_server()
    for ns in [app["ns"], cluster.namespace]:
        kubectl.run("delete", "namespace", ns, "--ignore-not-found", "--wait=false", check=False)
    kubectl.run("delete", "pv", app["pv"], "--ignore-not-found", "--wait=false", check=False)


def volume_items(w, kind, label):
    return w["kubectl"].get(kind, "-n", w["cluster"].namespace, "-l", label)["items"]


def diagnostics(w):
    return f"\nserver log:\n{w['cluster'].server_tail()}\nagent log:\n{w['cluster'].agent_log('node-a')[-3000:]}"


def test_volume_backup_incremental_and_restore_bit_for_bit(world):
    k, c, app = world["kubectl"], world["cluster"], world["app"]
    k.apply(APP.format(**app))
    k.wait_until("the claim to be bound", lambda: k.get("pvc", "-n", app["ns"], "data")["status"].get("phase") == "Bound")
    pod = k.wait_until("the pod to run", lambda: (lambda p: p if p["status"].get("phase") == "Running" else None)(
        k.get("pod", "-n", app["ns"], "db")))
    uid = pod["metadata"]["uid"]
    scratch = world["kubelet"].dir(uid, "scratch")
    k.wait_until("the kubelet's emptyDir directory", lambda: os.path.isdir(scratch))
    make_tree(app["pvdir"], files=400, seed=5, big_files=1)
    make_tree(scratch, files=60, seed=6, big_files=1)
    with open(os.path.join(world["kubelet"].dir(uid, "cache"), "junk"), "w") as f:
        f.write("excluded\n")

    result = c.run("backup", "create", "v1", "--include-namespaces", app["ns"], "--wait", timeout=600)
    status = c.json("backup", "get", "v1")["status"]
    assert status["phase"] == "Completed", (result.stderr, status, diagnostics(world))
    assert status["volumeBackups"] == {"total": 2, "completed": 2, "failed": 0}, status
    items = volume_items(world, "volumebackups.stowage.io", "stowage.io/backup-name=v1")
    by_volume = {i["spec"]["volume"]: i for i in items}
    assert set(by_volume) == {"data", "scratch"}, by_volume.keys()
    for item in items:
        assert item["status"]["phase"] == "Completed" and item["status"]["snapshotID"], item["status"]
        assert item["status"]["progress"]["bytesDone"] > 0 and item["status"]["node"] == "node-a", item["status"]
        assert item["status"]["attempts"] == 1
        assert item["metadata"]["ownerReferences"][0]["kind"] == "Backup"
    assert by_volume["data"]["spec"]["method"] == "FileSystem"
    assert by_volume["data"]["spec"]["sourcePath"] == app["pvdir"]  # the local PV's directory on the node
    assert "parentSnapshot" not in by_volume["data"]["spec"]
    log = c.run("backup", "logs", "v1").stdout
    assert "volume cache is excluded by the pod's annotation" in log, log

    # Incremental: the next backup of the same claim names the last snapshot as its parent.
    with open(os.path.join(app["pvdir"], "added-after-v1"), "wb") as f:
        f.write(os.urandom(300_000))
    c.run("backup", "create", "v2", "--include-namespaces", app["ns"], "--wait", timeout=600)
    assert c.json("backup", "get", "v2")["status"]["phase"] == "Completed", diagnostics(world)
    v2 = {i["spec"]["volume"]: i for i in volume_items(world, "volumebackups.stowage.io", "stowage.io/backup-name=v2")}
    assert v2["data"]["spec"]["parentSnapshot"] == by_volume["data"]["status"]["snapshotID"]
    assert v2["data"]["status"]["snapshotID"] != by_volume["data"]["status"]["snapshotID"]
    assert "parentSnapshot" not in v2["scratch"]["spec"]  # an emptyDir has no identity across pods

    # Lose everything, restore, compare.
    saved_pv, saved_scratch = world["work"] / "saved-pv", world["work"] / "saved-scratch"
    subprocess.run(["cp", "-a", app["pvdir"], str(saved_pv)], check=True)
    subprocess.run(["cp", "-a", scratch, str(saved_scratch)], check=True)
    k.run("delete", "namespace", app["ns"], "--wait=true", "--timeout=120s")
    k.run("delete", "pv", app["pv"], "--wait=true", "--timeout=60s")
    shutil.rmtree(app["pvdir"])
    os.makedirs(app["pvdir"])  # what a provisioner would make again: an empty directory
    result = c.run("restore", "create", "r1", "--from-backup", "v2", "--wait", timeout=600)
    rstatus = c.json("restore", "get", "r1")["status"]
    assert rstatus["phase"] == "Completed", (result.stderr, rstatus, diagnostics(world))
    assert rstatus["volumeRestores"] == {"total": 2, "completed": 2, "failed": 0}, rstatus
    restored = k.get("pod", "-n", app["ns"], "db")
    init = restored["spec"]["initContainers"][0]
    assert init["name"] == "stowage-restore-wait", init
    assert init["command"][:4] == ["stowage", "restore-wait", "--dir", "/stowage-restore"], init
    assert sorted(init["command"][4:]) == ["data", "scratch"], init
    assert any(v["name"] == "stowage-restore-signal" and "emptyDir" in v for v in restored["spec"]["volumes"])
    vrs = volume_items(world, "volumerestores.stowage.io", "stowage.io/restore-name=r1")
    assert len(vrs) == 2 and all(v["status"]["phase"] == "Completed" for v in vrs), vrs
    assert all(v["spec"]["pod"]["uid"] == restored["metadata"]["uid"] for v in vrs)

    assert_same_tree(str(saved_pv), app["pvdir"])
    new_uid = restored["metadata"]["uid"]
    assert_same_tree(str(saved_scratch), world["kubelet"].dir(new_uid, "scratch"))
    assert not os.listdir(world["kubelet"].dir(new_uid, "cache")), "an excluded volume must not be restored"

    # The init container's command, run here against the signal directory the agent wrote.
    signal = world["kubelet"].dir(new_uid, "stowage-restore-signal")
    assert sorted(os.listdir(signal)) == ["data.done", "scratch.done"], os.listdir(signal)
    waited = subprocess.run([world["binary"], "restore-wait", "--dir", signal, "data", "scratch"],
                            capture_output=True, text=True, timeout=30)
    assert waited.returncode == 0, waited.stderr
    waited = subprocess.run([world["binary"], "restore-wait", "--dir", signal, "--timeout-seconds", "1", "data", "other"],
                            capture_output=True, text=True, timeout=30)
    assert waited.returncode != 0 and "other" in waited.stderr, waited.stderr


def test_node_without_agent_fails_its_volumes_at_once(world):
    k, c, app = world["kubectl"], world["cluster"], world["app"]
    k.apply(ORPHAN.format(**app))
    k.wait_until("the pod to run", lambda: k.get("pod", "-n", app["ns"], "elsewhere")["status"].get("phase") == "Running")
    started = time.time()
    result = c.run("backup", "create", "v-orphan", "--include-namespaces", app["ns"], "--wait", check=False, timeout=600)
    assert result.returncode == 3, result.stderr  # PartiallyFailed
    assert time.time() - started < 120
    log = c.run("backup", "logs", "v-orphan").stdout
    assert "no stowage agent has run on node node-b" in log, log
    status = c.json("backup", "get", "v-orphan")["status"]
    assert status["volumeBackups"]["failed"] == 1 and status["volumeBackups"]["completed"] >= 2, status
    k.run("delete", "pod", "-n", app["ns"], "elsewhere", "--wait=false")


def test_interrupted_items_are_started_again_then_given_up(world):
    k, c, app = world["kubectl"], world["cluster"], world["app"]
    ns = c.namespace
    os.makedirs(world["work"] / "interrupted", exist_ok=True)
    (world["work"] / "interrupted" / "file").write_text("data\n")
    # As an agent that died mid-way leaves them: claimed by node-a, InProgress.
    for name, attempts in [("vb-interrupted", 1), ("vb-exhausted", 3)]:
        k.apply(f"""
apiVersion: stowage.io/v1
kind: VolumeBackup
metadata: {{name: {name}, namespace: {ns}}}
spec:
  node: node-a
  method: FileSystem
  sourcePath: {world['work'] / 'interrupted'}
  storageLocation: default
  volume: data
""")
        k.run("patch", "volumebackups.stowage.io", name, "-n", ns, "--subresource=status", "--type=merge",
              "-p", json.dumps({"status": {"phase": "InProgress", "node": "node-a", "attempts": attempts}}))
        # Addressed to node-a's agent only now, so that it first sees the item as left behind.
        k.run("label", "volumebackups.stowage.io", name, "-n", ns, "stowage.io/node=node-a")
    done = k.wait_until("the interrupted item to complete", lambda: (lambda s: s if s.get("phase") == "Completed" else None)(
        k.get("volumebackups.stowage.io", "-n", ns, "vb-interrupted").get("status", {})), timeout=120)
    assert done["attempts"] == 2 and done["snapshotID"], done
    failed = k.wait_until("the exhausted item to fail", lambda: (lambda s: s if s.get("phase") == "Failed" else None)(
        k.get("volumebackups.stowage.io", "-n", ns, "vb-exhausted").get("status", {})), timeout=120)
    assert "stopped during this work 3 times" in failed["message"], failed


def test_volume_backup_canceled_mid_transfer_at_the_item_timeout(world):
    """A volume still moving data when the backup's itemOperationTimeout
    passes is canceled: the agent stops the transfer part way (it does not
    run to the end), the VolumeBackup ends Canceled, the backup
    PartiallyFailed with the reason in its log."""
    k, c = world["kubectl"], world["cluster"]
    ident = uuid.uuid4().hex[:8]
    ns = f"cancel-{ident}"
    k.apply(f"""
apiVersion: v1
kind: Namespace
metadata: {{name: {ns}}}
---
apiVersion: v1
kind: Pod
metadata: {{name: big, namespace: {ns}}}
spec:
  nodeName: node-a
  containers: [{{name: app, image: registry.example/app:1}}]
  volumes: [{{name: data, emptyDir: {{}}}}]
""")
    kubelet = KubeletVolumes(k, ns, str(world["kubelet_root"]))
    pod = None
    try:
        pod = k.wait_until("the pod to run", lambda: (lambda p: p if p["status"].get("phase") == "Running" else None)(
            k.get("pod", "-n", ns, "big")))
        data = kubelet.dir(pod["metadata"]["uid"], "data")
        k.wait_until("the kubelet's emptyDir directory", lambda: os.path.isdir(data))
        size = 1 << 30
        subprocess.run(["head", "-c", str(size), "/dev/urandom"], stdout=open(os.path.join(data, "blob"), "wb"),
                       check=True)
        result = c.run("backup", "create", "cancel1", "--include-namespaces", ns, "--item-operation-timeout", "2s",
                       "--wait", check=False, timeout=600)
        status = c.json("backup", "get", "cancel1")["status"]
        assert status["phase"] == "PartiallyFailed", (result.stderr, status, diagnostics(world))
        assert status["volumeBackups"] == {"total": 1, "completed": 0, "failed": 1}, status
        assert "item operation timeout" in c.run("backup", "logs", "cancel1").stdout
        [item] = volume_items(world, "volumebackups.stowage.io", "stowage.io/backup-name=cancel1")
        assert item["spec"]["cancel"] is True
        final = k.wait_until("the agent to stop the transfer", lambda: (lambda i: i if i.get("status", {}).get(
            "phase") in ("Canceled", "Completed", "Failed") else None)(k.get(
                "volumebackups.stowage.io", "-n", c.namespace, item["metadata"]["name"])), timeout=120)
        assert final["status"]["phase"] == "Canceled", (final["status"], diagnostics(world))
        assert "canceled" in final["status"]["message"], final["status"]
        assert final["status"]["progress"]["bytesDone"] < size, final["status"]  # stopped part way
        assert "snapshotID" not in final["status"]
    finally:
        kubelet.stop.set()
        k.run("delete", "namespace", ns, "--ignore-not-found", "--wait=false", check=False)
        if pod:  # a GiB of test data
            shutil.rmtree(os.path.join(str(world["kubelet_root"]), "pods", pod["metadata"]["uid"]), ignore_errors=True)

def repository_snapshots(w):
    result = subprocess.run([w["binary"], "-o", "json", "--repo", w["repository"], "--password-file", str(w["password"]),
                             "snapshot", "list"], env=w["env"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return {s["id"] for s in json.loads(result.stdout)}


def test_deleting_a_backup_forgets_its_volume_snapshots(world):
    k, c = world["kubectl"], world["cluster"]
    items = volume_items(world, "volumebackups.stowage.io", "stowage.io/backup-name=v1")
    ids = {i["status"]["snapshotID"] for i in items}
    assert len(ids) == 2
    before = repository_snapshots(world)
    assert ids <= before, (ids, before)
    c.run("backup", "delete", "v1")
    k.wait_until("backup v1 to be gone", lambda: c.run("backup", "get", "v1", check=False).returncode != 0, timeout=120)
    after = repository_snapshots(world)
    assert not (ids & after) and after == before - ids, (ids, before, after)
    # Its work items go with it (owner references; the garbage collector removes them).
    k.wait_until("v1's VolumeBackups to be collected",
                 lambda: not volume_items(world, "volumebackups.stowage.io", "stowage.io/backup-name=v1"), timeout=120)


def test_agent_metrics_and_lease(world):
    import re
    import urllib.request
    c = world["cluster"]
    log = c.agent_log("node-a")
    address = re.findall(r'endpoint listening.*? address=(\S+)', log)
    assert address, log[-2000:]
    body = urllib.request.urlopen(f"http://{address[-1]}/metrics", timeout=10).read().decode()
    completed = re.search(r'stowage_agent_work_items_total\{kind="VolumeBackup",phase="Completed"\} (\d+)', body)
    assert completed and int(completed.group(1)) >= 4, body
    assert re.search(r'stowage_agent_work_items_total\{kind="VolumeRestore",phase="Completed"\} 2', body), body
    assert urllib.request.urlopen(f"http://{address[-1]}/readyz", timeout=10).status == 200
    lease = world["kubectl"].get("lease", "-n", c.namespace, "stowage-agent-node-a")
    assert lease["spec"]["holderIdentity"] == "node-a", lease


ZFS_APP = """
apiVersion: v1
kind: Namespace
metadata: {{name: {ns}}}
---
apiVersion: v1
kind: PersistentVolume
metadata: {{name: {pv}}}
spec:
  capacity: {{storage: 1Gi}}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: ""
  claimRef: {{namespace: {ns}, name: zdata}}
  csi:
    driver: zfs.csi.openebs.io
    volumeHandle: {handle}
    volumeAttributes: {{openebs.io/poolname: {pool}}}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {{name: zdata, namespace: {ns}}}
spec:
  accessModes: [ReadWriteOnce]
  storageClassName: ""
  volumeName: {pv}
  resources: {{requests: {{storage: 1Gi}}}}
---
apiVersion: v1
kind: Pod
metadata: {{name: zdb, namespace: {ns}}}
spec:
  nodeName: node-a
  containers: [{{name: db, image: registry.example/db:1}}]
  volumes: [{{name: zdata, persistentVolumeClaim: {{claimName: zdata}}}}]
"""


def zfs(*args, check=True):
    return subprocess.run(["zfs", *args], capture_output=True, text=True, check=check)


def zfs_destroy(dataset):
    """zfs-fuse refuses to destroy a dataset for a few seconds after its files were used."""
    deadline = time.time() + 30
    while True:
        result = zfs("destroy", "-r", dataset, check=False)
        if result.returncode == 0 or "does not exist" in result.stderr:
            return
        assert time.time() < deadline, result.stderr
        time.sleep(1)


def test_zfs_volume_send_and_receive(world):
    pool = os.environ.get("STOWAGE_TEST_ZPOOL")
    if not pool:
        pytest.skip("STOWAGE_TEST_ZPOOL is not set: run testbed/up zfs")
    k, c = world["kubectl"], world["cluster"]
    ident = uuid.uuid4().hex[:8]
    z = {"ns": f"zvol-{ident}", "pv": f"zvol-pv-{ident}", "handle": f"kv-{ident}", "pool": pool}
    dataset = f"{pool}/{z['handle']}"
    zfs("create", "-o", "quota=200M", "-o", "recordsize=64K", dataset)
    try:
        mountpoint = zfs("get", "-H", "-o", "value", "mountpoint", dataset).stdout.strip()
        # zfs-fuse has no xattrs, so not make_tree: files, a directory, a symlink, a sparse file.
        os.makedirs(os.path.join(mountpoint, "db", "wal"))
        for i in range(40):
            with open(os.path.join(mountpoint, "db", "wal" if i % 2 else "", f"seg{i:03d}"), "wb") as f:
                f.write(os.urandom(1000 + i * 5000))
        os.symlink("db/seg000", os.path.join(mountpoint, "current"))
        with open(os.path.join(mountpoint, "sparse"), "wb") as f:
            f.truncate(8 << 20)
            f.seek(4 << 20)
            f.write(b"island")
        saved = world["work"] / f"saved-{ident}"
        subprocess.run(["cp", "-a", mountpoint, str(saved)], check=True)
        k.apply(ZFS_APP.format(**z))
        k.wait_until("the pod to run", lambda: k.get("pod", "-n", z["ns"], "zdb")["status"].get("phase") == "Running")
        kubelet = KubeletVolumes(k, z["ns"], str(world["kubelet_root"]))
        try:
            c.run("backup", "create", "z1", "--include-namespaces", z["ns"], "--wait", timeout=600)
            status = c.json("backup", "get", "z1")["status"]
            assert status["phase"] == "Completed" and status["volumeBackups"]["completed"] == 1, (status, diagnostics(world))
            [item] = volume_items(world, "volumebackups.stowage.io", "stowage.io/backup-name=z1")
            assert item["spec"]["method"] == "ZFS" and item["spec"]["sourcePath"] == dataset, item["spec"]
            # The backup's local snapshot is gone: nothing is left next to the volume.
            assert "@" not in zfs("list", "-H", "-t", "snapshot", "-o", "name", "-r", dataset).stdout

            k.run("delete", "namespace", z["ns"], "--wait=true", "--timeout=120s")
            k.run("delete", "pv", z["pv"], "--wait=true", "--timeout=60s")
            zfs_destroy(dataset)
            c.run("restore", "create", "zr1", "--from-backup", "z1", "--wait", timeout=600)
            rstatus = c.json("restore", "get", "zr1")["status"]
            assert rstatus["phase"] == "Completed" and rstatus["volumeRestores"]["completed"] == 1, (rstatus, diagnostics(world))
            assert zfs("get", "-H", "-p", "-o", "value", "quota", dataset).stdout.strip() == str(200 << 20)
            assert zfs("get", "-H", "-p", "-o", "value", "recordsize", dataset).stdout.strip() == str(64 << 10)
            assert_same_tree(str(saved), zfs("get", "-H", "-o", "value", "mountpoint", dataset).stdout.strip())
        finally:
            kubelet.stop.set()
            k.run("delete", "namespace", z["ns"], "--ignore-not-found", "--wait=false", check=False)
            k.run("delete", "pv", z["pv"], "--ignore-not-found", "--wait=false", check=False)
    finally:
        zfs_destroy(dataset)


def test_zfs_local_snapshot_restored_as_a_clone_and_destroyed_with_its_backup(world):
    """Issue 5, local snapshots: a ZFS volume kept as a snapshot next to the
    volume (nothing uploaded), restored as a clone under a new PV into another
    namespace while the original lives on, and destroyed by the agent when
    the backup goes (not while a clone still depends on it)."""
    pool = os.environ.get("STOWAGE_TEST_ZPOOL")
    if not pool:
        pytest.skip("STOWAGE_TEST_ZPOOL is not set: run testbed/up zfs")
    k, c = world["kubectl"], world["cluster"]
    ident = uuid.uuid4().hex[:8]
    z = {"ns": f"zloc-{ident}", "pv": f"zloc-pv-{ident}", "handle": f"kl-{ident}", "pool": pool}
    dataset = f"{pool}/{z['handle']}"
    target_ns = f"zclone-{ident}"
    zfs("create", "-o", "quota=100M", dataset)
    clone_dataset = None
    kubelet = None
    try:
        mountpoint = zfs("get", "-H", "-o", "value", "mountpoint", dataset).stdout.strip()
        for i in range(20):
            with open(os.path.join(mountpoint, f"table{i:02d}"), "wb") as f:
                f.write(os.urandom(2000 + i * 3000))
        saved = world["work"] / f"saved-local-{ident}"
        subprocess.run(["cp", "-a", mountpoint, str(saved)], check=True)
        k.apply(ZFS_APP.format(**z))
        k.wait_until("the pod to run", lambda: k.get("pod", "-n", z["ns"], "zdb")["status"].get("phase") == "Running")
        kubelet = KubeletVolumes(k, target_ns, str(world["kubelet_root"]))

        c.run("backup", "create", "zl1", "--include-namespaces", z["ns"], "--snapshot-volumes", "true", "--wait",
              timeout=600)
        status = c.json("backup", "get", "zl1")["status"]
        assert status["phase"] == "Completed" and status["volumeBackups"]["completed"] == 1, (status, diagnostics(world))
        [item] = volume_items(world, "volumebackups.stowage.io", "stowage.io/backup-name=zl1")
        local = item["status"].get("localSnapshot")
        assert item["spec"]["mode"] == "LocalSnapshot" and local == f"{dataset}@stowage-{item['metadata']['name']}", item
        assert "snapshotID" not in item["status"] and "stowage.io/local-snapshot" in item["metadata"]["finalizers"]
        assert local in zfs("list", "-H", "-t", "snapshot", "-o", "name", "-r", dataset).stdout.split()
        with open(os.path.join(mountpoint, "written-after-the-backup"), "wb") as f:
            f.write(b"not in the snapshot")

        # Restore into another namespace: a clone under a new PV; the original is untouched.
        result = c.run("restore", "create", "zlr1", "--from-backup", "zl1", "--namespace-mappings",
                       f"{z['ns']}:{target_ns}", "--wait", timeout=600)
        rstatus = c.json("restore", "get", "zlr1")["status"]
        assert rstatus["phase"] == "Completed" and rstatus["volumeRestores"]["completed"] == 1, (
            result.stderr, rstatus, diagnostics(world))
        [vr] = volume_items(world, "volumerestores.stowage.io", "stowage.io/restore-name=zlr1")
        assert vr["spec"]["cloneFrom"] == local and "snapshotID" not in vr["spec"], vr["spec"]
        clone_pv = k.get("pvc", "-n", target_ns, "zdata")["spec"]["volumeName"]
        assert clone_pv != z["pv"] and clone_pv.startswith(z["pv"] + "-clone-"), clone_pv
        assert k.get("pv", clone_pv)["spec"]["csi"]["volumeHandle"] == clone_pv
        clone_dataset = f"{pool}/{clone_pv}"
        assert zfs("get", "-H", "-o", "value", "origin", clone_dataset).stdout.strip() == local
        clone_mount = zfs("get", "-H", "-o", "value", "mountpoint", clone_dataset).stdout.strip()
        assert_same_tree(str(saved), clone_mount)
        assert k.get("pvc", "-n", z["ns"], "zdata")["spec"]["volumeName"] == z["pv"]  # the original claim stays
        assert os.path.exists(os.path.join(mountpoint, "written-after-the-backup"))

        # Expiry while a clone depends on the snapshot: kept, and said why; then destroyed once the clone is gone.
        c.run("backup", "delete", "zl1")
        k.wait_until("the agent to report the dependent clone", lambda: "cannot be destroyed yet" in k.get(
            "volumebackups.stowage.io", "-n", c.namespace, item["metadata"]["name"])["status"].get("message", ""),
            timeout=120)
        assert local in zfs("list", "-H", "-t", "snapshot", "-o", "name", "-r", dataset).stdout.split()
        k.run("delete", "namespace", target_ns, "--wait=true", "--timeout=120s")
        k.run("delete", "pv", clone_pv, "--wait=true", "--timeout=60s")
        zfs_destroy(clone_dataset)
        k.wait_until("the VolumeBackup to go once its snapshot is destroyed", lambda: k.run(
            "get", "volumebackups.stowage.io", "-n", c.namespace, item["metadata"]["name"], check=False).returncode != 0,
            timeout=180)
        assert local not in zfs("list", "-H", "-t", "snapshot", "-o", "name", "-r", dataset).stdout.split()
        assert c.run("backup", "get", "zl1", check=False).returncode != 0
    finally:
        if kubelet:
            kubelet.stop.set()
        for ns in (z["ns"], target_ns):
            k.run("delete", "namespace", ns, "--ignore-not-found", "--wait=false", check=False)
        k.run("delete", "pv", z["pv"], "--ignore-not-found", "--wait=false", check=False)
        if clone_dataset:
            zfs_destroy(clone_dataset)
        zfs_destroy(dataset)


# A raw block claim on the PV {pv} and a pod "raw" on node-a using it.
RAW_CLAIM_AND_POD = """
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {{name: disk, namespace: {ns}}}
spec:
  accessModes: [ReadWriteOnce]
  storageClassName: ""
  volumeMode: Block
  volumeName: {pv}
  resources: {{requests: {{storage: 1Gi}}}}
---
apiVersion: v1
kind: Pod
metadata: {{name: raw, namespace: {ns}}}
spec:
  nodeName: node-a
  containers:
  - name: db
    image: registry.example/db:1
    volumeDevices: [{{name: disk, devicePath: /dev/xvda}}]
  volumes: [{{name: disk, persistentVolumeClaim: {{claimName: disk}}}}]
"""


BLOCK_APP = """
apiVersion: v1
kind: Namespace
metadata: {{name: {ns}}}
---
apiVersion: v1
kind: PersistentVolume
metadata: {{name: {pv}}}
spec:
  capacity: {{storage: 1Gi}}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: ""
  volumeMode: Block
  claimRef: {{namespace: {ns}, name: disk}}
  local: {{path: {device}}}
  nodeAffinity:
    required:
      nodeSelectorTerms:
      - matchExpressions:
        - {{key: kubernetes.io/hostname, operator: In, values: [node-a]}}
"""


def test_block_volume_of_a_local_device(world):
    """Local PV device: a raw block volume (here an image file as the PV's
    local path; the engine's own tests use loop devices) backed up block by
    block and written back into the device the restored PV names."""
    k, c = world["kubectl"], world["cluster"]
    ident = uuid.uuid4().hex[:8]
    device = world["work"] / f"disk-{ident}.img"
    b = {"ns": f"blk-{ident}", "pv": f"blk-pv-{ident}", "device": str(device)}
    with open(device, "wb") as f:
        for i in range(24):
            f.write(os.urandom(1 << 20) if i % 3 else bytes(1 << 20))  # data with holes
    original = device.read_bytes()
    k.apply((BLOCK_APP + RAW_CLAIM_AND_POD).format(**b))
    k.wait_until("the pod to run", lambda: k.get("pod", "-n", b["ns"], "raw")["status"].get("phase") == "Running")
    kubelet = KubeletVolumes(k, b["ns"], str(world["kubelet_root"]))
    try:
        c.run("backup", "create", "blk1", "--include-namespaces", b["ns"], "--wait", timeout=600)
        status = c.json("backup", "get", "blk1")["status"]
        assert status["phase"] == "Completed" and status["volumeBackups"]["completed"] == 1, (status, diagnostics(world))
        [item] = volume_items(world, "volumebackups.stowage.io", "stowage.io/backup-name=blk1")
        assert item["spec"]["method"] == "Block" and item["spec"]["sourcePath"] == str(device), item["spec"]
        assert item["status"]["progress"]["bytesDone"] >= len(original) // 2, item["status"]
        assert item["status"].get("message"), item["status"]  # how consistency was obtained

        k.run("delete", "namespace", b["ns"], "--wait=true", "--timeout=120s")
        k.run("delete", "pv", b["pv"], "--wait=true", "--timeout=60s")
        with open(device, "r+b") as f:
            f.write(b"\xff" * len(original))  # the disk is overwritten
        c.run("restore", "create", "blkr1", "--from-backup", "blk1", "--wait", timeout=600)
        rstatus = c.json("restore", "get", "blkr1")["status"]
        assert rstatus["phase"] == "Completed" and rstatus["volumeRestores"]["completed"] == 1, (rstatus, diagnostics(world))
        assert device.read_bytes() == original
    finally:
        kubelet.stop.set()
        k.run("delete", "namespace", b["ns"], "--ignore-not-found", "--wait=false", check=False)
        k.run("delete", "pv", b["pv"], "--ignore-not-found", "--wait=false", check=False)




REPLICATED_APP = """
apiVersion: v1
kind: Namespace
metadata: {{name: {ns}}}
---
apiVersion: v1
kind: PersistentVolume
metadata: {{name: {pv}}}
spec:
  capacity: {{storage: 1Gi}}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: ""
  volumeMode: Block
  claimRef: {{namespace: {ns}, name: disk}}
  csi:
    driver: blockvol.stowage.io
    volumeHandle: {pv}
    volumeAttributes: {{stowage.io/target: "{target}", stowage.io/replicas: "{replicas}"}}
"""


def test_replicated_volume_incremental_backup_restores_into_fenced_replicas(world):
    """A 3-replica stowage-volume (real replica and target processes) named
    by its PV: the first backup reads the whole volume, the second only the
    changed extents, from one replica; the volume is then lost, three new
    empty replicas are created fenced on the same addresses with a target in
    front of them (which serves no IO while they are fenced), the second
    backup (alone: the first is deleted) is restored into every replica
    through the agent before the PV is created (the claim binds only then),
    and the target then serves the data of the backup's point in time, bit
    for bit."""
    from test_blockvol import MiB, NbdClient, Replica, Target
    k, c = world["kubectl"], world["cluster"]
    ident = uuid.uuid4().hex[:8]
    size = 64 * MiB
    work = world["work"] / f"replicated-{ident}"
    work.mkdir()
    replicas = [Replica(work / f"r{i}", size) for i in range(3)]
    started = list(replicas)
    kubelet = KubeletVolumes(k, f"rep-{ident}", str(world["kubelet_root"]))
    try:
        for r in replicas:
            r.start()
        target = Target(work, replicas, 2, size)
        started.append(target)
        target.wait_ready()
        image = bytearray(size)
        for i in range(0, size // MiB, 2):  # every other MiB holds data, the rest is never written
            image[i * MiB:(i + 1) * MiB] = os.urandom(MiB)
        nbd = NbdClient(target.port)
        for i in range(0, size // MiB, 2):
            assert nbd.write(i * MiB, bytes(image[i * MiB:(i + 1) * MiB])) == 0
        assert nbd.flush() == 0
        b = {"ns": f"rep-{ident}", "pv": f"rep-pv-{ident}", "target": target.control,
             "replicas": ",".join(r.address for r in replicas)}
        k.apply((REPLICATED_APP + RAW_CLAIM_AND_POD).format(**b))
        k.wait_until("the pod to run", lambda: k.get("pod", "-n", b["ns"], "raw")["status"].get("phase") == "Running")

        c.run("backup", "create", "rep1", "--include-namespaces", b["ns"], "--wait", timeout=600)
        status = c.json("backup", "get", "rep1")["status"]
        assert status["phase"] == "Completed" and status["volumeBackups"]["completed"] == 1, (status, diagnostics(world))
        [first] = volume_items(world, "volumebackups.stowage.io", "stowage.io/backup-name=rep1")
        assert first["spec"]["method"] == "Replicated", first["spec"]
        assert first["spec"]["sourcePath"] == f"target={b['target']};replicas={b['replicas']}", first["spec"]
        assert first["status"]["progress"]["bytesDone"] >= size // 2, first["status"]

        changed = os.urandom(MiB // 2)  # under 1% of what the first backup read... of the volume: 0.8%
        assert nbd.write(5 * MiB + 4096, changed) == 0
        assert nbd.flush() == 0
        image[5 * MiB + 4096:5 * MiB + 4096 + len(changed)] = changed
        nbd.close()
        c.run("backup", "create", "rep2", "--include-namespaces", b["ns"], "--wait", timeout=600)
        status = c.json("backup", "get", "rep2")["status"]
        assert status["phase"] == "Completed" and status["volumeBackups"]["completed"] == 1, (status, diagnostics(world))
        [second] = volume_items(world, "volumebackups.stowage.io", "stowage.io/backup-name=rep2")
        assert second["spec"].get("parentSnapshot") == first["status"]["snapshotID"], second["spec"]
        assert second["status"]["progress"]["bytesDone"] <= 4 * MiB, second["status"]  # the changed extents only
        assert "incremental" in second["status"].get("message", ""), second["status"]

        # The volume is lost; the first backup is deleted: the second restores alone.
        c.run("backup", "delete", "rep1")
        k.run("delete", "namespace", b["ns"], "--wait=true", "--timeout=120s")
        k.run("delete", "pv", b["pv"], "--wait=true", "--timeout=60s")
        for p in reversed(started):
            p.stop()
        fresh = []
        for i, old in enumerate(replicas):
            r = Replica(work / f"n{i}", size)
            r.port, r.address = old.port, old.address
            r.start(fenced=True)
            fresh.append(r)
            started.append(r)
        target = Target(work, fresh, 2, size)
        started.append(target)
        time.sleep(2)
        status = target.status()
        assert not (status and status.get("ready")), status  # fenced replicas: no IO

        c.run("restore", "create", "repr2", "--from-backup", "rep2", "--wait", timeout=600)
        rstatus = c.json("restore", "get", "repr2")["status"]
        assert rstatus["phase"] == "Completed" and rstatus["volumeRestores"]["completed"] == 1, (rstatus, diagnostics(world))
        for r in fresh:
            assert not r.info()["fenced"], r.address
        # The replicas were filled before the PV existed: the claim bound only
        # once the data was complete, and the pod waits for no agent.
        [item] = volume_items(world, "volumerestores.stowage.io", "stowage.io/restore-name=repr2")
        assert item["spec"]["targetPath"] == f"target={b['target']};replicas={b['replicas']}", item["spec"]
        assert "pod" not in item["spec"], item["spec"]
        pv = k.get("pv", b["pv"])
        assert pv["metadata"]["creationTimestamp"] >= item["status"]["completionTimestamp"], (pv["metadata"], item["status"])
        k.wait_until("the restored claim to bind",
                     lambda: k.get("pvc", "-n", b["ns"], "disk")["status"].get("phase") == "Bound")
        pod = k.get("pod", "-n", b["ns"], "raw")
        assert not [x for x in pod["spec"].get("initContainers", []) if x["name"] == "stowage-restore-wait"], pod["spec"]
        assert "created once its replicas hold the restored data" in c.run("restore", "logs", "repr2").stdout
        target.wait_ready()
        out = work / "restored.img"
        subprocess.run(["nbdcopy", target.uri, str(out)], check=True)
        assert out.read_bytes() == bytes(image)
    finally:
        kubelet.stop.set()
        for p in reversed(started):
            p.stop()
        k.run("delete", "namespace", f"rep-{ident}", "--ignore-not-found", "--wait=false", check=False)
        k.run("delete", "pv", f"rep-pv-{ident}", "--ignore-not-found", "--wait=false", check=False)

def test_replicated_volume_local_snapshot_cloned_into_another_namespace(world):
    """Issue 6, local snapshots: a 3-replica stowage-volume kept as a
    crash-consistent snapshot on its replicas (nothing uploaded), restored
    into another namespace as a clone on three new replicas (a resource
    modifier points the restored PV at them) while the original lives on
    with later writes; the clone holds the snapshot's data bit for bit and
    its PV is created only once it is filled; deleting the backup deletes
    the snapshot from the original replicas."""
    from test_blockvol import MiB, NbdClient, Replica, Target
    k, c = world["kubectl"], world["cluster"]
    ident = uuid.uuid4().hex[:8]
    size = 32 * MiB
    work = world["work"] / f"replicated-local-{ident}"
    (work / "clone").mkdir(parents=True)
    ns, clone_ns = f"rls-{ident}", f"rls-{ident}-c"
    replicas = [Replica(work / f"r{i}", size) for i in range(3)]
    started = list(replicas)
    clone_pv = None
    kubelet = KubeletVolumes(k, ns, str(world["kubelet_root"]))
    try:
        for r in replicas:
            r.start()
        target = Target(work, replicas, 2, size)
        started.append(target)
        target.wait_ready()
        image = bytearray(size)
        image[MiB:9 * MiB] = os.urandom(8 * MiB)
        nbd = NbdClient(target.port)
        assert nbd.write(MiB, bytes(image[MiB:9 * MiB])) == 0
        assert nbd.flush() == 0
        b = {"ns": ns, "pv": f"rls-pv-{ident}", "target": target.control,
             "replicas": ",".join(r.address for r in replicas)}
        k.apply((REPLICATED_APP + RAW_CLAIM_AND_POD).format(**b))
        k.wait_until("the pod to run", lambda: k.get("pod", "-n", ns, "raw")["status"].get("phase") == "Running")

        c.run("backup", "create", "rls1", "--include-namespaces", ns, "--snapshot-volumes", "true", "--wait", timeout=600)
        status = c.json("backup", "get", "rls1")["status"]
        assert status["phase"] == "Completed" and status["volumeBackups"]["completed"] == 1, (status, diagnostics(world))
        [item] = volume_items(world, "volumebackups.stowage.io", "stowage.io/backup-name=rls1")
        assert item["spec"]["mode"] == "LocalSnapshot", item["spec"]
        local = item["status"].get("localSnapshot", "")
        snapshot_name = "stowage-" + item["metadata"]["name"]
        assert local == f"replicated:{b['replicas']}@{snapshot_name}", item["status"]
        assert not item["status"].get("snapshotID"), item["status"]
        for r in replicas:
            assert snapshot_name in [s["name"] for s in r.info()["snapshots"]], r.address

        # The original goes on: a write after the backup.
        later = os.urandom(MiB)
        assert nbd.write(20 * MiB, later) == 0
        assert nbd.flush() == 0
        nbd.close()
        current = bytearray(image)
        current[20 * MiB:21 * MiB] = later

        # The clone's replicas (fenced, empty) and its target; the restored PV is pointed at them.
        clones = [Replica(work / "clone" / f"c{i}", size) for i in range(3)]
        for r in clones:
            r.start(fenced=True)
            started.append(r)
        clone_target = Target(work / "clone", clones, 2, size)
        started.append(clone_target)
        clone_replicas = ",".join(r.address for r in clones)
        modifiers = work / "modifiers.json"
        modifiers.write_text(json.dumps({"rules": [{
            "conditions": {"groupResource": "persistentvolumes"},
            "patches": [
                {"operation": "replace", "path": "/spec/csi/volumeAttributes/stowage.io~1replicas", "value": clone_replicas},
                {"operation": "replace", "path": "/spec/csi/volumeAttributes/stowage.io~1target",
                 "value": clone_target.control}]}]}))
        c.run("restore", "create", "rlsr1", "--from-backup", "rls1", "--namespace-mappings", f"{ns}:{clone_ns}",
              "--resource-modifier-file", str(modifiers), "--wait", timeout=600)
        rstatus = c.json("restore", "get", "rlsr1")["status"]
        assert rstatus["phase"] == "Completed" and rstatus["volumeRestores"]["completed"] == 1, (rstatus, diagnostics(world))
        [vr] = volume_items(world, "volumerestores.stowage.io", "stowage.io/restore-name=rlsr1")
        assert vr["spec"]["cloneFrom"] == local, vr["spec"]
        assert vr["spec"]["targetPath"] == f"target={clone_target.control};replicas={clone_replicas}", vr["spec"]
        clone_pv = k.get("pvc", "-n", clone_ns, "disk")["spec"]["volumeName"]
        assert clone_pv.startswith(b["pv"] + "-clone-"), clone_pv
        pv = k.get("pv", clone_pv)
        assert pv["metadata"]["creationTimestamp"] >= vr["status"]["completionTimestamp"], (pv["metadata"], vr["status"])
        for r in clones:
            assert not r.info()["fenced"], r.address
        clone_target.wait_ready()
        subprocess.run(["nbdcopy", clone_target.uri, str(work / "clone.img")], check=True)
        assert (work / "clone.img").read_bytes() == bytes(image)  # the snapshot's point, not the later write
        subprocess.run(["nbdcopy", target.uri, str(work / "original.img")], check=True)
        assert (work / "original.img").read_bytes() == bytes(current)
        assert k.get("pvc", "-n", ns, "disk")["spec"]["volumeName"] == b["pv"]  # the original claim stays

        # Expiry: the agent deletes the snapshot from the original replicas, then lets the item go.
        c.run("backup", "delete", "rls1")
        k.wait_until("the VolumeBackup to go once its snapshot is deleted", lambda: k.run(
            "get", "volumebackups.stowage.io", "-n", c.namespace, item["metadata"]["name"], check=False).returncode != 0,
            timeout=180)
        for r in replicas:
            assert snapshot_name not in [s["name"] for s in r.info()["snapshots"]], r.address
    finally:
        kubelet.stop.set()
        for p in reversed(started):
            p.stop()
        for n in (ns, clone_ns):
            k.run("delete", "namespace", n, "--ignore-not-found", "--wait=false", check=False)
        for name in (f"rls-pv-{ident}", clone_pv):
            if name:
                k.run("delete", "pv", name, "--ignore-not-found", "--wait=false", check=False)
        shutil.rmtree(work, ignore_errors=True)


SCHEDULED_APP = """
apiVersion: v1
kind: Namespace
metadata: {{name: {ns}}}
---
apiVersion: v1
kind: PersistentVolume
metadata: {{name: {pv}-z}}
spec:
  capacity: {{storage: 1Gi}}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: ""
  claimRef: {{namespace: {ns}, name: zdata}}
  csi:
    driver: zfs.csi.openebs.io
    volumeHandle: {handle}
    volumeAttributes: {{openebs.io/poolname: {pool}}}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {{name: zdata, namespace: {ns}}}
spec:
  accessModes: [ReadWriteOnce]
  storageClassName: ""
  volumeName: {pv}-z
  resources: {{requests: {{storage: 1Gi}}}}
---
apiVersion: v1
kind: PersistentVolume
metadata: {{name: {pv}-b}}
spec:
  capacity: {{storage: 1Gi}}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: ""
  volumeMode: Block
  claimRef: {{namespace: {ns}, name: disk}}
  local: {{path: {device}}}
  nodeAffinity:
    required:
      nodeSelectorTerms:
      - matchExpressions:
        - {{key: kubernetes.io/hostname, operator: In, values: [node-a]}}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {{name: disk, namespace: {ns}}}
spec:
  accessModes: [ReadWriteOnce]
  storageClassName: ""
  volumeMode: Block
  volumeName: {pv}-b
  resources: {{requests: {{storage: 1Gi}}}}
---
apiVersion: v1
kind: Pod
metadata: {{name: db, namespace: {ns}}}
spec:
  nodeName: node-a
  containers:
  - name: db
    image: registry.example/db:1
    volumeDevices: [{{name: disk, devicePath: /dev/xvda}}]
  volumes:
  - {{name: zdata, persistentVolumeClaim: {{claimName: zdata}}}}
  - {{name: disk, persistentVolumeClaim: {{claimName: disk}}}}
"""


def test_scheduled_zfs_and_block_backups_each_restore_on_their_own(world):
    """Issue 5: a schedule's successive backups of a ZFS dataset and a block
    device (the second one incremental for the device: its parent is the
    first, so unchanged blocks are referenced, not stored again) each
    restore on their own, to the state they were taken at."""
    pool = os.environ.get("STOWAGE_TEST_ZPOOL")
    if not pool:
        pytest.skip("STOWAGE_TEST_ZPOOL is not set: run testbed/up zfs")
    k, c = world["kubectl"], world["cluster"]
    ident = uuid.uuid4().hex[:8]
    device = world["work"] / f"sched-disk-{ident}.img"
    a = {"ns": f"sched-{ident}", "pv": f"sched-pv-{ident}", "handle": f"ks-{ident}", "pool": pool,
         "device": str(device)}
    dataset = f"{pool}/{a['handle']}"
    schedule = f"nightly-{ident}"
    zfs("create", dataset)
    kubelet = None
    try:
        mountpoint = zfs("get", "-H", "-o", "value", "mountpoint", dataset).stdout.strip()
        with open(device, "wb") as f:
            f.write(os.urandom(16 << 20))
        for i in range(10):
            with open(os.path.join(mountpoint, f"part{i}"), "wb") as f:
                f.write(os.urandom(50_000))
        states = []

        def remember():
            saved = world["work"] / f"sched-{ident}-{len(states)}"
            subprocess.run(["cp", "-a", mountpoint, str(saved)], check=True)
            states.append((saved, device.read_bytes()))

        remember()
        k.apply(SCHEDULED_APP.format(**a))
        k.wait_until("the pod to run", lambda: k.get("pod", "-n", a["ns"], "db")["status"].get("phase") == "Running")
        kubelet = KubeletVolumes(k, a["ns"], str(world["kubelet_root"]))
        c.run("schedule", "create", schedule, "--schedule", "@every 24h", "--include-namespaces", a["ns"])

        def scheduled_backups():
            return sorted((b for b in k.get("backups.stowage.io", "-n", c.namespace, "-l",
                                            f"stowage.io/schedule-name={schedule}")["items"]
                           if b.get("status", {}).get("phase") in ("Completed", "PartiallyFailed", "Failed")),
                          key=lambda b: b["metadata"]["creationTimestamp"])

        first = k.wait_until("the schedule's first backup", lambda: scheduled_backups(), timeout=600)[0]
        assert first["status"]["phase"] == "Completed", (first["status"], diagnostics(world))
        # Change both volumes: a few blocks of the device, a file of the dataset.
        with open(device, "r+b") as f:
            for offset in (0, 5 << 20, 11 << 20):
                f.seek(offset)
                f.write(os.urandom(64 << 10))
        with open(os.path.join(mountpoint, "part3"), "wb") as f:
            f.write(b"changed after the first backup\n")
        remember()
        second_name = f"{schedule}-second"
        c.run("backup", "create", second_name, "--from-schedule", schedule, "--wait", timeout=600)
        second = c.json("backup", "get", second_name)
        assert second["status"]["phase"] == "Completed", (second["status"], diagnostics(world))
        assert second["metadata"]["labels"]["stowage.io/schedule-name"] == schedule

        def items(backup):
            return {i["spec"]["method"]: i for i in volume_items(world, "volumebackups.stowage.io",
                                                                 f"stowage.io/backup-name={backup}")}
        one, two = items(first["metadata"]["name"]), items(second_name)
        assert set(one) == set(two) == {"ZFS", "Block"}, (one.keys(), two.keys())
        assert two["Block"]["spec"]["parentSnapshot"] == one["Block"]["status"]["snapshotID"]
        assert two["Block"]["status"]["snapshotID"] != one["Block"]["status"]["snapshotID"]

        # Each member restores on its own (the first one too, though a newer one exists).
        for backup, (saved, image) in ((first["metadata"]["name"], states[0]), (second_name, states[1])):
            k.run("delete", "namespace", a["ns"], "--wait=true", "--timeout=120s")
            k.run("delete", "pv", f"{a['pv']}-z", f"{a['pv']}-b", "--wait=true", "--timeout=60s")
            zfs_destroy(dataset)
            with open(device, "r+b") as f:
                f.write(b"\0" * len(image))
            restore = f"r-{backup}"[:63]
            c.run("restore", "create", restore, "--from-backup", backup, "--wait", timeout=600)
            rstatus = c.json("restore", "get", restore)["status"]
            assert rstatus["phase"] == "Completed" and rstatus["volumeRestores"]["completed"] == 2, (
                backup, rstatus, diagnostics(world))
            assert device.read_bytes() == image, backup
            assert_same_tree(str(saved), zfs("get", "-H", "-o", "value", "mountpoint", dataset).stdout.strip())
    finally:
        if kubelet:
            kubelet.stop.set()
        c.run("schedule", "delete", schedule, check=False)
        k.run("delete", "namespace", a["ns"], "--ignore-not-found", "--wait=false", check=False)
        k.run("delete", "pv", f"{a['pv']}-z", f"{a['pv']}-b", "--ignore-not-found", "--wait=false", check=False)
        zfs_destroy(dataset)


def test_node_name_mapping_places_the_data_on_the_mapped_node(world):
    """Issue 5, item 8: a restore with --node-name-mappings node-a:node-b puts
    the pod, its local PV's affinity and the volume data on node-b: the
    VolumeRestores go to node-b's agent, which writes the data there. (Both
    kwok nodes are this host, so each agent has its own kubelet root.)"""
    k, c, work = world["kubectl"], world["cluster"], world["work"]
    ident = uuid.uuid4().hex[:8]
    app = {"ns": f"move-{ident}", "pv": f"move-pv-{ident}", "pvdir": str(work / f"move-pv-{ident}")}
    target_ns = f"moved-{ident}"
    os.makedirs(app["pvdir"])
    root_b = work / "kubelet-node-b"
    c.start_agent("node-b", root_b)
    kubelets = [KubeletVolumes(k, app["ns"], str(world["kubelet_root"])), KubeletVolumes(k, target_ns, str(root_b))]
    try:
        k.wait_until("node-b's agent to hold its Lease", lambda: k.run(
            "get", "lease", "-n", c.namespace, "stowage-agent-node-b", check=False).returncode == 0)
        k.apply(APP.format(**app))
        k.wait_until("the claim to be bound", lambda: k.get("pvc", "-n", app["ns"], "data")["status"].get("phase") == "Bound")
        pod = k.wait_until("the pod to run", lambda: (lambda p: p if p["status"].get("phase") == "Running" else None)(
            k.get("pod", "-n", app["ns"], "db")))
        scratch = kubelets[0].dir(pod["metadata"]["uid"], "scratch")
        k.wait_until("the kubelet's emptyDir directory", lambda: os.path.isdir(scratch))
        make_tree(app["pvdir"], files=80, seed=21)
        make_tree(scratch, files=20, seed=22)
        c.run("backup", "create", "mv1", "--include-namespaces", app["ns"], "--wait", timeout=600)
        assert c.json("backup", "get", "mv1")["status"]["phase"] == "Completed", diagnostics(world)

        saved_pv, saved_scratch = work / f"move-saved-pv-{ident}", work / f"move-saved-scratch-{ident}"
        subprocess.run(["cp", "-a", app["pvdir"], str(saved_pv)], check=True)
        subprocess.run(["cp", "-a", scratch, str(saved_scratch)], check=True)
        k.run("delete", "namespace", app["ns"], "--wait=true", "--timeout=120s")
        k.run("delete", "pv", app["pv"], "--wait=true", "--timeout=60s")
        shutil.rmtree(app["pvdir"])
        os.makedirs(app["pvdir"])  # node-b's disk at the same path (one host here)
        result = c.run("restore", "create", "mvr1", "--from-backup", "mv1", "--namespace-mappings",
                       f"{app['ns']}:{target_ns}", "--node-name-mappings", "node-a:node-b", "--wait", timeout=600)
        rstatus = c.json("restore", "get", "mvr1")["status"]
        assert rstatus["phase"] == "Completed", (result.stderr, rstatus, diagnostics(world),
                                                 c.agent_log("node-b")[-3000:])
        assert rstatus["volumeRestores"] == {"total": 2, "completed": 2, "failed": 0}, rstatus
        restored = k.get("pod", "-n", target_ns, "db")
        assert restored["spec"]["nodeName"] == "node-b"
        affinity = k.get("pv", app["pv"])["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0]
        assert affinity["matchExpressions"][0]["values"] == ["node-b"], affinity
        vrs = volume_items(world, "volumerestores.stowage.io", "stowage.io/restore-name=mvr1")
        assert {(v["spec"]["node"], v["status"]["node"]) for v in vrs} == {("node-b", "node-b")}, vrs
        assert_same_tree(str(saved_pv), app["pvdir"])
        # The emptyDir's data is under node-b's kubelet root, not node-a's.
        new_uid = restored["metadata"]["uid"]
        assert_same_tree(str(saved_scratch), kubelets[1].dir(new_uid, "scratch"))
        assert not os.path.exists(kubelets[0].dir(new_uid, "scratch"))
    finally:
        for kubelet in kubelets:
            kubelet.stop.set()
        c.stop_agent("node-b")
        for ns in (app["ns"], target_ns):
            k.run("delete", "namespace", ns, "--ignore-not-found", "--wait=false", check=False)
        k.run("delete", "pv", app["pv"], "--ignore-not-found", "--wait=false", check=False)

def delete_location_objects(env, prefix):
    """Everything under the location's prefix in MinIO, deleted behind stowage's back."""
    import xml.etree.ElementTree as ET
    from urllib.parse import quote
    endpoint, bucket = env["STOWAGE_TEST_S3_ENDPOINT"], env["STOWAGE_TEST_S3_BUCKET"]
    key, secret = env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
    ns = {"s3": "http://s3.amazonaws.com/doc/2006-03-01/"}
    deleted = 0
    while True:
        code, body = s3_request("GET", endpoint, key, secret, f"{bucket}?list-type=2&prefix={quote(prefix + '/', safe='')}")
        assert code == 200, body
        keys = [k.text for k in ET.fromstring(body).findall("s3:Contents/s3:Key", ns)]
        if not keys:
            return deleted
        for k in keys:
            assert s3_request("DELETE", endpoint, key, secret, f"{bucket}/{quote(k)}")[0] == 204, k
            deleted += 1


def test_backup_copied_to_a_second_location_restores_alone(world):
    """Issue 9: a backup (objects and volume data) copied from MinIO to
    versitygw, by `backup create --copy-to` and by `backup copy`; then the
    first location is deleted outright and the copy restores bit for bit."""
    k, c, env, work = world["kubectl"], world["cluster"], world["env"], world["work"]
    if not env.get("STOWAGE_TEST_S3B_ENDPOINT"):
        pytest.fail("versitygw is not running: run testbed/up versitygw")
    ident = uuid.uuid4().hex[:8]
    credentials = work / "credentials-second"
    credentials.write_text(f"[default]\naws_access_key_id = {env['STOWAGE_TEST_S3B_ACCESS_KEY']}\n"
                           f"aws_secret_access_key = {env['STOWAGE_TEST_S3B_SECRET_KEY']}\n")
    password = work / "password-second"
    password.write_text("second-location-password\n")
    url = (f"s3://{env['STOWAGE_TEST_S3B_BUCKET']}/kube-copy-{ident}?endpoint={env['STOWAGE_TEST_S3B_ENDPOINT']}"
           f"&region={env.get('STOWAGE_TEST_S3B_REGION', 'us-east-1')}&path-style=true")
    c.run("backup-location", "create", "second", "--url", url, "--credentials-file", credentials,
          "--password-file", password, "--copy-keys-from", "default", "--validation-frequency", "2s")
    k.wait_until("location second to be Available", lambda: c.json("backup-location", "get", "second").get(
        "status", {}).get("phase") == "Available", timeout=120)

    app = {"ns": f"copy-{ident}", "pv": f"copy-pv-{ident}", "pvdir": str(work / f"copy-pv-{ident}")}
    os.makedirs(app["pvdir"])
    k.apply(APP.format(**app))
    kubelet = KubeletVolumes(k, app["ns"], str(world["kubelet_root"]))
    try:
        k.wait_until("the claim to be bound", lambda: k.get("pvc", "-n", app["ns"], "data")["status"].get("phase") == "Bound")
        pod = k.wait_until("the pod to run", lambda: (lambda p: p if p["status"].get("phase") == "Running" else None)(
            k.get("pod", "-n", app["ns"], "db")))
        scratch = kubelet.dir(pod["metadata"]["uid"], "scratch")
        k.wait_until("the kubelet's emptyDir directory", lambda: os.path.isdir(scratch))
        make_tree(app["pvdir"], files=200, seed=11, big_files=1)
        make_tree(scratch, files=30, seed=12)

        # A backup that asks for its copy: Backup c1-second appears and completes.
        result = c.run("backup", "create", "c1", "--include-namespaces", app["ns"], "--copy-to", "second", "--wait",
                       timeout=600)
        assert c.json("backup", "get", "c1")["status"]["phase"] == "Completed", (result.stderr, diagnostics(world))
        copy = k.wait_until("copy c1-second to finish", lambda: (lambda b: b if b.get("status", {}).get("phase") in (
            "Completed", "PartiallyFailed", "Failed") else None)(c.json("backup", "get", "c1-second")), timeout=600)
        status = copy["status"]
        assert status["phase"] == "Completed", (status, diagnostics(world))
        assert copy["spec"]["copyOf"] == "c1" and copy["spec"]["storageLocation"] == "second"
        assert copy["metadata"]["labels"]["stowage.io/copy-of"] == "c1"
        assert status["copy"]["volumeSnapshots"] == 2 and status["copy"]["verified"] is True, status
        assert status["copy"]["blobsSent"] > 0 and status["copy"]["blobsVerified"] >= status["copy"]["blobsSent"], status
        assert status["volumeBackups"] == {"total": 2, "completed": 2, "failed": 0}, status
        described = c.run("backup", "describe", "c1-second").stdout
        assert "Copy of:      c1 (from location default" in described, described
        assert "c1 from location default to second" in c.run("backup", "logs", "c1-second").stdout

        # A second copy of the same backup sends no chunk: the target has them all.
        c.run("backup", "copy", "c1", "--to", "second", "--name", "c1-again", "--ttl", "1h", "--wait", timeout=600)
        again = c.json("backup", "get", "c1-again")
        assert again["status"]["phase"] == "Completed" and again["status"]["copy"]["blobsSent"] == 0, again["status"]
        assert again["spec"]["ttl"] == "1h"
        # A schedule's backups are copied too (the template's copyTo).
        c.run("schedule", "create", "copied", "--schedule", "@every 24h", "--include-namespaces", app["ns"],
              "--copy-to", "second")
        scheduled = k.wait_until("the schedule's first backup", lambda: [
            b for b in k.get("backups.stowage.io", "-n", c.namespace, "-l", "stowage.io/schedule-name=copied")["items"]
            if b.get("status", {}).get("phase") == "Completed"], timeout=600)[0]
        copy_of_scheduled = scheduled["metadata"]["name"] + "-second"
        copied = k.wait_until("the scheduled backup's copy", lambda: (lambda b: b if b.get("status", {}).get("phase") in (
            "Completed", "Failed") else None)(c.json("backup", "get", copy_of_scheduled)), timeout=600)
        assert copied["status"]["phase"] == "Completed" and copied["spec"]["copyOf"] == scheduled["metadata"]["name"]
        c.run("schedule", "delete", "copied")

        # A copy to the backup's own location, or of a backup that does not exist, fails saying why.
        refused = c.run("backup", "copy", "c1", "--to", "default", "--name", "c1-same", "--wait", check=False)
        assert refused.returncode != 0
        assert "already in location default" in c.json("backup", "get", "c1-same")["status"]["failureReason"]
        assert c.run("backup", "copy", "nothing", "--to", "second", check=False).returncode != 0

        # Disaster: the first location is gone, objects and volume data.
        saved = work / f"copy-saved-{ident}"
        subprocess.run(["cp", "-a", app["pvdir"], str(saved)], check=True)
        k.run("delete", "namespace", app["ns"], "--wait=true", "--timeout=120s")
        k.run("delete", "pv", app["pv"], "--wait=true", "--timeout=60s")
        shutil.rmtree(app["pvdir"])
        os.makedirs(app["pvdir"])
        assert delete_location_objects(env, world["prefix"]) > 0
        result = c.run("restore", "create", "rc", "--from-backup", "c1-second", "--wait", timeout=600)
        rstatus = c.json("restore", "get", "rc")["status"]
        assert rstatus["phase"] == "Completed", (result.stderr, rstatus, diagnostics(world))
        assert rstatus["volumeRestores"] == {"total": 2, "completed": 2, "failed": 0}, rstatus
        assert_same_tree(str(saved), app["pvdir"])
        # The source location really is gone: its backup cannot be read any more.
        assert c.run("backup", "logs", "c1", check=False).returncode != 0
    finally:
        kubelet.stop.set()
        k.run("delete", "namespace", app["ns"], "--ignore-not-found", "--wait=false", check=False)
        k.run("delete", "pv", app["pv"], "--ignore-not-found", "--wait=false", check=False)
