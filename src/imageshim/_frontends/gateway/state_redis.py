"""Intents shared by gateway replicas through Redis (``[gateway] state = "redis://..."``, the ``redis`` extra).

The same decisions as :class:`.intent.Intents` (join, replay, refuse a reused key, the client key's
concurrency limit, claim), made atomically by one Lua script on the Redis server, so a retry that reaches
another replica while the first generates waits for that result and never starts a second generation:

- ``imageshim:i:<client>:<key|body>:<id>``: a hash per intent: the body's fingerprint, ``running`` or
  ``done``, the claim's token, the lease (while running) or when it finished and how long it is replayed;
- ``imageshim:r:<token>``: the reply (status, headers, body), kept for the TTL;
- ``imageshim:run:<client>``: a sorted set of the client key's claims in flight, scored by lease expiry:
  the concurrency limit holds across replicas, and a dead replica's claims fall out when their lease does.

A replica renews the leases of its claims every third of ``lease`` seconds while it generates. A replica
killed mid-generation stops renewing; once its lease has expired, a retry claims the intent and generates
again: the one case where a second generation can happen (the first one's result died with its replica).
Requests that joined a claim on the same replica wait on it directly; on another replica they poll the
intent (every 0.1 s, slowing to 1 s) until it is done or its lease expires.

Failure behaviour, chosen for the money rules: when Redis cannot be reached, no new generation starts
(:class:`StateUnavailable`: the gateway answers 503 ``state_unavailable``, ``x-should-retry: true``,
nothing was paid) and ``/readyz`` turns 503, because without the shared state a retry on another replica
could not find the generation it repeats. A generation already running finishes and its reply reaches
the requests waiting on this replica even if Redis went away meanwhile (storing it is logged as failed).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import sys
import time
from collections.abc import Callable, Coroutine
from typing import Any

from imageshim._core.errors import ConfigurationError
from imageshim._core.warnings import logger
from imageshim._frontends.gateway.intent import (
    Begin,
    Claim,
    Conflict,
    Join,
    Limited,
    Reply,
    StateUnavailable,
    decode_reply,
    encode_reply,
)

__all__ = ["RedisIntents", "StateUnavailable"]

_PREFIX = "imageshim:"
#: a finished generation's reply is stored this many times before giving up (Redis restarting)
_SETTLE_TRIES = 4

# KEYS: record, running set. ARGV: fingerprint, now (ms), retry, limit, claim, token, lease (ms),
# window (ms), ttl (ms), keyed. Replies: {"join", token} {"replay", token} {"conflict"} {"limited"}
# {"none"} {"claim", token}.
_BEGIN = """
local r = redis.call('HGETALL', KEYS[1])
local rec = {}
for i = 1, #r, 2 do rec[r[i]] = r[i + 1] end
local now = tonumber(ARGV[2])
local keyed = ARGV[10] == '1'
if rec['state'] == 'running' and tonumber(rec['lease']) > now then
  if keyed and rec['fp'] ~= ARGV[1] then return {'conflict'} end
  return {'join', rec['token']}
end
if rec['state'] == 'done' then
  local keep
  if keyed then
    keep = tonumber(rec['wait_for'] ~= '' and rec['wait_for'] or ARGV[9])
  elseif rec['replay_for'] ~= '' then
    keep = tonumber(rec['replay_for'])
  elseif ARGV[3] == '1' then
    keep = tonumber(ARGV[9])
  else
    keep = tonumber(ARGV[8])
  end
  if now - tonumber(rec['finished']) < keep then
    if keyed and rec['fp'] ~= ARGV[1] then return {'conflict'} end
    return {'replay', rec['token']}
  end
end
if ARGV[5] ~= '1' then return {'none'} end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local limit = tonumber(ARGV[4])
if limit > 0 and redis.call('ZCARD', KEYS[2]) >= limit then return {'limited'} end
local lease = now + tonumber(ARGV[7])
redis.call('ZADD', KEYS[2], lease, ARGV[6])
redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[7]) * 2)
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'fp', ARGV[1], 'state', 'running', 'token', ARGV[6], 'lease', lease,
           'finished', '', 'replay_for', '', 'wait_for', '')
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[7]) + tonumber(ARGV[9]))
return {'claim', ARGV[6]}
"""

# KEYS: record, running set. ARGV: token, lease until (ms), lease (ms), fingerprint, ttl (ms). Renews a
# claim still ours; re-creates it when Redis lost it (restarted empty), so that requests following it on
# other replicas find it again instead of generating a second time.
_RENEW = """
local owner = redis.call('HGET', KEYS[1], 'token')
if owner == false then
  redis.call('HSET', KEYS[1], 'fp', ARGV[4], 'state', 'running', 'token', ARGV[1], 'lease', ARGV[2],
             'finished', '', 'replay_for', '', 'wait_for', '')
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]) + tonumber(ARGV[5]))
elseif owner ~= ARGV[1] then
  return 0
