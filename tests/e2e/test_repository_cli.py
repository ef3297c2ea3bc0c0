"""End-to-end tests of the stowage CLI's data path against a real directory
repository and the real MinIO (testbed/up minio): round trips bit for bit with
metadata, incremental runs, block images, streams, concurrency, keys."""
import hashlib
import json
import os
import subprocess

import pytest

from treeutil import assert_same_tree, make_tree


def test_tree_round_trip_with_metadata(any_repo, tmp_path):
    src = make_tree(str(tmp_path / "src"), files=20000)
    out = json.loads(any_repo.run("-o", "json", "snapshot", "create", src).stdout)
    assert out["summary"]["errors"] == 0
    assert out["summary"]["files"] >= 20000
    any_repo.run("snapshot", "restore", out["id"], "-t", tmp_path / "dst")
    count = assert_same_tree(src, str(tmp_path / "dst"))
    assert count > 20000
    # The sparse file stays sparse.
    st = os.stat(tmp_path / "dst" / "sparse.img")
    assert st.st_blocks * 512 < 2 << 20
    # diff -r as a second, independent content check (it cannot compare fifos or devices)
    subprocess.run(["diff", "-r", "--no-dereference", "-x", "a-fifo", "-x", "a-chardev", src, str(tmp_path / "dst")],
                   check=True)


def test_incremental_reads_only_changes_and_every_snapshot_restores(fs_repo, tmp_path):
    src = make_tree(str(tmp_path / "src"), files=1500, big_files=1)
    first = json.loads(fs_repo.run("-o", "json", "snapshot", "create", src).stdout)
    same = json.loads(fs_repo.run("-o", "json", "snapshot", "create", src).stdout)
    assert same["parent"] == first["id"]
    assert same["summary"]["bytes_read"] == 0
    assert same["summary"]["bytes_new"] == 0
    changed = sorted(p for p in (tmp_path / "src").rglob("file0*.txt"))[:15]
    for p in changed:
        p.write_bytes(b"changed " + p.read_bytes())
    third = json.loads(fs_repo.run("-o", "json", "snapshot", "create", src).stdout)
    assert third["summary"]["files_unchanged"] == third["summary"]["files"] - len(changed)
    assert 0 < third["summary"]["bytes_read"] < 2_000_000
    # Forget the first two, prune, and the third is complete on its own.
    fs_repo.run("snapshot", "forget", first["id"], same["id"], "--prune")
    assert fs_repo.run("repo", "check", "--read-data").returncode == 0
    fs_repo.run("snapshot", "restore", third["id"], "-t", tmp_path / "dst")
    assert_same_tree(src, str(tmp_path / "dst"))
    diff = fs_repo.run("snapshot", "diff", third["id"], third["id"]).stdout
    assert diff == b""


def test_format_2_repository_keeps_json_trees_and_copies_only_into_newer(binary, tmp_path):
    """repo init --format-version 2 makes a repository older releases read: it
    stays version 2 through backups; copies from it into a version 4 repository
    (what --copy-keys-from makes for a source older than 5: the newest format
    whose chunk ids match) work and serve as parents there; copies from version 4 into it
    are refused, naming the versions, and write no snapshot."""
    from conftest import Stowage, base_env
    env = base_env()
    src = make_tree(str(tmp_path / "src"), files=600)
    old = Stowage(binary, f"file://{tmp_path}/v2", env)
    old.run("repo", "init", "--kdf-memory-mib", "1", "--format-version", "2")
    first = json.loads(old.run("-o", "json", "snapshot", "create", src).stdout)
    again = json.loads(old.run("-o", "json", "snapshot", "create", src).stdout)
    assert again["summary"]["files_unchanged"] == again["summary"]["files"] > 600
    assert json.loads((tmp_path / "v2" / "config").read_text())["version"] == 2
    refused = old.run("repo", "init", "--format-version", "9", check=False)
    assert refused.returncode != 0

    both = dict(env, STOWAGE_FROM_PASSWORD=env["STOWAGE_PASSWORD"], STOWAGE_TO_PASSWORD=env["STOWAGE_PASSWORD"])
    new = Stowage(binary, f"file://{tmp_path}/v3", both)
    new.run("repo", "init", "--kdf-memory-mib", "1", "--copy-keys-from", old.repo)
    assert json.loads((tmp_path / "v3" / "config").read_text())["version"] == 4
    Stowage(binary, old.repo, both).run("snapshot", "copy", first["id"], "--to", new.repo)
    copied = json.loads(new.run("-o", "json", "snapshot", "list").stdout)
    assert len(copied) == 1
    (tmp_path / "src" / "added.txt").write_text("new in the version 4 repository\n")
    third = json.loads(new.run("-o", "json", "snapshot", "create", src, "--parent", copied[0]["id"]).stdout)
    assert third["summary"]["files_unchanged"] == third["summary"]["files"] - 1
    new.run("snapshot", "restore", third["id"], "-t", tmp_path / "dst")
    assert_same_tree(src, str(tmp_path / "dst"))

    back = new.run("snapshot", "copy", third["id"], "--to", old.repo, check=False)
    assert back.returncode != 0
    assert b"format version 2" in back.stderr and b"binary trees" in back.stderr, back.stderr
    assert len(json.loads(old.run("-o", "json", "snapshot", "list").stdout)) == 2
    assert old.run("repo", "check", "--read-data").returncode == 0


