"""Shared fixtures for the end-to-end tests: the stowage binary, the testbed's
environment (testbed/run/env, written by testbed/up), and repositories on a
directory and on the real MinIO."""
import os
import pathlib
import shlex
import subprocess
import uuid

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def testbed_env():
    env = {}
    path = ROOT / "testbed" / "run" / "env"
    if path.exists():
        for line in path.read_text().splitlines():
            line = line.strip()
            if line.startswith("export "):
                key, _, value = line[len("export "):].partition("=")
                env[key] = shlex.split(value)[0] if value else ""
    return env


class Stowage:
    """Runs the stowage CLI against one repository."""

    def __init__(self, binary, repo, env):
        self.binary = binary
        self.repo = repo
        self.env = env

    def run(self, *args, check=True, input=None, password=None, timeout=900, **kwargs):
        env = dict(self.env)
        if password is not None:
            env["STOWAGE_PASSWORD"] = password
        cmd = [self.binary, "-q", "-r", self.repo, *map(str, args)]
        result = subprocess.run(cmd, env=env, input=input, capture_output=True, timeout=timeout, **kwargs)
        if check and result.returncode != 0:
            raise AssertionError(
                f"{' '.join(cmd)} exited {result.returncode}\nstdout: {result.stdout[-4000:]!r}\n"
                f"stderr: {result.stderr[-4000:]!r}")
        return result

    def popen(self, *args, **kwargs):
        return subprocess.Popen([self.binary, "-q", "-r", self.repo, *map(str, args)], env=self.env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)


@pytest.fixture(scope="session")
def binary():
    path = os.environ.get("STOWAGE_BIN") or str(ROOT / "build" / "release" / "stowage")
    if not os.access(path, os.X_OK):
        pytest.fail(f"stowage binary not found at {path}: build it (cmake --preset release && cmake --build build/release)")
    return path


def base_env():
    env = dict(os.environ)
    env.update(testbed_env())
    env["STOWAGE_PASSWORD"] = "e2e-password"
    env.pop("STOWAGE_REPOSITORY", None)
    return env


@pytest.fixture
def fs_repo(binary, tmp_path):
    s = Stowage(binary, f"file://{tmp_path}/repo", base_env())
    s.run("repo", "init", "--kdf-memory-mib", "1")
    return s


def s3_request(method, endpoint, key, secret, path, region="us-east-1"):
    """A signed request with curl (the same SigV4 signing stowage uses)."""
    r = subprocess.run(["curl", "-sS", "-X", method, "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD",
                        "--aws-sigv4", f"aws:amz:{region}:s3", "--user", f"{key}:{secret}",
                        "-w", "\n%{http_code}", f"{endpoint}/{path}"], capture_output=True, text=True, check=True)
    body, _, code = r.stdout.rpartition("\n")
    return int(code), body


def minio_url(env, prefix):
    endpoint = env.get("STOWAGE_TEST_S3_ENDPOINT")
    bucket = env.get("STOWAGE_TEST_S3_BUCKET")
    if not endpoint or not bucket:
        pytest.fail("MinIO is not running: run testbed/up minio first (testbed/run/env has no STOWAGE_TEST_S3_ENDPOINT)")
    region = env.get("AWS_REGION", "us-east-1")
    return f"s3://{bucket}/{prefix}?endpoint={endpoint}&region={region}&path-style=true"


@pytest.fixture
def s3_repo(binary):
    env = base_env()
    s = Stowage(binary, minio_url(env, f"e2e-{uuid.uuid4().hex[:12]}"), env)
    s.run("repo", "init", "--kdf-memory-mib", "1")
    return s


@pytest.fixture(params=["fs", "minio"])
def any_repo(request, binary, tmp_path):
    if request.param == "fs":
        return request.getfixturevalue("fs_repo")
    return request.getfixturevalue("s3_repo")