else
  redis.call('HSET', KEYS[1], 'lease', ARGV[2])
end
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[3]) * 2)
return 1
"""

# KEYS: record, running set, reply. ARGV: token, now (ms), replay_for, wait_for (ms or ''), ttl (ms),
# reply bytes ('' to store none: an abandoned claim), fingerprint. Settles a claim still ours (or lost
# by Redis, restarted empty: the reply is stored anyway, for the requests following it elsewhere).
_FINISH = """
redis.call('ZREM', KEYS[2], ARGV[1])
local owner = redis.call('HGET', KEYS[1], 'token')
if owner ~= false and owner ~= ARGV[1] then return 0 end
if ARGV[6] == '' then
  redis.call('DEL', KEYS[1])
  return 1
end
redis.call('SET', KEYS[3], ARGV[6], 'PX', tonumber(ARGV[5]))
redis.call('HSET', KEYS[1], 'fp', ARGV[7], 'token', ARGV[1], 'lease', '0', 'state', 'done', 'finished', ARGV[2],
           'replay_for', ARGV[3], 'wait_for', ARGV[4])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[5]))
return 1
"""


def _names(ident: tuple[str, str, str]) -> tuple[str, str]:
    """The Redis keys of an intent and of its client key's running set."""
    return f"{_PREFIX}i:{':'.join(ident)}", f"{_PREFIX}run:{ident[0]}"


def _ms(seconds: float | None) -> str:
    return "" if seconds is None else str(int(seconds * 1000))


