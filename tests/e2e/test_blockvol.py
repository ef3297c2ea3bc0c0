"""End-to-end tests of the replicated block volume (stowage-volume): real
replica and target processes on 127.0.0.1, real NBD clients (nbdinfo,
nbdcopy, nbdfuse, fio's nbd engine) and a raw socket for malformed requests.
Needs build/release/stowage-volume (or STOWAGE_VOLUME_BIN), libnbd-bin, fio."""
import hashlib
import json
import os
import pathlib
import shutil
import signal
import socket
import struct
import subprocess
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = os.environ.get("STOWAGE_VOLUME_BIN") or str(ROOT / "build" / "release" / "stowage-volume")

MiB = 1 << 20

NBD_OPT_GO = 7
NBD_REP_ACK = 1
NBD_REP_INFO = 3
NBD_CMD_READ, NBD_CMD_WRITE, NBD_CMD_DISC, NBD_CMD_FLUSH, NBD_CMD_TRIM, NBD_CMD_WRITE_ZEROES = 0, 1, 2, 3, 4, 6
NBD_EINVAL, NBD_ENOSPC = 22, 28


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(4 * MiB), b""):
            h.update(block)
    return h.hexdigest()


class Replica:
    def __init__(self, directory, size):
        self.dir = directory
        self.size = size
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.proc = None
        self.created = False

    def start(self, fenced=False):
        args = [BIN, "replica", "--dir", str(self.dir), "--listen", self.address, "--size", str(self.size)]
        if not self.created:
            args.append("--create")
            if fenced:
                args.append("--fenced")
            self.created = True
        self.log = open(f"{self.dir}.log", "ab")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=self.log)
        wait_until(lambda: self._listening(), 10, f"replica {self.address}")

    def _listening(self):
        assert self.proc.poll() is None, f"replica exited: {pathlib.Path(f'{self.dir}.log').read_text()[-2000:]}"
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
            return True
        except OSError:
            return False

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def info(self):
        out = subprocess.run([BIN, "replica-info", "--replica", self.address], check=True, capture_output=True)
        return json.loads(out.stdout)

    def read_snapshot(self, name, path):
        subprocess.run([BIN, "read-snapshot", "--replica", self.address, "--output", str(path), name],
                       check=True, capture_output=True)
        return sha256_file(path)


class Target:
    def __init__(self, workdir, replicas, quorum, size):
        self.replicas = replicas
        self.port = free_port()
        self.control_port = free_port()
        self.uri = f"nbd://127.0.0.1:{self.port}"
        self.control = f"127.0.0.1:{self.control_port}"
        args = [BIN, "target", "--listen", f"127.0.0.1:{self.port}", "--control", self.control,
                "--size", str(size), "--quorum", str(quorum), "--io-timeout-ms", "10000"]
        for r in replicas:
            args += ["--replica", r.address]
        self.log_path = workdir / "target.log"
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=self.log)

    def ctl(self, *args, check=True):
        result = subprocess.run([BIN, *args, "--target", self.control, "-o", "json"], capture_output=True, timeout=300)
        if check and result.returncode != 0:
            raise AssertionError(f"stowage-volume {' '.join(args)} failed: {result.stderr.decode()}\n"
                                 f"target log: {self.log_path.read_text()[-3000:]}")
        return result

    def status(self):
        result = self.ctl("status", check=False)
        if result.returncode != 0:
            return None
        return json.loads(result.stdout)

    def wait_ready(self):
        def ready():
            assert self.proc.poll() is None, f"target exited: {self.log_path.read_text()[-2000:]}"
            s = self.status()
            if not (s and s["ready"]):
                return False
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return True
            except OSError:
                return False
        wait_until(ready, 30, "the target to be ready")

    def wait_healthy(self, count, timeout=120):
        return wait_until(lambda: (s := self.status()) and s["healthy"] == count and s, timeout,
                          f"{count} healthy replicas")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def remove_volume_data(directory):
    """Deletes the replicas' layer data and the images a test wrote under
    directory (GiBs per test), keeping the logs and maps for a post-mortem."""
    for pattern in ("layer-*.data", "*.img"):
        for path in pathlib.Path(directory).rglob(pattern):
            path.unlink(missing_ok=True)


