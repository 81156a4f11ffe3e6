"""The OpenAI wire handler shared by the in-process transport and the gateway.

OpenAI wire request in (method, path, body bytes), OpenAI wire response out: the status codes and
``{"error": {message, type, param, code}}`` bodies OpenAI sends, ``x-request-id`` on every reply and
``retry-after`` on a 429 when the wait is known. The shim's report travels in ``x-imageshim-route`` and
``x-imageshim-warnings`` (a JSON list, ASCII only; on error replies too: what had been decided before the
request failed); the warnings are also logged (or, in-process, raised through ``warnings.warn``).

Rules for error replies (the SDK in front reads them):

- every error carries ``x-should-retry: false``; a configuration error is a 424, not a 5xx a client
  retrying by status would repeat. Provider failures have already been retried by the shim's
  own policy (an SDK retrying them again would multiply the calls and the bill); every other error
  (invalid request, configuration, unknown path) gives the same answer however often it is repeated;
- an error without an HTTP status, or with one below 400 (a provider's unusable 200 reply, a partial
  result refused by ``[retry] partial = "error"``), is an upstream failure: 502 ``server_error``, so that
  an SDK raises instead of parsing an error body as an empty success; a timeout is 504;
- ``type`` is what OpenAI sends: ``invalid_request_error`` for 4xx (401 included), ``requests`` /
  ``tokens`` / ``insufficient_quota`` for 429, ``server_error`` for 5xx;
- nothing raises out of the handler: a body nested too deeply to parse is a 400, and an unexpected
  exception a 500 JSON error, logged with its traceback (keys redacted) on the ``imageshim`` logger.
  Warnings escalated to errors (``-W error``) are the one exception: they propagate, as with the
  native client.
"""

from __future__ import annotations

import dataclasses
import json
import math
import traceback
import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from imageshim._core.errors import (
    APIError,
    APITimeoutError,
    BudgetExceededError,
    ImageShimError,
    ModelRetiredError,
    redact,
    redact_exact,
)
from imageshim._core.request import ImageRequest, request_from_kwargs
from imageshim._core.response import ImagesResponse
from imageshim._core.warnings import WarningRecord, caller_stacklevel, emit, logger
from imageshim._frontends import orchestrate as _orchestrate
from imageshim._frontends.engine import Engine, Plan
from imageshim._frontends.render import json_body, sse_body

if TYPE_CHECKING:
    from imageshim._core.edit import Kind

__all__ = [
    "API_PREFIX",
    "GENERATIONS",
    "MAX_BODY_BYTES",
    "WireHandler",
    "WireResponse",
    "error_response",
    "estimate_header",
]

API_PREFIX = "/v1"
GENERATIONS = "/images/generations"
EDITS = "/images/edits"
VARIATIONS = "/images/variations"
MODELS = "/models"
#: multipart uploads (edits, variations) may be larger than JSON bodies: 16 images fit, and a 413 says so
MAX_UPLOAD_BYTES = 64 << 20
_IN_PROCESS_PACKAGES = (
    "imageshim",
    "openai",
    "httpx",
    "httpx2",
    "httpcore",
    "anyio",
    "asyncio",
    "contextlib",
)
_OPERATIONS = {("POST", GENERATIONS): "generate", ("POST", EDITS): "edit", ("POST", VARIATIONS): "variation"}
MAX_BODY_BYTES = 1 << 20
# What the SDK sends. ``extra_body`` is not among them: the SDK merges its extra_body into the top level
# before sending, so a literal "extra_body" field on the wire is refused like any unknown parameter.
_FIELDS = (frozenset(ImageRequest.model_fields) - {"extra_body"}) | {"safety_identifier"}
_RATE_LIMIT_TYPES = ("requests", "tokens", "insufficient_quota")


@dataclasses.dataclass
class WireResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def request_id() -> str:
    return f"req_{uuid.uuid4().hex}"


def _error_type(status: int) -> str:
    if status >= 500:
        return "server_error"
    return "requests" if status == 429 else "invalid_request_error"


def error_response(
    status: int,
    message: str,
    *,
    code: str | None = None,
    param: str | None = None,
    headers: dict[str, str] | None = None,
    kind: str | None = None,
) -> WireResponse:
    """An OpenAI error reply; ``kind`` is the error ``type`` (default: OpenAI's for the status)."""
    # Whole secrets only: the message may echo what the caller sent (a field name, a path), and a
    # piece-by-piece search would tell the caller which 8 characters belong to a key (see ImageShimError).
    body = {
        "error": {
            "message": redact_exact(message),
            "type": kind or _error_type(status),
            "param": None if param is None else redact_exact(param),
            "code": code,
        }
    }
    base = {"content-type": "application/json", "x-request-id": request_id(), "x-should-retry": "false"}
    return WireResponse(status, {**base, **(headers or {})}, json.dumps(body).encode())


