"""Prices -> estimates: what a call will cost, decided before any I/O from the catalog's price facts.

One place turns a model's prices (``ModelSpec.price_per_image`` / ``price_per_token``, already profiled for
the provider) and a call's size, quality and image count into dollars. The mapping attaches the estimate to
every target of a plan; the response reports it beside the cost charged; the scanner and ``imageshim
estimate`` print it.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from imageshim._core.catalog import ModelSpec

__all__ = ["Estimate", "estimate", "estimate_images"]

Basis = Literal["per-image", "tokens"]


@dataclasses.dataclass(frozen=True)
class Estimate:
    """The estimated cost of a whole call (every image of every split call)."""

    usd: float
    per_image_usd: float
    images: int
    basis: Basis
    #: where the prices come from (the catalog's ``price_source``)
    source: str | None

    def describe(self) -> str:
        return (
            f"${self.usd:.4f} ({self.images} x ${self.per_image_usd:.4f}, {self.basis} price; {self.source})"
        )


def estimate_images(spec: ModelSpec, size: str | None, quality: str | None, images: int) -> Estimate | None:
    """The estimate for ``images`` images of ``size`` at ``quality`` on ``spec``; None when no price is known.

    ``size`` None or "auto": the model's default size (when that is itself "auto", 1024x1024, the size the
    GPT image models' published per-image prices are given for). ``quality`` None: the model's default.
    """
    table = spec.price_per_image or {}
    if not table or images <= 0:
        return None
    chosen = size if size not in (None, "auto") else spec.default_size
    if chosen in (None, "auto"):
        chosen = "1024x1024"
    level = quality or spec.default_quality
    per = (table.get(level) or {}).get(chosen or "")
    if per is None:
        return None
    return Estimate(round(per * images, 6), per, images, "per-image", spec.price_source)


def estimate(spec: ModelSpec, size: str | None, quality: str | None, n: int) -> Estimate | None:
    """The estimate for a call of ``n`` images (see :func:`estimate_images`)."""
    return estimate_images(spec, size, quality, n)
