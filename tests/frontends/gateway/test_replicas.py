"""Gateway replicas that share images and intent through Redis and S3-compatible storage: real ``imageshim
serve`` processes (replica A and replica B, the same config) against a real ``redis-server``
(``[gateway] state``), moto's S3 server (``store = "s3"``) and a loopback fake provider that counts (and
bills) every generation.

What "done" means for replicas: an image hosted by one replica is served by any other (or, with
``urls = "presigned"``, by the object store itself); a retry that lands on another replica joins or
replays the generation it repeats instead of paying for another; a client key's concurrency limit holds
across replicas; and the failures behave as ``state_redis.py`` and the README say: without Redis nothing
new starts (503 ``state_unavailable``, ``/readyz`` 503), without the object store a paid image comes back
inline, and a replica killed mid-generation costs exactly one more generation once its lease has lapsed.
"""

from __future__ import annotations

import base64
import concurrent.futures
import contextlib
import signal
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from tests.faults.server import PNG, Conn, FaultServer, delayed, success_body
from tests.frontends.gateway.serving import Gateway, free_port, gateway_process, openai_config
from tests.frontends.gateway.shared_servers import (
    AWS_UNSET,
    RedisServer,
    aws_env,
    create_bucket,
    redis_server,
    s3_client,
    s3_server,
)

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="POSIX signals")

KEY_A, KEY_B = "sk-gateway-client-a-0123456789", "sk-gateway-client-b-0123456789"
BUCKET = "imageshim-replicas"
BODY = {"model": "dall-e-3", "prompt": "a lighthouse at dusk", "size": "1024x1024"}
PNG_BYTES = base64.b64decode(PNG)
#: the image of a second generation, told apart from the first one's
SECOND = base64.b64encode(b"\x89PNG\r\n\x1a\nsecond-generation").decode()


# ----- servers -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with redis_server(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture(scope="module")
def s3() -> Iterator[str]:
    with s3_server() as endpoint:
        create_bucket(endpoint, BUCKET)
        yield endpoint