class RedisIntents:
    def __init__(
        self,
        url: str,
        *,
        ttl: float = 3600.0,
        window: float = 120.0,
        lease: float = 30.0,
        wall: Callable[[], float] = time.time,
        client: Any = None,
    ) -> None:
        if client is None:
            try:
                import redis.asyncio as aioredis
            except ImportError:
                raise ConfigurationError(
                    "[gateway] state = 'redis://...' needs redis-py: pip install 'imageshim[redis]'",
                    key="gateway.state",
                ) from None
            from redis.asyncio.retry import Retry
            from redis.backoff import ExponentialBackoff
            from redis.exceptions import ConnectionError as RedisConnectionError
            from redis.exceptions import TimeoutError as RedisTimeoutError

            client = aioredis.from_url(
                url,
                socket_connect_timeout=2,
                socket_timeout=5,
                health_check_interval=30,
                # a connection broken by a Redis restart is reconnected once, at once, not reported
                retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 2),
                retry_on_error=[RedisConnectionError, RedisTimeoutError],
            )
        self._redis = client
        self.ttl = ttl
        self.window = window
        self.lease = lease
        self._wall = wall
        self._begin = client.register_script(_BEGIN)
        self._renew = client.register_script(_RENEW)
        self._finish = client.register_script(_FINISH)
        #: claims of this replica, by token: requests here that join them wait on the future directly
        self._local: dict[str, asyncio.Future[Reply | None]] = {}
        self._typical = 10.0
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def client(self) -> Any:
        """The ``redis.asyncio`` client (the shared budgets use it too: one connection pool)."""
        return self._redis

    def _now_ms(self) -> int:
        return int(self._wall() * 1000)

    # ----- decisions -----------------------------------------------------------------------------------
    async def begin(
        self, scope: str, body_id: str, key: str | None, *, retry: bool, limit: int = 0, claim: bool = True
    ) -> Begin | None:
        ident = (scope, "key", key) if key is not None else (scope, "body", body_id)
        record, running = _names(ident)
        token = secrets.token_hex(16)
        args = [
            body_id,
            self._now_ms(),
            int(retry),
            limit,
            int(claim),
            token,
            _ms(self.lease),
            _ms(self.window),
            _ms(self.ttl),
            int(key is not None),
        ]
        try:
            answer = await self._begin(keys=[record, running], args=args)
        except Exception as exc:  # redis-py's ConnectionError, TimeoutError, ResponseError, ...
            raise StateUnavailable(f"the shared state cannot be reached ({type(exc).__name__})") from None
        kind = answer[0].decode() if isinstance(answer[0], bytes) else str(answer[0])
        if kind == "conflict":
            return Conflict(
                "This Idempotency-Key was already used with a different request body; use a new key for a "
                "new request."
            )
        if kind == "limited":
            return Limited(limit, self.retry_after())
        if kind == "none":
            return None
        found = answer[1].decode() if isinstance(answer[1], bytes) else str(answer[1])
        if kind == "claim":
            future: asyncio.Future[Reply | None] = asyncio.get_running_loop().create_future()
            self._local[found] = future
            return Claim(scope, ident, future, token=found, fingerprint=body_id)
        local = self._local.get(found)
        if local is not None:
            return Join(local, "joined" if kind == "join" else "replayed")
        return Join(self._follow(record, found), "joined" if kind == "join" else "replayed")

    def retry_after(self) -> float:
        return max(1.0, self._typical)

    # ----- a claim of this replica ---------------------------------------------------------------------
    def run(self, claim: Claim, work: Coroutine[Any, Any, Reply]) -> asyncio.Future[Reply | None]:
        record, running = _names(claim.ident)
        started = self._wall()

        async def generate() -> None:
            heart = asyncio.ensure_future(self._heartbeat(record, running, claim))
            try:
                reply = await work
            finally:
                heart.cancel()
                if not claim.future.done() and sys.exc_info()[0] is not None:
                    claim.future.set_result(None)  # cut: its lease runs out, a retry begins again
            self._typical = 0.8 * self._typical + 0.2 * (self._wall() - started)
            if not claim.future.done():
                claim.future.set_result(reply)  # the requests on this replica have their answer now
            await self._settle(record, running, claim, reply)
            self._local.pop(claim.token, None)

        self._spawn(generate())
        return claim.future

    async def abandon(self, claim: Claim, reply: Reply) -> None:
        if not claim.future.done():
            claim.future.set_result(reply)
        self._local.pop(claim.token, None)
        record, running = _names(claim.ident)
        try:
            await self._finish(
                keys=[record, running, f"{_PREFIX}r:{claim.token}"], args=self._settling(claim, None)
            )
        except Exception as exc:
            logger.error(
                "imageshim gateway: could not release a claim in the shared state (%s)", type(exc).__name__
            )

    def _settling(self, claim: Claim, reply: Reply | None) -> list[Any]:
        now, ttl = self._now_ms(), _ms(self.ttl)
        if reply is None:
            return [claim.token, now, "", "", ttl, "", claim.fingerprint]
        encoded = encode_reply(reply)
        return [claim.token, now, _ms(reply.replay_for), _ms(reply.wait_for), ttl, encoded, claim.fingerprint]

    async def _settle(self, record: str, running: str, claim: Claim, reply: Reply) -> None:
        keys, args = [record, running, f"{_PREFIX}r:{claim.token}"], self._settling(claim, reply)
        for attempt in range(_SETTLE_TRIES):
            try:
                await self._finish(keys=keys, args=args)
                return
            except Exception as exc:
                if attempt + 1 < _SETTLE_TRIES:
                    await asyncio.sleep(0.25 * (attempt + 1))
                    continue
                # the requests on this replica got the reply; a retry elsewhere will find the lease expired
                logger.error(
                    "imageshim gateway: a finished generation could not be stored in the shared state (%s); "
                    "requests waiting on other replicas will not find it",
                    type(exc).__name__,
                )

    async def _heartbeat(self, record: str, running: str, claim: Claim) -> None:
        while True:
            await asyncio.sleep(self.lease / 3)
            until = self._now_ms() + int(self.lease * 1000)
            args = [claim.token, until, _ms(self.lease), claim.fingerprint, _ms(self.ttl)]
            try:
                await self._renew(keys=[record, running], args=args)
            except Exception as exc:
                logger.warning("imageshim gateway: could not renew a claim's lease (%s)", type(exc).__name__)

    # ----- a claim of another replica ------------------------------------------------------------------
    def _follow(self, record: str, token: str) -> asyncio.Future[Reply | None]:
        """Poll the intent until its claim (``token``) is done (its reply) or gone (None)."""

        async def poll() -> Reply | None:
            # Gone for a whole lease (or Redis unreachable that long): its owner would have renewed (and
            # re-created) it meanwhile, so it went away. A shorter gap is Redis restarting empty.
            delay, trouble_since = 0.1, None
            while True:
                try:
                    state, owner, lease = await self._redis.hmget(record, "state", "token", "lease")
                except Exception as exc:
                    logger.warning(
                        "imageshim gateway: polling the shared state failed (%s)", type(exc).__name__
                    )
                    state = owner = lease = None
                if owner is not None and owner.decode() != token:
                    return None  # claimed anew: its owner went away
                if state == b"done":
                    try:
                        data = await self._redis.get(f"{_PREFIX}r:{token}")
                    except Exception:
                        data = None
                    return None if data is None else decode_reply(data)
                if lease is not None and int(lease) <= self._now_ms():
                    return None  # the owner stopped renewing: it died
                if owner is None:
                    trouble_since = trouble_since or self._wall()
                    if self._wall() - trouble_since >= self.lease:
                        return None
                else:
                    trouble_since = None
                await asyncio.sleep(delay)
                delay = min(1.0, delay * 1.5)

        return self._spawn(poll())

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # ----- operations ----------------------------------------------------------------------------------
    async def ready(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except Exception:
            return False

    async def close(self) -> None:
        with contextlib.suppress(Exception):  # closing a client whose server is gone
            await self._redis.aclose()