def _warnings_header(records: Sequence[WarningRecord]) -> str:
    items = [{"category": r.category.__name__, "setting": r.setting, "message": r.reason} for r in records]
    return redact_exact(json.dumps(items))  # json.dumps escapes non-ASCII: a valid header value


def _rate_limit_type(error: APIError) -> str:
    """``requests`` unless the provider said ``tokens`` or the limit is the quota (billing)."""
    given = error.body.get("type") if isinstance(error.body, dict) else None
    if given in _RATE_LIMIT_TYPES:
        return str(given)
    return "insufficient_quota" if error.code == "insufficient_quota" else "requests"


def estimate_header(usd: float | None) -> dict[str, str]:
    """``x-imageshim-estimate-usd``: a call's estimate before anything was sent (none when unpriced)."""
    return {} if usd is None else {"x-imageshim-estimate-usd": _usd(usd)}


def _usd(dollars: float) -> str:
    return f"{dollars:.6f}"


def _from_error(error: ImageShimError, records: Sequence[WarningRecord] = ()) -> WireResponse:
    headers = {"x-imageshim-warnings": _warnings_header(records)} if records else {}
    if not isinstance(error, APIError):
        # A configuration problem (a missing provider key, an unknown adapter) is the server's, and no
        # retry fixes it: 424, a 4xx that clients retrying by status alone (the AI SDK retries 408, 409,
        # 429 and 5xx whatever x-should-retry says) do not repeat, typed as the server's error.
        return error_response(
            424,
            f"imageshim: {error.message}",
            code="imageshim_configuration_error",
            headers=headers,
            kind="server_error",
        )
    status = error.status_code
    if status is None or status < 400:
        # No status, or a "success" status on a reply that was unusable (not JSON, wrong shape, no
        # image), or a partial result refused by policy: an upstream failure, never a 2xx/3xx.
        status = 504 if isinstance(error, APITimeoutError) else 502
    if error.request_id:
        headers["x-imageshim-provider-request-id"] = redact(error.request_id)
    # Retry-After only when the wait is known (the provider's header, or a scripted/mapped value): the
    # spec lets a 429 omit it, and an invented wait would be misinformation for clients that honour it.
    if error.retry_after is not None:
        headers["retry-after"] = str(max(1, math.ceil(error.retry_after)))
    if isinstance(error, ModelRetiredError) and error.successor:
        headers["x-imageshim-successor"] = error.successor
    if isinstance(error, BudgetExceededError):
        headers.update(estimate_header(error.estimate_usd))  # the refused call's estimate
    kind = _rate_limit_type(error) if status == 429 else None
    return error_response(
        status, error.message, code=error.code, param=error.param, headers=headers, kind=kind
    )


