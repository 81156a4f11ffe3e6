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
  it is about to be reused, and all idle connections at most once a second, not on every pass;
- it is probed again just before the request is written on it (:class:`_Connection`): in a burst the
  pass that reserved it can run hundreds of ms earlier, and stock httpcore re-probes it on every pass;
- idle connections expire after :data:`KEEPALIVE_EXPIRY` (4 s), a margin below the 5 s idle window of
  common servers (uvicorn, Node, Apache): the server's timer starts when it writes a reply, ours later;
- a request that loses the keep-alive race anyway is sent again once, on a new connection (see
  :func:`_lost_race` for why that cannot bill an image twice);
- every read and write is capped at the time left before the deadline :func:`deadline` sets, so a
  provider that trickles bytes cannot stretch a call past its total time (httpx's timeouts are per read).

Clients passed in by the caller are never changed. When httpcore is not the 1.0 line this module knows
(or the pool is not a plain HTTP/1.1 pool), the stock pool is kept.
"""

from __future__ import annotations

import contextlib
import contextvars
import time
import weakref
from collections.abc import Iterable, Iterator
from typing import Any

import httpcore
import httpx

__all__ = ["KEEPALIVE_EXPIRY", "RACE_WINDOW", "async_http_client", "deadline", "http_client", "linear_pool"]

#: seconds an idle connection is kept. Servers close idle connections after their own window (uvicorn,
#: Node and Apache: 5 s, httpx's default too) and start counting when they write a reply, a little before
#: we finish reading it: at equal windows a burst that arrives just inside ours meets closed sockets.
KEEPALIVE_EXPIRY = 4.0
#: seconds after writing a request on a reused connection within which a close with no reply byte is
#: the keep-alive race (the server closed the idle connection as the request arrived), not a failure
RACE_WINDOW = 1.0

#: seconds between probes of every idle connection (each one is also probed before it is reused)
SWEEP_INTERVAL = 1.0
_POOL_ATTRIBUTES = ("_requests", "_connections", "_max_connections", "_max_keepalive_connections")
#: requests that lost the keep-alive race: the next pass gives them a new connection, never an idle one
_RESEND_FRESH: weakref.WeakSet[Any] = weakref.WeakSet()
_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar("imageshim_deadline", default=None)


@contextlib.contextmanager
def deadline(at: float) -> Iterator[None]:
    """Within the block, every read, write and connect of these clients ends by ``at``
    (``time.monotonic()``) with httpcore's timeout for that phase: a total time, not a per-read one."""
    token = _DEADLINE.set(at)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def _capped(timeout: float | None, error: type[Exception]) -> float | None:
    at = _DEADLINE.get()
    if at is None:
        return timeout
    left = at - time.monotonic()
    if left <= 0:
        raise error("the call's total time ran out")
    return left if timeout is None else min(timeout, left)


class _Stream(httpcore.NetworkStream):
    """A socket stream that counts what it read and notes when it last wrote (for :func:`_lost_race`),
    and caps each read and write at the time left before the :func:`deadline`."""

    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream
        self.received = 0
        self.written_at = 0.0

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        data = self._stream.read(max_bytes, _capped(timeout, httpcore.ReadTimeout))
        self.received += len(data)
        return data

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _capped(timeout, httpcore.WriteTimeout))
        self.written_at = time.monotonic()

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> Any:
        return _Stream(
            self._stream.start_tls(ssl_context, server_hostname, _capped(timeout, httpcore.ConnectTimeout))
        )

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _AsyncStream(httpcore.AsyncNetworkStream):
    """Async twin of :class:`_Stream`."""

    def __init__(self, stream: httpcore.AsyncNetworkStream) -> None:
        self._stream = stream
        self.received = 0
        self.written_at = 0.0

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        data = await self._stream.read(max_bytes, _capped(timeout, httpcore.ReadTimeout))
        self.received += len(data)
        return data

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._stream.write(buffer, _capped(timeout, httpcore.WriteTimeout))
        self.written_at = time.monotonic()

    async def aclose(self) -> None:
        await self._stream.aclose()

    async def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> Any:
        stream = await self._stream.start_tls(
            ssl_context, server_hostname, _capped(timeout, httpcore.ConnectTimeout)
        )
        return _AsyncStream(stream)

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _Backend(httpcore.NetworkBackend):
    def __init__(self, backend: httpcore.NetworkBackend) -> None:
        self._backend = backend

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        timeout = _capped(timeout, httpcore.ConnectTimeout)
        return _Stream(self._backend.connect_tcp(host, port, timeout, local_address, socket_options))

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        timeout = _capped(timeout, httpcore.ConnectTimeout)
        return _Stream(self._backend.connect_unix_socket(path, timeout, socket_options))

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


class _AsyncBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, backend: httpcore.AsyncNetworkBackend) -> None:
        self._backend = backend

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        timeout = _capped(timeout, httpcore.ConnectTimeout)
        stream = await self._backend.connect_tcp(host, port, timeout, local_address, socket_options)
        return _AsyncStream(stream)

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        timeout = _capped(timeout, httpcore.ConnectTimeout)
        return _AsyncStream(await self._backend.connect_unix_socket(path, timeout, socket_options))

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


