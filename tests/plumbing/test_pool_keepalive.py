"""The adapters' pool at the keep-alive boundary (imageshim._plumbing.pool), against a loopback keep-alive server.

A server closes idle connections on its own timer; a request written as it does meets a closed socket.
The adapters' clients keep idle connections less long than common servers, probe a connection again
just before writing on it, and send a request that lost that race once more on a new connection, but
never one the server may have processed (a reply byte arrived, or the connection was new).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from typing import Any

import httpx
import pytest
from tests.faults.transport_server import TransportServer

from imageshim._plumbing import pool as _pool

TIMEOUT = httpx.Timeout(10.0)
BODY = {"model": "gpt-image-2", "prompt": "a fox"}


def _pool_of(client: httpx.Client | httpx.AsyncClient) -> Any:
    return client._transport._pool  # type: ignore[union-attr]


def _sync_calls(client: httpx.Client, url: str, calls: int, workers: int) -> list[str]:
    def one(_: int) -> str | None:
        try:
            client.post(url, json=BODY).raise_for_status()
        except httpx.HTTPError as exc:
            return type(exc).__name__
        return None

    with concurrent.futures.ThreadPoolExecutor(workers) as executor:
        return [e for e in executor.map(one, range(calls)) if e]


async def _async_calls(client: httpx.AsyncClient, url: str, calls: int) -> list[str]:
    async def one() -> str | None:
        try:
            (await client.post(url, json=BODY)).raise_for_status()
        except httpx.HTTPError as exc:
            return type(exc).__name__
        return None

    return [e for e in await asyncio.gather(*(one() for _ in range(calls))) if e]


def test_idle_connections_expire_a_margin_below_common_server_windows() -> None:
    # uvicorn, Node and Apache close idle connections after 5 s, counted from the reply they wrote.
    with _pool.http_client(TIMEOUT) as client:
        assert _pool_of(client)._keepalive_expiry < 5.0
    client2 = _pool.async_http_client(TIMEOUT)
    assert _pool_of(client2)._keepalive_expiry < 5.0


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_request_that_loses_the_keepalive_race_is_sent_once_more_on_a_new_connection(mode: str) -> None:
    calls = 5
    with TransportServer("openai", race=True) as srv:
        if mode == "sync":
            with _pool.http_client(TIMEOUT) as client:
                errors = _sync_calls(client, srv.url, calls, workers=1)
        else:

            async def go() -> list[str]:
                async with _pool.async_http_client(TIMEOUT) as client:
                    return [e for _ in range(calls) for e in await _async_calls(client, srv.url, 1)]

            errors = asyncio.run(go())
        assert errors == []
        assert srv.count() == calls  # the server processed each request once
        assert srv.races == calls - 1  # every reuse lost the race and was sent again once
        assert srv.connections == calls


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_concurrent_requests_that_lose_the_race_are_sent_again(mode: str) -> None:
    calls, rounds = 20, 3
    with TransportServer("openai", race=True) as srv:
        if mode == "sync":
            with _pool.http_client(TIMEOUT) as client:
                errors = [e for _ in range(rounds) for e in _sync_calls(client, srv.url, calls, calls)]
        else:

            async def go() -> list[str]:
                async with _pool.async_http_client(TIMEOUT) as client:
                    return [e for _ in range(rounds) for e in await _async_calls(client, srv.url, calls)]

            errors = asyncio.run(go())
        assert errors == []
        assert srv.count() == calls * rounds


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_new_connection_that_fails_is_not_sent_again(mode: str) -> None:
    # The server reads the first request of a connection and never answers within the client's time:
    # the request may have been processed, so it must not be sent again.
    with TransportServer("openai", headers_after=3.0) as srv:
        timeout = httpx.Timeout(0.5)
        if mode == "sync":
            with _pool.http_client(timeout) as client:
                errors = _sync_calls(client, srv.url, 1, 1)
        else:

            async def go() -> list[str]:
                async with _pool.async_http_client(timeout) as client:
                    return await _async_calls(client, srv.url, 1)

            errors = asyncio.run(go())
        assert errors == ["ReadTimeout"]
        assert srv.count() == 1
        assert srv.connections == 1


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_bursts_at_the_keepalive_boundary_fail_nothing(mode: str) -> None:
    # Worst case: the client keeps connections exactly as long as the server (both 0.5 s here), and
    # bursts land just before and after that boundary.
    window, calls = 0.5, 30
    delays = [window - 0.06 + 0.02 * i for i in range(5)]
    with TransportServer("openai", idle_timeout=window) as srv:
        if mode == "sync":
            with _pool.http_client(TIMEOUT) as client:
                _pool_of(client)._keepalive_expiry = window
                errors = _sync_calls(client, srv.url, calls, calls)
                for delay in delays:
                    time.sleep(delay)
                    errors += _sync_calls(client, srv.url, calls, calls)
        else:

            async def go() -> list[str]:
                async with _pool.async_http_client(TIMEOUT) as client:
                    _pool_of(client)._keepalive_expiry = window
                    errors = await _async_calls(client, srv.url, calls)
                    for delay in delays:
                        await asyncio.sleep(delay)
                        errors += await _async_calls(client, srv.url, calls)
                    return errors

            errors = asyncio.run(go())
        assert errors == []
        assert srv.count() == calls * (len(delays) + 1)
