"""One generation per intent: retried and repeated requests join the generation they repeat.

A client that retries (its timeout was shorter than the generation, it retries 5xx by status, its
connection dropped) would otherwise pay for a new generation each time while the first one finishes
unseen. The gateway runs each generation as a task of its own, owned here and not by the request that
started it, so a client that disconnects or times out never cancels a paid generation: its result waits
for the retry. Which requests are "the same":

- ``Idempotency-Key`` (the Stripe convention, draft-ietf-httpapi-idempotency-key-header): the same
  client key and idempotency key with the same body join the generation in flight or get its stored
  result, success or failure, for ``ttl`` seconds; the same idempotency key with another body is a
  :class:`Conflict` (422 on the wire, as the draft says: a reused key is a client error no retry fixes);
- without a key: the same client key and the same body (its :func:`fingerprint`) join a generation in
  flight; once it has finished, a repeat gets the stored result within ``window`` seconds, or within
  ``ttl`` when the request says it is a retry (the openai SDKs' ``x-stainless-retry-count`` > 0).

A failure is given to repeats for a shorter time (:func:`replay_seconds`): only a failure whose result is
unknown is kept for the ``ttl``.

Stored replies are bounded: beyond ``max_bytes`` the oldest replies past the ``window`` are dropped
first (only a marked retry or an Idempotency-Key still asks for those); a reply within the window is kept
whatever the budget, since a client that timed out comes back within it and the reply may be the only
copy of a paid image. (Whether a reply reached its client cannot be known here: the server buffers what
it writes, and a client can go away after the last byte left.) The decisions are synchronous (no ``await`` between
:meth:`Intents.lookup` and :meth:`Intents.start`), so on one event loop two identical requests can never
both start a generation.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import hashlib
import json
import os
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, Literal, Protocol

from imageshim._frontends.gateway.record import Generation

__all__ = [
    "Begin",
    "Claim",
    "Conflict",
    "Intents",
    "Join",
    "Limited",
    "Reply",
    "fingerprint",
    "replay_seconds",
]

Kind = Literal["joined", "replayed"]


def fingerprint(method: str, path: str, body: bytes, content_type: str | None) -> str:
    """The request's identity for retries: method, path and body. A multipart body is hashed without its
    boundary (a client draws a new one for each try), so a retried upload matches its first try."""
    digest = hashlib.sha256(f"{method} {path}\n".encode())
    boundary = _boundary(content_type)
    if not boundary:
        digest.update(body)
        return digest.hexdigest()
    # Only the delimiter lines (CRLF "--" boundary, RFC 2046 section 5.1.1), not the boundary's text
    # wherever it occurs: a short boundary may also be part of a field's value. Hashed in place, piece by
    # piece: an upload of 64 MiB is not copied to be hashed.
    view, delimiter, start = memoryview(body), b"\r\n--" + boundary, 0
    if body.startswith(b"--" + boundary):
        digest.update(b"--")
        start = len(boundary) + 2
    while (found := body.find(delimiter, start)) >= 0:
        digest.update(view[start:found])
        digest.update(b"\r\n--")
        start = found + len(delimiter)
    digest.update(view[start:])
    return digest.hexdigest()


def _boundary(content_type: str | None) -> bytes | None:
    if not content_type or "multipart/" not in content_type.lower():
        return None
    for part in content_type.split(";")[1:]:
        name, _, value = part.strip().partition("=")
        if name.lower() == "boundary" and value:
            return value.strip('"').encode("latin-1", "replace")
    return None


def replay_seconds(
    status: int, code: str | None, retry_after: str | None, *, window: float, ttl: float
) -> tuple[float | None, float | None]:
    """How long a finished generation's reply is given to repeats without a key, and (for a failure that
    named its wait) to repeats with one; (None, None) for a success: the usual rules.

    A failure whose result is unknown (a lost reply; a generation cut at shutdown) is given for the whole
    ``ttl``: sending it again could pay twice. Any other failure only for the ``window`` (a client retrying
    by status gets it instead of a new provider call), and no longer than its ``Retry-After``: once the
    provider's wait has passed, a retry is a new attempt, as the reply told the client.
    """
    if status < 400:
        return None, None
    if code in ("result_unknown", "gateway_shutting_down"):
        return ttl, None
    if retry_after is not None and retry_after.isdigit():
        wait = float(retry_after)
        return min(window, wait), wait
    return window, None


@dataclasses.dataclass
class Reply:
    """A finished generation's answer, as sent to every request that asked for it."""

    status: int
    headers: dict[str, str]
    body: bytes
    generation: Generation | None = None
    #: seconds after it finished that it is given to repeats without a key (None: the rules of the module
    #: docstring); a failure sets it (see :func:`replay_seconds`)
    replay_for: float | None = None
    #: a failure's Retry-After: after it, even an Idempotency-Key's repeat is a new attempt
    wait_for: float | None = None


