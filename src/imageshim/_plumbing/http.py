"""Shared HTTP plumbing for adapters: one boundary where foreign errors become the shim's.

- :func:`map_transport_errors` / :func:`amap_transport_errors`: httpx exceptions -> ``APIConnectionError``
  / ``APITimeoutError`` (``raise ... from exc``, as httpx does with httpcore), with ``reply_lost`` saying
  whether the provider may have received the whole request (:func:`_transport_error`).
- :func:`parse_json`: a reply body -> JSON, or ``APIError`` with the status and a short, redacted excerpt.
- :func:`retry_after`: ``retry-after-ms`` / ``retry-after`` (seconds or HTTP date) -> seconds.
- :func:`post` / :func:`apost`: a POST bounded by a TOTAL time, not only per read: httpx's read timeout
  restarts with every chunk, so a provider trickling bytes could otherwise hold a call forever.
  httpcore's ``trace`` extension tells how far the request got and cuts each phase's timeout to the
  time left (any httpx client); the adapters' own clients also cap every read (``imageshim._plumbing.pool``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import email.utils
import json
import math
import re
import sys
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
from pydantic_core import from_json

from imageshim import APIConnectionError, APIError, APITimeoutError
from imageshim._core.errors import error_class_for_status, redact
from imageshim._plumbing.pool import deadline

__all__ = [
    "HTTPReply",
    "amap_transport_errors",
    "apost",
    "excerpt",
    "malformed",
    "map_transport_errors",
    "parse_json",
    "post",
    "request_id",
    "retry_after",
]

EXCERPT_CHARS = 200
#: longer than any API key: the word that crosses an excerpt's cut is redacted whole up to here
_KEY_SPAN = 256
_WORD = re.compile(r"\S+")
#: httpx errors raised before the provider can have received the whole request: sending it again is safe.
#: Every other transport error (read timeout or error, protocol error, truncated body) came after the
#: request was written: the provider may have generated, and billed, the image.
_NOT_SENT = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.WriteError,
    httpx.WriteTimeout,
    httpx.UnsupportedProtocol,
    httpx.ProxyError,
    httpx.LocalProtocolError,
)
_SAFE = "nothing was sent, safe to send again"
_LOST = "the request was sent; its reply was lost (the provider may have done the work)"
#: statuses whose non-JSON page comes from a proxy in front of the provider that gave up waiting (502 bad
#: gateway, 504 gateway timeout, Cloudflare's 520-524): the provider may still have done the work
_PROXY_TIMEOUTS = frozenset({502, 504, 520, 521, 522, 523, 524})


@dataclasses.dataclass(frozen=True)
class HTTPReply:
    """What the wire parsers need of a reply: status, headers and the whole body."""

    status_code: int
    headers: httpx.Headers
    content: bytes


def excerpt(body: bytes | str, limit: int = EXCERPT_CHARS) -> str:
    """The first ``limit`` characters of ``body`` with whitespace collapsed, redacted BEFORE the cut: a
    key that straddles the cut is removed whole, not shown in part."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    words: list[str] = []
    size, more = 0, False
    for match in _WORD.finditer(text):
        if size > limit:
            more = True
            break
        words.append(text[match.start() : min(match.end(), match.start() + limit + _KEY_SPAN)])
        size += len(words[-1]) + 1
    shown = redact(" ".join(words))
    if len(shown) > limit:
        shown, more = shown[:limit], True
    return shown + ("..." if more else "")


#: the trace events after which httpcore reads a phase's timeout from the request, and that phase
_PHASE_STARTS = {
    "connect_tcp": "connect",
    "connect_unix_socket": "connect",
    "start_tls": "connect",
    "send_request_headers": "write",
    "send_request_body": "write",
    "receive_response_headers": "read",
    "receive_response_body": "read",
}