@pytest.fixture(scope="session")
def volume_binary():
    if not os.access(BIN, os.X_OK):
        pytest.fail(f"stowage-volume not found at {BIN}: build it (cmake --build build/release --target stowage-volume)")
    for tool in ("nbdinfo", "nbdcopy", "fio"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is missing: run scripts/install-deps")
    return BIN


@pytest.fixture
def cluster(tmp_path, volume_binary):
    """make(n, quorum, size) starts n replicas and a target; all stopped at the end."""
    started = []

    def make(n=3, quorum=2, size=256 * MiB, fenced=False, wait=True):
        replicas = [Replica(tmp_path / f"replica{i}", size) for i in range(n)]
        for r in replicas:
            r.start(fenced=fenced)
            started.append(r)
        target = Target(tmp_path, replicas, quorum, size)
        started.append(target)
        if wait:
            target.wait_ready()
        return target

    yield make
    for p in reversed(started):
        p.stop()
    remove_volume_data(tmp_path)


class NbdClient:
    """A minimal NBD client on a raw socket: fixed newstyle handshake with
    NBD_OPT_GO, then requests sent exactly as the test writes them."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        magic, opt_magic, flags = struct.unpack(">QQH", self.recv(18))
        assert magic == 0x4E42444D41474943 and opt_magic == 0x49484156454F5054
        assert flags & 1, "server must offer the fixed newstyle handshake"
        self.sock.sendall(struct.pack(">I", 3))
        data = struct.pack(">IH", 0, 0)
        self.sock.sendall(struct.pack(">QII", 0x49484156454F5054, NBD_OPT_GO, len(data)) + data)
        self.size = None
        while True:
            rmagic, option, rtype, length = struct.unpack(">QIII", self.recv(20))
            assert rmagic == 0x3E889045565A9 and option == NBD_OPT_GO
            payload = self.recv(length)
            if rtype == NBD_REP_INFO and struct.unpack(">H", payload[:2])[0] == 0:
                self.size = struct.unpack(">Q", payload[2:10])[0]
            elif rtype == NBD_REP_ACK:
                break
            else:
                assert rtype == NBD_REP_INFO, f"unexpected option reply {rtype:#x}"
        self.cookie = 0

    def recv(self, n):
        out = b""
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            if not chunk:
                raise ConnectionError("server closed the connection")
            out += chunk
        return out

    def send_request(self, cmd, offset, length, data=b"", flags=0, magic=0x25609513):
        self.cookie += 1
        self.sock.sendall(struct.pack(">IHHQQI", magic, flags, cmd, self.cookie, offset, length) + data)
        return self.cookie

    def reply(self, cookie, read_length=0):
        magic, error, got_cookie = struct.unpack(">IIQ", self.recv(16))
        assert magic == 0x67446698 and got_cookie == cookie
        data = self.recv(read_length) if error == 0 and read_length else b""
        return error, data

    def read(self, offset, length):
        return self.reply(self.send_request(NBD_CMD_READ, offset, length), length)

    def write(self, offset, data, flags=0):
        return self.reply(self.send_request(NBD_CMD_WRITE, offset, len(data), data, flags))[0]

    def flush(self):
        return self.reply(self.send_request(NBD_CMD_FLUSH, 0, 0))[0]

    def close(self):
        try:
            self.send_request(NBD_CMD_DISC, 0, 0)
        except OSError:
            pass
        self.sock.close()


def test_nbdinfo_shows_size_and_block_sizes(cluster):
    target = cluster(n=1, quorum=1, size=64 * MiB)
    out = subprocess.run(["nbdinfo", "--json", target.uri], check=True, capture_output=True).stdout
    export = json.loads(out)["exports"][0]
    assert export["export-size"] == 64 * MiB
    assert export["block_size_minimum"] == 1 and export["block_size_maximum"] == 32 * MiB
    assert export["can_flush"] and export["can_fua"] and export["can_zero"]


def test_nbdcopy_roundtrip_is_bit_identical_on_every_replica(cluster, tmp_path):
    target = cluster(n=3, quorum=2, size=64 * MiB)
    image = tmp_path / "in.img"
    image.write_bytes(os.urandom(48 * MiB) + bytes(16 * MiB))
    subprocess.run(["nbdcopy", str(image), target.uri], check=True)
    out = tmp_path / "out.img"
    subprocess.run(["nbdcopy", target.uri, str(out)], check=True)
    assert sha256_file(out) == sha256_file(image)
    # Every replica holds the same bytes: read them back through a snapshot.
    target.ctl("snapshot", "copied")
    for i, r in enumerate(target.replicas):
        assert r.read_snapshot("copied", tmp_path / f"r{i}.img") == sha256_file(image)


def fio(uri, *extra):
    # No verify state file: fio would leave local-load-0-verify.state in the working directory.
    return subprocess.Popen(["fio", "--name=load", "--ioengine=nbd", f"--uri={uri}", "--bs=4k", "--iodepth=4",
                             "--verify_state_save=0", "--output-format=json", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def fio_result(proc):
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, f"fio failed ({proc.returncode}): {err.decode()[-3000:]}"
    job = json.loads(out[out.index(b"{"):])["jobs"][0]
    assert job["error"] == 0, job
    return job


def test_fio_verify_survives_a_killed_replica_which_is_then_rebuilt(cluster, tmp_path):
    target = cluster(n=3, quorum=2, size=256 * MiB)
    load = fio(target.uri, "--rw=randwrite", "--size=160M", "--verify=crc32c", "--verify_fatal=1")
    time.sleep(1.0)
    assert load.poll() is None, "fio finished before the replica could be killed; give it more to write"
    victim = target.replicas[1]
    victim.kill()
    job = fio_result(load)
    assert job["write"]["io_bytes"] > 0
    status = target.status()
    assert status["healthy"] == 2 and status["degraded"]
    # Back again: the target reconnects, rebuilds it, and counts it again.
    victim.start()
    target.wait_healthy(3)
    target.ctl("snapshot", "after-rebuild")
    digests = {r.read_snapshot("after-rebuild", tmp_path / f"r{i}.img") for i, r in enumerate(target.replicas)}
    assert len(digests) == 1, "the rebuilt replica differs from the others"
    seqs = {json.dumps(r.info()["snapshots"]) for r in target.replicas}
    assert len(seqs) == 1


def test_every_replica_killed_and_restarted_keeps_flushed_data(cluster):
    target = cluster(n=3, quorum=2, size=64 * MiB)
    c = NbdClient(target.port)
    data = os.urandom(3 * MiB)
    assert c.write(5 * MiB + 512, data) == 0
    assert c.flush() == 0
    c.close()
    for r in target.replicas:
        r.kill()
    c = NbdClient(target.port)
    error, _ = c.read(0, 4096)
    assert error != 0, "a read with every replica gone must fail"
    c.close()
    for r in target.replicas:
        r.start()
    target.wait_healthy(3)
    c = NbdClient(target.port)
    assert c.read(5 * MiB + 512, len(data)) == (0, data)
    assert c.write(0, b"z" * 4096) == 0
    c.close()


def test_crash_consistent_snapshot_under_load(cluster, tmp_path):
    target = cluster(n=3, quorum=2, size=256 * MiB)
    load = fio(target.uri, "--rw=randwrite", "--size=128M", "--time_based", "--runtime=6")
    time.sleep(1.5)
    result = json.loads(target.ctl("snapshot", "under-load").stdout)
    assert result["pause_ms"] > 0
    assert len(result["replicas"]) == 3
    fio_result(load)
    for r in target.replicas:
        snaps = r.info()["snapshots"]
        assert [(s["name"], s["seq"]) for s in snaps] == [("under-load", result["seq"])]
    listed = json.loads(target.ctl("snapshots").stdout)["snapshots"]
    assert [s["name"] for s in listed] == ["under-load"]
    digests = {r.read_snapshot("under-load", tmp_path / f"r{i}.img") for i, r in enumerate(target.replicas)}
    assert len(digests) == 1, "replicas disagree about the snapshot's content"


def test_snapshot_with_a_dead_replica_reaches_the_quorum_and_the_rebuild_brings_it(cluster, tmp_path):
    target = cluster(n=3, quorum=2, size=64 * MiB)
    c = NbdClient(target.port)
    assert c.write(0, os.urandom(MiB)) == 0
    victim = target.replicas[2]
    victim.kill()  # the target only finds out while taking the snapshot
    result = json.loads(target.ctl("snapshot", "two-of-three").stdout)
    assert len(result["replicas"]) == 2 and victim.address not in result["replicas"]
    assert c.write(2 * MiB, os.urandom(MiB)) == 0  # after the snapshot: not in it
    c.close()
    victim.start()
    target.wait_healthy(3)
    # The rebuild replays the snapshot with its sequence number, then the head.
    infos = [r.info()["snapshots"] for r in target.replicas]
    assert all([(s["name"], s["seq"]) for s in i] == [("two-of-three", result["seq"])] for i in infos)
    digests = {r.read_snapshot("two-of-three", tmp_path / f"r{i}.img") for i, r in enumerate(target.replicas)}
    assert len(digests) == 1
    target.ctl("snapshot", "later")
    digests = {r.read_snapshot("later", tmp_path / f"l{i}.img") for i, r in enumerate(target.replicas)}
    assert len(digests) == 1


def test_snapshot_without_quorum_fails_and_leaves_nothing(cluster):
    target = cluster(n=3, quorum=2, size=64 * MiB)
    target.replicas[1].kill()
    target.replicas[2].kill()
    result = target.ctl("snapshot", "lonely", check=False)
    assert result.returncode != 0
    assert b"quorum" in result.stderr
    assert target.replicas[0].info()["snapshots"] == []
    listed = json.loads(target.ctl("snapshots").stdout)["snapshots"]
    assert listed == []


def replica_snapshot_create(replica, seq, name):
    """Creates a snapshot on one replica directly, over the replication protocol."""
    with socket.create_connection(("127.0.0.1", replica.port), timeout=10) as s:
        payload = struct.pack(">QH", seq, len(name)) + name.encode()
        s.sendall(struct.pack(">IBBHQQII", 0x53565251, 1, 6, 0, 1, 0, 0, len(payload)) + payload)
        header = b""
        while len(header) < 24:
            header += s.recv(24 - len(header))
        magic, version, status, _, _, _, _ = struct.unpack(">IBBHQII", header)
        assert (magic, version, status) == (0x53565250, 1, 0)


def test_snapshot_refused_by_too_many_replicas_is_rolled_back(cluster):
    target = cluster(n=3, quorum=2, size=64 * MiB)
    # Two replicas already hold a higher sequence number, so they refuse the
    # target's next one: only one replica takes it, fewer than the quorum.
    replica_snapshot_create(target.replicas[1], 1000, "elsewhere")
    replica_snapshot_create(target.replicas[2], 1000, "elsewhere")
    result = target.ctl("snapshot", "refused", check=False)
    assert result.returncode != 0
    assert b"rolled back" in result.stderr and b"quorum" in result.stderr
    assert "refused" not in [s["name"] for s in target.replicas[0].info()["snapshots"]]
    # The two were dropped for refusing; they are rebuilt from the first one
    # (losing the foreign snapshot), and the next snapshot reaches all three.
    target.wait_healthy(3)
    listed = json.loads(target.ctl("snapshots").stdout)["snapshots"]
    assert listed == []
    ok = json.loads(target.ctl("snapshot", "accepted").stdout)
    assert len(ok["replicas"]) == 3
    for r in target.replicas:
        assert [(s["name"], s["seq"]) for s in r.info()["snapshots"]] == [("accepted", ok["seq"])]


def test_changed_extents_between_snapshots(cluster):
    target = cluster(n=3, quorum=2, size=64 * MiB)
    client = NbdClient(target.port)
    assert client.write(1 * MiB, os.urandom(64 * 1024)) == 0
    assert client.flush() == 0
    target.ctl("snapshot", "first")
    assert client.write(8 * MiB + 3 * 4096, os.urandom(8192)) == 0
    assert client.write(40 * MiB + 100, b"x" * 10) == 0  # partial block: the whole block counts
    target.ctl("snapshot", "second")
    client.close()
    first = json.loads(target.ctl("changed-extents", "-", "first").stdout)
    assert first["extents"] == [{"offset": 1 * MiB, "length": 64 * 1024}]
    delta = json.loads(target.ctl("changed-extents", "first", "second").stdout)
    assert delta["extents"] == [{"offset": 8 * MiB + 3 * 4096, "length": 8192},
                                {"offset": 40 * MiB, "length": 4096}]
    # Deleting the older snapshot merges it: the newer one still reads and
    # its extents since the beginning cover both writes.
    target.ctl("delete-snapshot", "first")
    merged = json.loads(target.ctl("changed-extents", "-", "second").stdout)["extents"]
    assert {"offset": 1 * MiB, "length": 64 * 1024} in merged and len(merged) == 3


def test_malformed_nbd_requests_get_error_codes_and_the_server_stays_up(cluster):
    size = 64 * MiB
    target = cluster(n=1, quorum=1, size=size)
    c = NbdClient(target.port)
    assert c.size == size
    assert c.read(size - 4096, 8192)[0] == NBD_EINVAL                       # read past the end
    assert c.read(2**63, 512)[0] == NBD_EINVAL                              # offset far out
    assert c.reply(c.send_request(NBD_CMD_WRITE, size, 4096, bytes(4096)))[0] == NBD_ENOSPC
    assert c.reply(c.send_request(NBD_CMD_WRITE_ZEROES, size - 512, 4096))[0] == NBD_ENOSPC
    assert c.reply(c.send_request(NBD_CMD_TRIM, size, 4096))[0] == NBD_EINVAL
    assert c.reply(c.send_request(99, 0, 512))[0] == NBD_EINVAL             # unknown command
    assert c.read(0, 64 * MiB)[0] == NBD_EINVAL                             # longer than the maximum
    big = 33 * MiB
    assert c.reply(c.send_request(NBD_CMD_WRITE, 0, big, bytes(big)))[0] == NBD_EINVAL
    assert c.reply(c.send_request(NBD_CMD_READ, 0, 512, flags=0x8000))[0] == NBD_EINVAL  # unknown flag
    assert c.read(0, 0) == (0, b"")                                         # empty: nothing to do
    # The connection still works after all of that.
    assert c.write(4096, b"a" * 4096) == 0
    assert c.read(4096, 4096) == (0, b"a" * 4096)
    # Bad magic: the server hangs up.
    c.send_request(NBD_CMD_READ, 0, 512, magic=0xDEADBEEF)
    with pytest.raises(ConnectionError):
        c.recv(16)
    c.sock.close()
    # A client vanishing in the middle of a write's data.
    d = NbdClient(target.port)
    d.sock.sendall(struct.pack(">IHHQQI", 0x25609513, 0, NBD_CMD_WRITE, 1, 0, 8192) + b"b" * 1000)
    d.sock.close()
    # The server is still up and the data is unchanged.
    e = NbdClient(target.port)
    assert e.read(4096, 4096) == (0, b"a" * 4096)
    e.close()
    assert target.proc.poll() is None
    assert target.status()["healthy"] == 1, "a client's bad request cost the volume a replica"


def test_fenced_replicas_refuse_the_target_until_filled_and_unfenced(cluster, tmp_path):
    size = 32 * MiB
    target = cluster(n=2, quorum=2, size=size, fenced=True, wait=False)
    time.sleep(2)
    status = target.status()
    assert status is not None and not status["ready"]
    assert all(r["state"] == "fenced" for r in status["replicas"])
    image = tmp_path / "restore.img"
    image.write_bytes(bytes(4 * MiB) + os.urandom(20 * MiB) + bytes(8 * MiB))
    addresses = [a for r in target.replicas for a in ("--replica", r.address)]
    subprocess.run([BIN, "fill", *addresses, "--input", str(image)], check=True, capture_output=True)
    subprocess.run([BIN, "unfence", *addresses], check=True, capture_output=True)
    target.wait_ready()
    out = tmp_path / "out.img"
    subprocess.run(["nbdcopy", target.uri, str(out)], check=True)
    assert sha256_file(out) == sha256_file(image)


def test_ext4_on_nbdfuse_and_a_loop_device(cluster, tmp_path):
    for tool in ("nbdfuse", "losetup", "mkfs.ext4", "fsck.ext4"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")
    if not os.path.exists("/dev/fuse") or not os.path.exists("/dev/loop-control"):
        pytest.skip("no /dev/fuse or /dev/loop-control on this machine")
    target = cluster(n=3, quorum=2, size=256 * MiB)
    fuse_dir = tmp_path / "fuse"
    fuse_dir.mkdir()
    pidfile = tmp_path / "nbdfuse.pid"
    nbdfuse = subprocess.Popen(["nbdfuse", "-P", str(pidfile), str(fuse_dir / "disk"), target.uri],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    mount = tmp_path / "mnt"
    mount.mkdir()
    loop = None
    mounted = False
    try:
        wait_until(lambda: pidfile.exists() and (fuse_dir / "disk").exists(), 20, "nbdfuse")
        loop = subprocess.run(["losetup", "-f", "--show", str(fuse_dir / "disk")], check=True,
                              capture_output=True, text=True).stdout.strip()
        subprocess.run(["mkfs.ext4", "-q", "-F", loop], check=True, capture_output=True)
        subprocess.run(["mount", loop, str(mount)], check=True, capture_output=True)
        mounted = True
        payload = {f"file{i}.bin": os.urandom(256 * 1024 + i) for i in range(20)}
        for name, data in payload.items():
            (mount / name).write_bytes(data)
        subprocess.run(["sync"], check=True)
        subprocess.run(["umount", str(mount)], check=True, capture_output=True)
        mounted = False
        fsck = subprocess.run(["fsck.ext4", "-n", "-f", loop], capture_output=True, text=True)
        assert fsck.returncode == 0, fsck.stdout + fsck.stderr
        subprocess.run(["mount", "-o", "ro", loop, str(mount)], check=True, capture_output=True)
        mounted = True
        for name, data in payload.items():
            assert (mount / name).read_bytes() == data
    finally:
        if mounted:
            subprocess.run(["umount", str(mount)], capture_output=True)
        if loop:
            subprocess.run(["losetup", "-d", loop], capture_output=True)
        subprocess.run(["umount", str(fuse_dir)], capture_output=True)
        try:
            nbdfuse.wait(timeout=10)
        except subprocess.TimeoutExpired:
            nbdfuse.kill()
            nbdfuse.wait()
