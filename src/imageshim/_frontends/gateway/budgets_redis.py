"""Budgets shared by gateway replicas through Redis (``[gateway] state = "redis://..."``).

One hash per client key and window, ``imageshim:b:<label>:day:<2026-11-27>`` and
``imageshim:b:<label>:month:<2026-11>``, with the fields ``spent`` and ``reserved`` in micro-dollars
(integers: ``HINCRBY`` never drifts). Each expires a day after its window ends (a generation that began in
a window settles there). Reserving is one Lua script on the Redis server: it checks the month and the day
and adds to both, or refuses and adds nothing, so requests on different replicas can never spend past a
budget between them. Settling is another.

Both scripts are idempotent per reservation: each writes a marker, ``imageshim:b:<label>:hold:<ident>``
(``reserved``, then ``settled``), and a script that finds its marker already written changes nothing.
A script can run twice: a reply that comes late is retried by redis-py (``retry_on_error``) and by
:meth:`RedisLedger.settle`, after the first run already changed the sums on the server. Without the
marker a settlement would be applied twice (spent counted twice, or another generation's reservation
released) and a reservation held twice.

Failure behaviour, the same as the shared intents': when Redis cannot be reached, nothing new is reserved
(:class:`.intent.StateUnavailable`: the gateway answers 503 ``state_unavailable``, nothing is sent; a
reservation the server may have made before the reply was lost is released, best effort). A settlement
that cannot be written is retried, then logged: its reservation stays counted (a replica killed
mid-generation leaves its reservation counted too: its result is unknown, the safe side).
"""

from __future__ import annotations

import asyncio
from typing import Any

from imageshim._core.warnings import logger
from imageshim._frontends.gateway.budgets import KEEP_AFTER, Hold, Limits, Refusal, Tally, Window
from imageshim._frontends.gateway.intent import StateUnavailable

__all__ = ["RedisLedger"]

_PREFIX = "imageshim:b:"
_SETTLE_TRIES = 4
#: how long a settled reservation's marker is kept (ms): far longer than any retry of its settlement
_SETTLED_FOR_MS = 3_600_000

# KEYS: the day's hash, the month's, the hold's marker. ARGV: amount, day limit, month limit ('' for
# none), day and month expiry (Unix ms). Replies: {'ok' | 'day' | 'month', day spent, day reserved, month
# spent, month reserved} (the sums after a reservation, or before a refusal). A marker already written: the
# reservation was made (this is a replay), nothing is added.
_RESERVE = """
local function sums(key)
  local v = redis.call('HMGET', key, 'spent', 'reserved')
  return tonumber(v[1]) or 0, tonumber(v[2]) or 0
end
local amount = tonumber(ARGV[1])
local ds, dr = sums(KEYS[1])
local ms, mr = sums(KEYS[2])
if redis.call('EXISTS', KEYS[3]) == 1 then return {'ok', ds, dr, ms, mr} end
if ARGV[3] ~= '' and ms + mr + amount > tonumber(ARGV[3]) then return {'month', ds, dr, ms, mr} end
if ARGV[2] ~= '' and ds + dr + amount > tonumber(ARGV[2]) then return {'day', ds, dr, ms, mr} end
dr = redis.call('HINCRBY', KEYS[1], 'reserved', amount)
mr = redis.call('HINCRBY', KEYS[2], 'reserved', amount)
redis.call('PEXPIREAT', KEYS[1], ARGV[4])
redis.call('PEXPIREAT', KEYS[2], ARGV[5])
redis.call('SET', KEYS[3], 'reserved')
redis.call('PEXPIREAT', KEYS[3], ARGV[4])
return {'ok', ds, dr, ms, mr}
"""

# KEYS: the day's hash, the month's, the hold's marker. ARGV: the amount reserved, the amount charged,
# day and month expiry (Unix ms), how long the settled marker is kept (ms). Replies: {day spent, day
# reserved, month spent, month reserved}. Marker "settled": a replay, nothing changes. No marker: the
# reservation is gone with it (Redis restarted empty, or a release after a reservation that never ran):
# only the charge is added. A reservation is never taken below zero.
_SETTLE = """
local state = redis.call('GET', KEYS[3])
local out = {}
for i = 1, 2 do
  local reserved
  if state == 'reserved' then
    reserved = redis.call('HINCRBY', KEYS[i], 'reserved', -tonumber(ARGV[1]))
    if reserved < 0 then
      redis.call('HSET', KEYS[i], 'reserved', 0)
      reserved = 0
    end
  else
    reserved = tonumber(redis.call('HGET', KEYS[i], 'reserved')) or 0
  end
  local spent
  if state == 'settled' then
    spent = tonumber(redis.call('HGET', KEYS[i], 'spent')) or 0
  else
    spent = redis.call('HINCRBY', KEYS[i], 'spent', ARGV[2])
    redis.call('PEXPIREAT', KEYS[i], ARGV[2 + i])
  end
  out[#out + 1] = spent
  out[#out + 1] = reserved
end
if state ~= 'settled' then
  redis.call('SET', KEYS[3], 'settled', 'PX', ARGV[5])
end
return out
"""


