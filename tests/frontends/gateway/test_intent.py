"""One generation per intent: the decisions of :class:`Intents`, on a fake clock (no sleeps)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from imageshim._frontends.gateway.intent import Conflict, Intents, Join, Reply, fingerprint


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


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
        task = intents.start("a", "body", None, _work(gate, calls))
        found = intents.lookup("a", "body", None, retry=False)
        assert isinstance(found, Join)
        assert (found.task, found.kind) == (task, "joined")
        assert intents.running("a") == 1
        gate.set()
        assert (await found.task).body == b"ok"
        assert calls == [1]
        assert intents.running("a") == 0

    _run(main())


def test_another_client_key_never_joins() -> None:
    async def main() -> None:
        intents, gate = Intents(now=Clock()), asyncio.Event()
        intents.start("a", "body", None, _work(gate, []))
        assert intents.lookup("b", "body", None, retry=False) is None
        gate.set()

    _run(main())


def test_a_finished_request_is_replayed_within_the_window_and_for_a_retry_within_the_ttl() -> None:
    async def main() -> None:
        clock = Clock()
        intents, gate = Intents(ttl=3600, window=120, now=clock), asyncio.Event()
        gate.set()
        task = intents.start("a", "body", None, _work(gate, []))
        await task
        clock.t += 119
        found = intents.lookup("a", "body", None, retry=False)
        assert isinstance(found, Join)
        assert found.kind == "replayed"
        clock.t += 2  # past the window: a plain repeat is a new request
        assert intents.lookup("a", "body", None, retry=False) is None
        retried = intents.lookup("a", "body", None, retry=True)  # x-stainless-retry-count > 0
        assert isinstance(retried, Join)
        assert retried.task is task
        clock.t += 3600
        assert intents.lookup("a", "body", None, retry=True) is None

    _run(main())


def test_an_idempotency_key_replays_for_the_ttl_and_refuses_another_body() -> None:
    async def main() -> None:
        clock = Clock()
        intents, gate = Intents(ttl=600, window=0, now=clock), asyncio.Event()
        gate.set()
        task = intents.start("a", "body-1", "key-1", _work(gate, []))
        await task
        clock.t += 599
        found = intents.lookup("a", "body-1", "key-1", retry=False)
        assert isinstance(found, Join)
        assert (found.task, found.kind) == (task, "replayed")
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
        task = intents.start("a", "body", None, _work(gate, calls))
        waiter = asyncio.ensure_future(asyncio.shield(task))
        await asyncio.sleep(0)
        waiter.cancel()  # the client's request is cancelled (it timed out, it disconnected)
        await asyncio.sleep(0)
        assert not task.cancelled()
        gate.set()
        found = intents.lookup("a", "body", None, retry=True)
        assert isinstance(found, Join)
        assert (await found.task).body == b"ok"
        assert calls == [1]

    _run(main())


def test_delivered_replies_are_dropped_first_and_undelivered_ones_kept() -> None:
    async def main() -> None:
        clock = Clock()
        intents, gate = Intents(max_bytes=10, now=clock), asyncio.Event()
        gate.set()
        first = intents.start("a", "one", None, _work(gate, [], b"x" * 8))
        await first  # nobody received it (its client timed out)
        second = intents.start("a", "two", None, _work(gate, [], b"y" * 8))
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
        task = intents.start("a", "x", None, _work(gate, []))
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
