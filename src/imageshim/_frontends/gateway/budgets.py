"""Budgets per client key (``[gateway.budgets]``): what each key may spend per UTC day and per UTC month.

The money rule, in the order a request meets it (:class:`.images.Images` applies it):

1. A request that claims a new generation reserves its estimate (the highest estimate among the plan's
   targets: a fallback may serve it) against its key's day and month at once, atomically, before anything
   is sent: requests arriving together can never spend past a budget between them. A request that joins or
   replays a generation is neither charged nor refused: its generation was paid for once.
2. When the generation ends, its reservation is settled (:func:`charged`): to the cost charged
   (``resp.imageshim.cost_usd``: provider-reported, else the catalog's estimate); to nothing only for a
   generation known not to have run (:func:`never_ran`: nothing was sent, or the provider refused it with
   a 4xx or said it did not run it, as the execution policy reads it before sending a request again); to
   the served target's estimate for a failure after the provider answered (bytes that are not an image,
   an image URL with a credential, a 5xx that is not retried: it may have been billed); to the whole
   reservation for a result unknown (a lost reply, a crash) -- the safe side: it may have been billed.
   Settling is idempotent per reservation (:attr:`Hold.ident`): a settlement written twice (a retry after
   a late reply) counts once.
3. A request whose estimate does not fit answers OpenAI's ``insufficient_quota`` 429
   (:func:`.spend.refused_reply`) and nothing is sent to the provider. A generation is never cut short for
   its budget: a cost above its estimate is charged in full, and the next request sees it.

A request whose price is unknown (no catalog price for its size and quality on its first target) cannot be
held against a budget: under one it is refused, nothing sent (:func:`.spend.unpriced_reply`, a 400), and a
fallback target without a price is left out of the plan. The safe behaviour: a budget that lets unpriced calls
through is no budget.

Amounts are integers of micro-dollars (1e-6 USD) everywhere they are kept, so sums never drift. Windows are
UTC calendar days and months, read from the gateway's wall clock (injectable), never from a fixed date. The
ledgers that keep the sums: :mod:`.budgets_local` (this process; a file beside a file store) and
:mod:`.budgets_redis` (shared by replicas).
"""

from __future__ import annotations

import dataclasses
import math
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Literal, Protocol

from imageshim._core.config import GatewayBudgets
from imageshim._core.errors import (
    APIConnectionError,
    APIError,
    ImageShimError,
    PartialResultError,
    ResultUnknownError,
)
from imageshim._frontends.wire import estimate_header

if TYPE_CHECKING:
    from imageshim._core.plan import Plan
    from imageshim._core.response import ImagesResponse

__all__ = [
    "KEEP_AFTER",
    "BudgetLedger",
    "Budgets",
    "Hold",
    "Limits",
    "Refusal",
    "Tally",
    "Window",
    "charged",
    "enabled",
    "estimate_headers",
    "micro",
    "never_ran",
    "priced",
    "usd",
    "windows",
]

Kind = Literal["day", "month"]
MICRO = 1_000_000
#: a window's sums are kept this long after it ends: a generation that began in it settles there
KEEP_AFTER = 86400.0


def micro(dollars: float) -> int:
    """Dollars as whole micro-dollars (never negative). Raises ValueError for an amount that is not finite
    (prices and costs are checked before they get here: this is the last guard of the sums)."""
    if not math.isfinite(dollars):
        raise ValueError(f"a budget amount must be a finite number of dollars (got {dollars!r})")
    return max(0, round(dollars * MICRO))


def usd(amount: int) -> str:
    """``$0.053``, ``$5.00``: micro-dollars as a price, without trailing zeros past the cents."""
    text = f"{amount / MICRO:.6f}".rstrip("0")
    whole, _, cents = text.partition(".")
    return f"${whole}.{cents.ljust(2, '0')}"


@dataclasses.dataclass(frozen=True)
class Window:
    """One UTC calendar window: ``ident`` is ``2026-11-27`` (a day) or ``2026-11`` (a month)."""

    kind: Kind
    ident: str
    starts_at: float
    #: Unix seconds at which the next window begins
    resets_at: float

    @property
    def name(self) -> str:
        return f"UTC {self.kind} {self.ident}"