def test_format_3_repository_takes_copies_of_grouped_blobs_and_restores_them(binary, tmp_path):
    """Format 4 seals small files' chunks in groups; a format 3 repository
    (--format-version 3, for releases that read only up to 3) stays version 3,
    takes a copy of a format 4 snapshot blob by blob, and restores it bit for
    bit; both repositories check clean with every blob read."""
    from conftest import Stowage, base_env
    env = base_env()
    both = dict(env, STOWAGE_FROM_PASSWORD=env["STOWAGE_PASSWORD"], STOWAGE_TO_PASSWORD=env["STOWAGE_PASSWORD"])
    src = make_tree(str(tmp_path / "src"), files=2000)
    new = Stowage(binary, f"file://{tmp_path}/v4", both)
    new.run("repo", "init", "--kdf-memory-mib", "1", "--format-version", "4")
    assert json.loads((tmp_path / "v4" / "config").read_text())["version"] == 4
    snap = json.loads(new.run("-o", "json", "snapshot", "create", src).stdout)
    old = Stowage(binary, f"file://{tmp_path}/v3", both)
    old.run("repo", "init", "--kdf-memory-mib", "1", "--format-version", "3", "--copy-keys-from", new.repo)
    new.run("snapshot", "copy", snap["id"], "--to", old.repo)
    assert json.loads((tmp_path / "v3" / "config").read_text())["version"] == 3
    copied = json.loads(old.run("-o", "json", "snapshot", "list").stdout)
    assert len(copied) == 1
    old.run("snapshot", "restore", copied[0]["id"], "-t", tmp_path / "dst")
    assert_same_tree(src, str(tmp_path / "dst"))
    for repo in (new, old):
        assert repo.run("repo", "check", "--read-data").returncode == 0
    # The same files, grouped, take fewer packs' bytes than one piece per chunk.
    def stored(root):
        return sum(f.stat().st_size for f in (tmp_path / root / "data").rglob("*") if f.is_file())
    assert stored("v4") < stored("v3")


