"""Runware REST wire format, the reply side: the reply models, results matched to tasks, and the errors.

Replies carry ``data[]`` (one item per image) and ``errors[]`` (one per failed task) whatever the HTTP
status, matched by ``taskUUID``, never by position (research/runware.md §5). Pure functions; no I/O here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from imageshim.adapterkit import (
    APIError,
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    GeneratedImage,
    HTTPReply,
    ImageCall,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    error_class_for_status,
    malformed,
    redact,
    request_id,
    retry_after,
)

from .request import PROVIDER

__all__ = [
    "MODEL_GONE_CODES",
    "MODERATION_CODES",
    "Reply",
    "TaskResult",
    "by_task",
    "error_for",
    "image_key",
    "image_of",
    "parse_reply",
    "task_errors",
]

MODERATION_CODES = frozenset(
    {
        "contentPolicyViolation",
        "providerContentPolicyViolation",
        "sensitiveContentDetected",
        "unsafeContentDetected",
        "nsfwContentDetected",
        "promptBlocked",
        "imageBlocked",
        "moderationFailed",
        "invalidProviderContent",
    }
)
#: Runware says it does not serve the model (removed, unknown, switched off): the core decides, from the
#: catalog and the clock, whether the model is retired, and tries the route's next target.
MODEL_GONE_CODES = frozenset({"unknownModel", "modelDisabled", "modelNotFound"})


class _Item(BaseModel):
    model_config = ConfigDict(extra="ignore")
    taskUUID: str | None = None
    imageUUID: str | None = None
    imageURL: str | None = None
    imageBase64Data: str | None = None
    imageDataURI: str | None = None
    cost: float | None = None
    status: str | None = None
    error: dict[str, Any] | None = None
    code: str | None = None  # a flat error item of a getResponse reply
    message: str | None = None


class _Error(BaseModel):
    model_config = ConfigDict(extra="ignore")
    code: str | None = None
    message: str | None = None
    parameter: str | list[str] | None = None
    taskUUID: str | None = None
    # legacy / range fields (old SDK `type`; sdk-js IErrorResponse min/max/default): read when present
    type: str | None = None
    min: Any = None
    max: Any = None


class Reply(BaseModel):
    """A parsed reply: items grouped later by taskUUID; errors from ``errors`` or the legacy ``error``."""

    model_config = ConfigDict(extra="ignore")
    data: list[_Item] = []
    errors: list[_Error] = []


def parse_reply(response: HTTPReply, payload: Any) -> Reply:
    """Validate the reply's shape; a wrong shape is a typed error, never a KeyError."""
    if not isinstance(payload, dict):
        raise _malformed(response, "the body is not a JSON object")
    raw = dict(payload)
    for key in ("data", "errors"):
        if key in raw and raw[key] is None:  # {"data": null, "errors": [...]}: null is an empty list
            raw[key] = []
    if not raw.get("errors") and isinstance(raw.get("error"), (dict, list)):
        legacy = raw["error"]
        raw["errors"] = legacy if isinstance(legacy, list) else [legacy]
    try:
        return Reply.model_validate(raw)
    except ValidationError as exc:
        raise _malformed(response, f"unexpected shape ({exc.errors()[0]['msg']})") from None


def task_errors(reply: Reply) -> list[_Error]:
    """``errors[]`` plus the error items of a getResponse reply (``status: "error"`` with a nested
    ``error`` object, UNCERTAIN nesting: a flat item is read as the error itself)."""
    out = list(reply.errors)
    for item in reply.data:
        if item.status != "error" and not item.error:
            continue
        try:
            error = (
                _Error.model_validate(item.error)
                if item.error
                else _Error(code=item.code, message=item.message)
            )
        except ValidationError:
            error = _Error(message=redact(str(item.error))[:200])  # redacted before it is cut
        out.append(error.model_copy(update={"taskUUID": error.taskUUID or item.taskUUID}))
    return out


@dataclasses.dataclass
class TaskResult:
    """What a reply says about one task: its images (and their costs), its errors, whether it still runs."""

    call: ImageCall
    images: list[GeneratedImage] = dataclasses.field(default_factory=list)
    costs: list[float] = dataclasses.field(default_factory=list)
    errors: list[_Error] = dataclasses.field(default_factory=list)
    processing: bool = False

    @property
    def done(self) -> bool:
        return len(self.images) >= self.call.n