def _lost_race(stream: Any, received: int, started: float) -> bool:
    """Whether a request that just failed on a REUSED connection lost the keep-alive race, so that
    sending it again on a new connection cannot make the provider generate (and bill) a second image.

    All three must hold: the connection had served a request before (a server closes idle keep-alive
    connections on its own timer, and a request written as it does so meets a closed socket); not one
    byte of a reply arrived (a server that accepted the request and then failed says so with a status,
    or at least starts a reply); and the close came within :data:`RACE_WINDOW` of writing the request
    (no image is generated in a second, and a server that read the request and then died that fast
    dropped it before doing the work). RFC 9112 section 9.3.1 lets clients retry in this case; it is
    what browsers do. A new connection cannot lose the race, so the request is sent again at most once.
    """
    if not isinstance(stream, (_Stream, _AsyncStream)) or stream.received != received:
        return False
    return time.monotonic() - max(stream.written_at, started) <= RACE_WINDOW


class _Connection(httpcore.HTTPConnection):
    def handle_request(self, request: httpcore.Request) -> httpcore.Response:
        inner = self._connection
        _RESEND_FRESH.discard(request)
        if inner is None:  # a new connection: nothing to race
            return super().handle_request(request)
        if inner.is_idle() and inner.has_expired():  # probe again: the pass ran a while ago
            inner.close()
            raise httpcore.ConnectionNotAvailable()
        stream = getattr(inner, "_network_stream", None)
        received, started = getattr(stream, "received", -1), time.monotonic()
        try:
            return super().handle_request(request)
        except (httpcore.RemoteProtocolError, httpcore.ReadError) as exc:
            if not _lost_race(stream, received, started):
                raise
            _RESEND_FRESH.add(request)
            raise httpcore.ConnectionNotAvailable() from exc  # the pool assigns another connection


class _AsyncConnection(httpcore.AsyncHTTPConnection):
    async def handle_async_request(self, request: httpcore.Request) -> httpcore.Response:
        inner = self._connection
        _RESEND_FRESH.discard(request)
        if inner is None:
            return await super().handle_async_request(request)
        if inner.is_idle() and inner.has_expired():
            await inner.aclose()
            raise httpcore.ConnectionNotAvailable()
        stream = getattr(inner, "_network_stream", None)
        received, started = getattr(stream, "received", -1), time.monotonic()
        try:
            return await super().handle_async_request(request)
        except (httpcore.RemoteProtocolError, httpcore.ReadError) as exc:
            if not _lost_race(stream, received, started):
                raise
            _RESEND_FRESH.add(request)
            raise httpcore.ConnectionNotAvailable() from exc


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
        # A request that lost the keep-alive race gets a new connection: another idle one may be as old.
        for connection in () if request.request in _RESEND_FRESH else list(idle):
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

    def create_connection(self, origin: httpcore.Origin) -> Any:
        connection = super().create_connection(origin)
        if type(connection) is httpcore.HTTPConnection:  # not a proxy's: same state, probe and resend
            connection.__class__ = _Connection
        return connection


class _AsyncLinearPool(httpcore.AsyncConnectionPool):
    _imageshim_swept = 0.0

    def _assign_requests_to_connections(self) -> list[Any]:
        return _assign_requests_to_connections(self)

    def create_connection(self, origin: httpcore.Origin) -> Any:
        connection = super().create_connection(origin)
        if type(connection) is httpcore.AsyncHTTPConnection:
            connection.__class__ = _AsyncConnection
        return connection


def _known_httpcore() -> bool:
    return httpcore.__version__.startswith("1.0.")


def linear_pool(client: httpx.Client | httpx.AsyncClient) -> bool:
    """Give ``client``'s default transport the linear pool pass; False (client unchanged) when its pool
    is not a plain HTTP/1.1 httpcore 1.0 pool."""
    pool = getattr(getattr(client, "_transport", None), "_pool", None)
    replacement: type[Any]
    backend: Any
    if type(pool) is httpcore.ConnectionPool:
        replacement, backend = _LinearPool, _Backend
    elif type(pool) is httpcore.AsyncConnectionPool:
        replacement, backend = _AsyncLinearPool, _AsyncBackend
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
    pool._network_backend = backend(pool._network_backend)
    return True


def _limits(max_connections: int) -> httpx.Limits:
    # Idle connections are kept up to the number that may be in flight; the keep-alive expiry closes
    # the ones a burst left behind.
    return httpx.Limits(
        max_connections=max_connections,
        max_keepalive_connections=max_connections,
        keepalive_expiry=KEEPALIVE_EXPIRY,
    )


def http_client(timeout: httpx.Timeout, max_connections: int = 1000) -> httpx.Client:
    client = httpx.Client(timeout=timeout, limits=_limits(max_connections))
    linear_pool(client)
    return client


def async_http_client(timeout: httpx.Timeout, max_connections: int = 1000) -> httpx.AsyncClient:
    client = httpx.AsyncClient(timeout=timeout, limits=_limits(max_connections))
    linear_pool(client)
    return client
