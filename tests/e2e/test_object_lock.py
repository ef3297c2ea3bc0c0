"""S3 Object Lock on the real MinIO: a repository with a lock policy on a
bucket with Object Lock, repeated backups, forget and prune that record
locked objects instead of failing, one version per key (no overwrite, no
delete marker), MinIO refusing to delete a locked version, and a restricted
backup identity (put/get/list only) whose backups succeed while its deletes
and overwrites are refused."""
import hashlib
import json
import os
import pathlib
import subprocess
import time
import uuid
import xml.etree.ElementTree as ET

import pytest

from conftest import ROOT, Stowage, base_env
from treeutil import assert_same_tree, make_tree

NS = {"s3": "http://s3.amazonaws.com/doc/2006-03-01/"}
PERIOD, MARGIN = 20, 10  # seconds: short enough to watch the retention end


def s3(env, method, path, key=None, secret=None, headers=(), data=None):
    """One SigV4-signed request with curl; returns (status, body)."""
    key = key or env["AWS_ACCESS_KEY_ID"]
    secret = secret or env["AWS_SECRET_ACCESS_KEY"]
    cmd = ["curl", "-sS", "-X", method, "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD",
           "--aws-sigv4", f"aws:amz:{env.get('AWS_REGION', 'us-east-1')}:s3", "--user", f"{key}:{secret}",
           "-w", "\n%{http_code}"]
    for h in headers:
        cmd += ["-H", h]
    if data is not None:
        cmd += ["--data-binary", "@-"]
    cmd.append(f"{env['STOWAGE_TEST_S3_ENDPOINT']}/{path}")
    r = subprocess.run(cmd, input=data, capture_output=True, check=True)
    body, _, code = r.stdout.rpartition(b"\n")
    return int(code), body.decode(errors="replace")


def make_lock_bucket(env):
    bucket = f"stowage-lock-{uuid.uuid4().hex[:10]}"
    code, body = s3(env, "PUT", bucket, headers=["x-amz-bucket-object-lock-enabled: true"])
    assert code == 200, body
    return bucket


def versions(env, bucket, key=None, secret=None):
    """{key: [(version id, is delete marker)]} of every version in the bucket."""
    code, body = s3(env, "GET", f"{bucket}?max-keys=1000&versions=", key, secret)
    assert code == 200, body
    root = ET.fromstring(body)
    assert root.findtext("s3:IsTruncated", namespaces=NS) == "false"
    out = {}
    for kind in ("Version", "DeleteMarker"):
        for v in root.findall(f"s3:{kind}", NS):
            out.setdefault(v.findtext("s3:Key", namespaces=NS), []).append(
                (v.findtext("s3:VersionId", namespaces=NS), kind == "DeleteMarker"))
    return out


def url(env, bucket, prefix="repo"):
    return (f"s3://{bucket}/{prefix}?endpoint={env['STOWAGE_TEST_S3_ENDPOINT']}"
            f"&region={env.get('AWS_REGION', 'us-east-1')}&path-style=true")


@pytest.fixture
def env():
    e = base_env()
    if not e.get("STOWAGE_TEST_S3_ENDPOINT"):
        pytest.fail("MinIO is not running: run testbed/up minio first")
    return e


