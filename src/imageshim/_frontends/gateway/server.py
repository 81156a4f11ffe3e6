"""Running the gateway's ASGI app under uvicorn, with the edges an operator needs.

What uvicorn gives and what :func:`run` adds (``[gateway]`` settings in parentheses)::

    edge                 uvicorn alone                          with run()
    idle keep-alive      timeout_keep_alive                     (idle_timeout)
    request headers      no limit: a silent or trickling        closed after (header_timeout) from the connect,
                         socket holds its descriptor forever    or from the first byte of a later request
    open connections     limit_concurrency: a 503 per request,  (max_connections): one more is answered 503
                         the connection stays open              too_many_connections and closed at once
    SIGTERM / SIGINT     stop accepting, wait for connections   + Runtime.begin_drain, Runtime.cut at the
                         and tasks                              drain deadline (drain_seconds)
    a second signal      forces only on SIGINT, and may still   SIGTERM or SIGINT: cut, exit within
                         wait (connections, lifespan, threads)  FORCE_GRACE, status 128 + signal

The header clock starts at the connect and, on a keep-alive connection, at the first byte of the next
request, not when the previous response completed: the wait for that first byte is what ``idle_timeout``
bounds (uvicorn's keep-alive timer, stopped by any byte), so a ``header_timeout`` shorter than
``idle_timeout`` does not quietly shorten the idle time a client was promised. Either way, a connection
between requests is closed by one of the two clocks.

uvicorn internals this relies on (checked against 0.54; the test module exercises both protocol classes):

- ``H11Protocol`` and ``HttpToolsProtocol`` (``uvicorn.protocols.http``): the methods ``connection_made``,
  ``data_received``, ``on_response_complete`` (the callback each response cycle calls when its last byte is
  written) and ``connection_lost``; the attributes ``transport``, ``loop``, ``connections`` (the server's
  shared set), ``server_state.default_headers`` and ``cycle``: a new ``RequestResponseCycle`` object once a
  request's headers are complete (h11: on ``h11.Request``; httptools: in ``on_headers_complete``), with
  ``response_complete``. A rename of any of these breaks the header clock or the limit, not the server.
- ``uvicorn.Server``: ``handle_exit(sig, frame)`` is what ``capture_signals`` installs for SIGINT/SIGTERM,
  ``should_exit`` and ``force_exit`` are read by its main loop and shutdown, and ``serve`` runs on the loop
  before the handlers are installed. ``handle_exit`` is replaced, not extended, so uvicorn's
  ``_captured_signals`` stays empty and the signal is not raised again after a clean drain: :func:`run`
  returns and ``imageshim serve`` exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import logging
import os
import socket
import sys
import threading
import time
from types import FrameType
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

from imageshim._core.config import GatewayPolicy
from imageshim._frontends.gateway.runtime import Runtime

if TYPE_CHECKING:  # the guard mixin calls what both protocol classes have (typed as h11's)
    _ProtocolBase = H11Protocol
else:
    _ProtocolBase = object

__all__ = ["run"]

logger = logging.getLogger("imageshim")

#: after a second signal: the time the requests cut at that moment get to write their answers
FORCE_GRACE = 0.5
#: refused connections are logged at most once per this many seconds (a flood must not flood the log too)
REFUSAL_LOG_EVERY = 10.0

_REFUSAL_BODY = json.dumps(
    {
        "error": {
            "message": "The gateway has too many open connections; retry shortly.",
            "type": "server_error",
            "param": None,
            "code": "too_many_connections",
        }
    }
).encode()
#: request headers larger than this get a 431 and a closed connection (h11's own cap is 16 KiB)
MAX_HEADER_BYTES = 64 << 10
_TOO_LARGE_BODY = json.dumps(
    {
        "error": {
            "message": f"The request headers are larger than {MAX_HEADER_BYTES} bytes.",
            "type": "invalid_request_error",
            "param": None,
            "code": "request_header_fields_too_large",
        }
    }
).encode()
_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\n"
    b"x-should-retry: false\r\nconnection: close\r\ncontent-length: %d\r\n\r\n" % len(_TOO_LARGE_BODY)
) + _TOO_LARGE_BODY


def run(
    app: Any,
    runtime: Runtime,
    policy: GatewayPolicy,
    *,
    host: str,
    port: int,
    drain_seconds: float,
    sock: socket.socket | None = None,
) -> None:
    """Serve ``app`` on ``host:port`` (or on the bound ``sock``) until SIGTERM/SIGINT and the drain end.

    The first signal drains (see the module docstring and :class:`Runtime`) and this returns; a second one
    ends the process at once with status 128 + the signal's number (this never returns)."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        http=_protocol_class(policy),
        # No WebSocket routes: an upgraded connection would leave the guarded protocol (and its limits).
        ws="none",
        lifespan="on",
        log_config=None,
        access_log=False,
        server_header=False,
        date_header=True,
        # uvicorn annotates these as int; it hands them to loop.call_later and asyncio.wait_for (floats).
        timeout_keep_alive=policy.idle_timeout,  # type: ignore[arg-type]
        # time for the requests cut at the drain deadline to write their answers
        timeout_graceful_shutdown=drain_seconds + 5,  # type: ignore[arg-type]
    )
    _Server(config, runtime, drain_seconds).run(sockets=None if sock is None else [sock])