def by_task(reply: Reply, calls: Sequence[ImageCall], errors: Sequence[_Error]) -> list[TaskResult]:
    """Group items and errors by taskUUID (an item without one belongs to a lone task)."""
    single = calls[0].call_id if len(calls) == 1 else None
    results = {c.call_id: TaskResult(c) for c in calls}
    seen: set[tuple[str, str]] = set()
    for item in reply.data:
        task = results.get(item.taskUUID or single or "")
        if task is None or item.status == "error" or item.error:
            continue
        if item.status in ("processing", "pending"):  # "pending": the older docs' word
            task.processing = True
            continue
        image = image_of(item)
        key = (task.call.call_id, item.imageUUID or image_key(image))
        if image is not None and key not in seen:  # the same image listed twice is one image
            seen.add(key)
            task.images.append(image)
            if item.cost is not None:
                task.costs.append(item.cost)
    for error in errors:
        task = results.get(error.taskUUID or single or "")
        if task is not None:
            task.errors.append(error)
    return list(results.values())


def image_key(image: GeneratedImage | None) -> str:
    """What tells one image from another when a reply lists it twice: its URL or its bytes."""
    if image is None:
        return ""
    return image.url or image.b64_json or ""


def image_of(item: _Item) -> GeneratedImage | None:
    if item.imageURL:
        return GeneratedImage(url=item.imageURL)
    if item.imageBase64Data:
        return GeneratedImage(b64_json=item.imageBase64Data)
    if item.imageDataURI:
        b64 = item.imageDataURI.partition("base64,")[2]
        return GeneratedImage(b64_json=b64) if b64 else GeneratedImage(url=item.imageDataURI)
    return None


def _malformed(response: HTTPReply, why: str) -> APIError:
    return malformed(response, PROVIDER, why, retryable=response.status_code >= 500)


def _describe(error: _Error, status: int) -> str:
    text = error.message or error.code or f"HTTP {status}"
    if error.min is not None or error.max is not None:
        low = "" if error.min is None else error.min
        high = "" if error.max is None else error.max
        text += f" (allowed: {low}..{high})"
    return f"runware: {text}"


def error_for(error: _Error, response: HTTPReply) -> APIError:
    """Map one Runware error onto the shim's tree (codes first: the HTTP status is not reliable alone)."""
    code = error.code or ""
    param = ", ".join(error.parameter) if isinstance(error.parameter, list) else error.parameter
    message = _describe(error, response.status_code)
    common: dict[str, Any] = {
        "code": code or None,
        "param": param,
        "provider": PROVIDER,
        "request_id": request_id(response.headers),
        "retry_after": retry_after(response.headers),
    }
    status = response.status_code
    lowered = code.lower()
    if "apikey" in lowered or code == "unauthorized" or status == 401:
        return AuthenticationError(message, retryable=False, **common)
    if (
        any(w in lowered for w in ("credit", "quota", "balance"))
        or code == "paymentRequired"
        or status == 402
    ):
        return PermissionDeniedError(
            f"{message} (Runware account has insufficient credits: top up at my.runware.ai)",
            status_code=402,
            retryable=False,
            **common,
        )
    if code in MODERATION_CODES:
        return BadRequestError(message, retryable=False, **common)
    if code in MODEL_GONE_CODES:
        common["param"] = param or "model"
        return NotFoundError(message, retryable=False, model_unavailable=True, **common)
    if code == "modelUnavailable":  # a provider error, retryable in the official SDK (runware.md §5)
        return InternalServerError(message, status_code=503, retryable=True, **common)
    if "ratelimit" in lowered or status == 429:
        return RateLimitError(message, retryable=True, **common)
    if "timeout" in lowered:
        return InternalServerError(
            message, status_code=status if status >= 500 else 504, retryable=True, **common
        )
    if status >= 500:
        return InternalServerError(message, status_code=status, retryable=True, **common)
    if code in ("internalServerError", "serviceUnavailable", "unknownError", "inferenceError", "taskFailed"):
        return InternalServerError(message, status_code=502, retryable=True, **common)
    if lowered.startswith("provider") or code == "processingFailed":
        return InternalServerError(message, status_code=502, retryable=True, **common)
    if lowered.endswith("notfound") or lowered.endswith("expired"):
        return NotFoundError(message, retryable=False, **common)
    cls: type[APIStatusError] = error_class_for_status(status if status >= 400 else 400)
    return cls(message, status_code=status if status >= 400 else 400, **common)