def test_locked_repository_forget_prune_and_one_version_per_key(binary, env, tmp_path):
    bucket = make_lock_bucket(env)
    repo = Stowage(binary, url(env, bucket), env)
    # A bucket without Object Lock is refused for a locked repository.
    plain = Stowage(binary, url(env, env["STOWAGE_TEST_S3_BUCKET"], f"lock-{uuid.uuid4().hex[:8]}"), env)
    refused = plain.run("repo", "init", "--kdf-memory-mib", "1", "--object-lock", "COMPLIANCE", "--lock-period", "20s",
                        check=False)
    assert refused.returncode != 0 and b"has no Object Lock enabled" in refused.stderr, refused.stderr

    init = json.loads(repo.run("-o", "json", "repo", "init", "--kdf-memory-mib", "1", "--object-lock", "COMPLIANCE",
                               "--lock-period", f"{PERIOD}s", "--lock-margin", f"{MARGIN}s").stdout)
    assert init["object_lock"] == {"mode": "COMPLIANCE", "period_seconds": PERIOD, "margin_seconds": MARGIN}

    src = make_tree(str(tmp_path / "src"), files=300, big_files=1)
    snaps = []
    for i in range(3):
        (tmp_path / "src" / f"changing-{i}.txt").write_text(f"backup {i} " * 5000)
        snaps.append(json.loads(repo.run("-o", "json", "snapshot", "create", src).stdout))
        time.sleep(MARGIN / 2 + 0.5)  # so that later backups refresh the retention

    # Every object is locked (COMPLIANCE) by stowage itself.
    code, body = s3(env, "GET", f"{bucket}/repo/config?retention=")
    assert code == 200 and "COMPLIANCE" in body, body

    forgot = json.loads(repo.run("-o", "json", "snapshot", "forget", "--keep-last", "1").stdout)
    assert len(forgot["removed"]) == 2
    assert sorted(forgot["locked"]) == sorted(forgot["removed"])  # still locked: recorded, not failed
    assert any(k.startswith("repo/tombstones/") for k in versions(env, bucket))
    records_deleted = 0
    listed = json.loads(repo.run("-o", "json", "snapshot", "list").stdout)
    assert [s["id"] for s in listed] == [snaps[-1]["id"]]
    pruned = json.loads(repo.run("-o", "json", "repo", "prune", "--unindexed-grace", "0").stdout)
    assert pruned["packs_deleted"] > 0 and pruned["objects_locked"] > 0, pruned
    table = repo.run("repo", "prune", "--unindexed-grace", "0").stdout.decode()
    assert "still locked" in table, table
    stats = json.loads(repo.run("-o", "json", "repo", "stats").stdout)
    assert stats["pending_deletion_objects"] > 0 and stats["object_lock"]["mode"] == "COMPLIANCE"
    assert repo.run("repo", "check", "--read-data").returncode == 0

    # Exactly one version of every key: nothing was overwritten, no delete marker.
    all_versions = versions(env, bucket)
    for key, vs in all_versions.items():
        assert len(vs) == 1 and not vs[0][1], (key, vs)
    # MinIO itself refuses to delete a locked version, even for the root identity.
    pack = next(k for k in all_versions if k.startswith("repo/data/"))
    code, body = s3(env, "DELETE", f"{bucket}/{pack}?versionId={all_versions[pack][0][0]}")
    assert code in (400, 403) and "WORM" in body, (code, body)  # MinIO: 400 InvalidRequest (COMPLIANCE)

    # Once the retention has ended, prune deletes what earlier runs recorded.
    code, body = s3(env, "GET", f"{bucket}/repo/snapshots/{forgot['locked'][0]}?retention=")
    until = ET.fromstring(body).findtext("s3:RetainUntilDate", namespaces=NS) or ET.fromstring(body).findtext(
        "RetainUntilDate")
    deadline = time.time() + PERIOD + 3 * MARGIN + 30
    while True:
        pruned = json.loads(repo.run("-o", "json", "repo", "prune", "--unindexed-grace", "0").stdout)
        records_deleted += pruned["records_deleted"]
        stats = json.loads(repo.run("-o", "json", "repo", "stats").stdout)
        if stats["pending_deletion_objects"] == 0:
            break
        assert time.time() < deadline, (until, pruned, stats)
        time.sleep(5)
    # The bookkeeping goes too once its own retention ends: tombstones whose
    # keys are all gone, and every retention record but the latest.
    deadline = time.time() + PERIOD + 3 * MARGIN + 30
    while True:
        pruned = json.loads(repo.run("-o", "json", "repo", "prune", "--unindexed-grace", "0").stdout)
        records_deleted += pruned["records_deleted"]
        keys = versions(env, bucket)
        tombstones = [k for k in keys if k.startswith("repo/tombstones/")]
        records = [k for k in keys if k.startswith("repo/retention/")]
        if not tombstones and len(records) <= 1:
            break
        assert time.time() < deadline, (pruned, tombstones, records)
        time.sleep(5)
    assert records_deleted >= 1
    after = versions(env, bucket)
    for snap in forgot["removed"]:
        assert f"repo/snapshots/{snap}" not in after  # the version is gone, and no delete marker
    for key, vs in after.items():
        assert len(vs) == 1 and not vs[0][1], (key, vs)
    assert repo.run("repo", "check", "--read-data").returncode == 0
    repo.run("snapshot", "restore", snaps[-1]["id"], "-t", tmp_path / "dst")
    assert_same_tree(src, str(tmp_path / "dst"))


