"""Price parity (``[mapping] quality = "price-parity"``): keep a call at what the model asked for charged.

For a quality the target does not offer (DALL·E 3's ``standard`` / ``hd`` on GPT Image 2), pick the highest
quality of the target whose estimate does not exceed what the requested model charged for the same size,
quality and n; "auto" asked of DALL·E 3 (which OpenAI took) is its default quality, held to that price.
Called from the mapping's quality decision (:meth:`imageshim._core.mapping._Mapper.quality`),
so the choice, its warning and the plan's estimate are made once. Pure: no I/O, no clock.
"""

from __future__ import annotations

import dataclasses

from imageshim._core.catalog import ModelSpec
from imageshim._core.cost import estimate_images, priced_qualities

__all__ = ["ParityChoice", "parity_quality"]

#: estimates are rounded to 6 decimals: "does not exceed" allows for that
_EPSILON = 1e-9


@dataclasses.dataclass(frozen=True)
class ParityChoice:
    """The quality to send (None: parity cannot decide, the quality table applies) and why, in words."""

    quality: str | None
    reason: str


def parity_quality(
    requested: ModelSpec | None,
    asked: str,
    asked_size: str | None,
    spec: ModelSpec,
    target: str,
    size: str | None,
    n: int,
    prompt: str,
) -> ParityChoice:
    """The parity quality of ``spec`` (served as ``target`` at ``size``) for a call that asked
    ``requested`` for quality ``asked`` at ``asked_size``, ``n`` images of ``prompt``. ``asked`` "auto" of
    a model whose default is a level (DALL·E 3: "standard") is held to that default's price."""
    if asked == "auto" and requested is not None and requested.default_quality != "auto":
        asked = requested.default_quality
    reference = estimate_images(requested, asked_size, asked, n) if requested is not None else None
    if requested is None or reference is None:
        shape = f"quality {asked!r} at {asked_size or 'its default size'}"
        return ParityChoice(
            None,
            f"price parity: the catalog has no price of {requested.id if requested else 'the requested model'} "
            f"for {shape}, so the [mapping] quality table applied",
        )
    options = priced_qualities(spec, size, n, prompt=prompt)
    if not options:
        return ParityChoice(
            None,
            f"price parity: the catalog has no price for {target}, so the [mapping] quality table applied "
            "(add one with [[models]] price_per_image or output_tokens)",
        )
    was = (
        f"${reference.usd:.4f} that {requested.id} charged for {asked} {reference.size or ''} (n={n})"
    ).replace("  ", " ")
    fits = [(q, e) for q, e in options if e.usd <= reference.usd + _EPSILON]
    if not fits:
        cheapest, priced = min(options, key=lambda option: option[1].usd)
        return ParityChoice(
            cheapest,
            f"price parity: no quality of {spec.id} costs at most {was}; sent the cheapest, about "
            f"${priced.usd:.4f} on {target}",
        )
    chosen, priced = fits[0]
    higher = options[options.index(fits[0]) - 1] if options[0] != fits[0] else None
    above = f"; {higher[0]!r} would cost about ${higher[1].usd:.4f}" if higher else ""
    return ParityChoice(chosen, f"price parity: about ${priced.usd:.4f} on {target}, against {was}{above}")
