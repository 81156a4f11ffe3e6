"""Concurrency: 1,000 calls at 100 and 200 in flight through imageshim.AsyncOpenAI against a loopback server
with 100 ms latency, vs the ideal (calls x latency / concurrency) and vs the openai SDK's AsyncOpenAI.

Target: >= 90% of ideal throughput at 100 and 200 in flight, zero errors.

Also the keep-alive boundary: a server that closes connections idle for K seconds (uvicorn's default,
5 s) and bursts of calls, retries OFF, landing just before and after K: connection errors of imageshim's
pool vs httpx's. Target: imageshim's pool no worse than httpx's (ideally zero).
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import time
import warnings
from collections.abc import Awaitable, Callable

import httpx

import imageshim
from _common import KEY, parse, server, table
from imageshim._plumbing.pool import async_http_client

LATENCY = 0.1


async def drive(
    call: Callable[[], Awaitable[object]], calls: int, concurrency: int
) -> tuple[float, int, float]:
    """Seconds for ``calls`` calls with at most ``concurrency`` in flight, the number of errors, and the
    CPU seconds this process spent per call (the client's side: the server runs in its own process)."""
    gate = asyncio.Semaphore(concurrency)
    errors = 0

    async def one() -> None:
        nonlocal errors
        async with gate:
            try:
                await call()
            except Exception:
                errors += 1

    await asyncio.gather(*(one() for _ in range(concurrency)))  # warm-up: open the connections
    errors = 0
    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(one() for _ in range(calls)))
    return time.perf_counter() - started, errors, (time.process_time() - cpu) / calls


async def run(base_url: str, calls: int, levels: list[int]) -> list[tuple[str, str, str]]:
    config = {
        "routes": {"*": ["openai:gpt-image-2"]},
        "providers": {"openai": {"api_key": KEY, "base_url": base_url}},
    }
    url, headers = f"{base_url}/images/generations", {"Authorization": f"Bearer {KEY}"}
    # httpx's own pool with 1000 connections and httpx's default of 20 kept alive (keeping all alive is
    # slower still: its pool is quadratic in them), and the same client with the pool imageshim's
    # adapters use (imageshim/_pool.py): the floor of any httpx-based client on this machine.
    stock = httpx.AsyncClient(
        timeout=60, limits=httpx.Limits(max_connections=1000, max_keepalive_connections=20)
    )
    pooled = async_http_client(httpx.Timeout(60))
    shim = imageshim.AsyncOpenAI(config=config)
    clients: dict[str, Callable[[], Awaitable[object]]] = {}
    for name, raw in (("raw httpx, httpx's pool", stock), ("raw httpx, imageshim's pool", pooled)):

        async def raw_call(raw: httpx.AsyncClient = raw) -> object:
            reply = await raw.post(url, json={"model": "gpt-image-2", "prompt": "a fox"}, headers=headers)
            return json.loads(reply.content)

        clients[name] = raw_call
    clients["imageshim.AsyncOpenAI"] = lambda: shim.images.generate(model="gpt-image-2", prompt="a fox")
    sdk = None
    if importlib.util.find_spec("openai") is not None:
        import openai

        sdk = openai.AsyncOpenAI(api_key=KEY, base_url=base_url, max_retries=0)
        clients["openai SDK AsyncOpenAI"] = lambda: sdk.images.generate(model="gpt-image-2", prompt="a fox")

    rows = []
    for concurrency in levels:
        ideal = calls * LATENCY / concurrency
        for name, call in clients.items():
            elapsed, errors, cpu = await drive(call, calls, concurrency)
            rows.append(
                (
                    f"{name} @ {concurrency}",
                    f"{calls / elapsed:.0f} calls/s",
                    f"{ideal / elapsed:.0%} of ideal, {errors} errors, {cpu * 1e6:.0f} us CPU/call",
                )
            )
        rows.append((f"ideal @ {concurrency}", f"{calls / ideal:.0f} calls/s", "100%"))
    await shim.close()
    await stock.aclose()
    await pooled.aclose()
    if sdk is not None:
        await sdk.close()
    return rows


async def boundary(
    base_url: str, window: float, burst: int, rounds: int, equal: bool
) -> list[tuple[str, str, str]]:
    """Connection errors (no retries) of bursts of ``burst`` calls after idling just around ``window``."""
    url = f"{base_url}/images/generations"
    limits = httpx.Limits(max_connections=1000, max_keepalive_connections=1000)
    clients = {
        "httpx's pool": httpx.AsyncClient(timeout=60, limits=limits),
        "imageshim's pool": async_http_client(httpx.Timeout(60)),
    }
    rows = []
    for name, client in clients.items():
        if equal:  # the worst case: the client keeps connections exactly as long as the server
            client._transport._pool._keepalive_expiry = window  # type: ignore[attr-defined]
        errors = 0

        async def one(client: httpx.AsyncClient = client) -> None:
            nonlocal errors
            try:
                (await client.post(url, json={"model": "gpt-image-2", "prompt": "a fox"})).raise_for_status()
            except httpx.HTTPError:
                errors += 1

        await asyncio.gather(*(one() for _ in range(burst)))  # open the connections
        errors = 0
        for i in range(rounds):
            await asyncio.sleep(window * (0.96 + 0.02 * (i % 4)))  # 96%..102% of the window
            await asyncio.gather(*(one() for _ in range(burst)))
        await client.aclose()
        rows.append(
            (f"{name}, keep-alive boundary", f"{errors} errors", f"of {burst * rounds} calls, no retries")
        )
    return rows


def main() -> None:
    args = parse(__doc__ or "")
    calls, levels = (100, [50, 100]) if args.quick else (1000, [100, 200])
    warnings.simplefilter("ignore", imageshim.ImageShimWarning)
    with server(latency=LATENCY) as base_url:
        rows = asyncio.run(run(base_url, calls, levels))
    # --quick: a 0.5 s window and equal client windows (the worst case, fast); else uvicorn's 5 s and
    # each client's own keep-alive setting.
    window, burst, rounds, equal = (0.5, 30, 4, True) if args.quick else (5.0, 100, 4, False)
    with server(keepalive=window) as base_url:
        rows += asyncio.run(boundary(base_url, window, burst, rounds, equal))
    table(
        f"concurrency: {calls} calls, server latency {LATENCY * 1000:.0f} ms",
        rows,
        "target: imageshim >= 90% of ideal at each level, zero errors. At N in flight the ideal needs\n"
        "N x 10 calls/s, so at most 1/(N x 10) s of client CPU per call: compare the CPU/call column.",
    )


if __name__ == "__main__":
    main()