def test_format_5_names_with_blake3_and_copies_only_between_matching_chunk_ids(binary, tmp_path):
    """Format 5 (the default) names packs by the BLAKE3 of their bytes, as the
    independent b3sum computes it, where format 4 used SHA-256. Its chunk ids
    are keyed BLAKE3, so a copy between a format 4 and a format 5 repository
    is refused in both directions before anything is written, naming the
    fix; --copy-keys-from picks format 4 for a format 4 source, and that copy
    restores bit for bit."""
    from conftest import Stowage, base_env
    env = base_env()
    both = dict(env, STOWAGE_FROM_PASSWORD=env["STOWAGE_PASSWORD"], STOWAGE_TO_PASSWORD=env["STOWAGE_PASSWORD"])
    src = make_tree(str(tmp_path / "src"), files=300)
    repos = {}
    for name, args in (("v4", ["--format-version", "4"]), ("v5", [])):
        repos[name] = Stowage(binary, f"file://{tmp_path}/{name}", both)
        repos[name].run("repo", "init", "--kdf-memory-mib", "1", *args)
    assert json.loads((tmp_path / "v5" / "config").read_text())["version"] == 5
    snaps = {name: json.loads(r.run("-o", "json", "snapshot", "create", src).stdout) for name, r in repos.items()}
    for name, r in repos.items():
        assert r.run("repo", "check", "--read-data").returncode == 0
        stats = json.loads(r.run("-o", "json", "repo", "stats").stdout)
        assert (stats["format_version"], stats["chunk_ids"]) == \
            ((5, "keyed BLAKE3") if name == "v5" else (4, "HMAC-SHA-256")), stats
        packs = [f for f in (tmp_path / name / "data").rglob("*") if f.is_file()]
        assert packs
        for pack in packs:
            sha = hashlib.sha256(pack.read_bytes()).hexdigest()
            b3 = subprocess.run(["b3sum", "--no-names", pack], check=True, capture_output=True, text=True).stdout.strip()
            assert pack.name == (b3 if name == "v5" else sha), (name, pack)

    # A format 5 target sharing the format 4 source's keys: refused both ways.
    mixed = Stowage(binary, f"file://{tmp_path}/v5-shared", both)
    mixed.run("repo", "init", "--kdf-memory-mib", "1", "--copy-keys-from", repos["v4"].repo, "--format-version", "5")
    there = repos["v4"].run("snapshot", "copy", snaps["v4"]["id"], "--to", mixed.repo, check=False)
    assert there.returncode != 0
    assert b"chunk ids" in there.stderr and b"--copy-keys-from" in there.stderr, there.stderr
    assert json.loads(mixed.run("-o", "json", "snapshot", "list").stdout) == []
    assert not any(f.is_file() for f in (tmp_path / "v5-shared" / "data").rglob("*"))
    mixed.run("snapshot", "create", src)
    back = Stowage(binary, mixed.repo, both).run("snapshot", "copy", "latest", "--to", repos["v4"].repo, check=False)
    assert back.returncode != 0 and b"chunk ids" in back.stderr, back.stderr

    matching = Stowage(binary, f"file://{tmp_path}/v4-shared", both)
    matching.run("repo", "init", "--kdf-memory-mib", "1", "--copy-keys-from", repos["v4"].repo)
    assert json.loads((tmp_path / "v4-shared" / "config").read_text())["version"] == 4
    repos["v4"].run("snapshot", "copy", snaps["v4"]["id"], "--to", matching.repo)
    copied = json.loads(matching.run("-o", "json", "snapshot", "list").stdout)
    matching.run("snapshot", "restore", copied[0]["id"], "-t", tmp_path / "dst")
    assert_same_tree(src, str(tmp_path / "dst"))


def test_block_image_with_and_without_changed_extents(fs_repo, tmp_path):
    """A 2 GiB ext4 image, 1% changed, backed up with and without an extent list."""
    image = tmp_path / "disk.img"
    subprocess.run(["truncate", "-s", "2G", image], check=True)
    subprocess.run(["mkfs.ext4", "-q", "-F", image], check=True)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    subprocess.run(["mount", "-o", "loop", image, mnt], check=True)
    try:
        make_tree(str(mnt / "data"), files=1500, big_files=4)
    finally:
        subprocess.run(["umount", mnt], check=True)
    full = json.loads(fs_repo.run("-o", "json", "snapshot", "create", "--block", image).stdout)
    assert full["size"] == 2 << 30
    # Change 1% (about 21 MiB) in 8 runs, and write the extent list.
    extents = []
    rng = __import__("random").Random(3)
    with open(image, "r+b") as f:
        for _ in range(8):
            off = rng.randrange(0, (2 << 30) - (3 << 20)) // 4096 * 4096
            length = 2 << 20
            f.seek(off)
            f.write(rng.randbytes(length))
            extents.append((off, length))
    (tmp_path / "extents").write_text("".join(f"{o} {n}\n" for o, n in extents))
    with_list = json.loads(fs_repo.run("-o", "json", "snapshot", "create", "--block", image,
                                       "--changed-extents", tmp_path / "extents").stdout)
    assert with_list["parent"] == full["id"]
    assert with_list["summary"]["bytes_read"] <= 8 * (3 << 20)
    rescan = json.loads(fs_repo.run("-o", "json", "snapshot", "create", "--block", image,
                                    "--parent", full["id"]).stdout)
    assert rescan["summary"]["bytes_read"] == 2 << 30
    assert rescan["summary"]["bytes_new"] == 0  # the extent-list snapshot already stored the changes
    for snap in (with_list, rescan):
        out = tmp_path / f"restored-{snap['id'][:8]}.img"
        fs_repo.run("snapshot", "restore", snap["id"], "-t", out)
        subprocess.run(["cmp", image, out], check=True)
        out.unlink()
    original = tmp_path / "original.img"
    fs_repo.run("snapshot", "restore", full["id"], "-t", original)
    subprocess.run(["e2fsck", "-fn", original], check=True, capture_output=True)


