"""End-to-end tests of replicated-volume backups and restores (issue 6 items
4 and 5): real stowage-volume replicas and targets on 127.0.0.1 (the
fixtures of test_blockvol.py), a real repository on a directory and on
MinIO, data written and read over NBD, the reference content read from a
replica's volume snapshot (read-snapshot)."""
import hashlib
import json
import os
import pathlib
import shutil
import socket
import subprocess
import time

import pytest

from test_blockvol import (BIN, MiB, NbdClient, Replica, Target, cluster, fio, fio_result,  # noqa: F401
                           remove_volume_data, sha256_file, volume_binary, wait_until)


def create(repo, target, *extra):
    out = repo.run("-o", "json", "snapshot", "create", "--replicated", target.control, *extra).stdout
    return json.loads(out)


def volume_snapshots(target):
    return [s["name"] for s in json.loads(target.ctl("snapshots").stdout)["snapshots"]]


def tag(snapshot, key):
    for t in snapshot["tags"]:
        if t.startswith(key + "="):
            return t[len(key) + 1:]
    return None


def fresh_replicas(tmp_path, name, size, count=3):
    replicas = [Replica(tmp_path / f"{name}{i}", size) for i in range(count)]
    for r in replicas:
        r.start(fenced=True)
    return replicas


def read_volume(target, path):
    subprocess.run(["nbdcopy", target.uri, str(path)], check=True, timeout=300)
    return sha256_file(path)


