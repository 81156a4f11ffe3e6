"""Shared test fixtures: no real network, no real keys, a fixed day.

- Every real httpx transport refuses non-loopback hosts: a test that would reach the internet fails.
  Loopback servers started by the tests themselves are allowed.
- Provider keys and imageshim variables are removed from the environment, and the working directory
  is a fresh temporary one (no stray imageshim.toml / pyproject.toml is discovered).
- ``today`` is 2026-11-24; pass ``clock=lambda: today``.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

TODAY = datetime.date(2026, 11, 24)
SHARED = Path(__file__).resolve().parents[1].parent / "shared"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")

_ENV = (
    "OPENAI_API_KEY",
    "RUNWARE_API_KEY",
    "OPENAI_BASE_URL",
    "RUNWARE_BASE_URL",
    "IMAGESHIM_ADAPTER",
    "IMAGESHIM_CONFIG",
    "IMAGESHIM_GATEWAY_KEYS",
    "OPENAI_ORG_ID",
    "OPENAI_PROJECT_ID",
)


def _guard(host: str) -> None:
    if host not in LOOPBACK:
        raise RuntimeError(f"Test tried to reach the real network ({host}); use httpx.MockTransport")


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    real_sync = httpx.HTTPTransport.handle_request
    real_async = httpx.AsyncHTTPTransport.handle_async_request

    def sync(self: httpx.HTTPTransport, request: httpx.Request) -> httpx.Response:
        _guard(request.url.host)
        return real_sync(self, request)

    async def asyn(self: httpx.AsyncHTTPTransport, request: httpx.Request) -> httpx.Response:
        _guard(request.url.host)
        return await real_async(self, request)

    monkeypatch.setattr(httpx.HTTPTransport, "handle_request", sync)
    monkeypatch.setattr(httpx.AsyncHTTPTransport, "handle_async_request", asyn)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in _ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def today() -> datetime.date:
    return TODAY


@pytest.fixture
def clock() -> Callable[[], datetime.date]:
    return lambda: TODAY


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Recorder:
    """A MockTransport handler that records requests and answers from a queue (or a function)."""

    def __init__(self, *responses: httpx.Response | Callable[[httpx.Request], httpx.Response]) -> None:
        self.requests: list[httpx.Request] = []
        self.responses = list(responses)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if not self.responses:
            raise AssertionError(f"unexpected request {request.method} {request.url}")
        item = self.responses.pop(0) if len(self.responses) > 1 else self.responses[0]
        return item(request) if callable(item) else item

    def json(self, index: int = -1) -> Any:
        return json.loads(self.requests[index].content)

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self))

    def async_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self))


@pytest.fixture
def recorder_factory() -> Callable[..., Recorder]:
    return Recorder


@contextlib.contextmanager
def _running(app: Any) -> Iterator[str]:
    import uvicorn  # the gateway extra; only the tests that serve need it

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "gateway did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        assert not thread.is_alive()


@pytest.fixture
def serve_app() -> Callable[[Any], contextlib.AbstractContextManager[str]]:
    """``with serve_app(app) as base_url``: the ASGI app served by uvicorn on 127.0.0.1 in a thread, stopped
    (and its socket closed) when the block ends."""
    return _running
