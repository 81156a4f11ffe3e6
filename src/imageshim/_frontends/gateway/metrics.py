"""The gateway's Prometheus metrics, all made from the :class:`AccessRecord` of each request.

Each :class:`GatewayMetrics` has its own ``CollectorRegistry`` (never the global default one), so that several
apps in one process (tests, a host mounting two gateways) do not collide::

    imageshim_requests_total{route, requested_model, served_model, status}   every request
    imageshim_request_duration_seconds{route}                                histogram, 5 ms .. 300 s
    imageshim_joined_requests_total{intent}                                  answered from a generation
                                                                             in flight (joined) or stored
                                                                             (replayed)
    imageshim_images_total{requested_model, served_model}                    once per generation
    imageshim_provider_calls_total{served_model}                             once per generation
    imageshim_retries_total{served_model}                                    once per generation
    imageshim_recoveries_total{served_model}                                 once per generation
    imageshim_warnings_total{category}                                       once per generation
    imageshim_cost_usd_total{client, served_model}                           once per generation
    imageshim_budget_spent_usd{client, window}                               gauge: a key's current UTC day
                                                                             or month, as this replica last
                                                                             saw it ([gateway.budgets])
    imageshim_budget_reserved_usd{client, window}                            gauge: held for generations
                                                                             in flight, likewise
    imageshim_budget_refusals_total{client, window}                          429 insufficient_quota
    imageshim_in_flight_requests                                             gauge (the app's middleware)
    imageshim_store_bytes                                                    gauge, read at each scrape
                                                                             (only with ``store_bytes``)

"Once per generation": a request that joined a generation already in flight, or was replayed from a stored
one (``record.joined``), counts in ``requests_total``, the duration and ``joined_requests_total``, and nothing
at the providers again. ``client`` is the client key's hash (``"anonymous"`` without keys), never the key;
models absent are ``""``; ``status`` is the HTTP status as a string; ``window`` is ``day`` or ``month``. The
budget metrics are set by the budgets (:meth:`GatewayMetrics.budget`, :meth:`GatewayMetrics.refused`)
when a key reserves, settles or is refused, not from the access record.

Cardinality: every label value is bounded, since each distinct value is a series kept for the life of the
process. ``requested_model`` is what a client typed: with ``known_models`` (e.g. the catalog's lookup) a model
it does not know is counted as ``"other"``; without it, the first ``max_values`` (200) distinct values are
kept and any later new one is ``"other"``. The same cap (and a length limit of 100 characters) guards the
labels that come from configuration or code (``route``, ``served_model``, ``category``, ``client``), in case
one of them turns out to be larger than expected. Values already admitted stay admitted.
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from imageshim._frontends.gateway.record import AccessRecord

if TYPE_CHECKING:
    from imageshim._frontends.gateway.budgets import Kind, Tally

__all__ = ["DURATION_BUCKETS", "OTHER", "GatewayMetrics"]

#: seconds: a rejected request takes milliseconds, an image generation seconds to minutes
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 90, 120, 180, 300)
#: the label value of everything past a label's cap (or not a known model)
OTHER = "other"
_MAX_LENGTH = 100


class _Bounded:
    """One label's admitted values: at most ``cap`` distinct ones (and only those ``allowed`` says yes to),
    everything else :data:`OTHER`."""

    def __init__(self, cap: int, allowed: Callable[[str], bool] | None = None) -> None:
        self._cap = cap
        self._allowed = allowed
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, value: str | None) -> str:
        if not value:
            return ""
        if value in self._seen:
            return value
        if len(value) > _MAX_LENGTH or (self._allowed is not None and not self._allowed(value)):
            return OTHER
        with self._lock:
            if len(self._seen) >= self._cap:
                return OTHER
            self._seen.add(value)
        return value


class GatewayMetrics:
    """The gateway's metrics: :meth:`observe` one :class:`AccessRecord` per request, :meth:`render` for
    ``GET /metrics``. ``store_bytes`` is called at each scrape (``imageshim_store_bytes``); ``known_models``
    says whether a requested model may be a label value (see the module's docstring for the cardinality
    rule). Thread-safe."""

    def __init__(
        self,
        store_bytes: Callable[[], int] | None = None,
        *,
        known_models: Callable[[str], bool] | None = None,
        max_values: int = 200,
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        self._requested = _Bounded(max_values, known_models)
        self._route = _Bounded(max_values)
        self._served = _Bounded(max_values)
        self._category = _Bounded(max_values)
        self._client = _Bounded(max_values)
        self._requests = Counter(
            "imageshim_requests",
            "Requests answered, by route, requested model, served model ('provider:model') and HTTP status.",
            ["route", "requested_model", "served_model", "status"],
            registry=registry,
        )
        self._duration = Histogram(
            "imageshim_request_duration_seconds",
            "Time from the request's arrival to its reply, by route.",
            ["route"],
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self._joined = Counter(
            "imageshim_joined_requests",
            "Requests answered from a generation already in flight (joined) or stored (replayed).",
            ["intent"],
            registry=registry,
        )
        self._images = Counter(
            "imageshim_images",
            "Images generated, once per generation (joined and replayed requests are not counted again).",
            ["requested_model", "served_model"],
            registry=registry,
        )
        self._calls = Counter(
            "imageshim_provider_calls",
            "Calls made to providers (every attempt at a target), once per generation.",
            ["served_model"],
            registry=registry,
        )
        self._retries = Counter(
            "imageshim_retries",
            "Provider calls that were retries (beyond the first at a target).",
            ["served_model"],
            registry=registry,
        )
        self._recoveries = Counter(
            "imageshim_recoveries",
            "Lost provider replies looked up (recovery).",
            ["served_model"],
            registry=registry,
        )
        self._warnings = Counter(
            "imageshim_warnings",
            "Warnings produced (options mapped or dropped, lifecycle), by class, once per generation.",
            ["category"],
            registry=registry,
        )
        self._cost = Counter(
            "imageshim_cost_usd",
            "Provider cost reported, in US dollars, by client key hash and served model, once per generation.",
            ["client", "served_model"],
            registry=registry,
        )
        self._budget_spent = Gauge(
            "imageshim_budget_spent_usd",
            "Charged to a client key's budget in its current UTC day or month, in US dollars (costs charged "
            "and results unknown), as this replica last saw it.",
            ["client", "window"],
            registry=registry,
        )
        self._budget_reserved = Gauge(
            "imageshim_budget_reserved_usd",
            "Reserved against a client key's budget for generations in flight, in US dollars.",
            ["client", "window"],
            registry=registry,
        )
        self._budget_refusals = Counter(
            "imageshim_budget_refusals",
            "Requests refused because their estimate did not fit the client key's budget (429 "
            "insufficient_quota), by the window that was spent.",
            ["client", "window"],
            registry=registry,
        )
        self._in_flight = Gauge(
            "imageshim_in_flight_requests", "Requests being answered now.", registry=registry
        )
        if store_bytes is not None:
            Gauge(
                "imageshim_store_bytes",
                "Bytes held by the gateway's image store (NaN when it could not be read).",
                registry=registry,
            ).set_function(_never_raising(store_bytes))

    def observe(self, record: AccessRecord) -> None:
        """Count one answered request (see the module's docstring for what counts once per generation)."""
        route = self._route(record.route)
        generation = record.generation
        requested = self._requested(record.requested_model)
        served = self._served(generation.served if generation else None)
        self._requests.labels(route, requested, served, str(record.status)).inc()
        self._duration.labels(route).observe(max(0.0, record.duration_s))
        if record.joined:
            self._joined.labels("replayed" if record.intent == "replayed" else "joined").inc()
            return
        if generation is None:
            return
        if generation.images:
            self._images.labels(requested, served).inc(generation.images)
        if generation.provider_calls:
            self._calls.labels(served).inc(generation.provider_calls)
        if generation.retries:
            self._retries.labels(served).inc(generation.retries)
        if generation.recoveries:
            self._recoveries.labels(served).inc(generation.recoveries)
        for category in generation.warnings:
            self._warnings.labels(self._category(category)).inc()
        if generation.cost_usd and generation.cost_usd > 0:
            self._cost.labels(self._client(record.client), served).inc(generation.cost_usd)

    def budget(self, client: str, tally: Tally) -> None:
        """A client key's budget sums (micro-dollars) in its current windows, after a change."""
        label = self._client(client)
        windows: tuple[Kind, ...] = ("day", "month")
        for kind in windows:
            self._budget_spent.labels(label, kind).set(tally.spent(kind) / 1e6)
            self._budget_reserved.labels(label, kind).set(tally.reserved(kind) / 1e6)

    def refused(self, client: str, window: str) -> None:
        """A request refused by its key's ``window`` budget."""
        self._budget_refusals.labels(self._client(client), "day" if window == "day" else "month").inc()

    def request_started(self) -> None:
        """One more request in flight (pair with :meth:`request_finished`, or use :meth:`in_flight`)."""
        self._in_flight.inc()

    def request_finished(self) -> None:
        self._in_flight.dec()

    @contextlib.contextmanager
    def in_flight(self) -> Iterator[None]:
        """Count the requests inside this block as in flight."""
        self._in_flight.inc()
        try:
            yield
        finally:
            self._in_flight.dec()

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type, for ``GET /metrics``."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def _never_raising(read: Callable[[], int]) -> Callable[[], float]:
    """A scrape must not fail because the store could not say its size: NaN instead."""

    def value() -> float:
        try:
            return float(read())
        except Exception:
            return math.nan

    return value
