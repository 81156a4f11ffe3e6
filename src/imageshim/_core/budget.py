"""What planning does with estimates: cheapest-first order (``[routing] prefer``) and the per-call cap
(``[budget] max_usd_per_call``). Pure: no I/O, no clock.

:func:`spend_policy` runs once, in planning (:meth:`imageshim._frontends.engine.Engine.plan`), after every
target of the route is mapped: the native client, the in-process transport and the gateway order and refuse
the same way, and a refused call sends nothing.

- ``prefer = "cheapest"``: targets by estimate, lowest first; ties keep the configured order, and targets
  the catalog cannot price come after the priced ones, in the configured order. Fallbacks still follow, in
  that order, when a target fails.
- ``max_usd_per_call``: the first target must fit (its estimate at most the cap), else
  :class:`~imageshim.BudgetExceededError` names the estimate, the cap and the cheapest setting that fits.
  A first target without an estimate is refused too (the safe side: a call that cannot be priced cannot be
  held to a cap); the message says how to add a price with ``[[models]]``. Fallbacks over the cap, or
  without a price, are left out of the call with a log line.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from imageshim._core.config import BudgetPolicy, RoutingPolicy
from imageshim._core.cost import Estimate, estimate_images, input_images, ranked_qualities
from imageshim._core.errors import BudgetExceededError
from imageshim._core.mapping import MappedRequest
from imageshim._core.sizes import parse_size
from imageshim._core.warnings import logger

__all__ = ["cheapest_first", "cheapest_fit", "in_order", "spend_policy"]

#: estimates are rounded to 6 decimals: "at most the cap" allows for that
_EPSILON = 1e-9


def spend_policy(
    targets: Sequence[MappedRequest], budget: BudgetPolicy, routing: RoutingPolicy
) -> tuple[MappedRequest, ...]:
    """The targets to try, in order: ordered by ``routing``, held to ``budget`` (raises for the first)."""
    ordered = in_order(targets, routing)
    cap = budget.max_usd_per_call
    if cap is None or not ordered:
        return tuple(ordered)
    first, *rest = ordered
    kept = [first]
    fitting: list[tuple[MappedRequest, Estimate]] = []
    for target in rest:
        priced = target.estimate
        if priced is not None and priced.usd <= cap + _EPSILON:
            kept.append(target)
            fitting.append((target, priced))
        else:
            why = (
                "the catalog has no price for it" if priced is None else f"its estimate is ${priced.usd:.4f}"
            )
            logger.info(
                "imageshim: fallback %s left out of this call: %s, and [budget] max_usd_per_call is $%.4f",
                target.target,
                why,
                cap,
            )
    _check_first(first, cap, fitting)
    return tuple(kept)


def in_order(targets: Sequence[MappedRequest], routing: RoutingPolicy) -> list[MappedRequest]:
    """The targets in the order they are tried: the route's, or cheapest first (``[routing] prefer``)."""
    return cheapest_first(targets) if routing.prefer == "cheapest" else list(targets)


def cheapest_first(targets: Sequence[MappedRequest]) -> list[MappedRequest]:
    """Priced targets by estimate (a stable sort: ties keep their order), then the unpriced, in order."""
    keyed = [(target.estimate, index, target) for index, target in enumerate(targets)]
    keyed.sort(key=lambda item: (item[0] is None, item[0].usd if item[0] else 0.0, item[1]))
    return [target for _, _, target in keyed]


def cheapest_fit(target: MappedRequest, cap: float) -> dict[str, Any] | None:
    """The change to ``target``'s call that fits ``cap``: the highest quality at the size asked, else the
    largest listed size at the highest quality that fits; None when no priced setting fits."""
    spec, call = target.spec, target.template
    qualities = ranked_qualities(spec)
    tries = [(q, call.size) for q in qualities] + [
        (q, s) for q in qualities for s in _listed_sizes(target, q)
    ]
    inputs = input_images(call)  # an edit's inputs cost the same at every setting: they must fit too
    for quality, size in tries:
        priced = estimate_images(spec, size, quality, target.n, prompt=call.prompt, input_images=inputs)
        if priced is not None and priced.usd <= cap + _EPSILON:
            return {"quality": quality, "size": priced.size, "estimate_usd": priced.usd}
    return None


def _listed_sizes(target: MappedRequest, quality: str) -> list[str]:
    """The sizes the catalog prices at ``quality`` and the target takes, largest first."""
    spec = target.spec
    names = {
        *((spec.price_per_image or {}).get(quality) or {}),
        *((spec.output_tokens or {}).get(quality) or {}),
    }
    sized = [(dims, name) for name in names if (dims := parse_size(name)) and spec.size_allowed(*dims)]
    return [name for dims, name in sorted(sized, key=lambda item: -item[0][0] * item[0][1])]


def _shape(target: MappedRequest) -> str:
    call = target.template
    return f"{call.size or 'size auto'}, quality {call.quality or 'auto'}, n={target.n}"


def _check_first(first: MappedRequest, cap: float, fitting: list[tuple[MappedRequest, Estimate]]) -> None:
    priced = first.estimate
    if priced is not None and priced.usd <= cap + _EPSILON:
        return
    elsewhere = ""
    if fitting:
        other, other_priced = min(fitting, key=lambda item: item[1].usd)
        elsewhere = (
            f' {other.target} would fit at about ${other_priced.usd:.4f}: [routing] prefer = "cheapest" '
            "tries the cheapest target first."
        )
    if priced is None:
        spec, call = first.spec, first.template
        raise BudgetExceededError(
            f"imageshim: [budget] max_usd_per_call is ${cap:.4f} and the catalog has no price for this call "
            f"on {first.target} ({_shape(first)}), so it cannot be held to the cap: nothing was sent. Add a "
            f'price with [[models]] (id = "{spec.id}", price_per_image = {{ {call.quality or "high"} = '
            f'{{ "{call.size or "1024x1024"}" = 0.05 }} }}, or output_tokens for a token-billed model), or '
            f"route the call to a priced target.{elsewhere}",
            estimate_usd=None,
            cap_usd=cap,
            target=first.target,
        )
    fits = cheapest_fit(first, cap)
    if fits is None:
        advice = f"No setting of {first.spec.id} the catalog prices fits the cap."
        param = None
    else:
        now = {"quality": priced.quality, "size": priced.size}
        changed = {k: fits[k] for k in ("quality", "size") if fits[k] != now[k]}
        shown = ", ".join(f"{k}={v!r}" for k, v in changed.items())
        advice = f"Cheapest setting that fits: {shown} (about ${fits['estimate_usd']:.4f})."
        param = "quality" if fits["size"] == priced.size else "size"
    raise BudgetExceededError(
        f"imageshim: the estimate for this call on {first.target} is ${priced.usd:.4f} ({_shape(first)}), "
        f"above [budget] max_usd_per_call = ${cap:.4f}; nothing was sent. {advice}{elsewhere}",
        estimate_usd=priced.usd,
        cap_usd=cap,
        target=first.target,
        fits=fits,
        param=param,
    )
