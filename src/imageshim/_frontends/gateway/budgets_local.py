"""The budgets of one gateway process (the default; :mod:`.budgets_redis` shares them between replicas).

Sums live in memory, per client key and window. With a file store (``[gateway] store = "file"``) they are
also written, after every change, to a file beside the images (``<store_dir>.budgets``, replaced
atomically) and read back when the gateway starts: a restart, or a crash, does not hand a key its spent
budget back (and a file that cannot be read stops the gateway from starting, for the same reason). What
was reserved for generations in flight when the process stopped is counted as spent when it is read back
(their results are unknown: the safe side). With the memory store a restart forgets them.

The decisions are synchronous (no ``await`` between the check and the sum it adds to), so on one event loop
two requests can never both take the last of a budget. As in the shared ledger, each reservation is known
by its :attr:`~.budgets.Hold.ident` while it is open: reserving it again, or settling it a second time,
changes nothing.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

from imageshim._core.errors import ConfigurationError
from imageshim._core.warnings import logger
from imageshim._frontends.gateway.budgets import KEEP_AFTER, Hold, Limits, Refusal, Tally, Window

__all__ = ["LocalLedger"]

_VERSION = 1


@dataclasses.dataclass
class _Sums:
    spent: int = 0
    reserved: int = 0
    #: Unix seconds after which nothing settles here any more (the window's end + KEEP_AFTER)
    expires: float = 0.0


def _slot(label: str, window: Window) -> tuple[str, str]:
    return label, f"{window.kind}:{window.ident}"


class LocalLedger:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._sums: dict[tuple[str, str], _Sums] = {}
        #: the reservations not settled yet, by ident (a restart counts the ones in flight as spent)
        self._open: dict[str, Hold] = {}
        if path is not None:
            self._load(path)

    # ----- the ledger --------------------------------------------------------------------------------
    async def reserve(
        self, label: str, amount: int, limits: Limits, day: Window, month: Window, ident: str | None = None
    ) -> Hold | Refusal:
        if ident is not None and ident in self._open:  # reserved already: nothing more is held
            return self._open[ident]
        self._expire(day.starts_at)
        days, months = self._at(label, day), self._at(label, month)
        for window, sums in ((month, months), (day, days)):
            limit = limits.of(window.kind)
            if limit is not None and sums.spent + sums.reserved + amount > limit:
                return Refusal(label, window, limit, amount, self._tally(days, months))
        days.reserved += amount
        months.reserved += amount
        hold = Hold(label, amount, day, month) if ident is None else Hold(label, amount, day, month, ident)
        self._open[hold.ident] = hold
        self._save()
        return hold

    async def settle(self, hold: Hold, charged: int) -> Tally | None:
        found = [self._sums.get(_slot(hold.label, w)) for w in (hold.day, hold.month)]
        if self._open.pop(hold.ident, None) is None:  # settled already (or never reserved here)
            days, months = found
            return self._tally(days or _Sums(), months or _Sums())
        for sums in found:
            if sums is not None:
                sums.reserved = max(0, sums.reserved - hold.amount)
                sums.spent += charged
        self._save()
        days, months = found
        return self._tally(days or _Sums(), months or _Sums())

    async def tally(self, label: str, day: Window, month: Window) -> Tally:
        empty = _Sums()
        return self._tally(
            self._sums.get(_slot(label, day), empty), self._sums.get(_slot(label, month), empty)
        )

    async def close(self) -> None:
        self._save()

    # ----- bookkeeping -------------------------------------------------------------------------------
    def _at(self, label: str, window: Window) -> _Sums:
        slot = _slot(label, window)
        sums = self._sums.get(slot)
        if sums is None:
            sums = self._sums[slot] = _Sums(expires=window.resets_at + KEEP_AFTER)
        return sums

    @staticmethod
    def _tally(days: _Sums, months: _Sums) -> Tally:
        return Tally(days.spent, days.reserved, months.spent, months.reserved)

    def _expire(self, now: float) -> None:
        for slot in [slot for slot, sums in self._sums.items() if sums.expires <= now]:
            del self._sums[slot]

    def _save(self) -> None:
        if self.path is None:
            return
        rows = [[*slot, s.spent, s.reserved, s.expires] for slot, s in self._sums.items()]
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            tmp.write_text(json.dumps({"version": _VERSION, "sums": rows}))
            os.replace(tmp, self.path)
        except OSError as exc:
            logger.error("imageshim gateway: the budgets could not be written to %s (%s)", self.path, exc)

    def _load(self, path: Path) -> None:
        try:
            data = json.loads(path.read_text())
            for label, slot, spent, reserved, expires in data["sums"]:
                # reserved for generations that were in flight when the process stopped: results unknown
                self._sums[(str(label), str(slot))] = _Sums(int(spent) + int(reserved), 0, float(expires))
        except FileNotFoundError:
            return
        except (OSError, ValueError, KeyError, TypeError) as exc:
            # What an unreadable file held is unknown; starting from zero could hand every key its spent
            # budget back, so the gateway does not start (the safe side) until an operator decides.
            raise ConfigurationError(
                f"the budgets file {path} cannot be read ({type(exc).__name__}); move it away to start the "
                "budgets from zero",
                key="gateway.budgets",
            ) from None