def minio_admin_tool(tmp_path):
    """Builds tests/e2e/minio_admin (madmin-go, MinIO's admin API client) once."""
    source = ROOT / "tests" / "e2e" / "minio_admin"
    digest = hashlib.sha256(b"".join((source / n).read_bytes() for n in ("main.go", "go.mod", "go.sum"))).hexdigest()[:12]
    cache = pathlib.Path.home() / ".cache" / "stowage" / "bin"
    tool = cache / f"minio-admin-{digest}"
    if not tool.exists():
        cache.mkdir(parents=True, exist_ok=True)
        r = subprocess.run(["go", "build", "-o", str(tool), "."], cwd=source, capture_output=True, text=True,
                           timeout=900)
        if r.returncode != 0:
            pytest.fail(f"building the MinIO admin tool failed: {r.stderr[-2000:]}")
    return str(tool)


def backup_policy(bucket):
    """The backup identity: write, read and list; retention may only be
    extended (COMPLIANCE cannot be shortened); deletes only of lock objects."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow",
             "Action": ["s3:ListBucket", "s3:GetBucketObjectLockConfiguration", "s3:GetBucketVersioning",
                        "s3:GetBucketLocation"],
             "Resource": [f"arn:aws:s3:::{bucket}"]},
            {"Effect": "Allow",
             "Action": ["s3:PutObject", "s3:GetObject", "s3:PutObjectRetention", "s3:GetObjectRetention"],
             "Resource": [f"arn:aws:s3:::{bucket}/*"]},
            {"Effect": "Allow",
             "Action": ["s3:DeleteObject", "s3:DeleteObjectVersion"],
             "Resource": [f"arn:aws:s3:::{bucket}/repo/locks/*"]},
        ],
    }


def test_restricted_backup_identity_backs_up_but_cannot_delete_or_overwrite(binary, env, tmp_path):
    bucket = make_lock_bucket(env)
    admin = Stowage(binary, url(env, bucket), env)
    admin.run("repo", "init", "--kdf-memory-mib", "1", "--object-lock", "GOVERNANCE", "--lock-period", "60s",
              "--lock-margin", "30s")

    user, secret = f"backup-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps(backup_policy(bucket)))
    host = env["STOWAGE_TEST_S3_ENDPOINT"].split("://", 1)[1]
    r = subprocess.run([minio_admin_tool(tmp_path), host, f"stowage-backup-{bucket}", str(policy), user, secret],
                       env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr

    limited_env = dict(env, AWS_ACCESS_KEY_ID=user, AWS_SECRET_ACCESS_KEY=secret)
    limited = Stowage(binary, url(env, bucket), limited_env)
    src = make_tree(str(tmp_path / "src"), files=200, big_files=1)
    first = json.loads(limited.run("-o", "json", "snapshot", "create", src).stdout)
    (tmp_path / "src" / "new.txt").write_text("second backup " * 1000)
    second = json.loads(limited.run("-o", "json", "snapshot", "create", src).stdout)
    assert second["parent"] == first["id"]
    limited.run("snapshot", "restore", second["id"], "-t", tmp_path / "dst")
    assert_same_tree(src, str(tmp_path / "dst"))

    keys = versions(env, bucket)
    snapshot_key = f"repo/snapshots/{first['id']}"
    version = keys[snapshot_key][0][0]
    path = f"{bucket}/{snapshot_key}"
    # Deleting is refused by the server: the key (no DeleteObject outside locks/) and the version.
    code, body = s3(env, "DELETE", path, user, secret)
    assert code == 403, (code, body)
    code, body = s3(env, "DELETE", f"{path}?versionId={version}", user, secret)
    assert code == 403, (code, body)
    # stowage's own forget cannot delete it either: the object is locked (and
    # the identity may not delete), so it is only recorded for a later prune.
    forget = limited.run("snapshot", "forget", first["id"])
    assert b"still locked" in forget.stdout, forget.stdout
    assert versions(env, bucket)[snapshot_key] == [(version, False)]
    # An overwrite the way stowage writes (create-only) is refused.
    code, body = s3(env, "PUT", path, user, secret, headers=["If-None-Match: *"], data=b"garbage")
    assert code == 412, (code, body)
    # A raw PUT adds a version on a versioned bucket; the original version stays, locked and readable.
    code, body = s3(env, "PUT", path, user, secret, data=b"garbage")
    assert code == 200, (code, body)
    code, body = s3(env, "GET", f"{path}?versionId={version}", user, secret)
    assert code == 200 and body != "garbage"
    code, body = s3(env, "DELETE", f"{path}?versionId={version}", user, secret)
    assert code == 403, (code, body)
    # Even the root identity cannot delete it before its retention (GOVERNANCE without bypass).
    code, body = s3(env, "DELETE", f"{path}?versionId={version}")
    assert code in (400, 403) and "WORM" in body, (code, body)  # MinIO: 400 InvalidRequest (COMPLIANCE)
    # No lock object was left behind by the restricted identity.
    assert not [k for k in versions(env, bucket) if k.startswith("repo/locks/") and versions(env, bucket)[k]
                and not versions(env, bucket)[k][-1][1]]


def test_copy_target_created_with_copy_keys_from_keeps_its_own_object_lock(binary, env, tmp_path):
    """repo init --copy-keys-from with --object-lock makes a locked copy
    target (the lock is the target bucket's, not inherited): its config and
    the packs a copy writes are locked."""
    source = Stowage(binary, f"file://{tmp_path}/source", env)
    source.run("repo", "init", "--kdf-memory-mib", "1")
    src = make_tree(str(tmp_path / "src"), files=50)
    snap = json.loads(source.run("-o", "json", "snapshot", "create", src).stdout)
    bucket = make_lock_bucket(env)
    both = dict(env, STOWAGE_FROM_PASSWORD=env["STOWAGE_PASSWORD"], STOWAGE_TO_PASSWORD=env["STOWAGE_PASSWORD"])
    target = Stowage(binary, url(env, bucket), both)
    init = json.loads(target.run("-o", "json", "repo", "init", "--kdf-memory-mib", "1", "--copy-keys-from", source.repo,
                                 "--object-lock", "GOVERNANCE", "--lock-period", "60s").stdout)
    assert init["object_lock"]["mode"] == "GOVERNANCE", init
    Stowage(binary, source.repo, both).run("snapshot", "copy", snap["id"], "--to", target.repo)
    code, body = s3(env, "GET", f"{bucket}/repo/config?retention=")
    assert code == 200 and "GOVERNANCE" in body, body
    packs = [k for k in versions(env, bucket) if k.startswith("repo/data/")]
    assert packs
    code, body = s3(env, "GET", f"{bucket}/{packs[0]}?retention=")
    assert code == 200 and "GOVERNANCE" in body, body
    target.run("snapshot", "restore", "latest", "-t", tmp_path / "dst")
    assert_same_tree(src, str(tmp_path / "dst"))
