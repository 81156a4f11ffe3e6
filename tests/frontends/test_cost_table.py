"""MIGRATION.md's cost table is made by the code: each DALL·E 3 call shape, its old price, and what the same
call costs on GPT Image 2 under the default mapping and under price parity, on OpenAI and on Runware.

Regenerate it with ``python tests/frontends/test_cost_table.py`` and paste it between the markers.
"""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BEGIN, END = "<!-- cost-table:begin -->", "<!-- cost-table:end -->"
#: the prompt the table prices: 400 bytes, 100 text tokens by imageshim's approximation
PROMPT = "x" * 400
SHAPES = [(q, s) for q in ("standard", "hd") for s in ("1024x1024", "1792x1024", "1024x1792")]


def cost_table() -> str:
    from imageshim._core.cost import estimate_images
    from imageshim._core.request import request_from_kwargs
    from imageshim._frontends.engine import Engine

    day = date(2026, 11, 27)
    providers = ("openai", "runware")
    engines = {
        (provider, mode): Engine(
            {
                "routes": {"dall-e-3": [f"{provider}:gpt-image-2"]},
                "mapping": {"quality": "price-parity"} if mode == "parity" else {},
            },
            clock=lambda: day,
        )
        for provider in providers
        for mode in ("default", "parity")
    }
    old = Engine({}, clock=lambda: day)
    dalle = old.catalog.get("dall-e-3")
    assert dalle is not None
    old_prices = {p: old.adapter(p).profile(dalle) for p in providers}
    head = (
        "| DALL·E 3 call | DALL·E 3 on OpenAI | DALL·E 3 on Runware | OpenAI GPT Image 2, default | "
        "OpenAI GPT Image 2, price parity | Runware GPT Image 2, default | Runware GPT Image 2, price parity |"
    )
    rows = [head, "|" + "---|" * 7]
    for quality, size in SHAPES:
        cells = [f"`{quality}` {size}"]
        for provider in providers:
            priced = estimate_images(old_prices[provider], size, quality, 1)
            assert priced is not None
            cells.append(f"${priced.usd:.3f}")
        for provider in providers:
            for mode in ("default", "parity"):
                request = request_from_kwargs(
                    {"prompt": PROMPT, "model": "dall-e-3", "size": size, "quality": quality}
                )
                target = engines[(provider, mode)].plan(request).targets[0]
                assert target.estimate is not None
                cells.append(f"`{target.template.quality}` ${target.estimate.usd:.4f}")
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def test_migration_cost_table_matches_the_code() -> None:
    text = (ROOT / "MIGRATION.md").read_text(encoding="utf-8")
    assert BEGIN in text
    assert END in text
    written = text.split(BEGIN, 1)[1].split(END, 1)[0].strip()
    assert written == cost_table(), "regenerate: python tests/frontends/test_cost_table.py"


if __name__ == "__main__":
    sys.path[:0] = [str(ROOT / "src"), str(ROOT / "adapters")]
    print(cost_table())
