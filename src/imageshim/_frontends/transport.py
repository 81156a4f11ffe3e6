"""In-process drop-in for the real ``openai`` SDK: an HTTP client whose transport is imageshim.

``OpenAI(api_key="unused", http_client=imageshim.openai_http_client())`` keeps every call site unchanged:
the SDK builds its request, the transport hands it to the shared wire handler without a socket, and the
SDK parses the reply into its own ``ImagesResponse`` or raises its own exceptions. openai 1.x/2.x use
``httpx``; openai 3.x uses ``httpx2`` (same API, other package): we build the type the installed SDK expects.
The SDK's ``timeout=`` (its read timeout) is the deadline of the whole call, retries and fallbacks included
(the SDK cannot abort a transport in its own process); a tighter provider timeout still bounds each call. Any SDK ``base_url`` whose path ends in ``/v1`` is served (requests
never leave the process); other paths get a 404 JSON error saying so.
openai is never imported here and is not a dependency.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from datetime import date
from typing import Any

import httpx

from imageshim._core.config import Config, ConfigSource
from imageshim._frontends.engine import Engine
from imageshim._frontends.wire import WireHandler, WireResponse, error_response

__all__ = ["async_openai_http_client", "http_module_for_openai", "openai_http_client"]

Clock = Callable[[], date]
_BASE_URL = "http://imageshim.local/v1"  # never resolved: requests stop at the transport


def http_module_for_openai() -> Any:
    """``httpx2`` for openai >= 3, else ``httpx`` (read from the installed distribution's version)."""
    from importlib import metadata

    from packaging.version import Version

    try:
        major = Version(metadata.version("openai")).major
    except metadata.PackageNotFoundError:
        return httpx
    return importlib.import_module("httpx2") if major >= 3 else httpx


def request_timeout(request: Any) -> float | None:
    """The SDK's timeout for this request in seconds: its read timeout (the time a reply may take to
    arrive, which in-process is the whole call), or a single number if that is what was given."""
    timeout = request.extensions.get("timeout")
    if isinstance(timeout, dict):
        timeout = timeout.get("read")
    if isinstance(timeout, (int, float)) and not isinstance(timeout, bool) and timeout >= 0:
        return float(timeout)
    return None


def _response(module: Any, reply: Any, request: Any) -> Any:
    """The reply as an unread response (a stream over the body): ``with_streaming_response`` and
    ``stream=True`` callers read it themselves, as they would a network reply."""
    return module.Response(
        reply.status, headers=reply.headers, stream=module.ByteStream(reply.body), request=request
    )


def _escalated(module: Any, warning: Warning) -> WireResponse:
    """A warning the caller's filter made an error, after the images were made (they are paid for). The
    httpx-based SDKs (openai 1.x/2.x) retry any exception a transport raises, which would generate again:
    for them it becomes an error reply they do not retry. Newer SDKs get the warning itself, as the native
    client raises it."""
    if module is not httpx:
        raise warning
    return error_response(
        400,
        f"imageshim: {type(warning).__name__} was turned into an error by the caller's warnings filter: "
        f"{warning}",
        code="warning_as_error",
    )


def _transports(module: Any) -> tuple[type, type]:
    base, abase = module.BaseTransport, module.AsyncBaseTransport

    class ShimTransport(base):  # type: ignore[misc,valid-type]
        def __init__(self, handler: WireHandler) -> None:
            self.handler = handler

        def handle_request(self, request: Any) -> Any:
            body = request.read()
            try:
                reply = self.handler.handle(
                    request.method,
                    request.url.path,
                    body,
                    timeout=request_timeout(request),
                    content_type=request.headers.get("content-type"),
                )
            except Warning as warning:
                reply = _escalated(module, warning)
            return _response(module, reply, request)

    class AsyncShimTransport(abase):  # type: ignore[misc,valid-type]
        def __init__(self, handler: WireHandler) -> None:
            self.handler = handler

        async def handle_async_request(self, request: Any) -> Any:
            body = await request.aread()
            try:
                reply = await self.handler.ahandle(
                    request.method,
                    request.url.path,
                    body,
                    timeout=request_timeout(request),
                    content_type=request.headers.get("content-type"),
                )
            except Warning as warning:
                reply = _escalated(module, warning)
            return _response(module, reply, request)

    return ShimTransport, AsyncShimTransport


def openai_http_client(
    config: ConfigSource | Config = None,
    *,
    clock: Clock | None = None,
    provider_http_client: httpx.Client | None = None,
    http_module: Any = None,
) -> Any:
    """An HTTP client for ``openai.OpenAI(http_client=...)`` that serves ``images.generate`` in-process.

    ``provider_http_client`` is the ``httpx.Client`` adapters use to reach providers (default: their own).
    """
    module = http_module or http_module_for_openai()
    engine = Engine(config, http_client=provider_http_client, clock=clock)
    transport, _ = _transports(module)
    return module.Client(
        transport=transport(WireHandler(engine, emit_warnings=True, any_base_path=True)), base_url=_BASE_URL
    )


def async_openai_http_client(
    config: ConfigSource | Config = None,
    *,
    clock: Clock | None = None,
    provider_http_client: httpx.AsyncClient | None = None,
    http_module: Any = None,
) -> Any:
    """Async twin of :func:`openai_http_client`, for ``openai.AsyncOpenAI(http_client=...)``."""
    module = http_module or http_module_for_openai()
    engine = Engine(config, async_http_client=provider_http_client, clock=clock)
    _, transport = _transports(module)
    return module.AsyncClient(
        transport=transport(WireHandler(engine, emit_warnings=True, any_base_path=True)), base_url=_BASE_URL
    )
