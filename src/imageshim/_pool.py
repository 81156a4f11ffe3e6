"""The adapters' own HTTP clients, with a connection pool whose bookkeeping stays linear under load.

httpcore 1.0 (under httpx 0.27/0.28) re-examines its pool on every request start and finish, and the
pass is quadratic: to enforce ``max_keepalive_connections`` it counts every connection once per idle
one, rebuilds the list of idle connections once per queued request, and probes every idle socket (a
``poll()`` through anyio's attribute lookup) each time. With 100 requests in flight on keep-alive
connections that pass costs milliseconds per request (measured with benchmarks/bench_concurrency.py:
8% of the ideal throughput). Keeping few idle connections hides it but closes and reopens a TCP
connection for most requests. httpcore2 rewrote the pass (``_assign_requests_to_connections`` in
httpcore2 2.16: one scan, reserved connections excluded); :func:`async_http_client` and
:func:`http_client` give the httpcore 1.0 pool of the clients the adapters create the same shape:

- one scan of the connections per pass (closed ones dropped, idle ones collected);
- ``max_keepalive_connections`` counts idle connections (httpcore 1.0 counts all of them);
- an idle connection already assigned to a request that has not sent yet is not handed out twice;
- an idle connection is probed for expiry (keep-alive timeout passed, or the server closed it) when
  it is about to be reused, and all idle connections at most once a second, not on every pass.

Clients passed in by the caller are never changed. When httpcore is not the 1.0 line this module knows
(or the pool is not a plain HTTP/1.1 pool), the stock pool is kept.
"""

from __future__ import annotations

import time
from typing import Any

import httpcore
import httpx

__all__ = ["async_http_client", "http_client", "linear_pool"]

#: seconds between probes of every idle connection (each one is also probed before it is reused)
SWEEP_INTERVAL = 1.0
_POOL_ATTRIBUTES = ("_requests", "_connections", "_max_connections", "_max_keepalive_connections")


def _assign_requests_to_connections(pool: Any) -> list[Any]:
    """httpcore's pool pass, in one scan: returns the connections to close (the caller closes them)."""
    closing: list[Any] = []
    reserved = {request.connection for request in pool._requests}
    now = time.monotonic()
    sweep = now - pool._imageshim_swept >= SWEEP_INTERVAL
    if None not in reserved and not sweep:
        # No request waits for a connection (a reply was just read): closed and surplus idle
        # connections can wait for the next pass, which a new request or the sweep brings.
        return closing
    if sweep:
        pool._imageshim_swept = now
    kept: list[Any] = []
    idle: list[Any] = []
    for connection in pool._connections:
        if connection.is_closed():
            continue
        if connection.is_idle() and connection not in reserved:
            if sweep and connection.has_expired():
                closing.append(connection)
                continue
            idle.append(connection)
        kept.append(connection)

    surplus = len(idle) - pool._max_keepalive_connections
    if surplus > 0:  # close the oldest idle connections beyond the keep-alive limit
        dropped = set(idle[:surplus])
        closing.extend(idle[:surplus])
        idle = idle[surplus:]
        kept = [c for c in kept if c not in dropped]
    pool._connections = kept

    budget = pool._max_connections - len(kept)
    for request in pool._requests:
        if not idle and budget <= 0:
            break  # nothing left to hand out: the rest of the queue waits
        if request.connection is not None:
            continue
        origin = request.request.url.origin
        for connection in list(idle):
            if not connection.can_handle_request(origin):
                continue
            idle.remove(connection)
            if connection.has_expired():  # keep-alive timed out or the server closed it: replace it
                pool._connections.remove(connection)
                closing.append(connection)
                budget += 1
                continue
            request.assign_to_connection(connection)
            break
        if request.connection is not None:
            continue
        if budget <= 0 and idle:  # full pool: an idle connection to another origin makes room
            spare = idle.pop(0)
            pool._connections.remove(spare)
            closing.append(spare)
            budget += 1
        if budget > 0:
            connection = pool.create_connection(origin)
            pool._connections.append(connection)
            request.assign_to_connection(connection)
            budget -= 1
    return closing


class _LinearPool(httpcore.ConnectionPool):
    _imageshim_swept = 0.0

    def _assign_requests_to_connections(self) -> list[Any]:
        return _assign_requests_to_connections(self)


class _AsyncLinearPool(httpcore.AsyncConnectionPool):
    _imageshim_swept = 0.0

    def _assign_requests_to_connections(self) -> list[Any]:
        return _assign_requests_to_connections(self)


def _known_httpcore() -> bool:
    return httpcore.__version__.startswith("1.0.")


def linear_pool(client: httpx.Client | httpx.AsyncClient) -> bool:
    """Give ``client``'s default transport the linear pool pass; False (client unchanged) when its pool
    is not a plain HTTP/1.1 httpcore 1.0 pool."""
    pool = getattr(getattr(client, "_transport", None), "_pool", None)
    replacement: type[Any]
    if type(pool) is httpcore.ConnectionPool:
        replacement = _LinearPool
    elif type(pool) is httpcore.AsyncConnectionPool:
        replacement = _AsyncLinearPool
    else:
        return False
    if (
        not _known_httpcore()
        or getattr(pool, "_http2", True)
        or not all(hasattr(pool, name) for name in _POOL_ATTRIBUTES)
    ):
        return False
    # Same state, one method replaced: the pool keeps its SSL context, limits and network backend.
    pool.__class__ = replacement
    return True


def _limits(max_connections: int) -> httpx.Limits:
    # Idle connections are kept up to the number that may be in flight; the keep-alive expiry (5 s,
    # httpx's default) closes the ones a burst left behind.
    return httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)


def http_client(timeout: httpx.Timeout, max_connections: int = 1000) -> httpx.Client:
    client = httpx.Client(timeout=timeout, limits=_limits(max_connections))
    linear_pool(client)
    return client


def async_http_client(timeout: httpx.Timeout, max_connections: int = 1000) -> httpx.AsyncClient:
    client = httpx.AsyncClient(timeout=timeout, limits=_limits(max_connections))
    linear_pool(client)
    return client
