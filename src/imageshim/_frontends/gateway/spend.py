"""A request's part of the budgets (:mod:`.budgets`): reserve before its generation runs, settle when it
ends, and the replies a budget answers with. :class:`.images.Images` calls :class:`Spending`; the budget
metrics are set here, where the sums change."""

from __future__ import annotations

from datetime import datetime, timezone
from email.utils import formatdate
from typing import TYPE_CHECKING

from imageshim._core.warnings import logger
from imageshim._frontends.gateway.budgets import Budgets, Hold, Refusal, charged, micro, priced, usd
from imageshim._frontends.wire import WireResponse, error_response

if TYPE_CHECKING:
    from imageshim._core.plan import Plan
    from imageshim._core.response import ImagesResponse
    from imageshim._frontends.gateway.metrics import GatewayMetrics

__all__ = ["Spending", "refused_reply", "unpriced_reply"]


class Spending:
    """``[gateway.budgets]`` for the image routes; ``metrics`` shows the sums (optional)."""

    def __init__(self, budgets: Budgets, metrics: GatewayMetrics | None = None) -> None:
        self.budgets = budgets
        self.metrics = metrics

    async def reserve(self, owner: str, plan: Plan) -> tuple[Plan, Hold] | WireResponse | None:
        """Reserve the plan's estimate against the budgets of the key named ``owner``: the plan to run
        (without fallbacks that have no price) and the reservation; the refusal; or None (no budget).
        Raises :class:`.intent.StateUnavailable` when a shared ledger cannot be reached."""
        limits = self.budgets.limits(owner)
        if limits is None:
            return None
        found = priced(plan)
        if found is None:
            return unpriced_reply(plan)
        run, estimate = found
        held = await self.budgets.reserve(owner, estimate, limits)
        if isinstance(held, Refusal):
            if self.metrics is not None:
                self.metrics.refused(owner, held.window.kind)
                self.metrics.budget(owner, held.tally)
            return refused_reply(held, _covers(run))
        return run, held

    async def release(self, hold: Hold) -> None:
        """Give a reservation back whole: its generation was never started. Never raises (an unreleased
        reservation stays counted until its window ends: the safe side)."""
        try:
            tally = await self.budgets.settle(hold, 0.0)
        except Exception:
            logger.exception("imageshim gateway: releasing a reservation failed")
            return
        if tally is not None and self.metrics is not None:
            self.metrics.budget(hold.label, tally)

    async def settle(
        self, hold: Hold, plan: Plan, response: ImagesResponse | None, error: BaseException | None
    ) -> None:
        """Settle a generation's reservation to what it is charged (:func:`.budgets.charged`). Never
        raises: the reply matters more (an unsettled reservation stays counted)."""
        try:
            tally = await self.budgets.settle(hold, charged(hold.dollars, plan, response, error))
        except Exception:
            logger.exception("imageshim gateway: settling a generation's budget failed")
            return
        if tally is not None and self.metrics is not None:
            self.metrics.budget(hold.label, tally)


def _at(moment: float) -> str:
    return datetime.fromtimestamp(moment, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _covers(plan: Plan) -> str | None:
    """When a fallback's estimate is what is reserved (the dearest target of the route: it may serve the
    request), the words that say so; None when the first target is the dearest."""
    first = plan.targets[0]
    dearest = max(plan.targets, key=lambda t: t.estimate.usd if t.estimate is not None else 0.0)
    if dearest is first or dearest.estimate is None or first.estimate is None:
        return None
    if micro(dearest.estimate.usd) <= micro(first.estimate.usd):
        return None
    return (
        f"the reservation covers the dearest fallback of the route, {dearest.target}, which may serve the "
        f"request if {first.target} (estimated at {usd(micro(first.estimate.usd))}) fails"
    )


def refused_reply(refusal: Refusal, covers: str | None = None) -> WireResponse:
    """OpenAI's ``insufficient_quota`` 429, with ``x-should-retry: false`` (the openai SDKs retry a plain
    429) and no ``Retry-After`` (a client honouring it would sleep until the window resets); when it
    resets is in the message and in ``x-imageshim-budget-resets-at``. ``covers``: when the amount held is
    a fallback's estimate, the words that say so (:func:`_covers`)."""
    window, tally = refusal.window, refusal.tally
    used = tally.spent(window.kind) + tally.reserved(window.kind)
    held = tally.reserved(window.kind)
    in_flight = f" (of which {usd(held)} is reserved for generations in flight)" if held else ""
    what = "estimate" if covers is None else "reservation"
    shown = usd(refusal.amount) if covers is None else f"{usd(refusal.amount)} ({covers})"
    if refusal.amount > refusal.limit:
        why = f"this request's {what}, {shown}, is more than the whole budget"
        advice = "Ask for fewer, smaller or lower-quality images."
        if covers is not None:
            advice += " The operator can take the dearer fallback out of the route."
    else:
        why = f"this request's {what}, {shown}, does not fit"
        advice = f"The budget resets at {_at(window.resets_at)}."
    message = (
        f"imageshim: client key {refusal.label} has used {usd(used)}{in_flight} of its {usd(refusal.limit)} "
        f"budget for the {window.name} ([gateway.budgets]); {why}. Nothing was sent to the provider. {advice}"
    )
    return error_response(
        429,
        message,
        code="insufficient_quota",
        kind="insufficient_quota",
        headers={
            "x-imageshim-budget-window": window.kind,
            "x-imageshim-budget-resets-at": formatdate(window.resets_at, usegmt=True),
        },
    )


def unpriced_reply(plan: Plan) -> WireResponse:
    """The 400 for a request with no price under a budget (nothing is sent)."""
    first = plan.targets[0]
    call = first.template
    shape = ", ".join(
        part
        for part in (call.size and f"size {call.size}", call.quality and f"quality {call.quality}")
        if part
    )
    return error_response(
        400,
        f"imageshim: this client key has a budget ([gateway.budgets]) and the catalog has no price for this "
        f"request on {first.target}{f' ({shape})' if shape else ''}, so it cannot be held against the "
        "budget; nothing was sent. Ask for a size and quality with a known price, or have the operator add "
        "one ([[models]] price_per_image).",
        code="cost_unknown",
    )