def serves_nbd(port):
    """True when the NBD port answers with a handshake within 2 s."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            return len(s.recv(18)) > 0
    except OSError:
        return False


@pytest.fixture
def processes(tmp_path):
    """Replicas and targets started by a test; stopped at its end, and their
    data deleted."""
    started = []
    yield started
    for p in reversed(started):
        p.stop()
    remove_volume_data(tmp_path)


def restore_and_read(repo, snapshot_id, tmp_path, name, size, processes):
    """Restores into 3 fresh fenced replicas, starts a target on them and
    returns the sha256 of the whole volume read over NBD."""
    replicas = fresh_replicas(tmp_path, name, size)
    processes.extend(replicas)
    out = repo.run("-o", "json", "snapshot", "restore", snapshot_id,
                   "--replicas", ",".join(r.address for r in replicas)).stdout
    restored = json.loads(out)
    assert restored["size"] == size
    assert all(not r.info()["fenced"] for r in replicas)
    (tmp_path / name).mkdir()
    target = Target(tmp_path / name, replicas, 2, size)
    processes.append(target)
    target.wait_ready()
    assert target.status()["healthy"] == 3
    assert serves_nbd(target.port)
    digest = read_volume(target, tmp_path / f"{name}.img")
    # Every replica holds the same bytes at the restored point.
    snap = restored["volume_snapshot"]
    digests = {r.read_snapshot(snap, tmp_path / f"{name}-r{i}.img") for i, r in enumerate(replicas)}
    assert digests == {digest}
    return digest, target


def test_full_and_incremental_backups_restore_into_new_replicas(any_repo, cluster, tmp_path, processes):
    size = 64 * MiB
    target = cluster(n=3, quorum=2, size=size)
    image = tmp_path / "in.img"
    # 40 MiB of data, the rest never written (not allocated: not read).
    written = os.urandom(24 * MiB) + bytes(8 * MiB) + os.urandom(16 * MiB)
    image.write_bytes(written)
    subprocess.run(["nbdcopy", str(image), target.uri], check=True)

    full = create(any_repo, target)
    assert full["incremental"] is False
    assert full["source"] == f"replicated:{target.control}"
    assert tag(full, "blockvol.size") == str(size)
    first_snap = tag(full, "blockvol.snapshot")
    assert first_snap and first_snap.startswith("stowage-")
    assert volume_snapshots(target) == [first_snap]
    assert full["pause_ms"] >= 0
    # Only allocated extents were read: the never-written 16 MiB tail was not.
    assert full["bytes_read"] <= 48 * MiB, full
    reference_full = target.replicas[2].read_snapshot(first_snap, tmp_path / "ref-full.img")
    assert reference_full == hashlib.sha256(written + bytes(size - len(written))).hexdigest()

    # Change about 1% (10 scattered 64 KiB writes = 640 KiB of 64 MiB).
    c = NbdClient(target.port)
    for i in range(10):
        assert c.write(i * 6 * MiB + 12288, os.urandom(64 * 1024)) == 0
    assert c.flush() == 0
    c.close()

    incr = create(any_repo, target)
    assert incr["incremental"] is True
    assert incr["parent"] == full["id"]
    assert incr["replicated"]["parent_volume_snapshot"] == first_snap
    assert incr["replicated"]["changed_bytes"] == 640 * 1024
    block = 1 * MiB  # the repository's block size: a changed 4 KiB reads its whole block
    assert 640 * 1024 <= incr["bytes_read"] <= 20 * block, incr
    second_snap = tag(incr, "blockvol.snapshot")
    # Only the newest backed-up volume snapshot is kept.
    assert volume_snapshots(target) == [second_snap]
    assert incr["replicated"]["deleted_volume_snapshot"] == first_snap
    reference_incr = target.replicas[0].read_snapshot(second_snap, tmp_path / "ref-incr.img")
    assert reference_incr != reference_full

    # Each backup restores on its own into a new 3-replica volume.
    assert restore_and_read(any_repo, full["id"], tmp_path, "full", size, processes)[0] == reference_full
    digest, restored = restore_and_read(any_repo, incr["id"], tmp_path, "incr", size, processes)
    assert digest == reference_incr
    # The restored volume keeps a snapshot at the restored point under the
    # backup's volume snapshot name: backed up against that backup, it is
    # incremental and nothing changed.
    again = create(any_repo, restored, "--parent", incr["id"])
    assert again["incremental"] is True
    assert again["replicated"]["changed_bytes"] == 0 and again["bytes_read"] == 0


def test_a_parent_whose_volume_snapshot_is_gone_gives_a_full_backup(fs_repo, cluster, tmp_path):
    target = cluster(n=3, quorum=2, size=32 * MiB)
    c = NbdClient(target.port)
    assert c.write(MiB, os.urandom(2 * MiB)) == 0
    c.close()
    first = create(fs_repo, target)
    target.ctl("delete-snapshot", tag(first, "blockvol.snapshot"))
    second = create(fs_repo, target)
    assert second["incremental"] is False
    assert 2 * MiB <= second["bytes_read"] <= 4 * MiB
    # --no-parent: full as well, and the old base stays (it is not this backup's parent).
    third = create(fs_repo, target, "--no-parent")
    assert third["incremental"] is False and "parent" not in third
    assert tag(second, "blockvol.snapshot") in volume_snapshots(target)


def test_backup_under_load_with_the_reading_replica_killed(fs_repo, cluster, tmp_path, processes):
    size = 256 * MiB
    target = cluster(n=3, quorum=2, size=size)
    image = tmp_path / "in.img"
    image.write_bytes(os.urandom(192 * MiB))
    subprocess.run(["nbdcopy", str(image), target.uri], check=True)
    image.unlink()
    # A verifying write load on the last 48 MiB while the backup runs.
    load = fio(target.uri, "--rw=randwrite", "--offset=200M", "--size=48M", "--verify=crc32c",
               "--verify_fatal=1")
    backup = fs_repo.popen("-o", "json", "snapshot", "create", "--replicated", target.control)
    # The first healthy replica is read; kill it as soon as the snapshot exists.
    wait_until(lambda: any(n.startswith("stowage-") for n in volume_snapshots(target)), 60, "the volume snapshot")
    victim = target.replicas[0]
    victim.kill()
    out, err = backup.communicate(timeout=600)
    assert backup.returncode == 0, err.decode()
    snap = json.loads(out)
    assert snap["replicated"]["replica"] != victim.address
    assert any(victim.address in f for f in snap["replicated"]["replica_failures"]), snap["replicated"]
    fio_result(load)
    name = tag(snap, "blockvol.snapshot")
    reference = target.replicas[1].read_snapshot(name, tmp_path / "ref.img")
    (tmp_path / "ref.img").unlink()
    assert restore_and_read(fs_repo, snap["id"], tmp_path, "restored", size, processes)[0] == reference


def test_replica_killed_mid_restore_fails_and_nothing_is_unfenced(fs_repo, cluster, tmp_path, processes):
    size = 256 * MiB
    target = cluster(n=3, quorum=2, size=size)
    image = tmp_path / "in.img"
    image.write_bytes(os.urandom(224 * MiB))
    subprocess.run(["nbdcopy", str(image), target.uri], check=True)
    image.unlink()
    snap = create(fs_repo, target)
    replicas = fresh_replicas(tmp_path, "new", size)
    processes.extend(replicas)
    restore = fs_repo.popen("snapshot", "restore", snap["id"], "--replicas", ",".join(r.address for r in replicas))
    victim = replicas[1]

    def allocated_bytes():
        return sum(p.stat().st_blocks * 512 for p in pathlib.Path(victim.dir).glob("layer-*.data"))
    wait_until(lambda: allocated_bytes() > 16 * MiB or restore.poll() is not None, 120, "the restore to write")
    assert restore.poll() is None, "the restore ended before the replica could be killed"
    victim.kill()
    _, err = restore.communicate(timeout=600)
    assert restore.returncode != 0
    assert victim.address in err.decode(), err.decode()
    survivors = [r for r in replicas if r is not victim]
    assert all(r.info()["fenced"] for r in survivors)
    # A target on them never serves IO.
    victim.start()
    assert victim.info()["fenced"]
    (tmp_path / "t").mkdir()
    t = Target(tmp_path / "t", replicas, 2, size)
    processes.append(t)
    time.sleep(3)
    status = t.status()
    assert status is not None and not status["ready"], status
    assert all(r["state"] == "fenced" for r in status["replicas"]), status
    assert not serves_nbd(t.port)


def test_ext4_restored_from_a_backup_passes_fsck(fs_repo, cluster, tmp_path, processes):
    for tool in ("nbdfuse", "losetup", "mkfs.ext4", "fsck.ext4"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")
    if not os.path.exists("/dev/fuse") or not os.path.exists("/dev/loop-control"):
        pytest.skip("no /dev/fuse or /dev/loop-control on this machine")
    size = 128 * MiB
    target = cluster(n=3, quorum=2, size=size)
    payload = {f"file{i}.bin": os.urandom(512 * 1024 + i) for i in range(16)}
    with nbd_loop(target, tmp_path / "src") as loop:
        subprocess.run(["mkfs.ext4", "-q", "-F", loop], check=True, capture_output=True)
        with mounted(loop, tmp_path / "mnt") as mnt:
            for name, data in payload.items():
                (mnt / name).write_bytes(data)
            subprocess.run(["sync"], check=True)
            # A crash-consistent backup of the mounted filesystem: ext4's
            # journal makes it clean after a (read-only) replay.
            snap = create(fs_repo, target)
    replicas = fresh_replicas(tmp_path, "ext4r", size)
    processes.extend(replicas)
    fs_repo.run("snapshot", "restore", snap["id"], "--replicas", ",".join(r.address for r in replicas))
    (tmp_path / "t").mkdir()
    restored = Target(tmp_path / "t", replicas, 2, size)
    processes.append(restored)
    restored.wait_ready()
    with nbd_loop(restored, tmp_path / "dst") as loop:
        # Replay the journal (the backup is crash-consistent), then check.
        with mounted(loop, tmp_path / "mnt2"):
            pass
        fsck = subprocess.run(["fsck.ext4", "-n", "-f", loop], capture_output=True, text=True)
        assert fsck.returncode == 0, fsck.stdout + fsck.stderr
        with mounted(loop, tmp_path / "mnt3", "ro") as mnt:
            for name, data in payload.items():
                assert (mnt / name).read_bytes() == data


class nbd_loop:
    """nbdfuse exposes the volume as a file; a loop device sits on it."""

    def __init__(self, target, directory):
        self.target = target
        self.dir = directory

    def __enter__(self):
        self.dir.mkdir()
        pidfile = self.dir.parent / (self.dir.name + ".pid")
        self.fuse = self.dir / "fuse"
        self.fuse.mkdir()
        self.proc = subprocess.Popen(["nbdfuse", "-P", str(pidfile), str(self.fuse / "disk"), self.target.uri],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.loop = None
        try:
            wait_until(lambda: pidfile.exists() and (self.fuse / "disk").exists(), 20, "nbdfuse")
            self.loop = subprocess.run(["losetup", "-f", "--show", str(self.fuse / "disk")], check=True,
                                       capture_output=True, text=True).stdout.strip()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self.loop

    def __exit__(self, *exc):
        if self.loop:
            subprocess.run(["losetup", "-d", self.loop], capture_output=True)
        subprocess.run(["umount", str(self.fuse)], capture_output=True)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class mounted:
    def __init__(self, device, mountpoint, options=None):
        self.device = device
        self.mountpoint = mountpoint
        self.options = options

    def __enter__(self):
        self.mountpoint.mkdir(exist_ok=True)
        args = ["mount", self.device, str(self.mountpoint)]
        if self.options:
            args[1:1] = ["-o", self.options]
        subprocess.run(args, check=True, capture_output=True)
        return self.mountpoint

    def __exit__(self, *exc):
        subprocess.run(["umount", str(self.mountpoint)], check=True, capture_output=True)
