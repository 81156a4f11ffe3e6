"""Edits through the gateway: a 4 MiB input image as multipart, through a real `imageshim serve` process
(routed to a loopback OpenAI-shaped provider process) vs the baseline of posting the same form with httpx
straight to that provider, and vs a bare uvicorn + starlette process that only reads the upload (the cost
of any Python HTTP hop). Time is the median per call; memory is the gateway process's peak resident size
over its size before the call (VmHWM - VmRSS, Linux, after a warm-up call), against the input's size.

Targets: <= 1.3x the baseline time; peak memory <= 3x the payload.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import httpx

from _common import KEY, parse, per_call, server, table

INPUT_BYTES = 4 << 20
GATEWAY_KEY = "gw-bench-key-0000000000"
BARE_APP = """
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

async def edits(request):
    await request.body()
    return Response(b'{"created": 1, "data": [{"b64_json": "iVBORw0KGgo="}]}', media_type="application/json")

app = Starlette(routes=[Route("/v1/images/edits", edits, methods=["POST"])])
"""


def png(size: int) -> bytes:
    """A PNG of ``size`` bytes: a real header (2048x2048 RGB) and an IDAT of bytes that do not compress."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    head = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 2048, 2048, 8, 2, 0, 0, 0))
    return head + chunk(b"IDAT", os.urandom(size - len(head) - 24)) + chunk(b"IEND", b"")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait(url: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            httpx.get(url, timeout=1)
            return
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not start")


@contextlib.contextmanager
def process(
    args: list[str], url: str, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(
        args, env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        _wait(url)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def reset_peak(pid: int) -> None:
    """Start the process's peak-RSS count afresh (Linux: ``5`` to ``clear_refs`` resets VmHWM)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def rss(pid: int) -> tuple[int, int]:
    """(current, peak) resident bytes of a process."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line
    )
    return int(fields["VmRSS"].split()[0]) * 1024, int(fields["VmHWM"].split()[0]) * 1024


def main() -> None:
    args = parse(__doc__ or "")
    runs = 3 if args.quick else 15
    image = png(INPUT_BYTES)
    form = {"model": "gpt-image-2", "prompt": "add a lighthouse", "size": "1024x1024"}
    with tempfile.TemporaryDirectory() as tmp, server() as provider_url:
        config = Path(tmp, "imageshim.toml")
        config.write_text(
            '[routes]\n"*" = ["openai:gpt-image-2"]\n'
            f'[providers.openai]\napi_key = "{KEY}"\nbase_url = {json.dumps(provider_url)}\n'
        )
        Path(tmp, "bare.py").write_text(BARE_APP)
        gw_port, bare_port = _free_port(), _free_port()
        gateway_cmd = [
            sys.executable,
            "-m",
            "imageshim",
            "serve",
            "--port",
            str(gw_port),
            "--config",
            str(config),
        ]
        bare_cmd = [
            sys.executable,
            "-m",
            "uvicorn",
            "--app-dir",
            tmp,
            "bare:app",
            "--port",
            str(bare_port),
            "--log-level",
            "warning",
        ]
        env = {"IMAGESHIM_GATEWAY_KEYS": GATEWAY_KEY}
        with (
            process(gateway_cmd, f"http://127.0.0.1:{gw_port}/healthz", env) as gateway,
            process(bare_cmd, f"http://127.0.0.1:{bare_port}/", None),
        ):
            client = httpx.Client(timeout=60)

            def post(url: str, key: str) -> None:
                reply = client.post(
                    f"{url}/images/edits",
                    data=form,
                    files=[("image[]", ("in.png", image, "image/png"))],
                    headers={"Authorization": f"Bearer {key}"},
                )
                assert reply.status_code == 200, reply.text[:300]

            fns = {
                "baseline": lambda: post(provider_url, KEY),
                "bare": lambda: post(f"http://127.0.0.1:{bare_port}/v1", KEY),
                "gateway": lambda: post(f"http://127.0.0.1:{gw_port}/v1", GATEWAY_KEY),
            }
            fns["gateway"]()  # first use: imports, connection pools, pydantic models built once
            reset_peak(gateway.pid)
            idle, _ = rss(gateway.pid)
            fns["gateway"]()
            _, high = rss(gateway.pid)
            times = per_call(fns, 1, runs)
    base, bare, shim = times["baseline"], times["bare"], times["gateway"]
    grown = max(0, high - idle)
    rows = [
        ("baseline: httpx multipart post to the provider", f"{base * 1000:.1f} ms", "1.00x"),
        (
            "a bare uvicorn + starlette hop (reads the upload)",
            f"{bare * 1000:.1f} ms",
            f"{bare / base:.2f}x baseline",
        ),
        (
            "through `imageshim serve` to the provider",
            f"{shim * 1000:.1f} ms",
            f"{shim / base:.2f}x baseline, {shim / bare:.2f}x the bare hop",
        ),
        ("gateway peak RSS over idle", f"{grown / 2**20:.1f} MiB", f"{grown / INPUT_BYTES:.2f}x payload"),
    ]
    table(
        f"edit: a {INPUT_BYTES / 2**20:.0f} MiB input image, median of {runs}",
        rows,
        "targets: <= 1.3x baseline time, peak memory <= 3x payload",
    )


if __name__ == "__main__":
    main()
