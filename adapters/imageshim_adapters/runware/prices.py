"""What Runware charges, as catalog facts beside the adapter (runware.md; the seed's recorded replies).

Runware reports what each image cost (``includeCost``: ``resp.imageshim.cost_usd`` is exact); these facts
price a call before it is sent: estimates, ``[budget]`` caps, price parity, cheapest-first routing. A
``[[models]]`` entry that sets a price wins over them (its price then applies on every provider).

- GPT Image 2 (``openai:gpt-image@2``): Runware's page lists OpenAI's token prices ($5/1M text in, $8/1M image
  in, $30/1M image out) and OpenAI's per-image estimates at 1024x1024 (low $0.006, medium $0.053, high
  $0.211), and its example reply reports ``cost: 0.16538`` for 1536x1024 high: OpenAI's token counts
  (the catalog's table and rule) priced at those rates, plus the prompt. Same facts, Runware's citation.
- DALL·E 3 (``openai:2@3``): per image. The seed's four recorded replies (hd, 1792x1024 and 1024x1792)
  report $0.12, OpenAI's price; the other cells are OpenAI's prices, assumed on Runware (UNCERTAIN: no
  Runware source lists them; the model is deactivated, so only a scan of old code prices it).
- Every other model: OpenAI's prices assumed on Runware (UNCERTAIN). users.md reports ``openai:4@1``
  (GPT Image 1.5) at about $0.136 with size and quality unstated: not usable as a price.
"""

from __future__ import annotations

from typing import Any

from imageshim.adapterkit import ModelSpec

__all__ = ["PRICES", "prices_for"]

RUNWARE_GPT_IMAGE_2 = "https://runware.ai/docs/models/openai-gpt-image-2"
RUNWARE_DALLE3 = "https://runware.ai/docs/models/openai-dalle-3"
#: the day runware.md (which holds these) was compiled
READ = "2026-11-24"
#: the facts that say what a model costs (a [[models]] entry that sets one keeps the user's prices)
_PRICE_FIELDS = frozenset({"price_per_image", "price_per_token", "output_tokens", "output_token_rule"})

PRICES: dict[str, dict[str, Any]] = {
    "dall-e-3": {
        "price_per_image": {
            "standard": {"1024x1024": 0.040, "1792x1024": 0.080, "1024x1792": 0.080},
            "hd": {"1024x1024": 0.080, "1792x1024": 0.120, "1024x1792": 0.120},
        },
        "price_source": (
            f"{RUNWARE_DALLE3}: hd 1792x1024 and 1024x1792 cost 0.12 in Runware's recorded replies (the seed); "
            "the other cells are OpenAI's prices, assumed on Runware (UNCERTAIN)"
        ),
        "price_as_of": READ,
    },
    "gpt-image-2": {
        "price_per_token": {"text_input": 5.0e-6, "image_input": 8.0e-6, "output": 30.0e-6},
        "price_source": (
            f"{RUNWARE_GPT_IMAGE_2} (token prices and 1024x1024 per-image estimates as OpenAI's; example reply "
            "cost 0.16538 for 1536x1024 high); output tokens: OpenAI's, as the catalog (UNCERTAIN)"
        ),
        "price_as_of": READ,
    },
}


def prices_for(spec: ModelSpec) -> dict[str, Any]:
    """The price facts Runware changes for ``spec``: none where the user's ``[[models]]`` set a price."""
    if _PRICE_FIELDS & spec.user_fields:
        return {}
    known = PRICES.get(spec.id)
    if known is not None:
        return known
    if spec.price_source is None:
        return {}
    return {"price_source": f"{spec.price_source}; OpenAI's price, assumed on Runware (UNCERTAIN)"}