# ----- the server: signals and drain -------------------------------------------------------------------
class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, runtime: Runtime, drain_seconds: float) -> None:
        super().__init__(config)
        self.runtime = runtime
        self.drain_seconds = drain_seconds
        self.signals = 0
        #: non-zero once a second signal asked to exit at once
        self.exit_status = 0
        #: requests in flight when that second signal came
        self.abandoned = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._cut_timer: asyncio.TimerHandle | None = None
        self._forced = threading.Event()

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()  # before uvicorn installs handle_exit
        threading.Thread(target=self._watchdog, name="imageshim-force-exit", daemon=True).start()
        try:
            await super().serve(sockets)
        finally:
            if self._cut_timer is not None:
                self._cut_timer.cancel()
            self._forced.set()  # a clean end: the watchdog returns (exit_status is 0)
        if self.exit_status:
            # uvicorn's forced shutdown got done within the grace: end here, before asyncio.run cancels the
            # requests still running (a traceback each in the log, and a 500 their clients would retry)
            _exit(self.exit_status)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # A Python-level signal handler: it runs in the main thread between two bytecodes, possibly in the
        # middle of the event loop's own bookkeeping or of a write to the log stream. So it only sets flags
        # and hands the work over: to the loop with call_soon_threadsafe (a deque append and a wake-up byte)
        # and to the watchdog thread (an Event only that thread waits on); it does not log.
        self.signals += 1
        self.should_exit = True
        loop = self._loop
        if self.signals == 1:
            if loop is not None:
                loop.call_soon_threadsafe(self._begin_drain)
        elif self.signals == 2:
            self.force_exit = True
            self.exit_status = 128 + sig
            self.abandoned = self.runtime.in_flight
            if loop is not None:
                # The requests still waiting answer "result unknown, do not retry" before the process ends,
                # rather than a reset that an SDK retries (and a retry could pay for the image again).
                loop.call_soon_threadsafe(self.runtime.cut)
            self._forced.set()

    def _begin_drain(self) -> None:
        assert self._loop is not None
        self.runtime.begin_drain(self.drain_seconds)
        logger.info("draining: %d requests in flight, up to %g s", self.runtime.in_flight, self.drain_seconds)
        self._cut_timer = self._loop.call_later(self.drain_seconds, self._cut)

    def _cut(self) -> None:
        if self.runtime.in_flight:
            logger.warning(
                "drain deadline: %d requests still in flight answer 503 (result unknown)",
                self.runtime.in_flight,
            )
        self.runtime.cut()

    def _watchdog(self) -> None:
        """After a second signal: log, give the cut answers FORCE_GRACE to be written, end the process.

        uvicorn's own forced shutdown is not bounded: it skips the waits and the lifespan, but then awaits
        ``Server.wait_closed`` (on Python 3.12+ that waits for every open connection), and asyncio.run waits
        for the default executor's threads, and the interpreter for non-daemon threads (a provider call in a
        thread runs to its end). A thread of our own with ``os._exit`` is the one way to keep "at once";
        what it skips (atexit handlers, unflushed buffers) is what an operator who asked twice gives up.
        """
        self._forced.wait()
        if not self.exit_status:
            return
        logger.warning(
            "second signal: exiting now (status %d), %d requests in flight",
            self.exit_status,
            self.abandoned,
        )
        time.sleep(FORCE_GRACE)
        os._exit(self.exit_status)


def _exit(status: int) -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(status)


# ----- the connection: header clock and connection limit ---------------------------------------------
class _Limits:
    """One run's connection settings, and its count of refused connections (for the log)."""

    def __init__(self, policy: GatewayPolicy) -> None:
        self.header_timeout = policy.header_timeout
        self.max_connections = policy.max_connections
        self.refused = 0
        self.logged_at: float | None = None

    def note_refused(self, open_connections: int) -> None:
        self.refused += 1
        now = time.monotonic()
        if self.logged_at is None or now - self.logged_at >= REFUSAL_LOG_EVERY:
            logger.warning(
                "refused %d connections: %d open, the limit is [gateway] max_connections = %d",
                self.refused,
                open_connections,
                self.max_connections,
            )
            self.refused = 0
            self.logged_at = now


class _Cycle(Protocol):
    @property
    def response_complete(self) -> bool: ...


class _Guarded(Protocol):
    """What the guard functions use of a uvicorn HTTP protocol instance (both implementations have it)."""

    limits: ClassVar[_Limits]
    header_timer: asyncio.TimerHandle | None
    header_bytes: int

    @property
    def transport(self) -> asyncio.Transport: ...
    @property
    def loop(self) -> asyncio.AbstractEventLoop: ...
    @property
    def connections(self) -> set[Any]: ...
    @property
    def server_state(self) -> ServerState: ...
    @property
    def cycle(self) -> _Cycle | None: ...