def test_restores_through_minio_are_bit_for_bit(s3_repo, tmp_path):
    """Restores read packs in coalesced ranges and write out of order: a tree with many
    copies of one content and a file spanning packs, and an image with repeated and zero
    blocks, come back from MinIO bit for bit."""
    src = tmp_path / "src"
    (src / "copies").mkdir(parents=True)
    shared = os.urandom(300_000)
    for i in range(300):
        (src / "copies" / f"copy{i:03d}").write_bytes(shared)
    (src / "big.bin").write_bytes(os.urandom(40 << 20))  # more than one 32 MiB pack
    (src / "small.txt").write_text("small\n")
    snap = json.loads(s3_repo.run("-o", "json", "snapshot", "create", src).stdout)
    s3_repo.run("snapshot", "restore", snap["id"], "-t", tmp_path / "dst")
    assert_same_tree(str(src), str(tmp_path / "dst"))
    subprocess.run(["diff", "-r", "--no-dereference", src, tmp_path / "dst"], check=True)

    image = tmp_path / "disk.img"
    block = os.urandom(1 << 20)
    with open(image, "wb") as f:
        for i in range(24):
            f.write(block if i % 3 == 0 else bytes(1 << 20) if i % 3 == 1 else os.urandom(1 << 20))
        f.write(b"a partial last block")
    isnap = json.loads(s3_repo.run("-o", "json", "snapshot", "create", "--block", image).stdout)
    s3_repo.run("snapshot", "restore", isnap["id"], "-t", tmp_path / "restored.img")
    subprocess.run(["cmp", image, tmp_path / "restored.img"], check=True)


def test_stream_round_trip_through_stdin_and_stdout(any_repo):
    data = os.urandom(3 << 20) + b"\0" * (5 << 20) + os.urandom(1 << 20)
    out = json.loads(any_repo.run("-o", "json", "snapshot", "create", "--stdin", "--stdin-name", "zfs-send",
                                  input=data).stdout)
    assert out["kind"] == "stream" and out["size"] == len(data)
    restored = any_repo.run("snapshot", "restore", out["id"], "--stdout").stdout
    assert restored == data


def test_concurrent_backups_into_one_repository(any_repo, tmp_path):
    sources = [make_tree(str(tmp_path / f"src{i}"), files=300, seed=10 + i, big_files=1) for i in range(4)]
    procs = [any_repo.popen("-o", "json", "snapshot", "create", s) for s in sources]
    ids = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=600)
        assert p.returncode == 0, stderr
        ids.append(json.loads(stdout)["id"])
    assert any_repo.run("repo", "check", "--read-data").returncode == 0
    for i, snap in enumerate(ids):
        any_repo.run("snapshot", "restore", snap, "-t", tmp_path / f"dst{i}")
        assert_same_tree(sources[i], str(tmp_path / f"dst{i}"))