def _key(label: str, window: Window) -> str:
    return f"{_PREFIX}{label}:{window.kind}:{window.ident}"


def _marker(label: str, ident: str) -> str:
    return f"{_PREFIX}{label}:hold:{ident}"


def _expiry(window: Window) -> int:
    return int((window.resets_at + KEEP_AFTER) * 1000)


def _limit(value: int | None) -> str:
    return "" if value is None else str(value)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisLedger:
    """``client``: a ``redis.asyncio`` client (the shared intents' own:
    :attr:`.state_redis.RedisIntents.client`)."""

    def __init__(self, client: Any) -> None:
        self._redis = client
        self._reserve = client.register_script(_RESERVE)
        self._settle = client.register_script(_SETTLE)

    async def reserve(
        self, label: str, amount: int, limits: Limits, day: Window, month: Window, ident: str | None = None
    ) -> Hold | Refusal:
        hold = Hold(label, amount, day, month) if ident is None else Hold(label, amount, day, month, ident)
        keys = [_key(label, day), _key(label, month), _marker(label, hold.ident)]
        args = [amount, _limit(limits.day), _limit(limits.month), _expiry(day), _expiry(month)]
        try:
            answer = await self._reserve(keys=keys, args=args)
        except Exception as exc:  # redis-py's ConnectionError, TimeoutError, ResponseError, ...
            await self._release(hold)
            raise StateUnavailable(f"the shared budgets cannot be reached ({type(exc).__name__})") from None
        kind, sums = _text(answer[0]), Tally(*(int(v) for v in answer[1:5]))
        if kind == "ok":
            return hold
        window = month if kind == "month" else day
        limit = limits.of(window.kind)
        assert limit is not None  # the script refuses only a window with a budget
        return Refusal(label, window, limit, amount, sums)

    async def settle(self, hold: Hold, charged: int) -> Tally | None:
        keys = [_key(hold.label, hold.day), _key(hold.label, hold.month), _marker(hold.label, hold.ident)]
        args = [hold.amount, charged, _expiry(hold.day), _expiry(hold.month), _SETTLED_FOR_MS]
        for attempt in range(_SETTLE_TRIES):
            try:  # safe to run again: the script applies a settlement once
                answer = await self._settle(keys=keys, args=args)
                return Tally(*(int(v) for v in answer[:4]))
            except Exception as exc:
                if attempt + 1 < _SETTLE_TRIES:
                    await asyncio.sleep(0.25 * (attempt + 1))
                    continue
                logger.error(
                    "imageshim gateway: a generation's cost could not be written to the shared budgets (%s); "
                    "its reservation stays counted",
                    type(exc).__name__,
                )
        return None

    async def _release(self, hold: Hold) -> None:
        """Release a reservation whose reply was lost (it may have been made): once, best effort. A
        reservation that was not made is left as it is (no marker: only its charge of 0 is added)."""
        keys = [_key(hold.label, hold.day), _key(hold.label, hold.month), _marker(hold.label, hold.ident)]
        try:
            await self._settle(
                keys=keys, args=[hold.amount, 0, _expiry(hold.day), _expiry(hold.month), _SETTLED_FOR_MS]
            )
        except Exception as exc:
            logger.error(
                "imageshim gateway: a reservation whose reply was lost could not be released (%s); it stays "
                "counted until its window ends",
                type(exc).__name__,
            )

    async def tally(self, label: str, day: Window, month: Window) -> Tally:
        try:
            days = await self._redis.hmget(_key(label, day), "spent", "reserved")
            months = await self._redis.hmget(_key(label, month), "spent", "reserved")
        except Exception as exc:
            raise StateUnavailable(f"the shared budgets cannot be reached ({type(exc).__name__})") from None
        return Tally(*(int(v or 0) for v in (*days, *months)))

    async def close(self) -> None:
        return None  # the client is the shared intents' (closed with them)