class _Progress:
    """How far one request got and the time it has left, through httpcore's ``trace`` extension (any
    httpx client on httpcore): ``sent`` once the whole request was written, and each phase's timeout
    (httpcore reads them per phase, from the request) cut to the time left before the deadline."""

    def __init__(self, total: float) -> None:
        self.deadline = time.monotonic() + total
        self.traced = False
        self.sent = False

    @property
    def maybe_sent(self) -> bool:
        """Whether the provider may hold the whole request. A transport that reports no trace (a mock, a
        custom transport) tells nothing: the safe reading is that it was sent."""
        return self.sent or not self.traced

    def trace(self, name: str, info: dict[str, Any]) -> None:
        self.traced = True
        # Only the events where httpcore is about to read a phase's timeout, and the two that say how far
        # the request got, do any work (ten events a request: this is on every call's path).
        phase = (
            _PHASE_STARTS.get(name.rpartition(".")[0].rpartition(".")[2])
            if name.endswith(".started")
            else None
        )
        if name.endswith("send_request_headers.started"):
            self.sent = False  # the pool may send again on another connection
        elif name.endswith("send_request_body.complete"):
            self.sent = True
        if phase is None:
            return
        timeouts = getattr(info.get("request"), "extensions", {}).get("timeout")
        if isinstance(timeouts, dict):
            left = max(self.deadline - time.monotonic(), 0.001)  # 0 would mean "non-blocking"
            current = timeouts.get(phase)
            if current is None or current > left:
                timeouts[phase] = left

    async def atrace(self, name: str, info: dict[str, Any]) -> None:
        self.trace(name, info)


def _transport_error(exc: httpx.HTTPError, provider: str, progress: _Progress | None = None) -> APIError:
    """The one place transport failures are classified. ``reply_lost=False``: the provider cannot have
    received the whole request (the core may send it again). ``reply_lost=True``: it was sent and the
    reply is missing, so its fate is unknown (the core recovers or reports, never resends)."""
    lost = not isinstance(exc, _NOT_SENT) and (progress is None or progress.maybe_sent)
    name = type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        what = f"request timed out ({name})"
        return APITimeoutError(
            f"{provider}: {what}; {_LOST if lost else _SAFE}", provider=provider, reply_lost=lost
        )
    what = f"connection error ({name}: {exc})"
    return APIConnectionError(
        f"{provider}: {what}; {_LOST if lost else _SAFE}", provider=provider, reply_lost=lost
    )


def _out_of_time(provider: str, total: float, sent: bool) -> APITimeoutError:
    if sent:
        message = f"{provider}: the reply took longer than {total:g} s in total; {_LOST}"
    else:
        message = f"{provider}: the request could not be sent within {total:g} s; {_SAFE}"
    return APITimeoutError(message, provider=provider, reply_lost=sent)


@contextlib.contextmanager
def map_transport_errors(provider: str, progress: _Progress | None = None) -> Iterator[None]:
    """Turn httpx transport exceptions raised inside the block into the shim's connection errors."""
    try:
        yield
    except httpx.HTTPError as exc:
        raise _transport_error(exc, provider, progress) from exc


@contextlib.asynccontextmanager
async def amap_transport_errors(provider: str, progress: _Progress | None = None) -> AsyncIterator[None]:
    try:
        yield
    except httpx.HTTPError as exc:
        raise _transport_error(exc, provider, progress) from exc


def retry_after(headers: httpx.Headers) -> float | None:
    """Seconds to wait, from ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date); None when
    absent or unreadable (the backoff schedule applies then)."""
    ms = _seconds(headers.get("retry-after-ms"))
    if ms is not None:
        return ms / 1000.0
    value = headers.get("retry-after")
    if value is None:
        return None
    seconds = _seconds(value)
    if seconds is not None:
        return seconds
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed.tzinfo is None:  # RFC 9110 dates are GMT; "-0000" parses as naive
        parsed = parsed.replace(tzinfo=datetime.timezone.utc)
    return max(0.0, parsed.timestamp() - time.time())


def _seconds(value: str | None) -> float | None:
    try:
        seconds = float(value) if value is not None else math.nan
    except ValueError:
        return None
    return max(0.0, seconds) if math.isfinite(seconds) else None


def request_id(headers: httpx.Headers) -> str | None:
    """The provider's request id, redacted: a provider that echoes the key there must not leak it."""
    value: str | None = headers.get("x-request-id") or headers.get("request-id")
    return None if value is None else redact(value)


