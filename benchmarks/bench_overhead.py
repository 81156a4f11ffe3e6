"""Per-call overhead, sequential: imageshim's native client vs a raw httpx.Client.post of the same body vs
the openai SDK, all against the same loopback server that answers instantly.

Targets: imageshim <= 1.15x raw httpx, and below the openai SDK.
"""

from __future__ import annotations

import importlib.util
import json
import warnings

import httpx

import imageshim
from _common import KEY, parse, per_call, server, table

PROMPT = "a lighthouse at dusk"
BODY = {
    "model": "gpt-image-2",
    "prompt": PROMPT,
    "n": 1,
    "size": "1024x1024",
    "quality": "high",
}


def main() -> None:
    args = parse(__doc__ or "")
    calls, rounds = (50, 3) if args.quick else (300, 21)
    warnings.simplefilter("ignore", imageshim.ImageShimWarning)
    with server() as base_url:
        raw = httpx.Client()
        headers = {"Authorization": f"Bearer {KEY}"}

        def raw_call() -> object:
            reply = raw.post(f"{base_url}/images/generations", json=BODY, headers=headers)
            return json.loads(reply.content)["data"][0]["b64_json"]

        config = {
            "routes": {"*": ["openai:gpt-image-2"]},
            "providers": {"openai": {"api_key": KEY, "base_url": base_url}},
        }
        shim = imageshim.OpenAI(config=config)

        def shim_call() -> object:
            return shim.images.generate(model="gpt-image-2", prompt=PROMPT, size="1024x1024", quality="high")

        def shim_dalle_call() -> object:
            return shim.images.generate(
                model="dall-e-3",
                prompt=PROMPT,
                size="1792x1024",
                quality="hd",
                style="vivid",
                response_format="b64_json",
            )

        variants = {
            "raw httpx.Client.post + json": raw_call,
            "imageshim (gpt-image-2, no warnings)": shim_call,
            "imageshim (dall-e-3 style, 4 warnings)": shim_dalle_call,
        }
        if importlib.util.find_spec("openai") is not None:
            import openai

            sdk = openai.OpenAI(api_key=KEY, base_url=base_url, max_retries=0)

            def sdk_call() -> object:
                return sdk.images.generate(
                    model="gpt-image-2", prompt=PROMPT, size="1024x1024", quality="high"
                )

            variants["openai SDK images.generate"] = sdk_call
        results = per_call(variants, calls, rounds)
    base = results["raw httpx.Client.post + json"]
    sdk_time = results.get("openai SDK images.generate")
    rows = []
    for name, seconds in results.items():
        ratio = f"{seconds / base:.2f}x raw"
        if sdk_time:
            ratio += f", {seconds / sdk_time:.2f}x openai"
        rows.append((name, f"{seconds * 1e6:.0f} us/call", ratio))
    table(
        f"sequential per-call time (median of {rounds} alternating rounds of {calls} calls)",
        rows,
        "targets: imageshim <= 1.15x raw httpx and below the openai SDK",
    )


if __name__ == "__main__":
    main()
