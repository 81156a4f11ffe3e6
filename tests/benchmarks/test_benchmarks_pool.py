"""The adapters' HTTP clients (imageshim._plumbing.pool): connections are reused under concurrency, limits hold,
dead or expired connections are replaced, failures and cancellations free their slot, and clients the
caller passes in (or pools this module does not know) are left alone. A keep-alive HTTP/1.1 server on
127.0.0.1 counts the TCP connections it accepts."""

from __future__ import annotations

import asyncio
import concurrent.futures
import http.server
import socket
import threading
import time
from collections.abc import Iterator

import anyio
import httpcore
import httpx
import pytest

import imageshim
from imageshim._plumbing import pool as _pool

TIMEOUT = httpx.Timeout(10.0)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    server: _Server

    def setup(self) -> None:
        self.request.settimeout(self.server.idle_close)  # the server closes connections idle this long
        super().setup()
        with self.server.lock:
            self.server.accepted += 1

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        time.sleep(self.server.latency)
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def __init__(self, latency: float = 0.0, idle_close: float | None = 5.0) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.latency = latency
        self.idle_close = idle_close
        self.accepted = 0
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1/images/generations"


@pytest.fixture
def serve() -> Iterator[type[_Server]]:
    started: list[_Server] = []

    class Factory(_Server):
        def __init__(self, latency: float = 0.0, idle_close: float | None = 5.0) -> None:
            super().__init__(latency, idle_close)
            threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
            started.append(self)

    yield Factory
    for server in started:
        server.shutdown()
        server.server_close()


def _pool_of(client: httpx.Client | httpx.AsyncClient) -> object:
    return client._transport._pool  # type: ignore[union-attr]


@pytest.mark.anyio
async def test_async_client_keeps_connections_alive_under_concurrency(serve: type[_Server]) -> None:
    server = serve(latency=0.02)
    client = _pool.async_http_client(TIMEOUT)
    assert type(_pool_of(client)) is _pool._AsyncLinearPool
    gate = asyncio.Semaphore(40)

    async def one() -> int:
        async with gate:
            return (await client.post(server.url, json={"prompt": "x"})).status_code

    async with client:
        codes = await asyncio.gather(*(one() for _ in range(400)))
    assert codes == [200] * 400
    assert server.accepted <= 40  # one connection per request in flight, reused ten times each


def test_sync_client_is_shared_by_threads(serve: type[_Server]) -> None:
    server = serve(latency=0.005)
    with _pool.http_client(TIMEOUT) as client:
        assert type(_pool_of(client)) is _pool._LinearPool
        with concurrent.futures.ThreadPoolExecutor(8) as executor:
            codes = list(executor.map(lambda _: client.post(server.url, json={}).status_code, range(200)))
    assert codes == [200] * 200
    assert server.accepted <= 8


@pytest.mark.anyio
async def test_max_connections_queues_the_rest(serve: type[_Server]) -> None:
    server = serve(latency=0.05)
    client = httpx.AsyncClient(timeout=TIMEOUT, limits=httpx.Limits(max_connections=2))
    assert _pool.linear_pool(client)
    started = time.monotonic()
    async with client:
        replies = await asyncio.gather(*(client.post(server.url, json={}) for _ in range(8)))
    assert [r.status_code for r in replies] == [200] * 8
    assert server.accepted == 2
    assert time.monotonic() - started >= 4 * 0.05  # 8 requests, 2 at a time


@pytest.mark.anyio
async def test_a_connection_the_server_closed_is_replaced_not_reused(serve: type[_Server]) -> None:
    server = serve(idle_close=0.1)
    async with _pool.async_http_client(TIMEOUT) as client:
        assert (await client.post(server.url, json={})).status_code == 200
        await asyncio.sleep(0.4)  # the server has closed the idle connection by now
        assert (await client.post(server.url, json={})).status_code == 200
        assert len(_pool_of(client).connections) == 1  # type: ignore[attr-defined]
    assert server.accepted == 2


@pytest.mark.anyio
async def test_idle_connections_expire_and_surplus_ones_close(
    serve: type[_Server], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = serve(latency=0.02)
    limits = httpx.Limits(max_connections=10, max_keepalive_connections=3, keepalive_expiry=0.2)
    client = httpx.AsyncClient(timeout=TIMEOUT, limits=limits)
    assert _pool.linear_pool(client)
    pool = _pool_of(client)
    async with client:
        await asyncio.gather(*(client.post(server.url, json={}) for _ in range(10)))
        assert server.accepted == 10
        await client.post(server.url, json={})  # a pass with a queued request closes the surplus
        assert len(pool.connections) <= 3  # type: ignore[attr-defined]
        monkeypatch.setattr(_pool, "SWEEP_INTERVAL", 0.0)
        await asyncio.sleep(0.3)  # every idle connection's keep-alive has expired
        await client.post(server.url, json={})
        assert len(pool.connections) == 1  # type: ignore[attr-defined]
    assert server.accepted == 11


def test_a_failed_connection_frees_its_slot(serve: type[_Server]) -> None:
    server = serve()
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}/v1/images/generations"
    client = httpx.Client(timeout=TIMEOUT, limits=httpx.Limits(max_connections=1))
    assert _pool.linear_pool(client)
    with client:
        for _ in range(3):
            with pytest.raises(httpx.ConnectError):
                client.post(dead, json={})
        assert client.post(server.url, json={}).status_code == 200
        assert client.post(server.url, json={}).status_code == 200  # the same connection again
    assert server.accepted == 1


@pytest.mark.anyio
async def test_a_cancelled_request_frees_its_slot(serve: type[_Server]) -> None:
    server = serve(latency=0.3)
    client = httpx.AsyncClient(timeout=TIMEOUT, limits=httpx.Limits(max_connections=1))
    assert _pool.linear_pool(client)
    async with client:
        with anyio.move_on_after(0.05) as scope:
            await client.post(server.url, json={})
        assert scope.cancelled_caught
        with anyio.fail_after(5):
            assert (await client.post(server.url, json={})).status_code == 200


def test_unknown_pools_and_callers_clients_are_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    with httpx.Client(http2=False, transport=httpx.MockTransport(lambda r: httpx.Response(200))) as mock:
        assert not _pool.linear_pool(mock)
    stock = httpx.AsyncClient()
    stock._transport._pool._http2 = True  # type: ignore[attr-defined]
    assert not _pool.linear_pool(stock)
    assert type(_pool_of(stock)) is httpcore.AsyncConnectionPool
    monkeypatch.setattr(httpcore, "__version__", "2.0.0")
    assert not _pool.linear_pool(httpx.Client())
    monkeypatch.undo()

    mine = httpx.AsyncClient()
    shim = imageshim.AsyncOpenAI(
        config={"routes": {"*": ["openai:gpt-image-2"]}}, api_key="sk-test", http_client=mine
    )
    adapter = shim._engine.adapter("openai")
    assert adapter.async_http_client is mine
    assert type(_pool_of(mine)) is httpcore.AsyncConnectionPool


def test_adapters_create_their_clients_with_the_linear_pool() -> None:
    shim = imageshim.OpenAI(config={"routes": {"*": ["openai:gpt-image-2"]}}, api_key="sk-test")
    adapter = shim._engine.adapter("openai")
    assert type(_pool_of(adapter.http_client)) is _pool._LinearPool
    assert type(_pool_of(adapter.async_http_client)) is _pool._AsyncLinearPool
    limits = _pool_of(adapter.async_http_client)
    assert limits._max_connections == 1000  # type: ignore[attr-defined]
    shim.close()
