"""``imageshim serve``'s ASGI app: an OpenAI-compatible HTTP gateway (starlette + uvicorn, the ``gateway`` extra).

``OPENAI_BASE_URL=http://127.0.0.1:8000/v1`` and nothing else changes, for any language's OpenAI SDK.
Routes (exactly these paths; anything else is a 404 JSON error naming them and the base URL to use):
``POST /v1/images/generations``, ``/v1/images/edits`` and ``/v1/images/variations`` (multipart, up to
``max_upload_bytes``), ``GET /v1/models`` and ``GET /v1/models/{id}`` (the catalog with lifecycle fields),
all from the shared wire handler; ``GET /v1/imageshim/images/{name}`` (hosted images for
``response_format="url"``, expiring after ``[gateway] ttl_seconds``); and for operators ``GET /healthz``
(the process answers), ``GET /readyz`` (it takes requests: 503 while draining) and ``GET /metrics``
(Prometheus). Clients authenticate with a bearer key from ``IMAGESHIM_GATEWAY_KEYS``; their key is never
forwarded (providers get the gateway's own configured keys), is registered with :func:`register_secret`
(redacted from every reply and log line), and appears in logs and metrics only as a short hash.

Hosted URLs: the gateway always hosts base64-only images itself for callers that want URLs, whatever
``[mapping] url`` says (that setting is for in-process use: a ``file://`` path on the server's disk means
nothing to a remote client). The URLs are built from ``public_url`` (``[gateway] public_url`` or
``serve --public-url``; e.g. the address of a reverse proxy) or, by default, from the address the server
is bound to, never from the client-supplied ``Host`` header. Hosted images are served only as the image
type their bytes are, with ``X-Content-Type-Options: nosniff`` and a sandbox CSP.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date
from email.utils import formatdate
from pathlib import Path
from typing import Any

from imageshim._core.config import Config, ConfigSource, load_config
from imageshim._core.errors import register_secret
from imageshim._core.media import SVG_MEDIA_TYPE, is_svg, sniff
from imageshim._core.warnings import logger
from imageshim._frontends.engine import Engine
from imageshim._frontends.gateway.addresses import gateway_keys, is_loopback, normalise_public_url, origin
from imageshim._frontends.gateway.build import (
    announce_budgets,
    hosting_config,
    kept_file,
    labels,
    make_budgets,
    make_intents,
    make_store,
)
from imageshim._frontends.gateway.headers import EXPOSED
from imageshim._frontends.gateway.images import Answer, Images
from imageshim._frontends.gateway.intent import Intents, IntentState
from imageshim._frontends.gateway.record import AccessRecord, client_hash, hash_salt
from imageshim._frontends.gateway.runtime import Runtime
from imageshim._frontends.gateway.spend import Spending
from imageshim._frontends.gateway.store import ImageStore, MemoryStore, Stored, StoreUnavailable
from imageshim._frontends.wire import WireHandler, WireResponse, error_response

__all__ = ["create_app", "gateway_keys", "is_loopback", "make_intents", "make_store", "normalise_public_url"]

Clock = Callable[[], date]
_IMAGE_ROUTES = ("/v1/images/generations", "/v1/images/edits", "/v1/images/variations")


def create_app(
    config: ConfigSource | Config = None,
    *,
    keys: list[str] | None = None,
    clock: Clock | None = None,
    max_body_bytes: int | None = None,
    max_upload_bytes: int | None = None,
    store: ImageStore | None = None,
    public_url: str | None = None,
    runtime: Runtime | None = None,
    now: Callable[[], float] = time.monotonic,
    wall: Callable[[], float] = time.time,
) -> Any:
    """The ASGI app. ``config``'s ``[gateway]`` table sets the limits, the store and CORS; the keyword
    arguments override it. ``keys``: accepted bearer keys (default: IMAGESHIM_GATEWAY_KEYS; empty = no
    auth). ``public_url``: the base URL clients reach the gateway at (no ``/v1``), for hosted image URLs
    and 404 hints; default: the address the server is bound to (the ASGI ``server`` of each connection),
    never the client's ``Host`` header. ``runtime``: shared with the server (drain); ``now``: the
    monotonic clock of the intents and the store; ``wall``: Unix seconds, whose UTC day and month are the
    windows of ``[gateway.budgets]``.
    """
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.middleware.cors import CORSMiddleware
    from starlette.requests import Request
    from starlette.responses import FileResponse, Response
    from starlette.routing import Route

    from imageshim._frontends.gateway.metrics import GatewayMetrics
    from imageshim._frontends.gateway.observe import log_access

    loaded = load_config(config)
    policy = loaded.gateway
    images_store = store or make_store(policy, now=now)
    engine = Engine(hosting_config(loaded, images_store), clock=clock)
    handler = WireHandler(
        engine,
        max_body_bytes=max_body_bytes or policy.max_body_bytes,
        max_upload_bytes=max_upload_bytes or policy.max_upload_bytes,
    )
    state = runtime or Runtime()
    intents = make_intents(policy, images_store.ttl_seconds, now=now)
    metrics = GatewayMetrics(
        store_bytes=images_store.bytes_used, known_models=lambda model: engine.catalog.get(model) is not None
    )
    configured = gateway_keys() if keys is None else keys
    for key in configured:
        register_secret(key)  # a client's key is redacted wherever the shim would print it
    accepted = [k.encode() for k in configured]
    salt_setting = os.environ.get("IMAGESHIM_CLIENT_HASH_SALT")
    salt = hash_salt(configured, salt_setting)
    budgets = make_budgets(policy, intents, images_store, wall=wall)
    if budgets is not None:
        kept = policy.state is not None or kept_file(images_store, policy, ".budgets") is not None
        announce_budgets(budgets, labels(configured, salt), salted=bool(salt_setting), kept=kept)
    spending = None if budgets is None else Spending(budgets, metrics)
    images = Images(engine, handler, images_store, intents, state, policy, spending=spending)
    public_setting = public_url if public_url is not None else policy.public_url
    public = None if public_setting is None else normalise_public_url(public_setting)

    def base_url(request: Request) -> str:
        if public is not None:
            return public
        server = request.scope.get("server")
        if server and server[1] is not None:
            return origin(str(request.scope.get("scheme", "http")), str(server[0]), server[1])
        return str(request.base_url).rstrip("/")  # a unix socket: no address of its own to name

    def reply(wire: WireResponse | Answer) -> Response:
        return Response(wire.body, status_code=wire.status, headers=wire.headers)

    def client_key(request: Request) -> str | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        return token.strip() if scheme.lower() == "bearer" and token.strip() else None

    def authorized(key: str | None) -> bool:
        if not accepted:
            return True
        given = (key or "").encode()
        return any(hmac.compare_digest(given, k) for k in accepted)

    def unauthorized() -> WireResponse:
        message = "Incorrect or missing gateway key (Authorization: Bearer ...)."
        return error_response(401, message, code="invalid_api_key")

    def logged(
        route: str, serve: Callable[[Request], Awaitable[tuple[Response, Answer | None]]]
    ) -> Callable[[Request], Awaitable[Response]]:
        """One access line and one metrics record per request; nothing escapes as a text/plain 500."""

        async def endpoint(request: Request) -> Response:
            started = time.monotonic()
            state.in_flight += 1
            answer: Answer | None = None
            try:
                with metrics.in_flight():
                    response, answer = await serve(request)
            except Exception:
                response = reply(handler.crashed(request.method, request.url.path))
            finally:
                state.in_flight -= 1
            key = client_key(request)
            record = AccessRecord(
                method=request.method,
                route=route,
                status=response.status_code,
                duration_s=time.monotonic() - started,
                client=client_hash(key if authorized(key) else None, salt),
                request_id=response.headers.get("x-request-id"),
                requested_model=answer.requested_model if answer else None,
                generation=answer.generation if answer else None,
                joined=bool(answer and answer.intent in ("joined", "replayed")),
                intent=answer.intent if answer else None,
            )
            log_access(record)
            metrics.observe(record)
            return response

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

    async def image_request(request: Request) -> tuple[Response, Answer | None]:
        key = client_key(request)
        if not authorized(key):
            return reply(unauthorized()), None
        # Uploads (edits, variations: multipart with image files) may be larger than JSON bodies.
        path = request.url.path
        limit = handler.max_body_bytes if path.endswith("/generations") else handler.max_upload_bytes
        try:
            body = await asyncio.wait_for(read_body(request, limit), policy.body_timeout)
        except asyncio.TimeoutError:
            wire = error_response(
                408,
                f"imageshim: the request body did not arrive within {policy.body_timeout:g} s.",
                code="body_timeout",
                headers={"connection": "close"},
            )
            return reply(wire), None
        if body is None:
            return reply(error_response(413, f"Request body is larger than {limit} bytes.")), None
        answer = await images.answer(
            request.method,
            path,
            body,
            owner=client_hash(key, salt),
            base_url=base_url(request),
            content_type=request.headers.get("content-type"),
            headers=request.headers,
        )
        return reply(answer), answer

    async def models(request: Request) -> tuple[Response, Answer | None]:
        if not authorized(client_key(request)):
            return reply(unauthorized()), None
        wire = await handler.ahandle(request.method, request.url.path, b"", base_url=base_url(request))
        return reply(wire), None

    async def hosted(request: Request) -> tuple[Response, Answer | None]:
        name = request.path_params["name"]
        found: tuple[Stored, bytes | Path] | None
        try:
            if isinstance(images_store, MemoryStore):
                found = images_store.open(name)
            else:  # a file or object store reads off the event loop: a slow bucket must not stall the rest
                found = await asyncio.to_thread(images_store.open, name)
        except StoreUnavailable:
            unavailable = error_response(
                503,
                "imageshim: the image store cannot be reached; try again shortly.",
                code="store_unavailable",
                headers={"retry-after": "5", "x-should-retry": "true"},
            )
            return reply(unavailable), None
        if found is None:
            expired = error_response(
                404, "This image URL has expired or never existed.", code="image_expired"
            )
            return reply(expired), None
        item, content = found
        try:
            media_type = _served_type(item.media_type, content)
        except (
            OSError
        ) as exc:  # its file went away or cannot be read now (the name is a capability: not logged)
            logger.warning("imageshim gateway: a hosted file cannot be read (%s)", type(exc).__name__)
            gone = error_response(404, "This image URL has expired or never existed.", code="image_expired")
            return reply(gone), None
        if media_type is None:
            logger.error("imageshim gateway: a hosted item is not an image; not served")
            bad = error_response(
                502, "imageshim: this hosted item is not an image.", code="invalid_image_data"
            )
            return reply(bad), None
        left = max(0, int(item.expires_at - time.time()))
        headers = {
            "cache-control": f"private, max-age={left}",
            "expires": formatdate(item.expires_at, usegmt=True),
            "x-content-type-options": "nosniff",
            # For every image, not only SVG: a raster image needs none of what this forbids.
            "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; sandbox",
        }
        if isinstance(content, Path):
            return FileResponse(content, media_type=media_type, headers=headers), None
        return Response(content, media_type=media_type, headers=headers), None

    async def healthz(request: Request) -> tuple[Response, Answer | None]:
        return Response(b'{"status":"ok"}', media_type="application/json"), None

    async def readyz(request: Request) -> tuple[Response, Answer | None]:
        if state.draining:
            body = b'{"status":"draining"}'
            return Response(body, status_code=503, media_type="application/json"), None
        if not await intents.ready():  # without the shared state nothing new may start
            body = b'{"status":"state unavailable"}'
            return Response(body, status_code=503, media_type="application/json"), None
        return Response(b'{"status":"ready"}', media_type="application/json"), None

    async def metrics_route(request: Request) -> tuple[Response, Answer | None]:
        body, content_type = metrics.render()
        return Response(body, headers={"content-type": content_type}), None

    async def fallback(request: Request) -> tuple[Response, Answer | None]:
        if not authorized(client_key(request)):
            return reply(unauthorized()), None
        return reply(handler.not_served(request.method, request.url.path, base_url(request))), None

    methods = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]
    routes = [
        Route("/healthz", logged("/healthz", healthz), methods=["GET"]),
        Route("/readyz", logged("/readyz", readyz), methods=["GET"]),
        Route("/metrics", logged("/metrics", metrics_route), methods=["GET"]),
        Route(
            "/v1/imageshim/images/{name}",
            logged("/v1/imageshim/images/{name}", hosted),
            methods=["GET"],
        ),
        *(Route(path, logged(path, image_request), methods=["POST"]) for path in _IMAGE_ROUTES),
        Route("/v1/models", logged("/v1/models", models), methods=["GET"]),
        Route("/v1/models/{model:path}", logged("/v1/models/{model}", models), methods=["GET"]),
        Route("/{path:path}", logged("other", fallback), methods=methods),
    ]
    middleware = []
    if policy.cors_origins:
        # starlette's CORS middleware answers preflights before auth (a browser sends none with them)
        # and lets pages read the imageshim headers.
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(policy.cors_origins),
                allow_methods=["GET", "POST"],
                allow_headers=["*"],
                expose_headers=list(EXPOSED),
                max_age=600,
            )
        )

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        # With a file store and no shared state, the replies kept for retries outlive a restart too (a
        # client that timed out before a redeploy gets its image from the next process, not a new one).
        kept = kept_file(images_store, policy, ".replies") if isinstance(intents, Intents) else None
        if kept is not None and isinstance(intents, Intents):
            loaded = intents.load(kept, time.time())
            if loaded:
                logger.info("imageshim gateway: %d stored replies kept from before the restart", loaded)
        sweeper = asyncio.ensure_future(_sweep(images_store, intents))
        try:
            yield
        finally:
            sweeper.cancel()
            await engine.aclose()  # graceful shutdown: close provider connections
            if kept is not None and isinstance(intents, Intents):
                try:
                    intents.save(kept, time.time())
                except OSError as exc:
                    logger.error("imageshim gateway: the stored replies could not be kept (%s)", exc)
            if budgets is not None:
                await budgets.ledger.close()
            await intents.close()
            images_store.close()

    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
    app.state.runtime = state
    app.state.metrics = metrics
    app.state.intents = intents
    app.state.store = images_store
    app.state.budgets = budgets
    return app


async def _sweep(store: ImageStore, intents: IntentState, every: float = 60.0) -> None:
    """Every minute: drop expired images (also dropped when next touched) and stored replies, and give
    freed memory back to the system (:func:`.memory.release`)."""
    from imageshim._frontends.gateway.memory import release

    while True:
        await asyncio.sleep(every)
        try:
            await asyncio.to_thread(store.sweep)
            sweep = getattr(intents, "sweep", None)
            if sweep is not None:
                sweep()
            release()
        except Exception:  # a sweep that fails is retried next time; it never stops the gateway
            logger.exception("imageshim gateway: sweeping the image store failed")


def _served_type(stored_type: str, content: bytes | Path) -> str | None:
    """The media type the bytes are served as, checked again here rather than taken from the store: this
    route decides what the gateway's origin serves. SVG only when stored as SVG and the bytes are one."""
    if isinstance(content, Path):  # OSError when it cannot be read: the caller answers 404
        with content.open("rb") as fh:
            head = fh.read(16)
            media_type = sniff(head)
            if media_type is None and stored_type == SVG_MEDIA_TYPE:
                fh.seek(0)
                return SVG_MEDIA_TYPE if is_svg(fh.read()) else None
            return media_type
    media_type = sniff(content[:16])
    if media_type is None and stored_type == SVG_MEDIA_TYPE and is_svg(content):
        return SVG_MEDIA_TYPE
    return media_type
