"""What the server (:mod:`.server`) and the app (:mod:`.app`) share while the gateway runs.

The server calls :meth:`Runtime.begin_drain` on the first SIGTERM/SIGINT: ``/readyz`` turns 503 (a load
balancer stops sending), new image requests on open connections are refused with 503 and
``Retry-After`` (nothing was generated: safe to retry elsewhere), and requests in flight get until the
drain deadline. At the deadline the server calls :meth:`Runtime.cut`: each request still waiting answers
503 with ``x-should-retry: false`` and says its generation's result is unknown (a retry could pay for it
again), before the server closes the connections.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

__all__ = ["Runtime"]


class Runtime:
    def __init__(self, *, now: Callable[[], float] = time.monotonic) -> None:
        self._now = now
        self.started = now()
        self.draining = False
        #: monotonic time at which requests still in flight are cut (None: not draining)
        self.drain_deadline: float | None = None
        #: requests being served right now (the server's drain waits for them)
        self.in_flight = 0
        self._cut: asyncio.Event | None = None

    @property
    def cut_event(self) -> asyncio.Event:
        """Set when the drain deadline passes (created on the running loop at first use)."""
        if self._cut is None:
            self._cut = asyncio.Event()
        return self._cut

    def begin_drain(self, seconds: float) -> None:
        if not self.draining:
            self.draining = True
            self.drain_deadline = self._now() + seconds

    def cut(self) -> None:
        self.cut_event.set()

    def drain_left(self) -> float | None:
        """Seconds until requests in flight are cut; None when not draining."""
        if self.drain_deadline is None:
            return None
        return max(0.0, self.drain_deadline - self._now())