@pytest.fixture(autouse=True)
def _fresh_state(redis: RedisServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts from an empty shared state, and the gateways see no AWS profile of the host."""
    client = redis.client()
    try:
        client.flushall()
    finally:
        client.close()
    for name in AWS_UNSET:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def provider() -> Iterator[FaultServer]:
    server = FaultServer("openai")
    yield server
    server.close()


# ----- helpers -----------------------------------------------------------------------------------------
def _config(provider: FaultServer, state: str, endpoint: str, **gateway: Any) -> dict[str, Any]:
    table = {
        "state": state,
        "store": "s3",
        "s3_bucket": BUCKET,
        "s3_endpoint": endpoint,
        "drain_seconds": 3,  # a gateway stopped with a request in flight does not hold up the suite
        **gateway,
    }
    return openai_config(provider.base_url, gateway=table)


def _env(tmp_path: Path) -> dict[str, str]:
    return {**aws_env(tmp_path), "IMAGESHIM_GATEWAY_KEYS": f"{KEY_A},{KEY_B}"}


@contextlib.contextmanager
def _replicas(tmp_path: Path, config: Mapping[str, Any], count: int = 2) -> Iterator[list[Gateway]]:
    """``count`` ``imageshim serve`` processes with the same config (and keys), all stopped at the end."""
    with contextlib.ExitStack() as stack:
        yield [
            stack.enter_context(gateway_process(tmp_path, config, env=_env(tmp_path))) for _ in range(count)
        ]


def _post(
    gw: Gateway, body: Mapping[str, Any], *, key: str = KEY_A, timeout: float = 15.0, **headers: str
) -> httpx.Response:
    return httpx.post(
        f"{gw.base_url}/images/generations",
        json=dict(body),
        headers={"Authorization": f"Bearer {key}", **headers},
        timeout=timeout,
    )


def _retry_header() -> dict[str, str]:
    return {"x-stainless-retry-count": "1"}


def _wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the condition")
        time.sleep(0.02)


def _answer_with(b64: str) -> Callable[[Conn], None]:
    return lambda conn: conn.send(200, success_body(conn, b64))


def _error_code(reply: httpx.Response) -> str:
    code: str = reply.json()["error"]["code"]
    return code


def _lease_ms(redis: RedisServer) -> int:
    """The lease (Unix ms) of the one intent in the shared state."""
    client = redis.client()
    try:
        names = list(client.scan_iter(match="imageshim:i:*"))
        assert len(names) == 1, names
        state, lease = client.hmget(names[0], "state", "lease")
    finally:
        client.close()
    assert state == b"running"
    return int(lease)


# =========================================================================================================
# 1. Hosted images: any replica serves what another stored; presigned URLs are the object store's
# =========================================================================================================
def test_a_hosted_url_made_by_one_replica_is_served_by_another(
    provider: FaultServer, redis: RedisServer, s3: str, tmp_path: Path
) -> None:
    with _replicas(tmp_path, _config(provider, redis.url, s3)) as (a, b):
        reply = _post(a, {**BODY, "response_format": "url"})
        assert reply.status_code == 200, reply.text
        url = reply.json()["data"][0]["url"]
        assert url.startswith(f"{a.origin}/v1/imageshim/images/")  # proxy mode: the replica's own route
        path = urlsplit(url).path
        on_b = httpx.get(f"{b.origin}{path}", timeout=10)
        assert on_b.status_code == 200, on_b.text
        assert on_b.headers["content-type"] == "image/png"
        assert on_b.headers["x-content-type-options"] == "nosniff"
        assert on_b.content == PNG_BYTES
        on_a = httpx.get(url, timeout=10)
        assert on_a.status_code == 200
        assert on_a.content == on_b.content
    client = s3_client(s3)
    try:
        listed = client.list_objects_v2(Bucket=BUCKET, Prefix="imageshim/")
    finally:
        client.close()
    assert f"imageshim/{path.rsplit('/', 1)[1]}" in [item["Key"] for item in listed.get("Contents", [])]
    assert provider.count("generate") == 1


def test_a_presigned_url_is_the_object_stores_and_a_plain_get_fetches_it(
    provider: FaultServer, redis: RedisServer, s3: str, tmp_path: Path
) -> None:
    with _replicas(tmp_path, _config(provider, redis.url, s3, urls="presigned"), count=1) as (a,):
        reply = _post(a, {**BODY, "response_format": "url"})
        assert reply.status_code == 200, reply.text
        url = reply.json()["data"][0]["url"]
        assert url.startswith(f"{s3}/{BUCKET}/imageshim/")
        assert "X-Amz-Signature=" in url
        fetched = httpx.get(url, timeout=10)  # no gateway key, no gateway: the bucket answers
    assert fetched.status_code == 200, fetched.text
    assert fetched.content == PNG_BYTES
    assert fetched.headers["content-type"] == "image/png"


# =========================================================================================================
# 2. One generation per intent, across replicas
# =========================================================================================================
def test_a_retry_on_another_replica_joins_then_replays_the_generation(
    provider: FaultServer, redis: RedisServer, s3: str, tmp_path: Path
) -> None:
    provider.script.append(delayed(3))
    body = {**BODY, "response_format": "b64_json"}
    # A lease of 1 s against a 3 s generation: only A's renewals keep B waiting instead of claiming.
    config = _config(provider, redis.url, s3, state_lease_seconds=1)
    with _replicas(tmp_path, config) as (a, b), concurrent.futures.ThreadPoolExecutor(1) as pool:
        first = pool.submit(_post, a, body)
        _wait_for(lambda: provider.count("generate") == 1)  # A is generating
        joined = _post(b, body)
        original = first.result(timeout=15)
        assert original.status_code == 200, original.text
        assert original.headers["x-imageshim-intent"] == "new"
        assert joined.status_code == 200, joined.text
        assert joined.headers["x-imageshim-intent"] == "joined"
        assert joined.headers["idempotent-replayed"] == "true"
        assert joined.json()["data"] == original.json()["data"]
        assert base64.b64decode(joined.json()["data"][0]["b64_json"]) == PNG_BYTES
        assert provider.count("generate") == 1

        replayed = _post(b, body, **_retry_header())  # the SDK's retry, after it finished
        assert replayed.status_code == 200, replayed.text
        assert replayed.headers["x-imageshim-intent"] == "replayed"
        assert replayed.json()["data"] == original.json()["data"]
    assert provider.count("generate") == 1
    assert provider.billed == 1


def test_an_idempotency_key_reused_with_another_body_on_another_replica_is_422(
    provider: FaultServer, redis: RedisServer, s3: str, tmp_path: Path
) -> None:
    body = {**BODY, "response_format": "b64_json"}
    with _replicas(tmp_path, _config(provider, redis.url, s3)) as (a, b):
        keyed = _post(a, body, **{"Idempotency-Key": "intent-0001"})
        assert keyed.status_code == 200, keyed.text
        again = _post(b, body, **{"Idempotency-Key": "intent-0001"})
        assert again.status_code == 200, again.text
        assert again.headers["x-imageshim-intent"] == "replayed"
        reused = _post(b, {**body, "prompt": "another picture"}, **{"Idempotency-Key": "intent-0001"})
    assert reused.status_code == 422, reused.text
    assert _error_code(reused) == "idempotency_key_reused"
    assert reused.headers["x-should-retry"] == "false"
    assert provider.count("generate") == 1


# =========================================================================================================
# 3. A client key's concurrency limit holds across replicas
# =========================================================================================================
def test_the_concurrency_limit_per_key_holds_across_replicas(
    provider: FaultServer, redis: RedisServer, s3: str, tmp_path: Path
) -> None:
    provider.script.append(delayed(3))
    body = {**BODY, "response_format": "b64_json"}
    other = {**body, "prompt": "a different picture"}
    config = _config(provider, redis.url, s3, max_concurrency_per_key=1)
    with _replicas(tmp_path, config) as (a, b), concurrent.futures.ThreadPoolExecutor(2) as pool:
        slow = pool.submit(_post, a, body)
        _wait_for(lambda: provider.count("generate") == 1)  # A holds KEY_A's one slot
        limited = _post(b, other)
        assert limited.status_code == 429, limited.text
        assert _error_code(limited) == "concurrency_limit_exceeded"
        assert limited.headers["x-should-retry"] == "true"
        assert int(limited.headers["retry-after"]) >= 1
        assert provider.count("generate") == 1  # refused before anything was paid
        retry = pool.submit(_post, b, body, **_retry_header())  # a retry joins: it takes no slot
        another_key = _post(b, other, key=KEY_B)
        assert another_key.status_code == 200, another_key.text
        assert another_key.headers["x-imageshim-intent"] == "new"
        assert slow.result(timeout=15).status_code == 200
        joined = retry.result(timeout=15)
        assert joined.status_code == 200, joined.text
        assert joined.headers["x-imageshim-intent"] == "joined"
    assert provider.count("generate") == 2


# =========================================================================================================
# 4. Failures, as state_redis.py's docstring and the README say
# =========================================================================================================
def test_without_redis_nothing_new_starts_and_readyz_turns_503(
    provider: FaultServer, s3: str, tmp_path: Path
) -> None:
    with (
        redis_server(tmp_path) as own,
        _replicas(tmp_path, _config(provider, own.url, s3)) as (a, b),
    ):
        assert httpx.get(f"{a.origin}/readyz", timeout=10).status_code == 200
        assert _post(a, BODY).status_code == 200  # the shared state works ...
        own.stop()  # ... until Redis goes away
        started = time.monotonic()
        refused = _post(a, {**BODY, "prompt": "a new picture"})
        waited = time.monotonic() - started
        assert refused.status_code == 503, refused.text
        assert _error_code(refused) == "state_unavailable"
        assert refused.headers["x-should-retry"] == "true"
        assert "retry-after" in refused.headers
        on_b = _post(b, {**BODY, "prompt": "a new picture"})
        assert on_b.status_code == 503
        assert _error_code(on_b) == "state_unavailable"
        for gw in (a, b):
            ready = httpx.get(f"{gw.origin}/readyz", timeout=10)
            assert ready.status_code == 503, ready.text
            assert httpx.get(f"{gw.origin}/healthz", timeout=10).status_code == 200  # alive, not ready
        assert provider.count("generate") == 1  # nothing was paid without the shared state
        own.restart()  # Redis is back (empty): the replicas take requests again
        _wait_for(lambda: httpx.get(f"{b.origin}/readyz", timeout=5).status_code == 200, timeout=8)
        again = _post(b, {**BODY, "prompt": "a new picture"})
        assert again.status_code == 200, again.text
        assert again.headers["x-imageshim-intent"] == "new"
    assert provider.count("generate") == 2
    assert waited < 10


def test_an_unreachable_object_store_returns_the_paid_image_inline(
    provider: FaultServer, redis: RedisServer, tmp_path: Path
) -> None:
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with _replicas(tmp_path, _config(provider, redis.url, closed), count=1) as (c,):
        reply = _post(c, {**BODY, "response_format": "url"}, timeout=19)
        hosted = httpx.get(f"{c.origin}/v1/imageshim/images/{'A' * 32}.png", timeout=19)
    assert hosted.status_code == 503, hosted.text  # not a 404: the image may well exist
    assert _error_code(hosted) == "store_unavailable"
    assert hosted.headers["x-should-retry"] == "true"
    assert reply.status_code == 200, reply.text
    url = reply.json()["data"][0]["url"]
    assert url.startswith("data:image/png;base64,")
    assert base64.b64decode(url.partition(",")[2]) == PNG_BYTES
    warnings = reply.headers["x-imageshim-warnings"]
    assert "returned inline" in warnings
    assert closed not in warnings  # the endpoint is never named
    assert provider.billed == 1
    assert provider.count("generate") == 1


def test_a_running_generation_reaches_the_requests_on_its_replica_when_redis_goes_away(
    provider: FaultServer, s3: str, tmp_path: Path
) -> None:
    provider.script.append(delayed(3))
    body = {**BODY, "response_format": "b64_json"}
    with (
        redis_server(tmp_path) as own,
        _replicas(tmp_path, _config(provider, own.url, s3), count=1) as (a,),
        concurrent.futures.ThreadPoolExecutor(2) as pool,
    ):
        first = pool.submit(_post, a, body)
        _wait_for(lambda: provider.count("generate") == 1)
        same = pool.submit(_post, a, body)  # joins on the same replica: waits on the claim directly
        time.sleep(0.3)
        own.stop()
        replies = [first.result(timeout=15), same.result(timeout=15)]
        # storing it is tried a few times (Redis may be restarting) before the failure is logged
        _wait_for(lambda: "could not be stored in the shared state" in a.log())
        log = a.log()
    assert [r.status_code for r in replies] == [200, 200], [r.text for r in replies]
    assert sorted(r.headers["x-imageshim-intent"] for r in replies) == ["joined", "new"]
    assert replies[0].json()["data"] == replies[1].json()["data"]
    assert "a finished generation could not be stored in the shared state" in log
    assert provider.count("generate") == 1


def test_a_request_joined_on_another_replica_is_answered_when_redis_goes_away(
    provider: FaultServer, s3: str, tmp_path: Path
) -> None:
    provider.script.append(delayed(3))
    body = {**BODY, "response_format": "b64_json"}
    with redis_server(tmp_path) as own:
        config = _config(provider, own.url, s3, state_lease_seconds=1)
        with _replicas(tmp_path, config) as (a, b), concurrent.futures.ThreadPoolExecutor(2) as pool:
            first = pool.submit(_post, a, body)
            _wait_for(lambda: provider.count("generate") == 1)
            joined = pool.submit(_post, b, body, timeout=5)  # polls A's claim through Redis
            time.sleep(0.5)
            own.stop()
            assert first.result(timeout=15).status_code == 200  # A's own request gets the image
            reply = joined.result(timeout=15)  # A's 1 s lease has long passed when this times out
    assert reply.status_code == 503, reply.text
    assert _error_code(reply) == "state_unavailable"
    assert reply.headers["x-should-retry"] == "true"
    assert provider.count("generate") == 1


def test_a_redis_restart_does_not_make_a_waiting_retry_generate_again(
    provider: FaultServer, s3: str, tmp_path: Path
) -> None:
    provider.script.append(delayed(3))
    body = {**BODY, "response_format": "b64_json"}
    with redis_server(tmp_path) as own:
        config = _config(provider, own.url, s3)
        with _replicas(tmp_path, config) as (a, b), concurrent.futures.ThreadPoolExecutor(2) as pool:
            first = pool.submit(_post, a, body)
            _wait_for(lambda: provider.count("generate") == 1)
            joined = pool.submit(_post, b, body)
            time.sleep(0.5)
            own.restart()  # back within a second, empty
            assert first.result(timeout=15).status_code == 200
            reply = joined.result(timeout=15)
    assert reply.status_code in (200, 503), reply.text
    assert provider.count("generate") == 1, "a Redis restart paid for the generation twice"


def test_a_replica_killed_mid_generation_costs_one_more_generation_after_its_lease(
    provider: FaultServer, redis: RedisServer, s3: str, tmp_path: Path
) -> None:
    """The documented second generation: the first one's result died with its replica. With
    ``max_concurrency_per_key = 1`` the retry also shows that the dead claim left the key's slot."""
    provider.script.extend([delayed(3), _answer_with(SECOND)])
    body = {**BODY, "response_format": "b64_json"}
    config = _config(provider, redis.url, s3, state_lease_seconds=1, max_concurrency_per_key=1)
    with _replicas(tmp_path, config) as (a, b), concurrent.futures.ThreadPoolExecutor(1) as pool:
        doomed = pool.submit(_post, a, body)
        _wait_for(lambda: provider.count("generate") == 1)
        lease = _lease_ms(redis)
        a.signal(signal.SIGKILL)
        a.process.wait(timeout=5)
        with pytest.raises(httpx.TransportError):
            doomed.result(timeout=15)
        time.sleep(max(0.0, lease / 1000 - time.time()) + 0.3)  # A's lease lapses: nobody renews it
        retry = _post(b, body, **_retry_header())
    assert retry.status_code == 200, retry.text
    assert retry.headers["x-imageshim-intent"] == "new"
    assert retry.json()["data"][0]["b64_json"] == SECOND
    assert provider.count("generate") == 2


def test_a_retry_sent_before_the_lease_lapses_waits_for_the_new_generation(
    provider: FaultServer, redis: RedisServer, s3: str, tmp_path: Path
) -> None:
    provider.script.extend([delayed(3), _answer_with(SECOND)])
    body = {**BODY, "response_format": "b64_json"}
    config = _config(provider, redis.url, s3, state_lease_seconds=1)
    with _replicas(tmp_path, config) as (a, b), concurrent.futures.ThreadPoolExecutor(1) as pool:
        doomed = pool.submit(_post, a, body)
        _wait_for(lambda: provider.count("generate") == 1)
        a.signal(signal.SIGKILL)
        a.process.wait(timeout=5)
        lease = _lease_ms(redis)
        sent = time.time()
        assert sent * 1000 < lease, "A's claim had already lapsed: the retry would not wait"
        retry = _post(b, body, **_retry_header())  # joins A's claim, which will never finish
        answered = time.time()
        with pytest.raises(httpx.TransportError):
            doomed.result(timeout=15)
    assert retry.status_code == 200, retry.text
    assert retry.json()["data"][0]["b64_json"] == SECOND  # the new generation's image, not an error
    assert answered * 1000 >= lease  # it waited for the lease, then began again
    assert provider.count("generate") == 2


# =========================================================================================================
# 5. A restart keeps the reply a client has not received (the Redis-state answer to the audit's xfail
#    test_a_restart_keeps_the_reply_a_client_has_not_received, which uses the local state)
# =========================================================================================================
def test_a_restart_with_redis_state_keeps_the_reply_a_client_has_not_received(
    provider: FaultServer, redis: RedisServer, s3: str, tmp_path: Path
) -> None:
    provider.script.append(delayed(2))
    body = {**BODY, "response_format": "url"}
    config = _config(provider, redis.url, s3)
    with _replicas(tmp_path, config, count=1) as (a,):
        with pytest.raises(httpx.TimeoutException):
            _post(a, body, timeout=0.5)  # the client gives up; the generation goes on
        _wait_for(lambda: "intent=new" in a.log(), timeout=5)  # generated, paid, stored (~2 s)
        port = a.port
        a.signal(signal.SIGTERM)  # a rolling deploy, between the timeout and the SDK's retry
        assert a.process.wait(timeout=10) == 0
    with gateway_process(tmp_path, config, env=_env(tmp_path), port=port) as fresh:
        retry = _post(fresh, body, **_retry_header())
        assert retry.status_code == 200, retry.text
        assert retry.headers["x-imageshim-intent"] == "replayed"
        image = httpx.get(retry.json()["data"][0]["url"], timeout=10)  # served from the bucket
    assert image.status_code == 200
    assert image.content == PNG_BYTES
    assert provider.count("generate") == 1
    assert provider.billed == 1