def test_passwords_keys_and_output_formats(fs_repo, tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f").write_text("x")
    fs_repo.run("snapshot", "create", tmp_path / "d")
    wrong = fs_repo.run("snapshot", "list", check=False, password="wrong")
    assert wrong.returncode == 11
    assert b"wrong password" in wrong.stderr
    env_new = dict(fs_repo.env, STOWAGE_NEW_PASSWORD="second")
    subprocess.run([fs_repo.binary, "-q", "-r", fs_repo.repo, "repo", "key", "add", "--kdf-memory-mib", "1"],
                   env=env_new, check=True, capture_output=True)
    keys = json.loads(fs_repo.run("-o", "json", "repo", "key", "list").stdout)
    assert len(keys) == 2
    first = next(k for k in keys if k["current"])
    listed = fs_repo.run("-o", "yaml", "snapshot", "list", password="second").stdout.decode()
    assert listed.startswith("- id: ")
    fs_repo.run("repo", "key", "remove", first["id"][:10], password="second")
    assert fs_repo.run("snapshot", "list", check=False).returncode == 11
    stats = json.loads(fs_repo.run("-o", "json", "repo", "stats", password="second").stdout)
    assert stats["snapshots"] == 1


def test_key_derivation_choice_and_moving_slots_to_argon2id(binary, tmp_path):
    """A repository made with --kdf scrypt (a version 1 slot, what older
    releases read) gets an Argon2id slot for the same password with `key add`
    (docs/operations.md, Upgrading); `key list` shows which slot uses which
    function, the scrypt one is removed, and the data reads."""
    from conftest import Stowage, base_env
    repo = Stowage(binary, f"file://{tmp_path}/r", base_env())
    repo.run("repo", "init", "--kdf", "scrypt", "--kdf-memory-mib", "2")
    slot = json.loads(next((tmp_path / "r" / "keys").iterdir()).read_text())
    assert slot["version"] == 1 and slot["kdf"]["name"] == "scrypt" and slot["kdf"]["n"] == 2048
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f").write_bytes(os.urandom(100000))
    repo.run("snapshot", "create", tmp_path / "d")
    env_new = dict(repo.env, STOWAGE_NEW_PASSWORD=repo.env["STOWAGE_PASSWORD"])
    subprocess.run([binary, "-q", "-r", repo.repo, "repo", "key", "add", "--kdf-memory-mib", "1",
                    "--kdf-iterations", "2"], env=env_new, check=True, capture_output=True)
    keys = json.loads(repo.run("-o", "json", "repo", "key", "list").stdout)
    assert sorted(k["kdf"] for k in keys) == ["argon2id 1 MiB, 2 passes", "scrypt 2 MiB"]
    table = repo.run("repo", "key", "list").stdout.decode()
    assert "KDF" in table.splitlines()[0] and "argon2id 1 MiB, 2 passes" in table
    old = next(k for k in keys if k["kdf"].startswith("scrypt"))
    assert not old["current"]  # the session opened with the Argon2id slot
    repo.run("repo", "key", "remove", old["id"])
    (slot_file,) = (tmp_path / "r" / "keys").iterdir()
    assert json.loads(slot_file.read_text())["version"] == 2
    repo.run("snapshot", "restore", "latest", "-t", tmp_path / "out")
    assert (tmp_path / "out" / "f").read_bytes() == (tmp_path / "d" / "f").read_bytes()
    # Parameters a slot may not ask for are refused before anything is written.
    for bad, why in [(["--kdf", "scrypt", "--kdf-memory-mib", "3"], b"power of two"),
                     (["--kdf", "scrypt", "--kdf-iterations", "2"], b"scrypt"),
                     (["--kdf-memory-mib", "512"], b"256 MiB"),
                     (["--kdf-iterations", "9"], b"8 passes"),
                     (["--kdf", "balloon"], b"balloon")]:
        other = Stowage(binary, f"file://{tmp_path}/bad", base_env())
        r = other.run("repo", "init", *bad, check=False)
        assert r.returncode == 2 and why in r.stderr, (bad, r.stderr)
        assert not (tmp_path / "bad").exists()


def test_missing_repository_and_bad_urls(binary, tmp_path):
    from conftest import Stowage, base_env
    s = Stowage(binary, f"file://{tmp_path}/nothing", base_env())
    r = s.run("snapshot", "list", check=False)
    assert r.returncode == 10
    assert b"repo init" in r.stderr
    bad = Stowage(binary, "ftp://example/x", base_env()).run("snapshot", "list", check=False)
    assert bad.returncode != 0 and b"file://" in bad.stderr


def test_repeated_tags_and_tag_filter(fs_repo, tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f").write_text("x")
    fs_repo.run("snapshot", "create", "--tag", "a", "--tag", "b", tmp_path / "d")
    fs_repo.run("snapshot", "create", "--tag", "c", tmp_path / "d")
    tagged = json.loads(fs_repo.run("-o", "json", "snapshot", "list", "--tag", "b").stdout)
    assert len(tagged) == 1 and tagged[0]["tags"] == ["a", "b"]
    forgot = json.loads(fs_repo.run("-o", "json", "snapshot", "forget", "--keep-last", "1", "--keep-tag", "a").stdout)
    assert forgot["removed"] == []
    forgot = json.loads(fs_repo.run("-o", "json", "snapshot", "forget", "--keep-last", "1").stdout)
    assert len(forgot["removed"]) == 1


def test_block_restore_onto_a_loop_device_overwrites_old_contents(fs_repo, tmp_path):
    image = tmp_path / "small.img"
    subprocess.run(["truncate", "-s", "256M", image], check=True)
    subprocess.run(["mkfs.ext4", "-q", "-F", image], check=True)
    with open(image, "r+b") as f:  # some data past the filesystem's metadata
        f.seek(100 << 20)
        f.write(os.urandom(5 << 20))
    snap = json.loads(fs_repo.run("-o", "json", "snapshot", "create", "--block", image).stdout)
    backing = tmp_path / "device-backing"
    with open(backing, "wb") as f:  # old contents everywhere: zero blocks must be zeroed
        for _ in range(256):
            f.write(b"\xaa" * (1 << 20))
    dev = subprocess.run(["losetup", "-f", "--show", backing], check=True, capture_output=True,
                         text=True).stdout.strip()
    try:
        fs_repo.run("snapshot", "restore", snap["id"], "-t", dev)
        subprocess.run(["cmp", image, dev], check=True)
        subprocess.run(["e2fsck", "-fn", dev], check=True, capture_output=True)
    finally:
        subprocess.run(["losetup", "-d", dev], check=True)


def test_copy_to_a_second_s3_server_survives_losing_the_first(binary, tmp_path):
    """A backup copied from MinIO to versitygw; the MinIO bucket deleted; the copy restores bit for bit."""
    import uuid
    import xml.etree.ElementTree as ET
    from conftest import Stowage, base_env, s3_request
    env = base_env()
    if not env.get("STOWAGE_TEST_S3B_ENDPOINT"):
        pytest.fail("versitygw is not running: run testbed/up versitygw")
    creds = tmp_path / "credentials"
    creds.write_text(f"[first]\naws_access_key_id = {env['AWS_ACCESS_KEY_ID']}\n"
                     f"aws_secret_access_key = {env['AWS_SECRET_ACCESS_KEY']}\n"
                     f"[second]\naws_access_key_id = {env['STOWAGE_TEST_S3B_ACCESS_KEY']}\n"
                     f"aws_secret_access_key = {env['STOWAGE_TEST_S3B_SECRET_KEY']}\n")
    env["AWS_SHARED_CREDENTIALS_FILE"] = str(creds)
    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        env.pop(k, None)
    bucket = f"copy-src-{uuid.uuid4().hex[:10]}"
    minio = env["STOWAGE_TEST_S3_ENDPOINT"]
    source = Stowage(binary, f"s3://{bucket}/repo?endpoint={minio}&region=us-east-1&profile=first", env)
    target_url = (f"s3://{env['STOWAGE_TEST_S3B_BUCKET']}/copy-{uuid.uuid4().hex[:10]}"
                  f"?endpoint={env['STOWAGE_TEST_S3B_ENDPOINT']}&region={env.get('STOWAGE_TEST_S3B_REGION', 'us-east-1')}"
                  f"&profile=second")
    source.run("repo", "init", "--kdf-memory-mib", "1")  # creates the bucket
    src = make_tree(str(tmp_path / "src"), files=800, big_files=1)
    snap = json.loads(source.run("-o", "json", "snapshot", "create", src).stdout)
    env_target = dict(env, STOWAGE_PASSWORD="target-password", STOWAGE_FROM_PASSWORD=env["STOWAGE_PASSWORD"])
    target = Stowage(binary, target_url, env_target)
    target.run("repo", "init", "--kdf-memory-mib", "1", "--copy-keys-from", source.repo)
    copy_env = dict(env, STOWAGE_TO_PASSWORD="target-password")
    copied = json.loads(Stowage(binary, source.repo, copy_env).run(
        "-o", "json", "snapshot", "copy", snap["id"], "--to", target_url).stdout)
    assert len(copied["copied"]) == 1 and copied["blobs_verified"] > 0
    # A second copy sends nothing.
    again = json.loads(Stowage(binary, source.repo, copy_env).run(
        "-o", "json", "snapshot", "copy", "--all", "--to", target_url).stdout)
    assert again["copied"] == [] and again["blobs_sent"] == 0
    # Delete the first bucket entirely.
    creds_first = dict(line.split(" = ") for line in creds.read_text().splitlines()[1:3])
    key, secret = creds_first["aws_access_key_id"], creds_first["aws_secret_access_key"]
    code, body = s3_request("GET", minio, key, secret, f"{bucket}?list-type=2&max-keys=1000")
    assert code == 200, body
    ns = {"s3": "http://s3.amazonaws.com/doc/2006-03-01/"}
    for k in ET.fromstring(body).findall("s3:Contents/s3:Key", ns):
        assert s3_request("DELETE", minio, key, secret, f"{bucket}/{k.text}")[0] == 204
    assert s3_request("DELETE", minio, key, secret, bucket)[0] == 204
    assert source.run("snapshot", "list", check=False).returncode != 0
    # The copy alone restores bit for bit, and checks clean.
    assert target.run("repo", "check", "--read-data").returncode == 0
    target.run("snapshot", "restore", "latest", "-t", tmp_path / "dst")
    assert_same_tree(src, str(tmp_path / "dst"))


def test_tls_endpoint_with_ca_bundle_and_insecure_switch(binary, tmp_path):
    """A real HTTPS S3 server (testbed miniotls): verified with ca-bundle=,
    refused without it, accepted with the explicit insecure switch."""
    import uuid
    from conftest import Stowage, base_env
    env = base_env()
    endpoint = env.get("STOWAGE_TEST_S3TLS_ENDPOINT")
    if not endpoint:
        pytest.fail("the TLS MinIO is not running: run testbed/up miniotls")
    env["AWS_ACCESS_KEY_ID"] = env["STOWAGE_TEST_S3TLS_ACCESS_KEY"]
    env["AWS_SECRET_ACCESS_KEY"] = env["STOWAGE_TEST_S3TLS_SECRET_KEY"]
    base = f"s3://{env['STOWAGE_TEST_S3TLS_BUCKET']}/tls-{uuid.uuid4().hex[:10]}?endpoint={endpoint}&region=us-east-1"
    verified = Stowage(binary, base + f"&ca-bundle={env['STOWAGE_TEST_S3TLS_CA']}", env)
    verified.run("repo", "init", "--kdf-memory-mib", "1")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f").write_bytes(os.urandom(100000))
    verified.run("snapshot", "create", tmp_path / "d")
    refused = Stowage(binary, base, env).run("snapshot", "list", check=False)
    assert refused.returncode != 0
    assert b"certificate" in refused.stderr.lower()
    insecure = Stowage(binary, base + "&insecure=true", env)
    insecure.run("snapshot", "restore", "latest", "-t", tmp_path / "out")
    assert (tmp_path / "out" / "f").read_bytes() == (tmp_path / "d" / "f").read_bytes()


def test_libcurl_is_loaded_only_by_commands_that_speak_http(fs_repo, s3_repo, tmp_path):
    """libcurl and the libraries it pulls in are opened on first use
    (src/util/curl.h): a backup to a directory never loads them, one to S3
    does. libarchive likewise (src/archive/libarchive.h): neither volume
    backup loads it; the cluster backups of test_kube_backup.py do. The
    dynamic loader's own trace (LD_DEBUG=files) says which files each
    process opened."""
    from conftest import Stowage
    src = make_tree(str(tmp_path / "src"), files=50)

    def libraries(repo, *args):
        traced = Stowage(repo.binary, repo.repo, dict(repo.env, LD_DEBUG="files"))
        return [line for line in traced.run(*args).stderr.decode(errors="replace").splitlines()
                if "file=" in line]

    local = libraries(fs_repo, "snapshot", "create", src)
    assert any("file=libzstd" in line for line in local), local  # the trace works
    assert not any("file=libcurl" in line for line in local), local
    remote = libraries(s3_repo, "snapshot", "create", src)
    assert any("file=libcurl.so.4" in line and "dynamically loaded" in line for line in remote), remote
    for trace in (local, remote):
        assert not any("file=libarchive" in line or "file=libxml2" in line for line in trace), trace
