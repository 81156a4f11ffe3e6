"""Prices -> estimates: what a call will cost, decided before any I/O from the catalog's price facts.

One place turns a model's prices (``ModelSpec.price_per_image``, ``price_per_token``, ``output_tokens``,
``output_token_rule``, already profiled for the provider) and a call's size, quality, image count and prompt
into dollars. Every plan target carries its estimate (``MappedRequest.estimate``); the budget cap, price
parity and cheapest-first routing decide with it; the response reports it beside the cost charged; the
scanner and ``imageshim estimate`` print it.

How an estimate is made (README, "Cost"):

- A per-image price for the size and quality (DALL·E, or a ``[[models]]`` entry that gives one) is what the
  provider charges: that price x images.
- Else, token-billed models (GPT Image 2): per image, the output image tokens for the size and quality
  (the catalog's table; a size it does not list from the model's :class:`~.catalog.TokenRule`, else the
  nearest listed size scaled by pixels, UNCERTAIN) x the output rate, plus the prompt's text tokens x the
  text input rate. The prompt's tokens are approximated as its UTF-8 bytes / 4, rounded up (no tokenizer is
  shipped; close for English, high for most other text). Each image counts the prompt once: n images are
  priced as n generations, the upper side (UNCERTAIN whether a request of n pays for its prompt once).
- An edit's input images (and its mask and markup) are priced at a bound: :data:`INPUT_IMAGE_TOKENS`
  image-input tokens each, per image made, at the model's ``image_input`` rate (UNCERTAIN: OpenAI publishes
  no count; the bound is the upper side of what we could read, so a cap or a budget is not passed by an
  edit whose inputs cost more than a generation). A per-image price is taken to cover only the image made:
  the inputs are added where the model has an ``image_input`` rate; a model without one has them noted,
  not priced.
- quality "auto" (or none given where the model's default is "auto") is priced as "high": the model may
  choose it, and an estimate that guards a budget must not come out low.
- size "auto" (or none given): the model's default size; where that is "auto" too, the dearest listed size.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from datetime import date
from typing import TYPE_CHECKING, Any, Literal

from imageshim._core.catalog import ModelSpec

if TYPE_CHECKING:
    from imageshim._core.adapter import ImageCall

__all__ = [
    "INPUT_IMAGE_TOKENS",
    "QUALITY_ORDER",
    "Estimate",
    "estimate",
    "estimate_images",
    "expected_usage",
    "input_images",
    "output_tokens",
    "priced_qualities",
    "ranked_qualities",
    "text_tokens",
]

Basis = Literal["per-image", "tokens"]

#: qualities from the lowest to the highest (a model uses one vocabulary: standard/hd or low..max)
QUALITY_ORDER = ("low", "standard", "medium", "hd", "high", "xhigh", "max")
#: what "auto" is priced as: the upper side of what the model may choose
AUTO_PRICED_AS = "high"
#: the text-token approximation: UTF-8 bytes per token
BYTES_PER_TOKEN = 4
#: image-input tokens priced for each input image of an edit (each image, the mask, the markup), per image
#: made. UNCERTAIN, chosen as the upper side: OpenAI publishes no count, and research/openai.md has none.
#: For GPT Image 2 a developer's measurements (OpenAI developer community, "OpenAI must document the input
#: image pricing of gpt-image-2", 2026-06-12) find each input billed on its own in 32 px patches within a
#: budget of 1,536 patches, so at most 1,536 tokens; GPT Image 1 / 1.5 inputs follow the vision tile
#: formula, at most 85 + 8 x 170 = 1,445 tokens (their input_fidelity "high" adds an amount we could not
#: read: not covered). 1,536 x $8/1M is about $0.012 an input.
INPUT_IMAGE_TOKENS = 1536


@dataclasses.dataclass(frozen=True)
class Estimate:
    """The estimated cost of a whole call (every image of every split call), and how it was made."""

    usd: float
    per_image_usd: float
    images: int
    basis: Basis
    #: where the prices come from (the catalog's ``price_source``)
    source: str | None
    #: the size and quality priced (after "auto" was resolved)
    size: str | None = None
    quality: str | None = None
    #: tokens basis: output image tokens and (approximate) prompt text tokens, per image
    output_tokens: int | None = None
    text_tokens: int | None = None
    #: the day the prices were read (the catalog's ``price_as_of``)
    price_as_of: date | None = None
    #: approximations and UNCERTAIN figures this estimate rests on
    notes: tuple[str, ...] = ()
    #: an edit: the image-input tokens priced per image made (its inputs x :data:`INPUT_IMAGE_TOKENS`)
    input_tokens: int = 0

    def explain(self) -> str:
        """How the amount was made, with its sources (no amount): ``resp.imageshim.estimate_source``."""
        if self.basis == "tokens":
            how = f"{self.output_tokens} image output tokens + ~{self.text_tokens} prompt tokens per image"
        else:
            how = "per-image price"
        if self.input_tokens:
            how += f" + {self.input_tokens} input-image tokens (a bound)"
        shape = ", ".join(part for part in (self.size, self.quality) if part)
        dated = f", as of {self.price_as_of.isoformat()}" if self.price_as_of else ""
        notes = "".join(f"; {note}" for note in self.notes)
        return (
            f"{self.images} x ${self.per_image_usd:.4f} ({how}{f'; {shape}' if shape else ''}){notes}; "
            f"prices: {self.source or 'unknown'}{dated}"
        )


def input_images(call: ImageCall) -> int:
    """How many images an edit sends the model (its images, its mask and its markup): each is priced."""
    return len(call.images) + (call.mask is not None) + (call.markup is not None)


def _inputs(spec: ModelSpec, count: int) -> tuple[int, float, tuple[str, ...]]:
    """The image-input tokens, their price per image made, and a note, for ``count`` input images."""
    if count <= 0:
        return 0, 0.0, ()
    rate = (spec.price_per_token or {}).get("image_input")
    if rate is None:
        return 0, 0.0, (f"the {count} input image(s) of the edit are not priced (no image-input rate known)",)
    tokens = count * INPUT_IMAGE_TOKENS
    return (
        tokens,
        tokens * rate,
        (
            f"{count} input image(s) priced at {INPUT_IMAGE_TOKENS} image-input tokens each, per image made "
            "(a bound: UNCERTAIN, no published count)",
        ),
    )


def text_tokens(prompt: str) -> int:
    """The prompt's text tokens, approximated: UTF-8 bytes / 4, rounded up (no tokenizer is shipped)."""
    return -(-len(prompt.encode("utf-8", "surrogatepass")) // BYTES_PER_TOKEN)


def ranked_qualities(spec: ModelSpec) -> list[str]:
    """The model's qualities, highest first ("auto" left out: it is not a level)."""
    known = [q for q in spec.qualities if q != "auto"]
    return sorted(known, key=lambda q: QUALITY_ORDER.index(q) if q in QUALITY_ORDER else -1, reverse=True)


def _parse(size: str) -> tuple[int, int] | None:
    width, sep, height = size.partition("x")
    if not (sep and width.isdigit() and height.isdigit()) or int(width) <= 0 or int(height) <= 0:
        return None
    return int(width), int(height)


def _nearest(size: tuple[int, int], listed: Mapping[str, int]) -> tuple[str, int] | None:
    """The listed size closest in aspect ratio, then in pixels, with its tokens."""
    width, height = size
    scored = []
    for name, tokens in listed.items():
        dims = _parse(name)
        if dims is not None:
            ratio = abs(math.log((dims[0] / dims[1]) / (width / height)))
            pixels = abs(math.log((dims[0] * dims[1]) / (width * height)))
            scored.append(((ratio, pixels), name, tokens))
    if not scored:
        return None
    _, name, tokens = min(scored)
    return name, tokens


def output_tokens(spec: ModelSpec, size: str, quality: str) -> tuple[int, tuple[str, ...]] | None:
    """Output image tokens of one ``size`` image at ``quality`` on ``spec``, with notes on how they were
    found (empty: from the published table); None when the catalog cannot say."""
    listed = (spec.output_tokens or {}).get(quality) or {}
    if size in listed:
        return int(listed[size]), ()
    dims = _parse(size)
    if dims is None:
        return None
    rule = spec.output_token_rule
    tokens = rule.tokens(dims[0], dims[1], quality) if rule is not None else None
    if tokens is not None:
        return tokens, (
            f"{size} is not in the output-token table: tokens from the model's size rule (UNCERTAIN)",
        )
    near = _nearest(dims, listed)
    if near is None:
        return None
    name, base = near
    near_dims = _parse(name)
    assert near_dims is not None
    scaled = -(-base * dims[0] * dims[1] // (near_dims[0] * near_dims[1]))
    return scaled, (f"{size} is not in the output-token table: {name}'s tokens scaled by pixels (UNCERTAIN)",)


def _level(spec: ModelSpec, quality: str | None) -> tuple[str, tuple[str, ...]]:
    level = quality or spec.default_quality
    if level == "auto":
        return AUTO_PRICED_AS, (f"quality 'auto' priced as '{AUTO_PRICED_AS}', the upper side",)
    return level, ()


def _sized(
    size: str | None, spec: ModelSpec, table: Mapping[str, float]
) -> tuple[str | None, tuple[str, ...]]:
    """The size to price: the one given, else the model's default, else the dearest in ``table``."""
    if size not in (None, "auto"):
        return size, ()
    if spec.default_size not in ("", "auto"):
        return spec.default_size, ()
    if not table:
        return None, ()
    dearest = max(table, key=lambda name: table[name])
    return dearest, (f"size 'auto' priced at {dearest}, the dearest listed size",)


def estimate_images(
    spec: ModelSpec,
    size: str | None,
    quality: str | None,
    images: int,
    *,
    prompt: str | None = None,
    input_images: int = 0,
) -> Estimate | None:
    """The estimate for ``images`` images of ``size`` at ``quality`` on ``spec``; None when no price is known.

    ``size`` None or "auto": the model's default size (where that is "auto" too, the dearest listed size).
    ``quality`` None: the model's default; "auto" is priced as "high". ``prompt``: priced as text input on
    token-billed models (without it, only the images are). ``input_images``: an edit's input images, mask
    and markup (:func:`input_images`), each priced at :data:`INPUT_IMAGE_TOKENS` image-input tokens per
    image made, where the model has an image-input rate.
    """
    if images <= 0:
        return None
    level, notes = _level(spec, quality)
    in_tokens, in_usd, in_notes = _inputs(spec, input_images)
    per_image = (spec.price_per_image or {}).get(level) or {}
    chosen, size_notes = _sized(size, spec, per_image)
    cell = per_image.get(chosen or "")
    if cell is not None:
        per = round(cell + in_usd, 6)
        return Estimate(
            round(per * images, 6),
            per,
            images,
            "per-image",
            spec.price_source,
            chosen,
            level,
            price_as_of=spec.price_as_of,
            notes=(*notes, *size_notes, *in_notes),
            input_tokens=in_tokens,
        )
    rates = spec.price_per_token or {}
    if "output" not in rates:
        return None
    table = (spec.output_tokens or {}).get(level) or {}
    chosen, size_notes = _sized(size, spec, {k: float(v) for k, v in table.items()})
    found = output_tokens(spec, chosen, level) if chosen is not None else None
    if found is None:
        return None
    out, token_notes = found
    text = text_tokens(prompt) if prompt else 0
    per = out * rates["output"] + text * rates.get("text_input", 0.0) + in_usd
    extra = [*notes, *size_notes, *token_notes]
    if text:
        extra.append(f"prompt tokens approximated as UTF-8 bytes / {BYTES_PER_TOKEN}")
    extra.extend(in_notes)
    return Estimate(
        round(per * images, 6),
        round(per, 6),
        images,
        "tokens",
        spec.price_source,
        chosen,
        level,
        out,
        text,
        spec.price_as_of,
        tuple(extra),
        in_tokens,
    )


def estimate(spec: ModelSpec, size: str | None, quality: str | None, n: int) -> Estimate | None:
    """The estimate for a call of ``n`` images (see :func:`estimate_images`)."""
    return estimate_images(spec, size, quality, n)


def priced_qualities(
    spec: ModelSpec, size: str | None, images: int, *, prompt: str | None = None, input_images: int = 0
) -> list[tuple[str, Estimate]]:
    """Each quality of ``spec`` with a price at ``size``, highest first, with its estimate."""
    out = []
    for quality in ranked_qualities(spec):
        priced = estimate_images(spec, size, quality, images, prompt=prompt, input_images=input_images)
        if priced is not None:
            out.append((quality, priced))
    return out


def expected_usage(
    spec: ModelSpec,
    size: str | None,
    quality: str | None,
    images: int,
    prompt: str,
    *,
    input_images: int = 0,
) -> dict[str, Any] | None:
    """The ``usage`` a token-billed model would report for this call, as its estimate assumes it; None for
    a model not billed by tokens. The mock reports it, so its cost is what the same call would cost
    (``input_images``: an edit's inputs, as :func:`estimate_images` prices them)."""
    priced = estimate_images(spec, size, quality, images, prompt=prompt, input_images=input_images)
    if priced is None or priced.basis != "tokens":
        return None
    text, out = (priced.text_tokens or 0) * images, (priced.output_tokens or 0) * images
    image_in = priced.input_tokens * images
    return {
        "input_tokens": text + image_in,
        "input_tokens_details": {"text_tokens": text, "image_tokens": image_in},
        "output_tokens": out,
        "total_tokens": text + image_in + out,
    }
