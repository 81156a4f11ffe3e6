"""``imageshim serve``: an OpenAI-compatible HTTP gateway (starlette + uvicorn, the ``gateway`` extra).

``OPENAI_BASE_URL=http://127.0.0.1:8000/v1`` and nothing else changes, for any language's OpenAI SDK.
Routes (exactly these paths; anything else is a 404 JSON error naming them and the base URL to use):
``POST /v1/images/generations``, ``/v1/images/edits`` and ``/v1/images/variations`` (multipart, up to
``max_upload_bytes``), ``GET /v1/models`` and ``GET /v1/models/{id}`` (the catalog with lifecycle fields),
all from the shared wire handler; ``GET /v1/imageshim/images/{name}`` (hosted images for
``response_format="url"``, expiring like OpenAI's 60-minute URLs). Clients authenticate with a bearer key from ``IMAGESHIM_GATEWAY_KEYS``; their
key is never forwarded: providers get the gateway's own configured keys. The accepted keys are registered
with :func:`register_secret`, so a client's key is redacted from every reply and log line (a client that
pastes its key into a field the shim echoes in an error, a traceback that caught it).

Hosted URLs: the gateway always hosts base64-only images itself for callers that want URLs, whatever
``[mapping] url`` says (that setting is for in-process use: a ``file://`` path on the server's disk means
nothing to a remote client, and ``"error"`` would refuse what the gateway can serve). The URLs are built
from ``public_url`` (``imageshim serve --public-url``; e.g. the address of a reverse proxy in front) or,
by default, from the address the server is bound to, never from the client-supplied ``Host`` header.
Hosted images are served only as the image type their bytes are (PNG, JPEG, WebP, GIF), with
``X-Content-Type-Options: nosniff``: the gateway's origin never serves a provider's bytes as a page.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hmac
import ipaddress
import os
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date
from typing import Any
from urllib.parse import urlsplit

from imageshim._core.config import Config, ConfigSource, load_config
from imageshim._core.errors import ConfigurationError, redact, register_secret
from imageshim._core.media import SVG_MEDIA_TYPE, is_svg, sniff
from imageshim._core.warnings import logger
from imageshim._frontends.engine import Engine
from imageshim._frontends.hosted import HostedImages
from imageshim._frontends.wire import (
    MAX_BODY_BYTES,
    MAX_UPLOAD_BYTES,
    WireHandler,
    WireResponse,
    error_response,
)

__all__ = ["create_app", "gateway_keys", "normalise_public_url", "serve"]

Clock = Callable[[], date]


def gateway_keys() -> list[str]:
    return [k.strip() for k in os.environ.get("IMAGESHIM_GATEWAY_KEYS", "").split(",") if k.strip()]


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def normalise_public_url(url: str) -> str:
    """``https://images.example.com[/prefix]`` without a trailing ``/`` or ``/v1``; ConfigurationError
    when it is not an absolute http(s) URL."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ConfigurationError(
            f"public URL {url!r} is not an absolute http(s) URL such as https://images.example.com",
            key="--public-url",
        )
    base = url.strip().rstrip("/")
    return base[: -len("/v1")] if base.endswith("/v1") else base


def _origin(scheme: str, host: str, port: Any) -> str:
    host = f"[{host}]" if ":" in host and not host.startswith("[") else host
    default = {"http": 80, "https": 443}.get(scheme)
    return f"{scheme}://{host}" if port == default else f"{scheme}://{host}:{port}"


def _hosting_config(config: ConfigSource | Config) -> Config:
    """The config with ``[mapping] url = "hosted"``: data URIs the gateway turns into URLs it serves (and
    the warning says so, not "data: URIs")."""
    loaded = load_config(config)
    if loaded.mapping.url not in ("data-uri", "hosted"):
        logger.info(
            "imageshim gateway: [mapping] url = %r does not apply to the gateway: it hosts the images itself",
            loaded.mapping.url,
        )
    return dataclasses.replace(loaded, mapping=dataclasses.replace(loaded.mapping, url="hosted"))