def encode_reply(reply: Reply) -> bytes:
    head = {
        "status": reply.status,
        "headers": reply.headers,
        "generation": None if reply.generation is None else dataclasses.asdict(reply.generation),
        "replay_for": reply.replay_for,
        "wait_for": reply.wait_for,
    }
    return json.dumps(head).encode() + b"\n" + reply.body


def decode_reply(data: bytes) -> Reply:
    head, _, body = data.partition(b"\n")
    fields = json.loads(head)
    generation = fields.get("generation")
    if generation is not None:
        generation["warnings"] = tuple(generation.get("warnings", ()))
    return Reply(
        int(fields["status"]),
        dict(fields["headers"]),
        body,
        None if generation is None else Generation(**generation),
        replay_for=fields.get("replay_for"),
        wait_for=fields.get("wait_for"),
    )


@dataclasses.dataclass(frozen=True)
class Conflict:
    message: str


@dataclasses.dataclass(frozen=True)
class Limited:
    """The client key has its limit of generations in flight; ``retry_after``: about one generation."""

    limit: int
    retry_after: float


@dataclasses.dataclass(frozen=True)
class Join:
    """Wait for ``future``: the reply of the generation this request repeats; None when its owner went
    away without one (a replica that died: its claim expired), and the request must begin again."""

    future: asyncio.Future[Reply | None]
    kind: Kind


@dataclasses.dataclass(eq=False)
class Claim:
    """This request owns a new generation: :meth:`Intents.run` it, or :meth:`Intents.abandon` it."""

    scope: str
    ident: tuple[str, str, str]
    future: asyncio.Future[Reply | None]
    token: str = ""
    fingerprint: str = ""


Begin = Join | Conflict | Limited | Claim


class StateUnavailable(Exception):
    """The shared state cannot be reached: no new generation may start (a retry elsewhere could not find
    it). Raised by a shared :class:`IntentState`."""


class IntentState(Protocol):
    """Where intents are kept: this process (:class:`Intents`) or shared between replicas
    (:class:`.state_redis.RedisIntents`)."""

    ttl: float
    window: float

    async def begin(
        self, scope: str, body_id: str, key: str | None, *, retry: bool, limit: int = 0, claim: bool = True
    ) -> Begin | None: ...

    def run(self, claim: Claim, work: Coroutine[Any, Any, Reply]) -> asyncio.Future[Reply | None]: ...

    async def abandon(self, claim: Claim, reply: Reply) -> None: ...

    async def ready(self) -> bool: ...

    async def close(self) -> None: ...


@dataclasses.dataclass
class _Record:
    fingerprint: str
    future: asyncio.Future[Reply | None]
    started_at: float
    finished_at: float | None = None
    size: int = 0


def _reply(future: asyncio.Future[Reply | None]) -> Reply | None:
    if future.done() and not future.cancelled() and future.exception() is None:
        return future.result()
    return None