class WireHandler:
    """Serves ``POST /v1/images/generations`` (and ``extra_routes`` under ``/v1``) from an :class:`Engine`.

    ``emit_warnings`` raises the warnings through ``warnings.warn`` (in-process use); a server only logs
    them. ``any_base_path``: in-process, the SDK's base URL is never contacted, so any base URL whose path
    ends in ``/v1`` is served (``https://api.openai.com/v1``, an ``OPENAI_BASE_URL`` with a prefix);
    the gateway serves exactly ``/v1/...``.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        emit_warnings: bool = False,
        max_body_bytes: int = MAX_BODY_BYTES,
        max_upload_bytes: int = MAX_UPLOAD_BYTES,
        extra_routes: dict[tuple[str, str], Callable[[], WireResponse]] | None = None,
        any_base_path: bool = False,
    ) -> None:
        self.engine = engine
        self.emit_warnings = emit_warnings
        self.max_body_bytes = max_body_bytes
        self.max_upload_bytes = max_upload_bytes
        self.extra_routes = extra_routes or {}
        self.any_base_path = any_base_path

    # ----- parsing (no I/O) ----------------------------------------------------------------------------
    def _relative(self, path: str) -> str | None:
        """The path below the API base (``/images/generations``), or None when it is not under ``/v1``."""
        if self.any_base_path:
            _, found, rest = path.rpartition(f"{API_PREFIX}/")
            return f"/{rest}" if found else None
        return path[len(API_PREFIX) :] if path.startswith(f"{API_PREFIX}/") else None

    def _route(self, method: str, path: str, base_url: str | None) -> WireResponse | str:
        """The operation a request asks for (``generate``, ``edit``, ``variation``), or the reply to it."""
        path = path.split("?", 1)[0]
        relative = self._relative(path)
        if relative is not None:
            operation = _OPERATIONS.get((method, relative))
            if operation is not None:
                return operation
            if method == "GET" and (relative == MODELS or relative.startswith(f"{MODELS}/")):
                return self._models(relative[len(MODELS) + 1 :])
            make = self.extra_routes.get((method, relative))
            if make is not None:
                return make()
        return self.not_served(method, path, base_url)

    def not_served(self, method: str, path: str, base_url: str | None = None) -> WireResponse:
        """The 404 for anything but the routes served: what is served, and (for a path outside the API
        base) the base URL to use."""
        served = [
            f"POST {API_PREFIX}{GENERATIONS}",
            f"POST {API_PREFIX}{EDITS}",
            f"POST {API_PREFIX}{VARIATIONS}",
            f"GET {API_PREFIX}{MODELS}",
            f"GET {API_PREFIX}{MODELS}/{{model}}",
            *(f"{m} {API_PREFIX}{p}" for m, p in self.extra_routes),
        ]
        bare = path.split("?", 1)[0]
        relative = self._relative(bare)
        wrong_base = relative is None or any(
            bare.endswith(p) and relative != p for p in (GENERATIONS, EDITS, VARIATIONS, MODELS)
        )
        if not wrong_base:  # under the API base, and not a served route behind a wrong base URL
            return error_response(
                404,
                f"imageshim serves {' and '.join(served)}; {method} {bare} is not implemented by imageshim.",
                code="unknown_url",
            )
        if base_url is not None:
            hint = f"Use the base URL {base_url}{API_PREFIX} (OPENAI_BASE_URL or base_url=; it ends in /v1)."
        else:
            hint = (
                "The SDK's base_url must end in /v1 (the default https://api.openai.com/v1 works: requests "
                "are served in-process and never leave it)."
            )
        return error_response(
            404,
            f"imageshim serves {' and '.join(served)}; {method} {path} is not served here. {hint}",
            code="unknown_url",
        )

    def _models(self, model: str) -> WireResponse:
        """``GET /models`` (``model`` empty) or ``GET /models/{model}``: the catalog with lifecycle fields."""
        from urllib.parse import unquote

        from imageshim._core.models_api import list_models, retrieve_model

        try:
            found: Any = retrieve_model(self.engine, unquote(model)) if model else list_models(self.engine)
        except ImageShimError as exc:
            return _from_error(exc)
        headers = {"content-type": "application/json", "x-request-id": request_id()}
        return WireResponse(200, headers, found.model_dump_json().encode())

    def _plan(self, body: bytes) -> Plan | WireResponse:
        if len(body) > self.max_body_bytes:
            return error_response(413, f"Request body is larger than {self.max_body_bytes} bytes.")
        try:
            data = json.loads(body or b"null")
        except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
            return error_response(400, "We could not parse the JSON body of your request.")
        if not isinstance(data, dict):
            return error_response(400, "The request body must be a JSON object.")
        unknown = sorted(set(data) - _FIELDS)
        if unknown:
            return error_response(
                400, f"Unknown parameter: '{unknown[0]}'.", code="unknown_parameter", param=unknown[0]
            )
        if "prompt" not in data:
            return error_response(
                400,
                "Missing required parameter: 'prompt'.",
                code="missing_required_parameter",
                param="prompt",
            )
        try:
            return self.engine.plan(request_from_kwargs(data))
        except ImageShimError as exc:
            return _from_error(exc)

    def _report(self, records: Sequence[WarningRecord]) -> None:
        if self.emit_warnings:
            # In-process: point at the line that called the SDK, past imageshim's, the SDK's and its HTTP
            # library's frames (their depth differs between SDK versions and sync/async).
            emit(records, stacklevel=caller_stacklevel(_IN_PROCESS_PACKAGES))
        else:
            for record in records:
                logger.warning("%s: %s", record.category.__name__, record.reason)

    def failed(self, error: ImageShimError, records: Sequence[WarningRecord]) -> WireResponse:
        self._report(records)  # what was decided still matters when the request failed
        return _from_error(error, records)

    def success(self, plan: Plan, response: ImagesResponse) -> WireResponse:
        records = response.imageshim.warnings
        self._report(records)
        headers = {
            "x-request-id": request_id(),
            "x-imageshim-route": response.imageshim.route,
            "x-imageshim-warnings": _warnings_header(records),
        }
        if response.imageshim.cost_usd is not None:
            headers["x-imageshim-cost-usd"] = _usd(response.imageshim.cost_usd)
        if plan.request.stream:
            headers["content-type"] = "text/event-stream"
            event = "image_edit.completed" if plan.edit is not None else "image_generation.completed"
            return WireResponse(200, headers, sse_body(response, event))
        headers["content-type"] = "application/json"
        # the response is not used after its reply is made: its images are released as they are written
        return WireResponse(200, headers, json_body(response, consume=True))

    # ----- entry points --------------------------------------------------------------------------------
    def _prepare(
        self,
        method: str,
        path: str,
        body: bytes,
        timeout: float | None,
        base_url: str | None,
        content_type: str | None,
    ) -> Plan | WireResponse:
        """The plan for an image request, or the reply that ends it before any I/O."""
        operation = self._route(method, path, base_url)
        if isinstance(operation, WireResponse):
            return operation
        if operation == "generate":
            plan = self._plan(body)
        else:
            plan = self._form_plan("edit" if operation == "edit" else "variation", body, content_type)
        # The caller's timeout (the SDK's) is the whole call's deadline, retries and fallbacks included:
        # the SDK cannot abort a transport in its own process, so the shim must be done by then. Each
        # provider call is still bounded by its own timeout when that is tighter.
        if timeout is not None and not isinstance(plan, WireResponse):
            plan = dataclasses.replace(plan, deadline=max(0.001, timeout))
        return plan

    def _form_plan(self, kind: Kind, body: bytes, content_type: str | None) -> Plan | WireResponse:
        from imageshim._frontends.wire_forms import FormError, form_plan

        if len(body) > self.max_upload_bytes:
            return error_response(413, f"Request body is larger than {self.max_upload_bytes} bytes.")
        try:
            return form_plan(self.engine, kind, body, content_type, None)
        except FormError as exc:
            return error_response(400, exc.message, code=exc.code, param=exc.param)
        except ImageShimError as exc:
            return _from_error(exc)

    def prepare(
        self,
        method: str,
        path: str,
        body: bytes,
        *,
        base_url: str | None = None,
        content_type: str | None = None,
    ) -> Plan | WireResponse:
        """The plan for an image request, or the reply that ends it before any I/O (for a server that runs
        the plan itself: see :mod:`imageshim._frontends.gateway`). Never raises."""
        try:
            return self._prepare(method, path, body, None, base_url, content_type)
        except Exception:
            return self.crashed(method, path)

    def crashed(self, method: str, path: str) -> WireResponse:
        """The 500 for an unexpected exception being handled: its traceback logged, redacted."""
        logger.error(
            "imageshim: unexpected error serving %s %s (answered 500):\n%s",
            method,
            path.split("?", 1)[0],
            redact(traceback.format_exc()),
        )
        return error_response(
            500,
            "imageshim: internal error while serving this request; the traceback is logged on the "
            "'imageshim' logger.",
            code="imageshim_internal_error",
        )

    def handle(
        self,
        method: str,
        path: str,
        body: bytes,
        *,
        timeout: float | None = None,
        base_url: str | None = None,
        content_type: str | None = None,
    ) -> WireResponse:
        """Serve one request. ``timeout``: seconds the whole call may take; ``base_url``: the API
        base URL to name (without ``/v1``) in the 404 for paths not served; ``content_type``: the
        request's (a multipart form's boundary)."""
        try:
            plan = self._prepare(method, path, body, timeout, base_url, content_type)
            if isinstance(plan, WireResponse):
                return plan
            try:
                response = _orchestrate.run(self.engine, plan)
            except ImageShimError as exc:
                return self.failed(exc, _orchestrate.warnings_for(plan, exc))
            return self.success(plan, response)
        except Warning:
            raise  # a warning escalated to an error (-W error) reaches the caller, as with the native client
        except Exception:
            return self.crashed(method, path)

    async def ahandle(
        self,
        method: str,
        path: str,
        body: bytes,
        *,
        timeout: float | None = None,
        base_url: str | None = None,
        content_type: str | None = None,
    ) -> WireResponse:
        """Async twin of :meth:`handle`."""
        try:
            plan = self._prepare(method, path, body, timeout, base_url, content_type)
            if isinstance(plan, WireResponse):
                return plan
            try:
                response = await _orchestrate.arun(self.engine, plan)
            except ImageShimError as exc:
                return self.failed(exc, _orchestrate.warnings_for(plan, exc))
            return self.success(plan, response)
        except Warning:
            raise
        except Exception:
            return self.crashed(method, path)
