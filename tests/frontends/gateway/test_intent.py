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


def test_over_the_budget_replies_past_the_window_go_first_and_recent_ones_stay() -> None:
    async def main() -> None:
        clock = Clock()
        intents, gate = Intents(max_bytes=10, window=120, now=clock), asyncio.Event()
        gate.set()
        await _start(intents, "a", "old", None, _work(gate, [], b"x" * 8))
        clock.t += 200  # past the window: only a marked retry would still ask for it
        await _start(intents, "a", "new", None, _work(gate, [], b"y" * 8))
        assert intents.lookup("a", "new", None, retry=False) is not None
        assert intents.lookup("a", "old", None, retry=True) is None  # trimmed for the budget
        assert intents.bytes_held == 8
        # a reply within the window stays whatever the budget: its client may be about to retry
        await _start(intents, "a", "newer", None, _work(gate, [], b"z" * 8))
        assert intents.bytes_held == 16
        assert intents.lookup("a", "new", None, retry=False) is not None

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
        (  # a short boundary that is also part of a value: only the delimiter lines are ignored
            ("multipart/form-data; boundary=x", b"--x\r\na fox in a box\r\n--x--"),
            ("multipart/form-data; boundary=x", b"--x\r\na fo in a bo\r\n--x--"),
            False,
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
    assert replay_seconds(200, None, None, window=120, ttl=3600) == (None, None)
    assert replay_seconds(502, "server_error", None, window=120, ttl=3600) == (120, None)
    assert replay_seconds(429, "rate_limit_exceeded", "7", window=120, ttl=3600) == (7, 7)
    assert replay_seconds(502, "result_unknown", None, window=120, ttl=3600) == (3600, None)


def test_an_idempotency_key_replays_a_failure_for_the_ttl_unless_it_named_its_wait() -> None:
    async def main() -> None:
        clock = Clock()
        intents = Intents(ttl=3600, window=1, now=clock)
        await _start(intents, "a", "b1", "k1", _reply(Reply(502, {}, b"bad", replay_for=1)))
        await _start(intents, "a", "b2", "k2", _reply(Reply(429, {}, b"wait", replay_for=1, wait_for=5)))
        clock.t += 10
        assert isinstance(intents.lookup("a", "b1", "k1", retry=False), Join)  # billed failure: kept
        assert intents.lookup("a", "b2", "k2", retry=False) is None  # its Retry-After passed
        assert intents.lookup("a", "b1", None, retry=False) is None  # no key: the window passed

    _run(main())


async def _reply(reply: Reply) -> Reply:
    return reply


def test_a_draining_gateway_joins_but_claims_nothing() -> None:
    async def main() -> None:
        intents, gate = Intents(now=Clock()), asyncio.Event()
        _start(intents, "a", "one", None, _work(gate, []))
        assert isinstance(intents.decide("a", "one", None, retry=False, claim=False), Join)
        assert intents.decide("a", "two", None, retry=False, claim=False) is None
        gate.set()

    _run(main())


def test_saved_replies_outlive_a_restart_within_their_ttl(tmp_path: Any) -> None:
    path = tmp_path / "replies"

    async def before() -> None:
        clock = Clock()
        intents, gate = Intents(ttl=100, window=10, now=clock), asyncio.Event()
        gate.set()
        await _start(intents, "a", "one", None, _work(gate, [], b"first"))
        await _start(intents, "a", "two", "key", _work(gate, [], b"second"))
        clock.t += 5
        assert intents.save(path, wall=10_000.0) == 2

    async def after(wall: float) -> Intents:
        intents = Intents(ttl=100, window=10, now=Clock())
        intents.load(path, wall=wall)
        return intents

    async def main() -> None:
        await before()
        later = await after(10_050.0)  # 55 s after they finished: past the window, within the TTL
        assert not path.exists()
        retried = later.lookup("a", "one", None, retry=True)
        assert isinstance(retried, Join)
        assert (await retried.future).body == b"first"
        assert later.lookup("a", "one", None, retry=False) is None  # a plain repeat: past the window
        keyed = later.lookup("a", "two", "key", retry=False)
        assert isinstance(keyed, Join)
        assert (await keyed.future).body == b"second"
        assert isinstance(later.lookup("a", "other", "key", retry=False), Conflict)
        await before()
        expired = await after(10_200.0)  # past the TTL: nothing comes back
        assert expired.lookup("a", "one", None, retry=True) is None

    _run(main())
