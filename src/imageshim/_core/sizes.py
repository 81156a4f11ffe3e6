"""Size fitting: the nearest size a model accepts, keeping the orientation. Pure functions."""

from __future__ import annotations

import math
import re

from imageshim._core.catalog import ModelSpec, SizeRule

__all__ = ["fit_size", "orientation", "parse_size"]

_SIZE_RE = re.compile(r"^([1-9][0-9]{0,5})x([1-9][0-9]{0,5})$")


def parse_size(size: str) -> tuple[int, int] | None:
    """``"1792x1024"`` -> ``(1792, 1024)``; ``None`` when malformed."""
    match = _SIZE_RE.match(size)
    return (int(match.group(1)), int(match.group(2))) if match else None


def orientation(width: int, height: int) -> int:
    """1 landscape, -1 portrait, 0 square."""
    return (width > height) - (width < height)


def _score(width: int, height: int, cw: int, ch: int) -> tuple[float, float]:
    # First keep the aspect ratio, then the pixel count (both on a log scale: 2x off counts the same
    # whichever way).
    return (
        abs(math.log((cw / ch) / (width / height))),
        abs(math.log((cw * ch) / (width * height))),
    )


def _fit_list(width: int, height: int, sizes: list[tuple[int, int]]) -> tuple[int, int] | None:
    if not sizes:
        return None
    same = [s for s in sizes if orientation(*s) == orientation(width, height)]
    return min(same or sizes, key=lambda s: _score(width, height, *s))


def _fit_rule(width: int, height: int, rule: SizeRule) -> tuple[int, int] | None:
    step = rule.multiple_of
    ratio = min(max(width / height, 1 / rule.max_ratio), rule.max_ratio)
    area = min(max(width * height, rule.min_pixels), rule.max_pixels)
    # Ideal real-valued size with that ratio and area, clamped to the edge limits.
    w = math.sqrt(area * ratio)
    h = w / ratio
    scale = min(1.0, rule.max_edge / max(w, h))
    w, h = w * scale, h * scale
    grow = max(1.0, rule.min_edge / min(w, h))
    w, h = w * grow, h * grow
    base_w, base_h = round(w / step), round(h / step)
    want = orientation(width, height)
    best: tuple[int, int] | None = None
    best_score: tuple[int, float, float] | None = None
    for dw in range(-3, 4):
        for dh in range(-3, 4):
            cw, ch = (base_w + dw) * step, (base_h + dh) * step
            if cw <= 0 or ch <= 0 or not rule.allows(cw, ch):
                continue
            score = (int(orientation(cw, ch) != want), *_score(width, height, cw, ch))
            if best_score is None or score < best_score:
                best, best_score = (cw, ch), score
    return best


def fit_size(size: str, spec: ModelSpec) -> str | None:
    """The size ``spec`` accepts that is nearest to ``size`` (``size`` itself when already valid).

    Same orientation when the model has one; ``None`` when the model accepts no explicit size at all.
    """
    parsed = parse_size(size)
    if parsed is None:
        return None
    width, height = parsed
    if spec.size_allowed(width, height):
        return size
    candidates: list[tuple[int, int]] = []
    if spec.size_rule is not None:
        fitted = _fit_rule(width, height, spec.size_rule)
        if fitted is not None:
            candidates.append(fitted)
    candidates += [p for p in (parse_size(s) for s in spec.sizes if s != "auto") if p is not None]
    best = _fit_list(width, height, candidates)
    return None if best is None else f"{best[0]}x{best[1]}"
