"""Concurrency: 1,000 calls at 100 and 200 in flight through imageshim.AsyncOpenAI against a loopback server
with 100 ms latency, vs the ideal (calls x latency / concurrency) and vs the openai SDK's AsyncOpenAI.

Target: >= 90% of ideal throughput at 100 and 200 in flight, zero errors.
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

LATENCY = 0.1


async def drive(call: Callable[[], Awaitable[object]], calls: int, concurrency: int) -> tuple[float, int]:
    """Seconds for ``calls`` calls with at most ``concurrency`` in flight, and the number of errors."""
    gate = asyncio.Semaphore(concurrency)
    errors = 0

    async def one() -> None:
        nonlocal errors
        async with gate:
            try:
                await call()
            except Exception:
                errors += 1

    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(calls)))
    return time.perf_counter() - started, errors


async def run(base_url: str, calls: int, levels: list[int]) -> list[tuple[str, str, str]]:
    config = {
        "routes": {"*": ["openai:gpt-image-2"]},
        "providers": {"openai": {"api_key": KEY, "base_url": base_url}},
    }
    shim = imageshim.AsyncOpenAI(config=config)
    sdk = None
    if importlib.util.find_spec("openai") is not None:
        import openai

        sdk = openai.AsyncOpenAI(api_key=KEY, base_url=base_url, max_retries=0)
    raw = httpx.AsyncClient(
        timeout=60, limits=httpx.Limits(max_connections=1000, max_keepalive_connections=20)
    )

    async def raw_call() -> object:
        reply = await raw.post(
            f"{base_url}/images/generations",
            json={"model": "gpt-image-2", "prompt": "a fox"},
            headers={"Authorization": f"Bearer {KEY}"},
        )
        return json.loads(reply.content)

    rows = []
    for concurrency in levels:
        ideal = calls * LATENCY / concurrency
        await drive(raw_call, concurrency, concurrency)
        raw_elapsed, raw_errors = await drive(raw_call, calls, concurrency)
        rows.append(
            (
                f"raw httpx.AsyncClient @ {concurrency}",
                f"{calls / raw_elapsed:.0f} calls/s",
                f"{ideal / raw_elapsed:.0%} of ideal, {raw_errors} errors (the floor of any httpx client)",
            )
        )
        await drive(
            lambda: shim.images.generate(model="gpt-image-2", prompt="warm-up"), concurrency, concurrency
        )
        elapsed, errors = await drive(
            lambda: shim.images.generate(model="gpt-image-2", prompt="a fox"), calls, concurrency
        )
        rows.append(
            (
                f"imageshim @ {concurrency} in flight",
                f"{calls / elapsed:.0f} calls/s",
                f"{ideal / elapsed:.0%} of ideal, {errors} errors",
            )
        )
        if sdk is not None:
            await drive(
                lambda: sdk.images.generate(model="gpt-image-2", prompt="warm-up"), concurrency, concurrency
            )
            sdk_elapsed, sdk_errors = await drive(
                lambda: sdk.images.generate(model="gpt-image-2", prompt="a fox"), calls, concurrency
            )
            rows.append(
                (
                    f"openai SDK @ {concurrency} in flight",
                    f"{calls / sdk_elapsed:.0f} calls/s",
                    f"{ideal / sdk_elapsed:.0%} of ideal, {sdk_errors} errors; imageshim "
                    f"{sdk_elapsed / elapsed:.2f}x its throughput",
                )
            )
        rows.append((f"ideal @ {concurrency} in flight", f"{calls / ideal:.0f} calls/s", "100%"))
    await shim.close()
    await raw.aclose()
    if sdk is not None:
        await sdk.close()
    return rows


def main() -> None:
    args = parse(__doc__ or "")
    calls, levels = (200, [50, 100]) if args.quick else (1000, [100, 200])
    warnings.simplefilter("ignore", imageshim.ImageShimWarning)
    with server(latency=LATENCY) as base_url:
        rows = asyncio.run(run(base_url, calls, levels))
    table(
        f"concurrency: {calls} calls, server latency {LATENCY * 1000:.0f} ms",
        rows,
        "target: imageshim >= 90% of ideal at each level, zero errors",
    )


if __name__ == "__main__":
    main()