def malformed(response: HTTPReply, provider: str, why: str, *, retryable: bool = False) -> APIError:
    """A reply that is JSON but not of the expected shape: the status, why, and a short redacted excerpt."""
    return APIError(
        f"{provider}: HTTP {response.status_code} reply is malformed: {why}: {excerpt(response.content)!r}",
        provider=provider,
        status_code=response.status_code,
        request_id=request_id(response.headers),
        retryable=retryable,
    )


def _loads(body: bytes) -> Any:
    try:
        # Parses the bytes as they are: json.loads first decodes the whole body into a str, a third
        # copy of a multi-MB base64 image next to the body and the image string (and 6x slower).
        return from_json(body)
    except ValueError:
        return json.loads(body)  # what json alone accepts (lone surrogate escapes, UTF-16/32 bodies)


def parse_json(response: HTTPReply, provider: str) -> Any:
    """The JSON body, or an error naming the status and an excerpt when it is not JSON.

    An error status keeps its class (a proxy's HTML 401 page is still an ``AuthenticationError``, a
    503 page an ``InternalServerError``); a 2xx body that is not JSON is an :class:`APIError`.
    """
    try:
        return _loads(response.content)
    except (ValueError, UnicodeDecodeError, RecursionError):
        status = response.status_code
        message = f"{provider}: HTTP {status} with a body that is not JSON: {excerpt(response.content)!r}"
        common: dict[str, Any] = {
            "provider": provider,
            "request_id": request_id(response.headers),
            "retryable": status >= 500 or status in (408, 409, 429),
        }
        if status >= 400:
            cls = error_class_for_status(status)
            raise cls(
                message,
                status_code=status,
                retry_after=retry_after(response.headers),
                reply_lost=status in _PROXY_TIMEOUTS,
                **common,
            ) from None
        raise APIError(message, status_code=status, **common) from None


def _limits(total: float, connect: float | None) -> httpx.Timeout:
    return httpx.Timeout(total, connect=min(connect or 10.0, total))


def post(
    client: httpx.Client,
    url: str,
    *,
    provider: str,
    total: float,
    connect: float | None = None,
    **kwargs: Any,
) -> HTTPReply:
    """POST and read the whole reply within ``total`` seconds, or raise :class:`APITimeoutError`.

    ``connect``: seconds to establish the connection (default 10, never more than ``total``). Each
    phase's timeout is cut to the time left when it starts, and the time is checked between chunks; the
    adapters' own clients also cut every read to the time left (:func:`imageshim._plumbing.pool.deadline`).
    """
    progress = _Progress(total)
    extensions = {**kwargs.pop("extensions", {}), "trace": progress.trace}
    with (
        map_transport_errors(provider, progress),
        deadline(progress.deadline),
        client.stream(
            "POST", url, timeout=_limits(total, connect), extensions=extensions, **kwargs
        ) as response,
    ):
        chunks = []
        for chunk in response.iter_bytes():
            chunks.append(chunk)
            if time.monotonic() > progress.deadline:
                raise _out_of_time(provider, total, sent=True)
    return HTTPReply(
        response.status_code, response.headers, chunks[0] if len(chunks) == 1 else b"".join(chunks)
    )


async def apost(
    client: httpx.AsyncClient,
    url: str,
    *,
    provider: str,
    total: float,
    connect: float | None = None,
    **kwargs: Any,
) -> HTTPReply:
    """Async twin of :func:`post`."""
    progress = _Progress(total)
    extensions = {**kwargs.pop("extensions", {}), "trace": progress.atrace}
    request = client.post(url, timeout=_limits(total, connect), extensions=extensions, **kwargs)
    try:
        async with amap_transport_errors(provider, progress):
            with deadline(progress.deadline):
                if sys.version_info >= (3, 11):
                    async with asyncio.timeout(total):  # bounds the request in place: no extra Task
                        response = await request
                else:  # pragma: no cover - Python 3.10
                    response = await asyncio.wait_for(request, timeout=total)
    except asyncio.TimeoutError:
        raise _out_of_time(provider, total, progress.maybe_sent) from None
    content = response.content
    # httpx's response and its consumed stream refer to each other: only the cycle collector would free
    # the body (a reply of 100 MiB, held until some later collection). Cut the cycle: freed on return.
    response.stream = _DRAINED
    return HTTPReply(response.status_code, response.headers, content)


_DRAINED = httpx.ByteStream(b"")
