"""Budgets shared by gateway replicas through Redis: real ``imageshim serve`` processes (replica A and
replica B, the same config and keys) against a real ``redis-server`` (``[gateway] state``) and a loopback
fake Runware that counts every generation and reports what it cost.

What "done" means: a client key has one budget whichever replica serves it; requests arriving together at
both replicas can never spend past it (the reservation is one Lua script on the Redis server); the sums
are kept per UTC window under the key's label (never the key) and expire after their window.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import signal
import threading
import time
from collections.abc import Iterator, Mapping
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.faults.server import FaultServer
from tests.frontends.gateway.serving import Gateway, gateway_process
from tests.frontends.gateway.shared_servers import RedisServer, redis_server
from tests.frontends.gateway.test_budgets import COST, RUNWARE_KEY, _runware

from imageshim._core.request import request_from_kwargs
from imageshim._frontends.engine import Engine
from imageshim._frontends.gateway.budgets import Hold, Limits, micro, windows
from imageshim._frontends.gateway.budgets_redis import RedisLedger
from imageshim._frontends.gateway.record import client_hash, hash_salt

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGTERM"), reason="POSIX signals")

KEY_A, KEY_B = "sk-gateway-client-a-0123456789", "sk-gateway-client-b-0123456789"
LABEL_A = client_hash(KEY_A, hash_salt([KEY_A, KEY_B]))


@pytest.fixture(scope="module")
def redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with redis_server(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture(autouse=True)
def _fresh_state(redis: RedisServer) -> None:
    client = redis.client()
    try:
        client.flushall()
    finally:
        client.close()


@pytest.fixture
def runware() -> Iterator[FaultServer]:
    server = FaultServer("runware")
    yield server
    server.close()


def _body(prompt: str) -> dict[str, Any]:
    return {"model": "dall-e-3", "prompt": prompt, "size": "1024x1024", "response_format": "b64_json"}


def _config(runware: FaultServer, redis: RedisServer, **budgets: Any) -> dict[str, Any]:
    return {
        "routes": {"*": ["runware:gpt-image-2"]},
        "providers": {"runware": {"api_key": RUNWARE_KEY, "base_url": runware.base_url, "timeout": 5.0}},
        "retry": {"max_retries": 0},
        "gateway": {"state": redis.url, "drain_seconds": 3, "budgets": budgets},
    }


def _estimate(config: Mapping[str, Any], prompt: str) -> float:
    plan = Engine(dict(config), clock=date.today).plan(request_from_kwargs(_body(prompt)))
    assert plan.targets[0].estimate is not None
    return plan.targets[0].estimate.usd


@contextlib.contextmanager
def _replicas(tmp_path: Path, config: Mapping[str, Any]) -> Iterator[list[Gateway]]:
    env = {"IMAGESHIM_GATEWAY_KEYS": f"{KEY_A},{KEY_B}"}
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(gateway_process(tmp_path, config, env=env)) for _ in range(2)]


def _post(gw: Gateway, prompt: str, key: str = KEY_A) -> httpx.Response:
    return httpx.post(
        f"{gw.base_url}/images/generations",
        json=_body(prompt),
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )


def _refused(reply: httpx.Response) -> bool:
    return reply.status_code == 429 and reply.json()["error"]["code"] == "insufficient_quota"


def _refusals(gw: Gateway) -> float:
    text = httpx.get(f"{gw.origin}/metrics", timeout=5).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "imageshim_budget_refusals_total"
    )


def test_two_replicas_share_one_budget(runware: FaultServer, redis: RedisServer, tmp_path: Path) -> None:
    runware.script.extend(_runware() for _ in range(3))
    probe = _config(runware, redis)
    # two generations charged COST each fit; a third's estimate does not
    budget = round(2 * COST + _estimate(probe, "three") - 0.001, 6)
    config = _config(runware, redis, usd_per_day=budget)
    with _replicas(tmp_path, config) as (a, b):
        assert _post(a, "one").status_code == 200
        assert _post(b, "two").status_code == 200
        assert _refused(_post(a, "three"))
        assert _refused(_post(b, "three"))
        assert _post(b, "three", key=KEY_B).status_code == 200  # another key, its own budget
        assert (_refusals(a), _refusals(b)) == (1, 1)
    assert runware.count("generate") == 3
    client = redis.client()
    try:
        names = sorted(name.decode() for name in client.keys("imageshim:b:*"))
        day = next(name for name in names if name.startswith(f"imageshim:b:{LABEL_A}:day:"))
        assert int(client.hget(day, "spent")) == 2 * micro(COST)
        assert int(client.hget(day, "reserved")) == 0
        assert 0 < client.ttl(day) <= 2 * 86400  # gone a day after its window ends
        assert any(name.startswith(f"imageshim:b:{LABEL_A}:month:") for name in names)
        assert not any(KEY_A.encode() in name or KEY_B.encode() in name for name in client.keys("*"))
    finally:
        client.close()


def test_requests_at_two_replicas_together_cannot_spend_past_the_budget(
    runware: FaultServer, redis: RedisServer, tmp_path: Path
) -> None:
    gate = threading.Event()
    runware.script.extend(_runware(gate=gate) for _ in range(10))
    prompts = [f"prompt {i}" for i in range(10)]  # the same length: the same estimate
    config = _config(
        runware, redis, usd_per_month=round(3.5 * _estimate(_config(runware, redis), prompts[0]), 6)
    )
    with _replicas(tmp_path, config) as gateways, concurrent.futures.ThreadPoolExecutor(10) as pool:
        futures = [pool.submit(_post, gateways[i % 2], prompt) for i, prompt in enumerate(prompts)]
        deadline = time.monotonic() + 30
        # every request is either answered or waiting at the provider: then the provider answers
        while sum(f.done() for f in futures) + runware.count("generate") < len(prompts):
            assert time.monotonic() < deadline, "requests neither answered nor sent"
            time.sleep(0.02)
        gate.set()
        replies = [f.result() for f in futures]
    assert sorted(r.status_code for r in replies) == [200] * 3 + [429] * 7
    assert all(_refused(r) for r in replies if r.status_code == 429)
    assert runware.count("generate") == 3


# ----- a reply that comes late: the scripts run twice, and apply once -----------------------------------
class _LateReplies:
    """A TCP proxy in front of redis-server that holds back one reply past the client's socket timeout (a
    failover, a busy server): the script has run on the server, the client times out and runs it again."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.hold_next = 0.0
        #: how many times a client sent a script to run (EVALSHA), replays included
        self.scripts_sent = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection("127.0.0.1", self.port)
        for pipe in (self._pipe(client_r, server_w, late=False), self._pipe(server_r, client_w, late=True)):
            task = asyncio.create_task(pipe)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, late: bool) -> None:
        try:
            while data := await reader.read(65536):
                if not late:
                    self.scripts_sent += data.upper().count(b"EVALSHA")
                elif self.hold_next:
                    wait, self.hold_next = self.hold_next, 0.0
                    await asyncio.sleep(wait)
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()

    async def close(self) -> None:
        self._server.close()
        for task in list(self._tasks):
            task.cancel()


