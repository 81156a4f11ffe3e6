"""The OpenAI wire handler shared by the in-process transport and the gateway.

OpenAI wire request in (method, path, headers, body bytes), OpenAI wire response out: the status codes and
``{"error": {message, type, param, code}}`` bodies OpenAI sends, ``x-request-id`` on every reply,
``retry-after`` on 429, and ``x-should-retry: false`` on errors the shim already retried (so an SDK in front
does not multiply the retries). The shim's report travels in ``x-imageshim-route`` and
``x-imageshim-warnings`` (a JSON list, ASCII only) and the warnings are logged.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
import uuid
from collections.abc import Callable
from typing import Any

from ._engine import Engine, Plan
from ._errors import APIConnectionError, APIError, ImageShimError, ModelRetiredError, redact
from ._request import ImageRequest, request_from_kwargs
from ._response import ImagesResponse
from ._warnings import emit, logger

__all__ = ["GENERATIONS", "MAX_BODY_BYTES", "WireHandler", "WireResponse"]

GENERATIONS = "/images/generations"
MAX_BODY_BYTES = 1 << 20
_FIELDS = frozenset(ImageRequest.model_fields) | {"safety_identifier"}
_TYPES = {401: "authentication_error", 403: "permission_error", 429: "rate_limit_error"}


@dataclasses.dataclass
class WireResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def error_response(
    status: int,
    message: str,
    *,
    code: str | None = None,
    param: str | None = None,
    headers: dict[str, str] | None = None,
) -> WireResponse:
    kind = "server_error" if status >= 500 else _TYPES.get(status, "invalid_request_error")
    body = {"error": {"message": redact(message), "type": kind, "param": param, "code": code}}
    base = {"content-type": "application/json", "x-request-id": f"req_{uuid.uuid4().hex}"}
    return WireResponse(status, {**base, **(headers or {})}, json.dumps(body).encode())


def _from_error(error: ImageShimError) -> WireResponse:
    if not isinstance(error, APIError):  # configuration problems are the server's, not the caller's
        return error_response(500, f"imageshim: {error.message}", code="imageshim_configuration_error")
    status = error.status_code or (504 if isinstance(error, APIConnectionError) else 502)
    headers = {"x-should-retry": "false"}
    if error.request_id:
        headers["x-imageshim-provider-request-id"] = error.request_id
    if error.retry_after is not None:
        headers["retry-after"] = str(max(1, math.ceil(error.retry_after)))
    if isinstance(error, ModelRetiredError) and error.successor:
        headers["x-imageshim-successor"] = error.successor
    return error_response(status, error.message, code=error.code, param=error.param, headers=headers)


class WireHandler:
    """Serves ``POST .../images/generations`` from an :class:`Engine`; ``emit_warnings`` also raises
    them through ``warnings.warn`` (in-process use); a server only logs them."""

    def __init__(
        self,
        engine: Engine,
        *,
        emit_warnings: bool = False,
        max_body_bytes: int = MAX_BODY_BYTES,
        extra_routes: dict[tuple[str, str], Callable[[], WireResponse]] | None = None,
    ) -> None:
        self.engine = engine
        self.emit_warnings = emit_warnings
        self.max_body_bytes = max_body_bytes
        self.extra_routes = extra_routes or {}

    # ----- parsing (no I/O) ----------------------------------------------------------------------------
    def _route(self, method: str, path: str) -> WireResponse | None:
        path = path.split("?", 1)[0].rstrip("/")
        if method == "POST" and path.endswith(GENERATIONS):
            return None
        for (m, p), make in self.extra_routes.items():
            if method == m and path.endswith(p):
                return make()
        served = ["POST /v1/images/generations", *(f"{m} /v1{p}" for m, p in self.extra_routes)]
        return error_response(
            404,
            f"imageshim serves {', '.join(served)}; {method} {path} is not served here.",
            code="unknown_url",
        )

    def _plan(self, body: bytes) -> tuple[Plan | None, WireResponse | None]:
        if len(body) > self.max_body_bytes:
            return None, error_response(413, f"Request body is larger than {self.max_body_bytes} bytes.")
        try:
            data = json.loads(body or b"null")
        except ValueError:
            return None, error_response(400, "We could not parse the JSON body of your request.")
        if not isinstance(data, dict):
            return None, error_response(400, "The request body must be a JSON object.")
        unknown = sorted(set(data) - _FIELDS)
        if unknown:
            return None, error_response(
                400, f"Unknown parameter: '{unknown[0]}'.", code="unknown_parameter", param=unknown[0]
            )
        if "safety_identifier" in data:
            identifier = data.pop("safety_identifier")
            data.setdefault("user", identifier)
        if "prompt" not in data:
            return None, error_response(
                400,
                "Missing required parameter: 'prompt'.",
                code="missing_required_parameter",
                param="prompt",
            )
        try:
            return self.engine.plan(request_from_kwargs(data)), None
        except ImageShimError as exc:
            return None, _from_error(exc)

    def _success(self, plan: Plan, response: ImagesResponse) -> WireResponse:
        records = response.imageshim.warnings
        if self.emit_warnings:
            emit(records, stacklevel=4)
        else:
            for record in records:
                logger.warning("%s: %s", record.category.__name__, record.reason)
        headers = {
            "x-request-id": f"req_{uuid.uuid4().hex}",
            "x-imageshim-route": response.imageshim.route,
            "x-imageshim-warnings": json.dumps(
                [
                    {"category": r.category.__name__, "setting": r.setting, "message": r.reason}
                    for r in records
                ]
            ),
        }
        if response.imageshim.cost_usd is not None:
            headers["x-imageshim-cost-usd"] = f"{response.imageshim.cost_usd:.6f}"
        if plan.request.stream:
            headers["content-type"] = "text/event-stream"
            return WireResponse(200, headers, _sse(response))
        headers["content-type"] = "application/json"
        return WireResponse(200, headers, json.dumps(response.to_openai_dict()).encode())

    # ----- entry points --------------------------------------------------------------------------------
    def _prepare(self, method: str, path: str, body: bytes) -> Plan | WireResponse:
        """The plan for a generation request, or the reply that ends it before any I/O."""
        routed = self._route(method, path)
        if routed is not None:
            return routed
        plan, failed = self._plan(body)
        return plan if plan is not None else failed  # type: ignore[return-value]

    def handle(self, method: str, path: str, body: bytes) -> WireResponse:
        from ._execute import execute

        plan = self._prepare(method, path, body)
        if isinstance(plan, WireResponse):
            return plan
        try:
            response = self.engine.build_response(plan, execute(self.engine, plan))
        except ImageShimError as exc:
            return _from_error(exc)
        return self._success(plan, response)

    async def ahandle(self, method: str, path: str, body: bytes) -> WireResponse:
        from ._execute import execute_async

        plan = self._prepare(method, path, body)
        if isinstance(plan, WireResponse):
            return plan
        try:
            response = self.engine.build_response(plan, await execute_async(self.engine, plan))
        except ImageShimError as exc:
            return _from_error(exc)
        return self._success(plan, response)


def _sse(response: ImagesResponse) -> bytes:
    """One ``image_generation.completed`` event per image (the OpenAI stream shape with partial_images=0)."""
    body = response.to_openai_dict()
    events = []
    for image in body.get("data", []):
        event = {
            "type": "image_generation.completed",
            "b64_json": image.get("b64_json"),
            "created_at": body.get("created", int(time.time())),
            "size": body.get("size"),
            "quality": body.get("quality"),
            "output_format": body.get("output_format"),
            "background": body.get("background"),
            "usage": body.get("usage"),
        }
        events.append(f"event: image_generation.completed\ndata: {json.dumps(event)}\n\n")
    return "".join(events).encode()
