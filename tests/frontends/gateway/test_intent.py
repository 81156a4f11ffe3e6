"""One generation per intent: the decisions of :class:`Intents`, on a fake clock (no sleeps)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from imageshim._frontends.gateway.intent import (
    Claim,
    Conflict,
    Intents,
    Join,
    Limited,
    Reply,
    fingerprint,
    replay_seconds,
)


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def _start(intents: Intents, scope: str, body: str, key: str | None, work: Any) -> Any:
    claim = intents.decide(scope, body, key, retry=False)
    assert isinstance(claim, Claim)
    return intents.run(claim, work)


def _run(coro: Any) -> Any:
    return asyncio.run(coro)


async def _work(gate: asyncio.Event, calls: list[int], body: bytes = b"ok") -> Reply:
    calls.append(1)
    await gate.wait()
    return Reply(200, {}, body)


def test_identical_requests_in_flight_join_one_generation() -> None:
    async def main() -> None:
        intents, gate, calls = Intents(now=Clock()), asyncio.Event(), []
        assert intents.lookup("a", "body", None, retry=False) is None
        task = _start(intents, "a", "body", None, _work(gate, calls))
        found = intents.lookup("a", "body", None, retry=False)
        assert isinstance(found, Join)
        assert (found.future, found.kind) == (task, "joined")
        assert intents.running("a") == 1
        gate.set()
        assert (await found.future).body == b"ok"
        assert calls == [1]
        assert intents.running("a") == 0

    _run(main())


def test_another_client_key_never_joins() -> None:
    async def main() -> None:
        intents, gate = Intents(now=Clock()), asyncio.Event()
        _start(intents, "a", "body", None, _work(gate, []))
        assert intents.lookup("b", "body", None, retry=False) is None
        gate.set()

    _run(main())


def test_a_finished_request_is_replayed_within_the_window_and_for_a_retry_within_the_ttl() -> None:
    async def main() -> None:
        clock = Clock()
        intents, gate = Intents(ttl=3600, window=120, now=clock), asyncio.Event()
        gate.set()
        task = _start(intents, "a", "body", None, _work(gate, []))
        await task
        clock.t += 119
        found = intents.lookup("a", "body", None, retry=False)
        assert isinstance(found, Join)
        assert found.kind == "replayed"
        clock.t += 2  # past the window: a plain repeat is a new request
        assert intents.lookup("a", "body", None, retry=False) is None
        retried = intents.lookup("a", "body", None, retry=True)  # x-stainless-retry-count > 0
        assert isinstance(retried, Join)
        assert retried.future is task
        clock.t += 3600
        assert intents.lookup("a", "body", None, retry=True) is None

    _run(main())


def test_an_idempotency_key_replays_for_the_ttl_and_refuses_another_body() -> None:
    async def main() -> None:
        clock = Clock()
        intents, gate = Intents(ttl=600, window=0, now=clock), asyncio.Event()
        gate.set()
        task = _start(intents, "a", "body-1", "key-1", _work(gate, []))
        await task
        clock.t += 599
        found = intents.lookup("a", "body-1", "key-1", retry=False)
        assert isinstance(found, Join)
        assert (found.future, found.kind) == (task, "replayed")
        conflict = intents.lookup("a", "body-2", "key-1", retry=False)
        assert isinstance(conflict, Conflict)
        assert "different request body" in conflict.message
        assert intents.lookup("a", "body-1", "key-2", retry=False) is None  # another key: another intent
        assert intents.lookup("b", "body-1", "key-1", retry=False) is None  # another client's key
        clock.t += 2
        assert intents.lookup("a", "body-1", "key-1", retry=False) is None

    _run(main())


def test_a_request_that_goes_away_does_not_cancel_the_generation() -> None:
    async def main() -> None:
        intents, gate, calls = Intents(now=Clock()), asyncio.Event(), []
        task = _start(intents, "a", "body", None, _work(gate, calls))
        waiter = asyncio.ensure_future(asyncio.shield(task))
        await asyncio.sleep(0)
        waiter.cancel()  # the client's request is cancelled (it timed out, it disconnected)
        await asyncio.sleep(0)
        assert not task.cancelled()
        gate.set()
        found = intents.lookup("a", "body", None, retry=True)
        assert isinstance(found, Join)
        assert (await found.future).body == b"ok"
        assert calls == [1]

    _run(main())


def test_delivered_replies_are_dropped_first_and_undelivered_ones_kept() -> None:
    async def main() -> None:
        clock = Clock()
        intents, gate = Intents(max_bytes=10, now=clock), asyncio.Event()
        gate.set()
        first = _start(intents, "a", "one", None, _work(gate, [], b"x" * 8))
        await first  # nobody received it (its client timed out)
        second = _start(intents, "a", "two", None, _work(gate, [], b"y" * 8))
        await second
        intents.delivered(second)
        # over the budget: the delivered reply goes, the undelivered one (a paid image) stays
        assert intents.lookup("a", "one", None, retry=True) is not None
        assert intents.lookup("a", "two", None, retry=True) is None
        assert intents.bytes_held == 8

    _run(main())


def test_retry_after_follows_the_generation_time() -> None:
    async def main() -> None:
        clock = Clock()
        intents, gate = Intents(now=clock), asyncio.Event()
        task = _start(intents, "a", "x", None, _work(gate, []))
        clock.t += 30
        gate.set()
        await task
        assert 10 < intents.retry_after() < 30

    _run(main())


@pytest.mark.parametrize(
    ("first", "second", "same"),
    [
        (
            ("multipart/form-data; boundary=aaa", b"--aaa\r\nX\r\n--aaa--"),
            ("multipart/form-data; boundary=bbb", b"--bbb\r\nX\r\n--bbb--"),
            True,
        ),
        (("application/json", b'{"prompt":"a"}'), ("application/json", b'{"prompt":"a"}'), True),
        (("application/json", b'{"prompt":"a"}'), ("application/json", b'{"prompt":"b"}'), False),
    ],
)
def test_fingerprint_ignores_the_multipart_boundary(
    first: tuple[str, bytes], second: tuple[str, bytes], same: bool
) -> None:
    a = fingerprint("POST", "/v1/images/edits", first[1], first[0])
    b = fingerprint("POST", "/v1/images/edits", second[1], second[0])
    assert (a == b) is same


def test_beyond_the_limit_a_claim_is_refused_and_joins_are_not() -> None:
    async def main() -> None:
        intents, gate = Intents(now=Clock()), asyncio.Event()
        _start(intents, "a", "one", None, _work(gate, []))
        limited = intents.decide("a", "two", None, retry=False, limit=1)
        assert isinstance(limited, Limited)
        assert limited.retry_after >= 1
        assert isinstance(intents.decide("a", "one", None, retry=False, limit=1), Join)  # a retry still joins
        assert isinstance(intents.decide("b", "two", None, retry=False, limit=1), Claim)  # another key
        gate.set()

    _run(main())


def test_an_abandoned_claim_answers_its_joiners_and_keeps_nothing() -> None:
    async def main() -> None:
        intents = Intents(now=Clock())
        claim = intents.decide("a", "one", None, retry=False)
        assert isinstance(claim, Claim)
        joined = intents.decide("a", "one", None, retry=False)
        assert isinstance(joined, Join)
        await intents.abandon(claim, Reply(503, {}, b"full", replay_for=0.0))
        assert (await joined.future).status == 503
        assert intents.running("a") == 0
        assert isinstance(intents.decide("a", "one", None, retry=False), Claim)  # nothing kept

    _run(main())


def test_failures_are_replayed_briefly_and_unknown_results_for_the_ttl() -> None:
    assert replay_seconds(200, None, None, window=120, ttl=3600) is None
    assert replay_seconds(502, "server_error", None, window=120, ttl=3600) == 120
    assert replay_seconds(429, "rate_limit_exceeded", "7", window=120, ttl=3600) == 7
    assert replay_seconds(502, "result_unknown", None, window=120, ttl=3600) == 3600