def test_a_late_reply_applies_a_reservation_and_a_settlement_once(redis: RedisServer) -> None:
    """redis-py retries a script whose reply timed out (as the gateway's client is configured), and the
    ledger retries a settlement: the second run must change nothing. Without that, a release ran twice
    freed another generation's reservation, and a reservation ran twice stayed held."""
    import redis.asyncio as aioredis
    from redis.asyncio.retry import Retry
    from redis.backoff import ExponentialBackoff
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    day, month = windows(time.time())
    limits = Limits(day=300, month=None)
    label, other = "abcdefabcdef", "bbbbbbbbbbbb"

    async def go() -> dict[str, Any]:
        proxy = _LateReplies(redis.port)
        client = aioredis.Redis(
            host="127.0.0.1",
            port=await proxy.start(),
            socket_connect_timeout=2,
            socket_timeout=0.3,  # 5 s in the gateway; short here, and the reply is held longer
            retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 2),
            retry_on_error=[RedisConnectionError, RedisTimeoutError],
        )
        try:
            ledger = RedisLedger(client)
            warm = await ledger.reserve("000000000000", 1, limits, day, month)  # both scripts loaded
            assert isinstance(warm, Hold)
            await ledger.settle(warm, 0)
            a = await ledger.reserve(label, 100, limits, day, month)
            b = await ledger.reserve(label, 100, limits, day, month)  # still in flight
            assert isinstance(a, Hold)
            assert isinstance(b, Hold)
            sent = proxy.scripts_sent
            proxy.hold_next = 1.0
            await ledger.settle(a, 0)  # the provider refused a: released
            out: dict[str, Any] = {"settle runs": proxy.scripts_sent - sent}
            out["after release"] = await ledger.tally(label, day, month)
            sent = proxy.scripts_sent
            proxy.hold_next = 1.0
            c = await ledger.reserve(other, 100, limits, day, month)
            out["reserve runs"] = proxy.scripts_sent - sent
            assert isinstance(c, Hold)
            await ledger.settle(c, 100)
            await ledger.settle(c, 100)  # the ledger's own retry of a settlement already written
            out["after charge"] = await ledger.tally(other, day, month)
            return out
        finally:
            await client.aclose()
            await proxy.close()

    out = asyncio.run(go())
    assert out["settle runs"] >= 2  # the late reply did make the client run the script again
    assert out["reserve runs"] >= 2
    assert (out["after release"].day_spent, out["after release"].day_reserved) == (0, 100)  # b still held
    assert (out["after charge"].day_spent, out["after charge"].day_reserved) == (100, 0)