def windows(wall: float) -> tuple[Window, Window]:
    """The UTC day and the UTC month that Unix time ``wall`` falls in."""
    now = datetime.fromtimestamp(wall, timezone.utc)
    day = datetime(now.year, now.month, now.day, tzinfo=timezone.utc)
    month = datetime(now.year, now.month, 1, tzinfo=timezone.utc)
    next_month = datetime(now.year + now.month // 12, now.month % 12 + 1, 1, tzinfo=timezone.utc)
    return (
        Window("day", day.strftime("%Y-%m-%d"), day.timestamp(), (day + timedelta(days=1)).timestamp()),
        Window("month", month.strftime("%Y-%m"), month.timestamp(), next_month.timestamp()),
    )


@dataclasses.dataclass(frozen=True)
class Limits:
    """A key's budgets in micro-dollars (None: no budget for that window)."""

    day: int | None
    month: int | None

    def of(self, kind: Kind) -> int | None:
        return self.day if kind == "day" else self.month


@dataclasses.dataclass(frozen=True)
class Tally:
    """A key's sums in its current windows, micro-dollars: settled (``spent``: charged costs and results
    unknown) and ``reserved`` for generations in flight."""

    day_spent: int = 0
    day_reserved: int = 0
    month_spent: int = 0
    month_reserved: int = 0

    def spent(self, kind: Kind) -> int:
        return self.day_spent if kind == "day" else self.month_spent

    def reserved(self, kind: Kind) -> int:
        return self.day_reserved if kind == "day" else self.month_reserved


def _hold_id() -> str:
    return uuid.uuid4().hex


@dataclasses.dataclass(frozen=True)
class Hold:
    """A reservation of ``amount`` micro-dollars in the windows it was made in (settled there, even when
    the generation ends after midnight). ``ident`` names it in the ledger: reserving or settling it a second
    time (a retry after a late reply) changes nothing."""

    label: str
    amount: int
    day: Window
    month: Window
    ident: str = dataclasses.field(default_factory=_hold_id)

    @property
    def dollars(self) -> float:
        return self.amount / MICRO


@dataclasses.dataclass(frozen=True)
class Refusal:
    """The reservation did not fit ``window``'s ``limit``; ``tally``: the key's sums before it."""

    label: str
    window: Window
    limit: int
    amount: int
    tally: Tally


class BudgetLedger(Protocol):
    """Where the sums are kept: this process (:class:`.budgets_local.LocalLedger`) or Redis
    (:class:`.budgets_redis.RedisLedger`). ``reserve`` is atomic: it checks both windows and adds to
    both, or refuses and adds nothing (the month is checked first: a spent month is the longer wait).
    Both are idempotent per :attr:`Hold.ident`: a reservation or a settlement applied again is a no-op."""

    async def reserve(
        self, label: str, amount: int, limits: Limits, day: Window, month: Window, ident: str | None = None
    ) -> Hold | Refusal:
        """Reserve ``amount`` as the hold named ``ident`` (None: a new name); a hold already reserved under
        that name is returned as it is. Raises :class:`.intent.StateUnavailable` when a shared ledger
        cannot be reached."""
        ...

    async def settle(self, hold: Hold, charged: int) -> Tally | None:
        """Replace ``hold``'s reservation by ``charged`` (0: released), once: a hold already settled is
        left as it is. The sums after it (None: unknown)."""
        ...

    async def tally(self, label: str, day: Window, month: Window) -> Tally: ...

    async def close(self) -> None: ...


class Budgets:
    """``[gateway.budgets]`` over a :class:`BudgetLedger`, on the wall clock ``wall`` (Unix seconds)."""

    def __init__(
        self, policy: GatewayBudgets, ledger: BudgetLedger, *, wall: Callable[[], float] = time.time
    ) -> None:
        self.policy = policy
        self.ledger = ledger
        self.wall = wall

    def limits(self, label: str) -> Limits | None:
        """The budgets of the key named ``label``: its override's, window by window, else the defaults
        (None: no budget at all)."""
        override = self.policy.keys.get(label)
        day, month = self.policy.usd_per_day, self.policy.usd_per_month
        if override is not None:
            day = override.usd_per_day if override.usd_per_day is not None else day
            month = override.usd_per_month if override.usd_per_month is not None else month
        if day is None and month is None:
            return None
        return Limits(None if day is None else micro(day), None if month is None else micro(month))

    async def reserve(self, label: str, dollars: float, limits: Limits) -> Hold | Refusal:
        day, month = windows(self.wall())
        return await self.ledger.reserve(label, micro(dollars), limits, day, month, _hold_id())

    async def settle(self, hold: Hold, dollars: float) -> Tally | None:
        return await self.ledger.settle(hold, micro(dollars))

    async def tally(self, label: str) -> Tally:
        day, month = windows(self.wall())
        return await self.ledger.tally(label, day, month)


def enabled(policy: GatewayBudgets) -> bool:
    """Whether any key has a budget."""
    if policy.usd_per_day is not None or policy.usd_per_month is not None:
        return True
    return any(k.usd_per_day is not None or k.usd_per_month is not None for k in policy.keys.values())


# ----- the plan's price --------------------------------------------------------------------------------
def priced(plan: Plan) -> tuple[Plan, float] | None:
    """The plan held against a budget, and its reservation: the targets with a price (a fallback without
    one is left out: its cost could not be held) and the highest of their estimates (any of them may
    serve). None when the first target has no price."""
    first = plan.targets[0].estimate if plan.targets else None
    if first is None:
        return None
    targets = tuple(target for target in plan.targets if target.estimate is not None)
    reserve = max(target.estimate.usd for target in targets if target.estimate is not None)
    if len(targets) < len(plan.targets):
        plan = dataclasses.replace(plan, targets=targets)
    return plan, reserve


def estimate_headers(plan: Plan) -> dict[str, str]:
    """``x-imageshim-estimate-usd``: what the plan's first target would charge, before anything is sent
    (absent when the catalog has no price for it)."""
    estimate = plan.targets[0].estimate if plan.targets else None
    return estimate_header(estimate.usd if estimate is not None else None)


# ----- the money rule ----------------------------------------------------------------------------------
def charged(
    reserved: float, plan: Plan, response: ImagesResponse | None, error: BaseException | None
) -> float:
    """What a finished generation is charged, in dollars, given what it reserved and how it ended
    (``response``, else ``error``). See the module's docstring."""
    if response is None and isinstance(error, PartialResultError):
        response = error.response
    if response is not None:
        report = response.imageshim
        cost = report.cost_usd
        if cost is None or (cost <= 0 and response.data):
            # No price came back, or a cost of 0 for images that did come (UNCERTAIN: a provider that
            # failed to report it, the "costs logged as 0" users saw): the served target's estimate, else
            # what was held. The safe side: a free image is rarer than a missing figure.
            cost = _estimate_of(plan, report.route, reserved)
        if _unknown(report.failures):  # some of its calls may have made (and billed) images
            cost = max(cost, reserved)
        return cost
    if never_ran(error):
        return 0.0
    if isinstance(error, APIError) and not error.reply_lost:
        # The provider answered, and what ended the call came after it may have generated: bytes that are
        # not an image, an image URL carrying a credential, a 5xx that is not sent again. Billed, as far
        # as anyone here can tell: the estimate of the target that answered (no reported cost survives).
        attempts = getattr(error, "attempts", None) or []
        served = attempts[-1].target if attempts else None
        return _estimate_of(plan, served, reserved)
    return reserved  # a result unknown, or an unexpected failure: what happened at the provider is unknown


def never_ran(error: BaseException | None) -> bool:
    """Whether a failed generation is known not to have run, so nothing is charged: the shim refused it
    or nothing was sent (configuration, a deadline already passed, no connection), or the provider refused
    it with a 4xx, or it failed in a way the execution policy sends again (a retryable failure whose reply
    was not lost: :mod:`imageshim._core.policy` re-sends only what did not run)."""
    if not isinstance(error, ImageShimError):
        return False  # a crash, or nothing known
    if not isinstance(error, APIError):
        return True  # configuration: nothing was sent
    if error.reply_lost:
        return False
    if error.provider is None or isinstance(error, APIConnectionError):
        return True  # refused before any I/O, or nothing reached the provider
    status = error.status_code
    if status is not None and 400 <= status < 500:
        return True  # the provider refused it before generating
    return error.retryable


def _estimate_of(plan: Plan, target: str | None, reserved: float) -> float:
    """The estimate of ``target`` in ``plan``, else what was reserved."""
    served = next((t.estimate for t in plan.targets if t.target == target), None)
    return served.usd if served is not None else reserved


def _unknown(failures: Sequence[dict[str, object]]) -> bool:
    return any(
        f.get("error") == ResultUnknownError.__name__ or f.get("code") == "result_unknown" for f in failures
    )