def create_app(
    config: ConfigSource | Config = None,
    *,
    keys: list[str] | None = None,
    clock: Clock | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
    max_upload_bytes: int = MAX_UPLOAD_BYTES,
    hosted: HostedImages | None = None,
    public_url: str | None = None,
) -> Any:
    """The ASGI app. ``keys``: accepted bearer keys (default: IMAGESHIM_GATEWAY_KEYS; empty = no auth).

    ``public_url``: the base URL clients reach the gateway at (scheme, host, port, optional path prefix;
    no ``/v1``), used for hosted image URLs and named in 404 errors. Default: the address the server is
    bound to (the ASGI ``server`` of each connection), never the client's ``Host`` header. Hosted URLs are
    served whatever ``[mapping] url`` says: the gateway forces data-URI mode internally and hosts those.
    """
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    engine = Engine(_hosting_config(config), clock=clock)
    handler = WireHandler(engine, max_body_bytes=max_body_bytes, max_upload_bytes=max_upload_bytes)
    store = hosted or HostedImages()
    configured = gateway_keys() if keys is None else keys
    for key in configured:
        register_secret(key)  # a client's key is redacted wherever the shim would print it
    accepted = [k.encode() for k in configured]
    public = None if public_url is None else normalise_public_url(public_url)

    def base_url(request: Request) -> str:
        if public is not None:
            return public
        server = request.scope.get("server")
        if server and server[1] is not None:
            return _origin(str(request.scope.get("scheme", "http")), str(server[0]), server[1])
        return str(request.base_url).rstrip("/")  # a unix socket: no address of its own to name

    def reply(wire: WireResponse) -> Response:
        return Response(wire.body, status_code=wire.status, headers=wire.headers)

    def unauthorized() -> Response:
        message = "Incorrect or missing gateway key (Authorization: Bearer ...)."
        return reply(error_response(401, message, code="invalid_api_key"))

    def authorized(request: Request) -> bool:
        if not accepted:
            return True
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        given = token.strip().encode()
        return scheme.lower() == "bearer" and any(hmac.compare_digest(given, k) for k in accepted)

    def guarded(serve: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
        """Nothing escapes as a text/plain 500 with a traceback: a JSON 500, the traceback logged redacted."""

        async def endpoint(request: Request) -> Response:
            try:
                return await serve(request)
            except Exception:
                logger.error(
                    "imageshim gateway: unexpected error serving %s %s (answered 500):\n%s",
                    request.method,
                    request.url.path,
                    redact(traceback.format_exc()),
                )
                return reply(
                    error_response(
                        500,
                        "imageshim: internal error while serving this request; the traceback is in the "
                        "gateway's log.",
                        code="imageshim_internal_error",
                    )
                )

        return endpoint

    async def read_body(request: Request, limit: int) -> bytes | None:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            return None
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                return None
        return b"".join(chunks)

    async def api(request: Request) -> Response:
        if not authorized(request):
            return unauthorized()
        # Uploads (edits, variations: multipart with image files) may be larger than JSON bodies.
        limit = max_body_bytes if request.url.path.endswith("/generations") else max_upload_bytes
        body = await read_body(request, limit) if request.method == "POST" else b""
        if body is None:
            return reply(error_response(413, f"Request body is larger than {limit} bytes."))
        base = base_url(request)
        wire = await handler.ahandle(
            request.method,
            request.url.path,
            body,
            base_url=base,
            content_type=request.headers.get("content-type"),
        )
        if wire.status == 200 and wire.headers.get("content-type") == "application/json":
            try:
                wire.body = store.host_data_uris(wire.body, base)
            except ValueError as exc:
                # The core refuses replies that are not images before this point; if one slips through
                # anyway it is an upstream failure (502, as the wire handler answers unusable replies),
                # never a hosted URL.
                logger.error("imageshim gateway: refused to host a provider image: %s", redact(str(exc)))
                return reply(
                    error_response(
                        502,
                        f"imageshim: the provider's reply cannot be served as an image URL: {exc}",
                        code="invalid_image_data",
                        headers={k: v for k, v in wire.headers.items() if k.startswith("x-imageshim-")},
                    )
                )
        return reply(wire)

    async def image(request: Request) -> Response:
        found = store.get(request.path_params["name"])
        if found is None:
            return reply(
                error_response(404, "This image URL has expired or never existed.", code="image_expired")
            )
        data, label = found
        # Sniffed again here, not taken from the store: ``hosted`` may be any store (a subclass, a shared
        # backend), and this route is what decides what the gateway's origin serves. nosniff stops a
        # browser from second-guessing the type into something executable. SVG is served only when the
        # store labelled it SVG (it does so only for replies asked for as SVG) and the bytes are one; the
        # sandbox CSP (an opaque origin, no scripts, no loads) keeps any script in it from running.
        media_type = sniff(data[:16])
        if media_type is None and label == SVG_MEDIA_TYPE and is_svg(data):
            media_type = SVG_MEDIA_TYPE
        if media_type is None:
            logger.error("imageshim gateway: hosted item %s is not an image; not served", request.url.path)
            return reply(
                error_response(502, "imageshim: this hosted item is not an image.", code="invalid_image_data")
            )
        headers = {
            "cache-control": "private, max-age=300",
            "x-content-type-options": "nosniff",
            # For every image, not only SVG: a raster image needs none of what this forbids.
            "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; sandbox",
        }
        return Response(data, media_type=media_type, headers=headers)

    async def fallback(request: Request) -> Response:
        if not authorized(request):
            return unauthorized()
        return reply(handler.not_served(request.method, request.url.path, base_url(request)))

    methods = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]
    routes = [
        Route("/v1/imageshim/images/{name}", guarded(image), methods=["GET"]),
        Route("/v1/images/generations", guarded(api), methods=["POST"]),
        Route("/v1/images/edits", guarded(api), methods=["POST"]),
        Route("/v1/images/variations", guarded(api), methods=["POST"]),
        Route("/v1/models", guarded(api), methods=["GET"]),
        Route("/v1/models/{model:path}", guarded(api), methods=["GET"]),
        Route("/{path:path}", guarded(fallback), methods=methods),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        yield
        await engine.aclose()  # graceful shutdown: close provider connections

    return Starlette(routes=routes, lifespan=lifespan)


def serve(
    host: str = "127.0.0.1", port: int = 8000, config: str | None = None, public_url: str | None = None
) -> None:
    """Run the gateway until interrupted (SIGINT/SIGTERM shut it down gracefully: requests in flight
    finish, for up to 30 s). ``public_url``: see :func:`create_app`."""
    keys = gateway_keys()
    if not keys and not _is_loopback(host):
        raise ConfigurationError(
            f"Refusing to serve on {host} without authentication: set IMAGESHIM_GATEWAY_KEYS (comma-separated "
            "bearer keys) or bind to 127.0.0.1"
        )
    if public_url is not None:
        normalise_public_url(public_url)  # a usage error before anything starts
    import uvicorn

    app = create_app(config, keys=keys, public_url=public_url)
    uvicorn.run(app, host=host, port=port, timeout_graceful_shutdown=30, log_level="info")