def _made(conn: _Guarded, full: bool) -> None:
    """After uvicorn's ``connection_made``: refuse the connection beyond the limit, else start the clock."""
    if not full:
        _arm(conn)
        return
    # Not counted from here on: a flood of refused connections must not refuse the next good one.
    conn.connections.discard(conn)
    conn.limits.note_refused(len(conn.connections))
    transport = conn.transport
    if not transport.is_closing():
        # Answered before the request is read: the client may still be sending it, and if it is, closing
        # with unread bytes sends a reset that can beat this answer. Closing at once is the point (the
        # descriptor is free again now), so the client sees a 503 or a closed connection; both are retried.
        head = [b"HTTP/1.1 503 Service Unavailable\r\n"]
        head += [name + b": " + value + b"\r\n" for name, value in conn.server_state.default_headers]
        head += [
            b"content-type: application/json\r\n",
            b"content-length: %d\r\n" % len(_REFUSAL_BODY),
            b"retry-after: 1\r\n",
            b"connection: close\r\n\r\n",
        ]
        transport.write(b"".join(head) + _REFUSAL_BODY)
    transport.close()


def _after_data(conn: _Guarded, before: _Cycle | None, size: int) -> None:
    """After uvicorn's ``data_received``: a request began its headers (start the clock) or completed them
    (stop it); headers that grow past :data:`MAX_HEADER_BYTES` get a 431 and the connection is closed
    (httptools, unlike h11, buffers headers of any size)."""
    if conn.cycle is not before:
        _disarm(conn)  # complete headers: a new request cycle began
    elif conn.header_timer is not None:
        conn.header_bytes += size
        if conn.header_bytes > MAX_HEADER_BYTES and not conn.transport.is_closing():
            _disarm(conn)
            conn.transport.write(_TOO_LARGE)
            conn.transport.close()
    elif (
        conn.header_timer is None
        and (before is None or before.response_complete)
        and not conn.transport.is_closing()
    ):
        _arm(conn)  # bytes between requests: a request began and its headers are not complete yet


def _arm(conn: _Guarded) -> None:
    _disarm(conn)
    conn.header_bytes = 0
    conn.header_timer = conn.loop.call_later(conn.limits.header_timeout, _expire, conn, conn.cycle)


def _disarm(conn: _Guarded) -> None:
    if conn.header_timer is not None:
        conn.header_timer.cancel()
        conn.header_timer = None


def _expire(conn: _Guarded, cycle: _Cycle | None) -> None:
    conn.header_timer = None
    transport = conn.transport
    if conn.cycle is cycle and not transport.is_closing():  # no request began since the clock started
        if transport.get_write_buffer_size():
            # close() would wait for a client that is not reading (or is gone) to take the rest of an
            # earlier response, holding the descriptor
            transport.abort()
        else:
            transport.close()


class _Guard(_ProtocolBase):
    """The guards, on top of either of uvicorn's HTTP protocol classes (a mixin: see ``_GuardedH11``)."""

    limits: ClassVar[_Limits]
    header_timer: asyncio.TimerHandle | None = None
    header_bytes: int = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        full = len(self.connections) >= self.limits.max_connections
        super().connection_made(transport)
        _made(self, full)

    def data_received(self, data: bytes) -> None:
        before = self.cycle
        super().data_received(data)
        _after_data(self, before, len(data))

    def on_response_complete(self) -> None:
        super().on_response_complete()
        _disarm(self)  # uvicorn's keep-alive timer takes over until the next byte

    def connection_lost(self, exc: Exception | None) -> None:
        _disarm(self)
        super().connection_lost(exc)


class _GuardedH11(_Guard, H11Protocol):
    pass


def _httptools_available() -> bool:
    try:  # what uvicorn's http="auto" asks (uvicorn/protocols/http/auto.py)
        importlib.import_module("httptools")
    except ImportError:
        return False
    return True


_HTTPTOOLS = _httptools_available()

if _HTTPTOOLS:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    # mypy compares the two classes' own attribute types, which the mixin never touches
    class _GuardedHttpTools(_Guard, HttpToolsProtocol):  # type: ignore[misc]
        pass


def _protocol_class(
    policy: GatewayPolicy, impl: Literal["auto", "h11", "httptools"] = "auto"
) -> type[asyncio.Protocol]:
    """The guarded HTTP protocol class of one run: httptools when importable (as uvicorn's "auto" picks),
    else h11; ``impl`` forces one (the tests run both)."""
    if impl == "httptools" or (impl == "auto" and _HTTPTOOLS):
        base: type[asyncio.Protocol] = _GuardedHttpTools
    else:
        base = _GuardedH11
    # a subclass per run carries the run's limits (uvicorn builds each protocol from the class alone)
    return type(base.__name__, (base,), {"limits": _Limits(policy)})
