"""Real ``imageshim serve`` processes for the gateway's tests, against loopback fakes.

:func:`gateway_process` writes a TOML config, starts ``python -m imageshim serve`` on a free loopback
port, waits for ``/healthz`` and yields a :class:`Gateway` (its base URL, the process and its log). The
process is stopped in every case (SIGTERM, then SIGKILL after a bound).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

__all__ = ["Gateway", "free_port", "gateway_process", "toml"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def toml(config: Mapping[str, Any]) -> str:
    """The small TOML the tests need: tables of scalars and lists, one level of sub-tables."""
    lines: list[str] = []
    for table, body in config.items():
        scalars = {k: v for k, v in body.items() if not isinstance(v, Mapping)}
        lines.append(f"[{table}]")
        lines += [f'"{k}" = {_value(v)}' for k, v in scalars.items()]
        for name, sub in body.items():
            if isinstance(sub, Mapping):
                lines.append(f"[{table}.{name}]")
                lines += [f'"{k}" = {_value(v)}' for k, v in sub.items()]
    return "\n".join(lines) + "\n"


@dataclass
class Gateway:
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.origin}/v1"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def signal(self, sig: int = signal.SIGTERM) -> None:
        self.process.send_signal(sig)


def openai_config(base_url: str, **tables: Mapping[str, Any]) -> dict[str, Any]:
    """Every model routed to ``openai:gpt-image-2`` at the fake ``base_url``; ``tables`` add or replace."""
    config: dict[str, Any] = {
        "routes": {"*": ["openai:gpt-image-2"]},
        "providers": {"openai": {"api_key": "sk-not-a-real-key-serving-qzjx7vw", "base_url": base_url}},
    }
    for name, table in tables.items():
        config[name] = {**config.get(name, {}), **table}
    return config


@contextlib.contextmanager
def gateway_process(
    tmp_path: Path,
    config: Mapping[str, Any],
    *,
    args: tuple[str, ...] = (),
    env: Mapping[str, str] | None = None,
    port: int | None = None,
    start_timeout: float = 30.0,
) -> Iterator[Gateway]:
    path = tmp_path / f"imageshim-{time.monotonic_ns()}.toml"
    path.write_text(toml(config))
    port = port or free_port()
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("IMAGESHIM_", "OPENAI_", "RUNWARE_"))}
    log_path = tmp_path / f"serve-{port}-{time.monotonic_ns()}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "imageshim", "serve", "--port", str(port), "--config", str(path), *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**clean, **(env or {})},
            cwd=tmp_path,
        )
    gateway = Gateway(process, port, log_path)
    try:
        deadline = time.monotonic() + start_timeout
        while True:
            if process.poll() is not None:
                raise AssertionError(f"imageshim serve exited ({process.returncode}):\n{gateway.log()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"imageshim serve did not start:\n{gateway.log()}")
            try:
                if httpx.get(f"{gateway.origin}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        yield gateway
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
