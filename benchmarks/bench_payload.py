"""Big payloads: a 3840x2160 image returned as base64, through imageshim vs the baseline of fetching the
same body with httpx and doing `json.loads` + `b64decode` (what any client must do at least).
Time (median) and peak Python memory (tracemalloc) against the payload size.

Targets: <= 1.3x the baseline time; peak memory <= 3x the payload size.
"""

from __future__ import annotations

import base64
import json
import tracemalloc
import warnings
from collections.abc import Callable

import httpx

import imageshim
from _common import KEY, parse, per_call, server, table

# A 3840x2160 PNG of a real photo-like image is ~10-15 MB; random bytes do not compress: a fair stand-in.
IMAGE_BYTES = 12 << 20


def peak(fn: Callable[[], object]) -> int:
    tracemalloc.start()
    tracemalloc.reset_peak()
    result = fn()
    _, top = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del result
    return top


def main() -> None:
    args = parse(__doc__ or "")
    image_bytes, runs = ((2 << 20), 3) if args.quick else (IMAGE_BYTES, 9)
    warnings.simplefilter("ignore", imageshim.ImageShimWarning)
    with server(image_bytes=image_bytes) as base_url:
        raw = httpx.Client(timeout=60)
        body = {"model": "gpt-image-2", "prompt": "x", "size": "3840x2160"}

        def baseline() -> bytes:
            reply = raw.post(
                f"{base_url}/images/generations", json=body, headers={"Authorization": f"Bearer {KEY}"}
            )
            return base64.b64decode(json.loads(reply.content)["data"][0]["b64_json"])

        config = {
            "routes": {"*": ["openai:gpt-image-2"]},
            "providers": {"openai": {"api_key": KEY, "base_url": base_url}},
        }
        shim = imageshim.OpenAI(config=config)

        def through_shim() -> bytes:
            resp = shim.images.generate(model="gpt-image-2", prompt="x", size="3840x2160")
            return base64.b64decode(resp.data[0].b64_json or "")

        payload = len(base64.b64encode(b"\0" * image_bytes))
        assert len(baseline()) == len(through_shim()) == image_bytes
        times = per_call({"baseline": baseline, "imageshim": through_shim}, 1, runs)
        base_time, shim_time = times["baseline"], times["imageshim"]
        base_peak, shim_peak = peak(baseline), peak(through_shim)
    rows = [
        ("baseline: httpx + json.loads + b64decode", f"{base_time * 1000:.1f} ms", "1.00x"),
        ("imageshim + b64decode", f"{shim_time * 1000:.1f} ms", f"{shim_time / base_time:.2f}x baseline"),
        ("baseline peak memory", f"{base_peak / 2**20:.1f} MiB", f"{base_peak / payload:.3f}x payload"),
        ("imageshim peak memory", f"{shim_peak / 2**20:.1f} MiB", f"{shim_peak / payload:.3f}x payload"),
    ]
    table(
        f"big payload: {payload / 2**20:.1f} MiB of base64 ({image_bytes / 2**20:.0f} MiB image), median of {runs}",
        rows,
        "targets: <= 1.3x baseline time, peak memory <= 3x payload",
    )


if __name__ == "__main__":
    main()
