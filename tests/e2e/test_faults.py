"""Faults and bad input: backups killed at random points, damaged repository
objects (flipped byte, truncated or missing pack, tampered snapshot), a newer
format version. Each must give a clear error naming the object, `check` must
say what is damaged and which snapshots and files it affects, and nothing
already stored may be lost."""
import json
import os
import pathlib
import random
import re
import signal
import time

from treeutil import assert_same_tree, make_tree


def repo_dir(stowage):
    return pathlib.Path(stowage.repo[len("file://"):])


def packs(stowage):
    return sorted(p for p in (repo_dir(stowage) / "data").rglob("*") if p.is_file())


def test_backup_killed_at_random_points_leaves_a_valid_repository(any_repo, tmp_path):
    src = make_tree(str(tmp_path / "src"), files=2500, big_files=6)
    keeper = json.loads(any_repo.run("-o", "json", "snapshot", "create", "--no-parent", src).stdout)
    rng = random.Random(42)
    for attempt in range(6):
        # New content each time so the killed backups really upload.
        (tmp_path / "src" / f"fresh{attempt}.bin").write_bytes(os.urandom(20 << 20))
        proc = any_repo.popen("snapshot", "create", "--no-parent", src)
        time.sleep(rng.uniform(0.05, 2.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        check = any_repo.run("repo", "check", check=False)
        assert check.returncode == 0, (attempt, check.stdout, check.stderr)
    # Stale locks of killed processes do not block backups; the next one completes.
    final = json.loads(any_repo.run("-o", "json", "snapshot", "create", src).stdout)
    assert any_repo.run("repo", "check", "--read-data").returncode == 0
    for snap in (keeper, final):
        dst = tmp_path / f"dst-{snap['id'][:8]}"
        any_repo.run("snapshot", "restore", snap["id"], "-t", dst)
    assert_same_tree(src, str(tmp_path / f"dst-{final['id'][:8]}"))
    # Prune needs an exclusive lock: the killed processes' locks must be removed first.
    locked = any_repo.run("repo", "prune", check=False)
    assert locked.returncode in (0, 12)
    if locked.returncode == 12:
        assert b"repo unlock" in locked.stderr
        any_repo.run("repo", "unlock", "--force")
    any_repo.run("repo", "prune", "--unindexed-grace", "0")
    assert any_repo.run("repo", "check", "--read-data").returncode == 0
    dst = tmp_path / "after-prune"
    any_repo.run("snapshot", "restore", final["id"], "-t", dst)
    assert_same_tree(src, str(dst))


def make_snapshot(fs_repo, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.bin").write_bytes(os.urandom(3 << 20))
    (src / "b.txt").write_text("small file\n")
    return json.loads(fs_repo.run("-o", "json", "snapshot", "create", src).stdout)


def data_pack(fs_repo):
    """The largest pack: the data pack holding a.bin."""
    return max(packs(fs_repo), key=lambda p: p.stat().st_size)


def test_flipped_byte_in_a_pack_is_found_and_named(fs_repo, tmp_path):
    snap = make_snapshot(fs_repo, tmp_path)
    pack = data_pack(fs_repo)
    data = bytearray(pack.read_bytes())
    data[1000] ^= 0x40
    os.chmod(pack, 0o644)
    pack.write_bytes(bytes(data))
    check = fs_repo.run("-o", "json", "repo", "check", "--read-data", check=False)
    assert check.returncode == 4
    report = json.loads(check.stdout)
    assert not report["ok"]
    assert any(pack.name in e for e in report["errors"])
    assert report["damaged_snapshots"][snap["id"]] == ["a.bin"]
    restore = fs_repo.run("snapshot", "restore", snap["id"], "-t", tmp_path / "dst", check=False)
    assert restore.returncode != 0
    assert pack.name.encode() in restore.stderr and b"check --read-data" in restore.stderr
    # The undamaged file can still be restored on its own.
    fs_repo.run("snapshot", "restore", snap["id"], "-t", tmp_path / "dst2", "--include", "b.txt")
    assert (tmp_path / "dst2" / "b.txt").read_text() == "small file\n"


def test_truncated_and_missing_packs_are_reported_by_structure_check(fs_repo, tmp_path):
    snap = make_snapshot(fs_repo, tmp_path)
    pack = data_pack(fs_repo)
    size = pack.stat().st_size
    os.chmod(pack, 0o644)
    with open(pack, "r+b") as f:
        f.truncate(size - 100)
    check = fs_repo.run("-o", "json", "repo", "check", check=False)
    assert check.returncode == 4
    report = json.loads(check.stdout)
    assert any(pack.name in e and "trailer" in e for e in report["errors"]) or \
        any(pack.name in e for e in report["errors"])
    assert snap["id"] in report["damaged_snapshots"]
    pack.unlink()
    report = json.loads(fs_repo.run("-o", "json", "repo", "check", check=False).stdout)
    assert any("missing" in e and pack.name in e for e in report["errors"])
    assert "a.bin" in report["damaged_snapshots"][snap["id"]]
    # prune refuses nothing here but must not make matters worse: the snapshot still lists.
    assert json.loads(fs_repo.run("-o", "json", "snapshot", "list").stdout)[0]["id"] == snap["id"]


def test_tampered_snapshot_and_index_objects_are_refused(fs_repo, tmp_path):
    snap = make_snapshot(fs_repo, tmp_path)
    manifest = repo_dir(fs_repo) / "snapshots" / snap["id"]
    os.chmod(manifest, 0o644)
    data = bytearray(manifest.read_bytes())
    data[-1] ^= 0x01  # always a change (writing a fixed byte is none when it was already that byte)
    manifest.write_bytes(bytes(data))
    listed = fs_repo.run("snapshot", "list", check=False)
    assert b"does not match its name" in listed.stderr
    shown = fs_repo.run("snapshot", "show", snap["id"], check=False)
    assert shown.returncode != 0 and snap["id"][:12].encode() in shown.stderr
    index = next((repo_dir(fs_repo) / "index").iterdir())
    os.chmod(index, 0o644)
    data = bytearray(index.read_bytes())
    data[0] ^= 0x01
    index.write_bytes(bytes(data))
    opened = fs_repo.run("repo", "stats", check=False)
    assert opened.returncode != 0 and index.name.encode() in opened.stderr


def test_newer_format_version_is_refused_with_versions_named(fs_repo):
    config = repo_dir(fs_repo) / "config"
    os.chmod(config, 0o644)
    text = config.read_text()
    current = int(re.search(r'"version": (\d+)', text).group(1))
    config.write_text(text.replace(f'"version": {current}', f'"version": {current + 1}'))
    r = fs_repo.run("snapshot", "list", check=False)
    assert r.returncode != 0
    assert f"version {current + 1} is newer than this stowage reads ({current})".encode() in r.stderr
    assert b"upgrade stowage" in r.stderr
