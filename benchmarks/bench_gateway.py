"""The gateway under load and with large images: a real `imageshim serve` process routing gpt-image-2 to a
loopback OpenAI-shaped provider process (this file run with ``--provider``: raw asyncio HTTP/1.1 with
keep-alive, answering ``POST /v1/images/generations`` with ``n`` PNGs as ``b64_json``).

1. Added latency and throughput: 100 concurrent keep-alive clients (raw asyncio sockets, the same code in
   both arms, in this process) against a provider that answers after 100 ms: straight to the provider
   (the baseline) vs through the gateway. Requests/s, p50 and p99 of each, the added p50/p99 (gateway
   minus direct), and the gateway's CPU per request; the arms alternate round by round. Then the same at
   10 clients: the gateway's own added time with little queueing. Every request body is unique (a
   gateway may answer a repeated body as a retry of the first); the clients share one gateway key, with
   the gateway's per-key cap on requests in flight turned off where it has one.
2. Memory per in-flight large request: K concurrent requests of n images of 8 MiB each (a PNG signature
   and IHDR, then bytes that do not compress), ``response_format`` b64_json and url (hosted), each format
   against a fresh gateway process (full mode: also one request alone), each request with its own
   gateway key (per-key caps and store budgets apply to one request each). The gateway's resident size
   (Linux /proc: VmRSS, and VmHWM reset before the burst) before, at peak, after the burst and after idle
   waits; the peak increase per in-flight request against its payload (the image bytes it carries).
3. Replicas: two ``imageshim serve`` processes sharing a real ``redis-server`` (``[gateway] state``) and
   moto's S3-compatible server (``store = "s3"``), the clients split round-robin between them, against one
   with the embedded stores (the memory store, no state), and straight to the provider (the baseline for
   the added time), with the same load generator, ``response_format`` url (every image is stored: S3 vs
   memory) and unique prompts, the three arms alternating round by round: at 100 clients (quick: 50) and
   at 10 (the time the shared stores add to a request, with little queueing). Skipped, with the reason
   printed, without ``redis-server`` on the PATH or without moto's server (``moto[server]``), boto3 or
   redis-py in this environment.

Targets (from the issue; printed beside the measures, not asserted): added p99 <= 25 ms at 100 clients;
peak memory per in-flight request <= 2x its payload; back to near the idle size after a burst.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import functools
import hashlib
import importlib.util
import itertools
import json
import logging
import os
import random
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from _common import table

# Gateway keys: the latency clients share the first (the gateway's per-key cap on requests in flight is
# turned off where it has one); the memory burst gives each request its own (per-key store budgets).
GATEWAY_KEYS = [f"gw-bench-key-{i:02d}-0000000000" for i in range(16)]
PATH = "/v1/images/generations"
_unique = itertools.count()
LATENCY = 0.1
CLIENTS = 100
IMAGE_BYTES = 8 << 20
SMALL_BYTES = 2 << 10
REQUEST_TIMEOUT = 120.0  # seconds any one request may take (a big burst through a busy gateway included)
START_TIMEOUT = 30.0


# ----- the fake provider (a child process) ------------------------------------------------------------------
def png(size: int, seed: int) -> bytes:
    """A PNG of ``size`` bytes: a real signature and IHDR (4096x4096 RGB), then an IDAT of bytes that do
    not compress (seeded: the benchmark checks the bytes it gets back against the provider's digest)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    head = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 4096, 4096, 8, 2, 0, 0, 0))
    filler = random.Random(seed).randbytes(size - len(head) - 24)
    return head + chunk(b"IDAT", filler) + chunk(b"IEND", b"")


def reply_body(image: bytes, n: int) -> bytes:
    """The gpt-image-2 reply shape with ``n`` copies of ``image`` as base64."""
    item = b'{"b64_json": "' + base64.b64encode(image) + b'"}'
    usage = {
        "input_tokens": 10,
        "input_tokens_details": {"text_tokens": 10, "image_tokens": 0},
        "output_tokens": 1056 * n,
        "total_tokens": 10 + 1056 * n,
    }
    tail = {"size": "1024x1024", "quality": "medium", "output_format": "png", "background": "opaque"}
    return (
        b'{"created": 1764000000, "data": ['
        + b", ".join([item] * n)
        + b'], "usage": '
        + json.dumps(usage).encode()
        + b", "
        + json.dumps(tail).encode()[1:]
    )


async def provider(latency: float, image_bytes: int) -> None:
    """Answers every POST to /v1/images/generations after ``latency`` seconds with ``n`` images (the big
    one, or a small one when the prompt starts with ``small``). Prints its port, then the big image's
    length and sha256, and serves until stdin closes."""
    images = {False: png(image_bytes, 1), True: png(SMALL_BYTES, 2)}
    bodies: dict[tuple[bool, int], bytes] = {}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.split(b"\r\n")
                length = 0
                for line in lines[1:]:
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                request = json.loads(await reader.readexactly(length)) if length else {}
                if not lines[0].startswith(b"POST /v1/images/generations "):
                    status, payload = b"404 Not Found", b'{"error": {"message": "not here"}}'
                else:
                    key = (str(request.get("prompt", "")).startswith("small"), int(request.get("n") or 1))
                    if key not in bodies:
                        bodies[key] = reply_body(images[key[0]], key[1])
                    status, payload = b"200 OK", bodies[key]
                await asyncio.sleep(latency)
                writer.write(
                    b"HTTP/1.1 " + status + b"\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\nx-request-id: req_bench\r\n\r\n" % len(payload)
                )
                view = memoryview(payload)
                for start in range(0, len(view), 1 << 20):  # a slice at a time: no copy per connection
                    writer.write(view[start : start + (1 << 20)])
                    await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024)
    digest = hashlib.sha256(images[False]).hexdigest()
    print(server.sockets[0].getsockname()[1], len(images[False]), digest, flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until the parent closes it
    server.close()


@dataclass
class Provider:
    url: str  # http://127.0.0.1:PORT/v1
    port: int
    image_bytes: int
    digest: str


@contextlib.contextmanager
def child_process(
    what: str, args: list[str], env: Mapping[str, str] | None = None
) -> Iterator[tuple[int, str]]:
    """This file run with ``args`` in a child process (``what`` it is, for errors): yields its pid and the
    first line it prints; the child serves until its stdin closes."""
    proc = subprocess.Popen(
        [sys.executable, __file__, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert proc.stdout is not None
        yield proc.pid, _readline(proc.stdout.fileno(), START_TIMEOUT, what)
    finally:
        with contextlib.suppress(OSError):
            assert proc.stdin is not None
            proc.stdin.close()
        _stop(proc)


@contextlib.contextmanager
def provider_process(latency: float, image_bytes: int) -> Iterator[Provider]:
    with child_process("the provider process", ["--provider", str(latency), str(image_bytes)]) as (_, line):
        port, size, digest = line.split()
        yield Provider(f"http://127.0.0.1:{port}/v1", int(port), int(size), digest)


def _readline(fd: int, timeout: float, what: str) -> str:
    """A line from a child's stdout, within ``timeout`` seconds."""
    import selectors

    data = b""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while b"\n" not in data:
            left = deadline - time.monotonic()
            if left <= 0 or not selector.select(left):
                raise RuntimeError(f"{what} did not start")
            chunk = os.read(fd, 4096)
            if not chunk:
                raise RuntimeError(f"{what} exited")
            data += chunk
    return data.decode()


def _stop(proc: subprocess.Popen[bytes] | subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


# ----- the gateway (a child process) -------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Gateway:
    pid: int
    port: int
    log: Path


@functools.cache
def serve_flags() -> str:
    """``imageshim serve --help``: which flags this version has (they are being added)."""
    command = [sys.executable, "-m", "imageshim", "serve", "--help"]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False).stdout


@contextlib.contextmanager
def gateway_process(tmp: str, provider_url: str, name: str, keys: list[str]) -> Iterator[Gateway]:
    """``imageshim serve`` on a free port, routing gpt-image-2 to ``openai:gpt-image-2`` at the provider,
    accepting ``keys`` (each registered key is a secret the gateway redacts from what it logs)."""
    with gateway_processes(tmp, provider_url, keys, {name: {}}) as (gateway,):
        yield gateway


@contextlib.contextmanager
def gateway_processes(
    tmp: str,
    provider_url: str,
    keys: list[str],
    tables: Mapping[str, Mapping[str, str | float]],
    env: Mapping[str, str] | None = None,
) -> Iterator[list[Gateway]]:
    """``imageshim serve`` processes started together, one per entry of ``tables`` (its name: its
    ``[gateway]`` table), each on a free port, as :func:`gateway_process`; ``env``: their environment
    (default this process's); all stopped together at the end."""
    started: list[tuple[subprocess.Popen[bytes], int, Path]] = []
    try:
        for name, table in tables.items():
            config = Path(tmp, f"{name}.toml")
            gateway = "".join(f"{key} = {json.dumps(value)}\n" for key, value in table.items())
            config.write_text(
                f'[routes]\n"gpt-image-2" = ["openai:gpt-image-2"]\n\n'
                f"[providers.openai]\nbase_url = {json.dumps(provider_url)}\n"
                + (f"\n[gateway]\n{gateway}" if gateway else "")
            )
            port, log = _free_port(), Path(tmp, f"{name}.log")
            variables = {
                **(os.environ if env is None else env),
                "OPENAI_API_KEY": "sk-bench-dummy-0000",
                "IMAGESHIM_GATEWAY_KEYS": ",".join(keys),
            }
            command = [sys.executable, "-m", "imageshim", "serve", "--host", "127.0.0.1", "--port", str(port)]
            command += ["--config", str(config)]
            if "--max-concurrency-per-key" in serve_flags():
                command += ["--max-concurrency-per-key", "0"]  # no cap: all the latency clients use one key
            with log.open("wb") as sink:
                proc = subprocess.Popen(
                    command, env=variables, stdin=subprocess.DEVNULL, stdout=sink, stderr=sink
                )
            started.append((proc, port, log))
        deadline = time.monotonic() + START_TIMEOUT
        for proc, port, log in started:
            while True:
                if proc.poll() is not None or time.monotonic() > deadline:
                    tail = log.read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"`imageshim serve` did not start:\n{tail}")
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
                time.sleep(0.05)
        yield [Gateway(proc.pid, port, log) for proc, port, log in started]
    finally:
        for proc, _, _ in started:  # all told to stop first: their drains overlap
            if proc.poll() is None:
                proc.terminate()
        for proc, _, _ in started:
            _stop(proc)


def memory(pid: int) -> tuple[int, int]:
    """(resident, peak resident) bytes of a process (VmRSS, VmHWM)."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line
    )
    return int(fields["VmRSS"].split()[0]) << 10, int(fields["VmHWM"].split()[0]) << 10


def reset_peak(pid: int) -> None:
    """Start the process's peak-RSS count afresh (Linux: ``5`` to ``clear_refs`` resets VmHWM)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ----- the load generator: one raw HTTP/1.1 keep-alive connection per client -------------------------------
class Connection:
    """A keep-alive HTTP/1.1 client connection: the same code for the provider and the gateway."""

    def __init__(self, port: int, key: str = GATEWAY_KEYS[0]) -> None:
        self.port = port
        self.key = key
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        await self.close()
        self.reader, self.writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", self.port), 10)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.writer.wait_closed(), 5)
        self.reader = self.writer = None

    async def post(self, path: str, body: bytes, *, keep: bool = False) -> tuple[int, int, bytes]:
        """(status, body length, the body when ``keep`` or not a 200 else b"")."""
        return await asyncio.wait_for(self._post(path, body, keep), REQUEST_TIMEOUT)

    async def _post(self, path: str, body: bytes, keep: bool) -> tuple[int, int, bytes]:
        if self.writer is None:
            await self.open()
        assert self.reader is not None
        assert self.writer is not None
        self.writer.write(
            b"POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAuthorization: Bearer %s\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
            % (path.encode(), self.port, self.key.encode(), len(body), body)
        )
        await self.writer.drain()
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        headers = dict(line.lower().split(b":", 1) for line in lines[1:] if b":" in line)
        if b"content-length" not in headers:
            raise RuntimeError(f"a reply without Content-Length: {head[:300]!r}")
        length = int(headers[b"content-length"])
        if keep or status != 200:
            data = await self.reader.readexactly(length)
        else:  # counted, not kept: the load generator holds no copy of a big reply
            data, left = b"", length
            while left:
                chunk = await self.reader.read(min(left, 1 << 20))
                if not chunk:
                    raise asyncio.IncompleteReadError(b"", left)
                left -= len(chunk)
        if headers.get(b"connection", b"").strip() == b"close":
            await self.close()
        return status, length, data


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


@dataclass
class Arm:
    ports: list[int]  # the clients split round-robin between these servers
    watch: dict[str, list[int]] = field(default_factory=dict)  # processes whose CPU is counted, by role
    fields: dict[str, object] = field(default_factory=dict)  # in every request body, besides the prompt
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0
    requests: int = 0
    errors: list[str] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds of the watched processes, by role
    loadgen_cpu: float = 0.0
    hosted: int = 0  # response_format url: images answered with a hosted URL
    inline: int = 0  # ... and inline, as data: URIs (the gateway's store refused them)

    def cpu_per_request(self, role: str) -> float:
        return self.cpu.get(role, 0.0) / max(1, self.requests)


def request_body(prompt: str, **fields: object) -> bytes:
    """A generation request whose prompt is unique in this run: a gateway may answer a repeated body from
    the same key as a retry of the first (one generation per intent), which is not what is measured."""
    body = {"model": "gpt-image-2", "prompt": f"{prompt} #{next(_unique)}", "size": "1024x1024", **fields}
    return json.dumps(body).encode()


def watched_cpu(arm: Arm) -> dict[str, float]:
    return {role: sum(cpu_seconds(pid) for pid in pids) for role, pids in arm.watch.items()}


async def round_of(arm: Arm, clients: int, calls: int) -> None:
    """``calls`` requests by ``clients`` clients on fresh keep-alive connections (opened and used once,
    untimed, first: connections left idle between rounds may have been closed by the server), client i to
    the arm's server i modulo their number. With ``response_format`` url in the arm's fields the replies
    are kept (small) and their images counted, hosted or inline, once timed."""
    conns = [Connection(arm.ports[i % len(arm.ports)]) for i in range(clients)]
    urls = arm.fields.get("response_format") == "url"
    try:
        await asyncio.gather(*(c.open() for c in conns))
        await asyncio.gather(*(c.post(PATH, request_body("a fox", **arm.fields)) for c in conns))
        left = calls

        async def client(conn: Connection) -> None:
            nonlocal left
            while left > 0:
                left -= 1
                started = time.perf_counter()
                try:
                    status, _, data = await conn.post(PATH, request_body("a fox", **arm.fields), keep=urls)
                except Exception as exc:
                    arm.errors.append(f"{type(exc).__name__}: {exc}")
                    await conn.close()
                    continue
                if status != 200:
                    arm.errors.append(f"HTTP {status}: {data[:200]!r}")
                    continue
                arm.latencies.append(time.perf_counter() - started)
                if urls:
                    inline = data.count(b'"data:')
                    arm.inline += inline
                    arm.hosted += data.count(b'"url"') - inline

        cpu = watched_cpu(arm)
        own = time.process_time()
        started = time.perf_counter()
        await asyncio.gather(*(client(c) for c in conns))
        arm.seconds += time.perf_counter() - started
        arm.loadgen_cpu += time.process_time() - own
        for role, seconds in watched_cpu(arm).items():
            arm.cpu[role] = arm.cpu.get(role, 0.0) + seconds - cpu[role]
        arm.requests += calls
    finally:
        await asyncio.gather(*(c.close() for c in conns))


async def alternate(arms: list[Arm], clients: int, calls: int, rounds: int) -> None:
    for _ in range(rounds):  # the arms alternate: a change in the machine's load falls on all of them
        for arm in arms:
            await round_of(arm, clients, calls)


def level_rows(clients: int, direct: Arm, through: Arm, target: str) -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = []
    ideal = clients / LATENCY
    for name, arm in (("direct", direct), ("gateway", through)):
        if not arm.latencies:
            raise RuntimeError(f"{name} @ {clients}: every request failed: {arm.errors[:3]}")
        rate = len(arm.latencies) / arm.seconds
        rows.append(
            (
                f"@{clients} {name}: throughput",
                f"{rate:.0f} req/s",
                f"{rate / ideal:.0%} of ideal ({ideal:.0f}), {len(arm.errors)} errors, "
                f"load generator {arm.loadgen_cpu / arm.requests * 1e6:.0f} us CPU/req",
            )
        )
        p50, p99 = percentile(arm.latencies, 0.5), percentile(arm.latencies, 0.99)
        rows.append((f"@{clients} {name}: p50 / p99", f"{p50 * 1000:.1f} / {p99 * 1000:.1f}", "ms"))
    direct_rate = len(direct.latencies) / direct.seconds
    rate = len(through.latencies) / through.seconds
    rows.append((f"@{clients} gateway / direct throughput", f"{rate / direct_rate:.2f}x", ""))
    for q in (0.5, 0.99):
        base, shim = percentile(direct.latencies, q), percentile(through.latencies, q)
        rows.append(
            (
                f"@{clients} added p{q * 100:.0f} (gateway - direct)",
                f"{(shim - base) * 1000:+.1f} ms",
                f"{shim / base:.2f}x direct" + (f"; {target}" if q == 0.99 and target else ""),
            )
        )
    rows.append(
        (
            f"@{clients} gateway CPU per request",
            f"{through.cpu_per_request('gateway') * 1000:.2f} ms",
            f"the gateway process used {through.cpu['gateway'] / through.seconds:.0%} of one core "
            f"({os.cpu_count()} cores here, shared by the 3 processes)",
        )
    )
    return rows


def latency_rows(quick: bool, tmp: str) -> tuple[str, list[tuple[str, str, str]], str]:
    # (clients, requests per round, rounds); 10 clients: the gateway's own added time, without queueing
    levels = [(CLIENTS, 400, 1), (10, 200, 1)] if quick else [(CLIENTS, 2000, 4), (10, 400, 3)]
    rows: list[tuple[str, str, str]] = []
    errors: list[str] = []
    with (
        provider_process(LATENCY, SMALL_BYTES) as prov,
        gateway_process(tmp, prov.url, "latency", GATEWAY_KEYS[:1]) as gw,
    ):
        for clients, calls, rounds in levels:
            direct, through = Arm([prov.port]), Arm([gw.port], {"gateway": [gw.pid]})
            asyncio.run(alternate([direct, through], clients, calls, rounds))
            target = "target: added p99 <= 25 ms at 100 clients" if clients == CLIENTS else ""
            rows += level_rows(clients, direct, through, target)
            errors += direct.errors + through.errors
    kinds = sorted(set(errors))[:3]
    note = "errors (first kinds): " + "; ".join(kinds) if kinds else ""
    plan = ", ".join(f"{r} x {c} requests per arm @{n} clients" for n, c, r in levels)
    title = (
        f"gateway latency: concurrent keep-alive clients (@N), provider answers in "
        f"{LATENCY * 1000:.0f} ms; {plan} (the arms alternate)"
    )
    return title, rows, note


# ----- replicas: two gateways sharing redis-server and an S3-compatible store -----------------------------
BUCKET = "imageshim-bench"
#: dummy credentials for moto's server (it checks none): the gateways sign their S3 requests with these
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "AKIAIMAGESHIMBENCH00",
    "AWS_SECRET_ACCESS_KEY": "bench-secret-not-a-real-one-0000000000",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}
#: AWS settings of this process that must not reach the children (a developer's profile or endpoint)
AWS_UNSET = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_REGION")


class Skipped(Exception):
    """The replicas section cannot run here (the message says why)."""


def aws_env(tmp: str) -> dict[str, str]:
    """This process's environment with dummy AWS credentials and no AWS config or credentials file."""
    env = {name: value for name, value in os.environ.items() if name not in AWS_UNSET}
    return {
        **env,
        **AWS_ENV,
        "AWS_CONFIG_FILE": str(Path(tmp, "no-aws-config")),
        "AWS_SHARED_CREDENTIALS_FILE": str(Path(tmp, "no-aws-credentials")),
    }


def s3_server() -> None:
    """moto's S3-compatible server on a free 127.0.0.1 port, with the bucket made (boto3, the dummy
    credentials of the environment). Prints its port (or ``missing`` and why), and serves until stdin
    closes. A process of its own: moto's Python would otherwise share the load generator's GIL."""
    try:
        boto3 = importlib.import_module("boto3")  # no type stubs
        from moto.server import ThreadedMotoServer
    except ImportError as exc:
        print(f"missing {exc}", flush=True)
        return
    # not a log line per request on stderr (verbose=False does not silence werkzeug's)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        client = boto3.client("s3", endpoint_url=f"http://{host}:{port}", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        client.close()
        print(port, flush=True)
        sys.stdin.read()  # until the parent closes it
    finally:
        server.stop()


@dataclass
class Redis:
    url: str
    pid: int


def _pong(proc: subprocess.Popen[bytes], port: int, timeout: float) -> bool:
    """Whether redis-server answers PING within ``timeout`` (False: it exited, e.g. the port was taken)."""
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            if sock.recv(64).startswith(b"+PONG"):
                return True
        time.sleep(0.05)
    return False


@contextlib.contextmanager
def redis_process(binary: str, tmp: str) -> Iterator[Redis]:
    """``redis-server`` without persistence on a free 127.0.0.1 port (another one if that port was taken
    in between), stopped at the end."""
    log = Path(tmp, "redis.log")
    for _ in range(3):
        port = _free_port()
        command = [binary, "--save", "", "--appendonly", "no", "--port", str(port), "--bind", "127.0.0.1"]
        with log.open("ab") as sink:
            proc = subprocess.Popen(
                [*command, "--dir", tmp], stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT
            )
        try:
            if _pong(proc, port, 10.0):
                yield Redis(f"redis://127.0.0.1:{port}/0", proc.pid)
                return
        finally:
            _stop(proc)
    raise RuntimeError(f"redis-server did not start:\n{log.read_text(errors='replace')[-2000:]}")


def replicas_missing() -> str | None:
    """Why the replicas section cannot run here, or None (moto's server is tried in its own process)."""
    if shutil.which("redis-server") is None:
        return "redis-server is not on the PATH (Debian package redis-server; .ci/run installs it)"
    for module, extra in (("redis", "redis"), ("boto3", "s3")):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed: the gateway needs it (pip install -e '.[{extra}]')"
    if importlib.util.find_spec("moto") is None:
        return (
            "moto is not installed: its S3 server stands in for the object store (pip install 'moto[server]')"
        )
    return None


def replica_level_rows(
    clients: int, direct: Arm, one: Arm, two: Arm, low: bool
) -> list[tuple[str, str, str]]:
    """``low``: the low-load level, where two replicas - one is the time the shared stores add."""
    rows: list[tuple[str, str, str]] = []
    ideal = clients / LATENCY
    arms = (("direct", direct), ("one replica", one), ("two replicas", two))
    for name, arm in arms:
        if not arm.latencies:
            raise RuntimeError(f"{name} @ {clients}: every request failed: {arm.errors[:3]}")
    rate = {name: len(arm.latencies) / arm.seconds for name, arm in arms}
    p = {(name, q): percentile(arm.latencies, q) for name, arm in arms for q in (0.5, 0.99)}
    for name, arm in arms:
        rows.append(
            (
                f"@{clients} {name}: throughput",
                f"{rate[name]:.0f} req/s",
                f"{rate[name] / ideal:.0%} of ideal ({ideal:.0f}), {len(arm.errors)} errors",
            )
        )
        added = (
            ""
            if arm is direct
            else f"; added (- direct) {(p[name, 0.5] - p['direct', 0.5]) * 1000:+.1f} / "
            f"{(p[name, 0.99] - p['direct', 0.99]) * 1000:+.1f} ms"
        )
        rows.append(
            (
                f"@{clients} {name}: p50 / p99",
                f"{p[name, 0.5] * 1000:.1f} / {p[name, 0.99] * 1000:.1f}",
                f"ms{added}",
            )
        )
    rows.append(
        (
            f"@{clients} two replicas / one replica throughput",
            f"{rate['two replicas'] / rate['one replica']:.2f}x",
            "",
        )
    )
    for q in (0.5, 0.99):
        shared, single = p["two replicas", q], p["one replica", q]
        why = "; the time the shared stores add to a request, little queueing" if low and q == 0.5 else ""
        rows.append(
            (
                f"@{clients} p{q * 100:.0f}: two replicas - one replica",
                f"{(shared - single) * 1000:+.1f} ms",
                f"{shared / single:.2f}x one replica{why}",
            )
        )
    single_cpu = one.cpu_per_request("gateway")
    parts = {role: two.cpu_per_request(role) for role in two.watch}
    rows.append(
        (f"@{clients} CPU per request: one replica", f"{single_cpu * 1000:.2f} ms", "its gateway process")
    )
    rows.append(
        (
            f"@{clients} CPU per request: two replicas",
            f"{sum(parts.values()) * 1000:.2f} ms",
            f"{sum(parts.values()) / single_cpu:.2f}x one replica: "
            + " + ".join(f"{role} {seconds * 1000:.2f}" for role, seconds in parts.items())
            + " ms",
        )
    )
    rows.append(
        (
            f"@{clients} images hosted / inline",
            f"{one.hosted}/{one.inline} | {two.hosted}/{two.inline}",
            "one replica | two replicas (inline: data: URIs, the store refused them)",
        )
    )
    return rows


def replicas_rows(quick: bool, tmp: str) -> tuple[str, list[tuple[str, str, str]], str]:
    """Raises :class:`Skipped` when redis-server, moto's server, boto3 or redis-py is missing."""
    missing = replicas_missing()
    if missing:
        raise Skipped(missing)
    binary = shutil.which("redis-server")
    assert binary is not None
    # (clients, requests per round per arm, rounds); 10 clients: the stores' own time, without queueing
    levels = [(CLIENTS // 2, 200, 1), (10, 60, 1)] if quick else [(CLIENTS, 2000, 4), (10, 400, 3)]
    fields: dict[str, object] = {"response_format": "url"}
    rows: list[tuple[str, str, str]] = []
    errors: list[str] = []
    env = aws_env(tmp)
    with contextlib.ExitStack() as stack:
        s3_pid, line = stack.enter_context(child_process("moto's S3 server", ["--s3"], env))
        if line.startswith("missing"):
            raise Skipped(f"moto's S3 server is not importable ({line.split(' ', 1)[1].strip()})")
        endpoint = f"http://127.0.0.1:{int(line)}"
        redis = stack.enter_context(redis_process(binary, tmp))
        prov = stack.enter_context(provider_process(LATENCY, SMALL_BYTES))
        embedded: dict[str, str | float] = {"store": "memory", "drain_seconds": 1}
        shared: dict[str, str | float] = {
            "state": redis.url,
            "store": "s3",
            "s3_bucket": BUCKET,
            "s3_endpoint": endpoint,
            "s3_region": "us-east-1",
            "drain_seconds": 1,
        }
        tables = {"one-replica": embedded, "replica-a": shared, "replica-b": shared}
        single, a, b = stack.enter_context(gateway_processes(tmp, prov.url, GATEWAY_KEYS[:1], tables, env))
        for clients, calls, rounds in levels:
            direct = Arm([prov.port], fields=fields)
            one = Arm([single.port], {"gateway": [single.pid]}, fields)
            watch = {"gateways": [a.pid, b.pid], "redis": [redis.pid], "S3 server": [s3_pid]}
            two = Arm([a.port, b.port], watch, fields)
            asyncio.run(alternate([direct, one, two], clients, calls, rounds))
            rows += replica_level_rows(clients, direct, one, two, clients == levels[-1][0])
            errors += direct.errors + one.errors + two.errors
    kinds = sorted(set(errors))[:3]
    notes = [
        f"{os.cpu_count()} cores here, shared by the load generator, the provider, the three gateways, "
        "redis-server and the S3 server.\nThe S3 server's CPU is moto's (Python), which a real object store "
        "spends elsewhere; the gateways' includes their S3 client\n(botocore, in threads) and the sweep of the "
        "bucket each replica runs every minute.",
    ]
    if kinds:
        notes.append("errors (first kinds): " + "; ".join(kinds))
    plan = ", ".join(f"{r} x {c} requests per arm @{n} clients" for n, c, r in levels)
    title = (
        "gateway replicas: two sharing Redis (state) and moto's S3 server (store) vs one with the embedded "
        f"stores (memory, no state),\nresponse_format url, provider answers in {LATENCY * 1000:.0f} ms; "
        f"{plan} (the arms alternate; two replicas: the clients split round-robin)"
    )
    return title, rows, "\n".join(notes)


# ----- memory ---------------------------------------------------------------------------------------------
@dataclass
class Burst:
    idle: int = 0  # resident before the burst (after a small warm-up request)
    cold: int = 0  # resident just after start, before any request
    peak: int = 0  # VmHWM over the burst
    sampled: int = 0  # highest VmRSS sampled during the burst (every 10 ms)
    after: int = 0  # resident as the last reply arrived
    settled: list[tuple[float, int]] = field(default_factory=list)  # (seconds idle, resident)
    reply_bytes: int = 0  # size of the largest reply body
    seconds: float = 0.0
    hosted: int = 0  # url: images answered with a hosted URL
    inline: int = 0  # url: images answered inline as a data: URI (e.g. the gateway's store was full)


async def burst(gw: Gateway, prov: Provider, k: int, n: int, fmt: str, idle_waits: list[float]) -> Burst:
    out = Burst()
    out.cold, _ = memory(gw.pid)
    warm = Connection(gw.port)
    try:  # first use: imports, the provider connection, pydantic models built: a small image
        status, _, data = await warm.post(PATH, request_body("small", response_format=fmt), keep=True)
        if status != 200:
            raise RuntimeError(f"warm-up: HTTP {status}: {data[:300]!r}")
    finally:
        await warm.close()
    await asyncio.sleep(1.0)
    conns = [Connection(gw.port, GATEWAY_KEYS[i % len(GATEWAY_KEYS)]) for i in range(k)]
    await asyncio.gather(*(c.open() for c in conns))
    out.idle, _ = memory(gw.pid)
    reset_peak(gw.pid)
    done = asyncio.Event()

    async def sample() -> None:
        while not done.is_set():
            out.sampled = max(out.sampled, memory(gw.pid)[0])
            await asyncio.sleep(0.01)

    sampler = asyncio.create_task(sample())
    started = time.perf_counter()
    try:
        replies = await asyncio.gather(
            *(
                c.post(
                    PATH, request_body("a lighthouse", n=n, response_format=fmt), keep=i == 0 or fmt == "url"
                )
                for i, c in enumerate(conns)
            )
        )
    finally:
        done.set()
        await sampler
        await asyncio.gather(*(c.close() for c in conns))
    out.seconds = time.perf_counter() - started
    out.after, out.peak = memory(gw.pid)
    for status, _, data in replies:
        if status != 200:
            raise RuntimeError(f"burst: HTTP {status}: {data[:300]!r}")
    out.reply_bytes = max(length for _, length, _ in replies)
    idle_started = time.monotonic()
    for wait in idle_waits:
        await asyncio.sleep(max(0.0, idle_started + wait - time.monotonic()))
        out.settled.append((wait, memory(gw.pid)[0]))
    # The bytes that came back are the provider's image (checked after the measurement: not timed).
    kept = [json.loads(data) for _, _, data in replies if data]
    if any(len(got["data"]) != n for got in kept):
        raise RuntimeError(f"a reply does not hold {n} images")
    if fmt == "url":
        urls = [(item["url"], conns[i].key) for i, got in enumerate(kept) for item in got["data"]]
        hosted = [(url, key) for url, key in urls if not url.startswith("data:")]
        out.hosted, out.inline = len(hosted), len(urls) - len(hosted)
        if hosted:
            import httpx

            url, key = hosted[-1]
            image = httpx.get(url, headers={"Authorization": f"Bearer {key}"}, timeout=60)
            image.raise_for_status()
            raw = image.content
        else:
            raw = base64.b64decode(urls[-1][0].partition(",")[2])
    else:
        raw = base64.b64decode(kept[0]["data"][0]["b64_json"])
    if len(raw) != prov.image_bytes or hashlib.sha256(raw).hexdigest() != prov.digest:
        raise RuntimeError(f"the {fmt} reply does not carry the provider's image")
    return out


def mib(size: float) -> str:
    return f"{size / 2**20:.1f} MiB"


def human(count: int) -> str:
    return mib(count) if count >= 1 << 20 else f"{count / 1024:.1f} KiB"


def available() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) << 10
    return 8 << 30


def memory_rows(quick: bool, tmp: str) -> tuple[str, list[tuple[str, str, str]], str]:
    n, k, idle_waits = (2, 4, [1.0, 5.0]) if quick else (10, 16, [1.0, 5.0, 15.0, 60.0, 130.0])
    payload = n * IMAGE_BYTES
    rows: list[tuple[str, str, str]] = []
    notes = []
    # Keep the machine safe: assume up to 8 copies of each reply's base64 at once, in the gateway alone.
    while k > 1 and k * payload * 4 / 3 * 8 > available() * 0.6:
        k //= 2
        notes.append(f"(fewer requests in flight than planned: {k}, for the memory this machine has free)")
    singles = [] if quick else [1]
    with provider_process(0.1, IMAGE_BYTES) as prov:
        for fmt in ("b64_json", "url"):
            for count in [*singles, k]:
                waits = idle_waits if count == k else []
                with gateway_process(tmp, prov.url, f"memory-{fmt}-{count}", GATEWAY_KEYS) as gw:
                    result = asyncio.run(burst(gw, prov, count, n, fmt, waits))
                label = f"{fmt}, {count} in flight"
                grown = max(0, result.peak - result.idle)
                per = grown / count
                rows.append(
                    (
                        f"{label}: idle RSS before (after start)",
                        mib(result.idle),
                        f"{mib(result.cold)} just after start; largest reply {human(result.reply_bytes)}; "
                        f"burst took {result.seconds:.1f} s",
                    )
                )
                rows.append(
                    (
                        f"{label}: peak RSS (VmHWM)",
                        mib(result.peak),
                        f"+{mib(grown)} over idle; highest sampled VmRSS {mib(result.sampled)}",
                    )
                )
                reply = f", {per / result.reply_bytes:.2f}x the reply" if fmt == "b64_json" else ""
                rows.append(
                    (
                        f"{label}: peak increase per request",
                        mib(per),
                        f"{per / payload:.2f}x payload{reply}; target <= 2x payload",
                    )
                )
                if fmt == "url":
                    rows.append(
                        (
                            f"{label}: images hosted / inline",
                            f"{result.hosted} / {result.inline}",
                            "inline: data: URIs in the reply (the gateway's store had no room)",
                        )
                    )
                if count == k:
                    rows.append(
                        (
                            f"{label}: RSS after the burst",
                            mib(result.after),
                            f"{result.after / result.idle:.2f}x idle (+{mib(result.after - result.idle)})",
                        )
                    )
                    for wait, size in result.settled:
                        rows.append(
                            (
                                f"{label}: RSS after {wait:.0f} s idle",
                                mib(size),
                                f"{size / result.idle:.2f}x idle (+{mib(size - result.idle)}); "
                                "target: near idle",
                            )
                        )
    notes.append(
        "By design the gateway keeps the hosted images of url replies (for their TTL, within a byte budget), "
        "and may keep\nrecent replies for retries (a retry window): the RSS after a burst includes what it keeps."
    )
    title = (
        f"gateway memory: {k} concurrent requests of n={n} x {mib(IMAGE_BYTES)} PNG "
        f"(payload {mib(payload)} of image bytes per request), a fresh gateway per row group"
    )
    return title, rows, "\n".join(notes)


SECTIONS = ("latency", "memory", "replicas")


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="a few seconds: CI checks it runs, not its numbers"
    )
    parser.add_argument(
        "--only", choices=SECTIONS, action="append", help="run this section only (repeatable); default: all"
    )
    return parser.parse_args()


def main() -> None:
    if sys.argv[1:2] == ["--provider"]:
        asyncio.run(provider(float(sys.argv[2]), int(sys.argv[3])))
        return
    if sys.argv[1:2] == ["--s3"]:
        s3_server()
        return
    args = arguments()
    sections = {"latency": latency_rows, "replicas": replicas_rows, "memory": memory_rows}
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        for name in SECTIONS:
            if args.only and name not in args.only:
                continue
            try:
                table(*sections[name](args.quick, tmp))
            except Skipped as skipped:
                print(f"\ngateway {name}: skipped: {skipped}")
    print(f"\n({time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
