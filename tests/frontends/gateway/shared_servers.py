"""The servers gateway replicas share, for the tests: a real ``redis-server`` and an S3-compatible object
store (moto's standalone server), both on 127.0.0.1 and both stopped in every case.

:func:`redis_server` starts ``redis-server`` with no persistence on a free port and yields a
:class:`RedisServer` (its URL, a client, and :meth:`RedisServer.stop` for tests that take it away). When
the binary is missing the test is skipped, or fails when the ``CI`` environment variable is set (CI
installs it: a skip there would hide the replica tests). :func:`s3_server` runs moto's S3 server in this
process and yields its endpoint; :func:`create_bucket` makes a bucket there; :func:`aws_env` is the
environment a gateway process needs to sign its requests with dummy credentials (and nothing else: no
profile, no instance metadata).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.frontends.gateway.serving import free_port

__all__ = [
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_UNSET",
    "RedisServer",
    "aws_env",
    "create_bucket",
    "redis_server",
    "redis_server_binary",
    "s3_client",
    "s3_server",
]

AWS_ACCESS_KEY_ID = "AKIAIMAGESHIMREPLICA"
AWS_SECRET_ACCESS_KEY = "replica-test-secret-not-a-real-one-1234"
#: AWS settings of the test process that must not reach the gateway processes (a developer's profile)
AWS_UNSET = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_REGION")
_MISSING = "redis-server is not installed (Debian package redis-server; .ci/run installs it)"


def redis_server_binary() -> str:
    """The ``redis-server`` executable; skips the test without it, or fails it when ``CI`` is set."""
    found = shutil.which("redis-server")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(_MISSING)
        pytest.skip(_MISSING)
    return found


@dataclass
class RedisServer:
    process: subprocess.Popen[bytes]
    port: int
    directory: Path

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def log_path(self) -> Path:
        return self.directory / f"redis-{self.port}.log"

    def client(self) -> Any:
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5, socket_connect_timeout=5)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        """Terminate the server (the gateways lose their shared state); waits for it to exit."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)

    def restart(self, *, start_timeout: float = 10.0) -> None:
        """A new, empty server on the same port (what a Redis without persistence comes back as)."""
        self.stop()
        self.process = _spawn(self.port, self.directory)
        if not _started(self.process, self.port, start_timeout):
            raise AssertionError(f"redis-server did not start again:\n{self.log()}")


def _answers(port: int) -> bool:
    import redis

    client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=1, socket_connect_timeout=1)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def _spawn(port: int, directory: Path) -> subprocess.Popen[bytes]:
    with (directory / f"redis-{port}.log").open("ab") as log:
        return subprocess.Popen(
            [
                redis_server_binary(),
                *("--save", "", "--appendonly", "no"),
                *("--port", str(port), "--bind", "127.0.0.1"),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=directory,
        )


def _started(process: subprocess.Popen[bytes], port: int, timeout: float) -> bool:
    """Whether the server answers PING within ``timeout`` (False: it exited, e.g. the port was taken)."""
    deadline = time.monotonic() + timeout
    while process.poll() is None:
        if _answers(port):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return False


@contextlib.contextmanager
def redis_server(directory: Path, *, start_timeout: float = 10.0) -> Iterator[RedisServer]:
    """A ``redis-server`` on a free 127.0.0.1 port, without persistence, killed when the block ends."""
    redis_server_binary()
    pytest.importorskip("redis", reason="the shared state needs redis-py (pip install 'imageshim[redis]')")
    server: RedisServer | None = None
    try:
        for _ in range(3):  # a free port can be taken between the probe and the bind: try another
            port = free_port()
            server = RedisServer(_spawn(port, directory), port, directory)
            if _started(server.process, port, start_timeout):
                break
            server.stop()
        else:
            raise AssertionError(f"redis-server did not start:\n{server.log() if server else ''}")
        yield server
    finally:
        if server is not None:
            if server.process.poll() is None:
                server.process.kill()
            server.process.wait(timeout=10)


@contextlib.contextmanager
def s3_server() -> Iterator[str]:
    """moto's S3-compatible server on 127.0.0.1 (a free port), in this process; yields its endpoint."""
    pytest.importorskip("boto3", reason="the S3 store needs boto3 (pip install 'imageshim[s3]')")
    pytest.importorskip("moto.server", reason="the S3 store is tested against moto's server (moto[server])")
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def s3_client(endpoint: str) -> Any:
    """A boto3 client of the tests' own (explicit dummy credentials), to make and inspect buckets."""
    import boto3

    session = boto3.session.Session(
        aws_access_key_id=AWS_ACCESS_KEY_ID,
        aws_secret_access_key=AWS_SECRET_ACCESS_KEY,
        region_name="us-east-1",
    )
    return session.client("s3", endpoint_url=endpoint)


def create_bucket(endpoint: str, name: str) -> None:
    client = s3_client(endpoint)
    try:
        client.create_bucket(Bucket=name)
    finally:
        client.close()


def aws_env(directory: Path) -> dict[str, str]:
    """What a gateway process needs to reach the test's object store: dummy credentials and a region;
    no config or credentials file and no instance metadata, so nothing outside the test is asked."""
    return {
        "AWS_ACCESS_KEY_ID": AWS_ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": AWS_SECRET_ACCESS_KEY,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(directory / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(directory / "no-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