class Intents:
    """The intents of one process (the default; :mod:`.state_redis` shares them between replicas)."""

    def __init__(
        self,
        *,
        ttl: float = 3600.0,
        window: float = 120.0,
        max_bytes: int = 1 << 30,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.window = window
        self.max_bytes = max_bytes
        self._now = now
        #: (scope, "key" | "body", id) -> record; insertion order is start order
        self._records: collections.OrderedDict[tuple[str, str, str], _Record] = collections.OrderedDict()
        self._running: collections.Counter[str] = collections.Counter()
        self._bytes = 0
        #: a smoothed generation time, for the Retry-After of a client at its concurrency limit
        self._typical = 10.0
        self._swept = float("-inf")

    # ----- decisions (synchronous: no await between a lookup and its claim) ----------------------------
    async def begin(
        self, scope: str, body_id: str, key: str | None, *, retry: bool, limit: int = 0, claim: bool = True
    ) -> Begin | None:
        """What to do with a request: join (or replay) a generation, refuse a reused key, refuse beyond
        ``limit`` generations in flight for ``scope`` (0: none), or claim a new generation (None instead
        when ``claim`` is false: a draining gateway still answers repeats, but starts nothing)."""
        return self.decide(scope, body_id, key, retry=retry, limit=limit, claim=claim)

    def decide(
        self, scope: str, body_id: str, key: str | None, *, retry: bool, limit: int = 0, claim: bool = True
    ) -> Begin | None:
        found = self.lookup(scope, body_id, key, retry=retry)
        if found is not None or not claim:
            return found
        if limit and self._running[scope] >= limit:
            return Limited(limit, self.retry_after())
        ident = (scope, "key", key) if key is not None else (scope, "body", body_id)
        old = self._records.pop(ident, None)
        if old is not None:
            self._bytes -= old.size
        future: asyncio.Future[Reply | None] = asyncio.get_running_loop().create_future()
        self._records[ident] = _Record(body_id, future, self._now())
        self._running[scope] += 1
        return Claim(scope, ident, future)

    def lookup(self, scope: str, body_id: str, key: str | None, *, retry: bool) -> Join | Conflict | None:
        """Join (or replay) the generation a request repeats, refuse a reused key, or None."""
        self._expire()
        if key is not None:
            record = self._records.get((scope, "key", key))
            if record is None or self._age(record) >= self._keep(record, self.ttl, keyed=True):
                return None
            if record.fingerprint != body_id:
                return Conflict(
                    "This Idempotency-Key was already used with a different request body; use a new key "
                    "for a new request."
                )
            return Join(record.future, "joined" if record.finished_at is None else "replayed")
        record = self._records.get((scope, "body", body_id))
        if record is None:
            return None
        if record.finished_at is None:
            return Join(record.future, "joined")
        keep = self._keep(record, self.ttl if retry else self.window)
        return Join(record.future, "replayed") if self._age(record) < keep else None

    def running(self, scope: str) -> int:
        """Generations in flight for ``scope`` (a client key's hash)."""
        return self._running[scope]

    def retry_after(self) -> float:
        """Seconds a client at its concurrency limit should wait: about one generation."""
        return max(1.0, self._typical)

    # ----- running a claim -----------------------------------------------------------------------------
    def run(self, claim: Claim, work: Coroutine[Any, Any, Reply]) -> asyncio.Future[Reply | None]:
        """Run ``work`` as a task of its own (a request that goes away does not cancel it); its reply
        settles the claim for every request that joined it."""
        task = asyncio.get_running_loop().create_task(work)
        record = self._records.get(claim.ident)

        def settle(done: asyncio.Task[Reply]) -> None:
            if not claim.future.done():
                if done.cancelled():
                    claim.future.set_result(None)
                elif done.exception() is not None:
                    claim.future.set_exception(done.exception())  # type: ignore[arg-type]
                else:
                    claim.future.set_result(done.result())
            self._finished(claim.scope, record)

        task.add_done_callback(settle)
        return claim.future

    async def abandon(self, claim: Claim, reply: Reply) -> None:
        """Give up a claim before running it (admission refused it): ``reply`` goes to any request that
        joined it meanwhile, and nothing is kept for later repeats."""
        if not claim.future.done():
            claim.future.set_result(reply)
        if self._records.get(claim.ident) is not None and self._records[claim.ident].future is claim.future:
            self._drop(claim.ident)
        self._release(claim.scope)

    def save(self, path: Path, wall: float) -> int:
        """Write the finished replies still within their TTL to ``path`` (atomically), for :meth:`load`
        after a restart: a client that timed out before a redeploy gets its image when it retries after.
        ``wall``: Unix seconds now (ages cross the restart by the wall clock). The number written."""
        now, count = self._now(), 0
        tmp = path.with_name(path.name + ".tmp")
        with tmp.open("wb") as out:
            for ident, record in self._records.items():
                reply = _reply(record.future)
                if reply is None or record.finished_at is None or now - record.finished_at >= self.ttl:
                    continue
                data = encode_reply(reply)
                head = {
                    "ident": ident,
                    "fp": record.fingerprint,
                    "finished": wall - (now - record.finished_at),
                }
                out.write(json.dumps({**head, "size": len(data)}).encode() + b"\n" + data)
                count += 1
        os.replace(tmp, path)
        return count

    def load(self, path: Path, wall: float) -> int:
        """Read what :meth:`save` wrote (then delete it); records past their TTL are left out. The number read."""
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return 0
        loop, now, count, at = asyncio.get_running_loop(), self._now(), 0, 0
        try:
            while at < len(raw):
                end = raw.index(b"\n", at)
                head = json.loads(raw[at:end])
                at = end + 1 + int(head["size"])
                age = wall - float(head["finished"])
                if not 0 <= age < self.ttl:
                    continue
                future: asyncio.Future[Reply | None] = loop.create_future()
                reply = decode_reply(raw[end + 1 : at])
                future.set_result(reply)
                ident = tuple(head["ident"])
                self._records[ident] = _Record(head["fp"], future, now - age, now - age, len(reply.body))
                self._bytes += len(reply.body)
                count += 1
        except (ValueError, KeyError, TypeError):  # a file cut short: what was read is kept
            pass
        path.unlink(missing_ok=True)
        return count

    def sweep(self) -> None:
        """Drop what has expired now (an idle gateway has no request to do it)."""
        self._swept = float("-inf")
        self._expire()

    async def ready(self) -> bool:
        return True

    async def close(self) -> None:
        return None

    # ----- bookkeeping ---------------------------------------------------------------------------------
    def _release(self, scope: str) -> None:
        self._running[scope] -= 1
        if self._running[scope] <= 0:
            del self._running[scope]

    def _finished(self, scope: str, record: _Record | None) -> None:
        self._release(scope)
        if record is None:
            return
        record.finished_at = self._now()
        self._typical = 0.8 * self._typical + 0.2 * (record.finished_at - record.started_at)
        reply = _reply(record.future)
        if reply is not None:
            record.size = len(reply.body)
            self._bytes += record.size
        self._trim()

    def _keep(self, record: _Record, default: float, *, keyed: bool = False) -> float:
        """How long after it finished ``record``'s reply is given to repeats. An Idempotency-Key's reply,
        success or failure, for the TTL, but a failure that named its wait (Retry-After: nothing was done)
        only until then; a repeat without a key gets a failure for its ``replay_for``."""
        reply = _reply(record.future)
        if reply is None:
            return default
        if keyed:
            return reply.wait_for if reply.wait_for is not None else default
        return reply.replay_for if reply.replay_for is not None else default

    def _age(self, record: _Record) -> float:
        return 0.0 if record.finished_at is None else self._now() - record.finished_at

    def _expire(self) -> None:
        """Drop records past their TTL. At most once a second: the decisions check ages themselves."""
        now = self._now()
        if now - self._swept < 1.0:
            return
        self._swept = now
        for ident, record in list(self._records.items()):
            if record.finished_at is None:
                continue
            if now - record.finished_at >= self.ttl:
                self._drop(ident)

    def _trim(self) -> None:
        if self._bytes <= self.max_bytes:
            return
        now = self._now()
        for ident, record in list(self._records.items()):
            if self._bytes <= self.max_bytes:
                break
            if record.finished_at is not None and now - record.finished_at >= self.window:
                self._drop(ident)

    def _drop(self, ident: tuple[str, str, str]) -> None:
        record = self._records.pop(ident)
        self._bytes -= record.size

    @property
    def bytes_held(self) -> int:
        return self._bytes
