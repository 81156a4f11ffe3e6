"""``imageshim serve``: an OpenAI-compatible HTTP gateway (starlette + uvicorn, the ``gateway`` extra).

``OPENAI_BASE_URL=http://127.0.0.1:8000/v1`` and nothing else changes, for any language's OpenAI SDK.
Routes: ``POST /v1/images/generations`` (the shared wire handler), ``GET /v1/models`` (the catalog with
lifecycle fields), ``GET /v1/imageshim/images/{name}`` (hosted images for ``response_format="url"``, expiring
like OpenAI's 60-minute URLs). Clients authenticate with a bearer key from ``IMAGESHIM_GATEWAY_KEYS``; their
key is never forwarded: providers get the gateway's own configured keys.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import json
import os
from collections.abc import AsyncIterator, Callable
from datetime import date
from typing import Any

from ._config import Config, ConfigSource
from ._engine import Engine
from ._errors import ConfigurationError
from ._hosted import HostedImages
from ._wire import MAX_BODY_BYTES, WireHandler, WireResponse, error_response

__all__ = ["create_app", "gateway_keys", "serve"]

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


def _models(engine: Engine) -> WireResponse:
    day = engine.clock()
    data = [
        {
            "id": spec.id,
            "object": "model",
            "created": 0,
            "owned_by": "imageshim",
            "status": spec.status_on(day),
            "shutdown_on": spec.shutdown_on.isoformat() if spec.shutdown_on else None,
            "days_left": spec.days_left(day),
            "successor": spec.successor,
            "source": spec.lifecycle_source,
        }
        for spec in engine.catalog
    ]
    return WireResponse(
        200, {"content-type": "application/json"}, json.dumps({"object": "list", "data": data}).encode()
    )


def create_app(
    config: ConfigSource | Config = None,
    *,
    keys: list[str] | None = None,
    clock: Clock | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
    hosted: HostedImages | None = None,
) -> Any:
    """The ASGI app. ``keys``: accepted bearer keys (default: IMAGESHIM_GATEWAY_KEYS; empty = no auth)."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    engine = Engine(config, clock=clock)
    handler = WireHandler(
        engine, max_body_bytes=max_body_bytes, extra_routes={("GET", "/models"): lambda: _models(engine)}
    )
    store = hosted or HostedImages()
    accepted = [k.encode() for k in (gateway_keys() if keys is None else keys)]

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

    async def read_body(request: Request) -> bytes | None:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_body_bytes:
            return None
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > max_body_bytes:
                return None
        return body

    async def endpoint(request: Request) -> Response:
        if not authorized(request):
            return unauthorized()
        body = await read_body(request) if request.method == "POST" else b""
        if body is None:
            return reply(error_response(413, f"Request body is larger than {max_body_bytes} bytes."))
        wire = await handler.ahandle(request.method, request.url.path, body)
        if wire.status == 200 and wire.headers.get("content-type") == "application/json":
            wire.body = store.host_data_uris(wire.body, str(request.base_url).rstrip("/"))
        return reply(wire)

    async def image(request: Request) -> Response:
        found = store.get(request.path_params["name"])
        if found is None:
            return reply(
                error_response(404, "This image URL has expired or never existed.", code="image_expired")
            )
        data, media_type = found
        return Response(data, media_type=media_type, headers={"cache-control": "private, max-age=300"})

    async def fallback(request: Request) -> Response:
        if not authorized(request):
            return unauthorized()
        return reply(await handler.ahandle(request.method, request.url.path, b""))

    routes = [
        Route("/v1/imageshim/images/{name}", image, methods=["GET"]),
        Route("/v1/images/generations", endpoint, methods=["POST"]),
        Route("/v1/models", endpoint, methods=["GET"]),
        Route("/{path:path}", fallback, methods=["GET", "POST", "PUT", "DELETE", "PATCH"]),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        yield
        await engine.aclose()  # graceful shutdown: close provider connections

    return Starlette(routes=routes, lifespan=lifespan)


def serve(host: str = "127.0.0.1", port: int = 8000, config: str | None = None) -> None:
    """Run the gateway until interrupted (SIGINT/SIGTERM shut it down gracefully)."""
    keys = gateway_keys()
    if not keys and not _is_loopback(host):
        raise ConfigurationError(
            f"Refusing to serve on {host} without authentication: set IMAGESHIM_GATEWAY_KEYS (comma-separated "
            "bearer keys) or bind to 127.0.0.1"
        )
    import uvicorn

    app = create_app(config, keys=keys)
    uvicorn.run(app, host=host, port=port, timeout_graceful_shutdown=30, log_level="info")
