"""Shared benchmark helpers: the loopback server process, timing, and the ratio table."""

from __future__ import annotations

import argparse
import contextlib
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

SERVER = Path(__file__).with_name("_server.py")
KEY = "sk-bench-0000000000000000"


def parse(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--quick", action="store_true", help="a few seconds: CI checks it runs, not its numbers"
    )
    return parser.parse_args()


@contextlib.contextmanager
def server(latency: float = 0.0, image_bytes: int = 0, keepalive: float = 0.0) -> Iterator[str]:
    """A loopback server in a child process; yields its base URL (``http://127.0.0.1:PORT/v1``).
    ``keepalive``: seconds after which it closes an idle connection (0: never)."""
    options = ["--latency", str(latency), "--image-bytes", str(image_bytes), "--keepalive", str(keepalive)]
    proc = subprocess.Popen(
        [sys.executable, str(SERVER), *options],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def per_call(fns: dict[str, Callable[[], object]], calls: int, rounds: int) -> dict[str, float]:
    """Median seconds per call of each function over ``rounds`` rounds of ``calls`` calls, after a
    warm-up. The rounds alternate between the functions, so a change in the machine's load (other
    processes) falls on all of them alike instead of on whichever ran at that moment."""
    for fn in fns.values():
        for _ in range(max(1, calls // 10)):
            fn()
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            started = time.perf_counter()
            for _ in range(calls):
                fn()
            samples[name].append((time.perf_counter() - started) / calls)
    return {name: statistics.median(values) for name, values in samples.items()}


def table(title: str, rows: list[tuple[str, str, str]], note: str = "") -> None:
    """Print ``(name, measurement, ratio)`` rows."""
    width = max(len(r[0]) for r in rows)
    print(f"\n{title}")
    print(f"{'':{width}}  {'measured':>14}  ratio")
    for name, value, ratio in rows:
        print(f"{name:{width}}  {value:>14}  {ratio}")
    if note:
        print(note)
