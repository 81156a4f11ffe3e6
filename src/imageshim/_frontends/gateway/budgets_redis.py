"""Budgets shared by gateway replicas through Redis (``[gateway] state = "redis://..."``).

One hash per client key and window, ``imageshim:b:<label>:day:<2026-11-27>`` and
``imageshim:b:<label>:month:<2026-11>``, with the fields ``spent`` and ``reserved`` in micro-dollars
(integers: ``HINCRBY`` never drifts). Each expires a day after its window ends (a generation that began in
a window settles there). Reserving is one Lua script on the Redis server: it checks the month and the day
and adds to both, or refuses and adds nothing, so requests on different replicas can never spend past a
budget between them. Settling is another.

Failure behaviour, the same as the shared intents': when Redis cannot be reached, nothing new is reserved
(:class:`.intent.StateUnavailable`: the gateway answers 503 ``state_unavailable``, nothing is sent). A
settlement that cannot be written is retried, then logged: its reservation stays counted (a replica killed
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

# KEYS: the day's hash, the month's. ARGV: amount, day limit, month limit ('' for none), day and month
# expiry (Unix ms). Replies: {'ok' | 'day' | 'month', day spent, day reserved, month spent, month
# reserved} (the sums after a reservation, or before a refusal).
_RESERVE = """
local function sums(key)
  local v = redis.call('HMGET', key, 'spent', 'reserved')
  return tonumber(v[1]) or 0, tonumber(v[2]) or 0
end
local amount = tonumber(ARGV[1])
local ds, dr = sums(KEYS[1])
local ms, mr = sums(KEYS[2])
if ARGV[3] ~= '' and ms + mr + amount > tonumber(ARGV[3]) then return {'month', ds, dr, ms, mr} end
if ARGV[2] ~= '' and ds + dr + amount > tonumber(ARGV[2]) then return {'day', ds, dr, ms, mr} end
dr = redis.call('HINCRBY', KEYS[1], 'reserved', amount)
mr = redis.call('HINCRBY', KEYS[2], 'reserved', amount)
redis.call('PEXPIREAT', KEYS[1], ARGV[4])
redis.call('PEXPIREAT', KEYS[2], ARGV[5])
return {'ok', ds, dr, ms, mr}
"""

# KEYS: the day's hash, the month's. ARGV: the amount reserved, the amount charged, day and month expiry
# (Unix ms). Replies: {day spent, day reserved, month spent, month reserved}. A reservation Redis lost
# (restarted empty) is not taken below zero.
_SETTLE = """
local out = {}
for i = 1, 2 do
  local reserved = redis.call('HINCRBY', KEYS[i], 'reserved', -tonumber(ARGV[1]))
  if reserved < 0 then
    redis.call('HSET', KEYS[i], 'reserved', 0)
    reserved = 0
  end
  local spent = redis.call('HINCRBY', KEYS[i], 'spent', ARGV[2])
  redis.call('PEXPIREAT', KEYS[i], ARGV[2 + i])
  out[#out + 1] = spent
  out[#out + 1] = reserved
end
return out
"""


def _key(label: str, window: Window) -> str:
    return f"{_PREFIX}{label}:{window.kind}:{window.ident}"


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
        self, label: str, amount: int, limits: Limits, day: Window, month: Window
    ) -> Hold | Refusal:
        keys = [_key(label, day), _key(label, month)]
        args = [amount, _limit(limits.day), _limit(limits.month), _expiry(day), _expiry(month)]
        try:
            answer = await self._reserve(keys=keys, args=args)
        except Exception as exc:  # redis-py's ConnectionError, TimeoutError, ResponseError, ...
            raise StateUnavailable(f"the shared budgets cannot be reached ({type(exc).__name__})") from None
        kind, sums = _text(answer[0]), Tally(*(int(v) for v in answer[1:5]))
        if kind == "ok":
            return Hold(label, amount, day, month)
        window = month if kind == "month" else day
        limit = limits.of(window.kind)
        assert limit is not None  # the script refuses only a window with a budget
        return Refusal(label, window, limit, amount, sums)

    async def settle(self, hold: Hold, charged: int) -> Tally | None:
        keys = [_key(hold.label, hold.day), _key(hold.label, hold.month)]
        args = [hold.amount, charged, _expiry(hold.day), _expiry(hold.month)]
        for attempt in range(_SETTLE_TRIES):
            try:
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

    async def tally(self, label: str, day: Window, month: Window) -> Tally:
        try:
            days = await self._redis.hmget(_key(label, day), "spent", "reserved")
            months = await self._redis.hmget(_key(label, month), "spent", "reserved")
        except Exception as exc:
            raise StateUnavailable(f"the shared budgets cannot be reached ({type(exc).__name__})") from None
        return Tally(*(int(v or 0) for v in (*days, *months)))

    async def close(self) -> None:
        return None  # the client is the shared intents' (closed with them)
