"""Runware REST wire format: imageInference tasks, the reply models, and the error mapping.

Facts from Runware's docs (see research/runware.md): the body is a JSON array of tasks, each with a client
UUID v4 ``taskUUID``; replies carry ``data[]`` (one item per image) and ``errors[]`` (one per failed task)
whatever the HTTP status, matched by ``taskUUID``, never by position. Pure functions; no I/O here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from imageshim import (
    APIError,
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    GeneratedImage,
    ImageCall,
    InternalServerError,
    ModelRetiredError,
    ModelSpec,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
)
from imageshim._errors import error_class_for_status

from ._http import HTTPReply, malformed, request_id, retry_after

__all__ = ["AIR", "Reply", "build_task", "error_for", "parse_reply", "poll_task"]

PROVIDER = "runware"

#: catalog id -> Runware AIR id (runware.md "OpenAI AIR ids on Runware")
AIR: dict[str, str] = {
    "dall-e-2": "openai:2@2",
    "dall-e-3": "openai:2@3",
    "gpt-image-1": "openai:1@1",
    "gpt-image-1-mini": "openai:1@2",
    "gpt-image-1.5": "openai:4@1",
    "gpt-image-2": "openai:gpt-image@2",
    "gpt-image-2.5-sunburst": "openai:gpt-image@2.5-sunburst",
    "gpt-image-2.5-flare": "openai:gpt-image@2.5-flare",
}
_OUTPUT_FORMAT = {"png": "PNG", "jpeg": "JPG", "webp": "WEBP"}
_FORMAT_BACK = {v: k for k, v in _OUTPUT_FORMAT.items()}
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


def build_task(call: ImageCall, spec: ModelSpec, air: str) -> dict[str, Any]:
    """One imageInference task. Only documented fields; the recorded DALL·E 3 bodies carry exactly
    taskType, taskUUID, model, positivePrompt, width, height and providerSettings.openai.quality, and so
    do ours for the same call (plus ``style`` when given, ``numberResults`` when above its default 1,
    ``outputType`` only when it is not the default "URL", ``outputFormat`` when asked)."""
    task: dict[str, Any] = {
        "taskType": "imageInference",
        "taskUUID": call.call_id,
        "model": air,
        "positivePrompt": call.prompt,
    }
    if call.width is not None and call.height is not None:
        task["width"], task["height"] = call.width, call.height
    if call.n > 1:
        task["numberResults"] = call.n
    if call.response_format == "b64_json":
        task["outputType"] = "base64Data"
    if call.output_format is not None:
        task["outputFormat"] = _OUTPUT_FORMAT[call.output_format]
    settings = {
        k: v
        for k, v in (("quality", call.quality), ("style", call.style), ("moderation", call.moderation))
        if v
    }
    if settings:
        task["providerSettings"] = {"openai": settings}
    if call.extra_body:
        task.update(
            call.extra_body
        )  # caller's own Runware task fields (e.g. includeCost, ttl, outputQuality)
    return task


def poll_task(task_uuid: str) -> dict[str, Any]:
    return {"taskType": "getResponse", "taskUUID": task_uuid}


class _Item(BaseModel):
    model_config = ConfigDict(extra="ignore")
    taskUUID: str | None = None
    imageURL: str | None = None
    imageBase64Data: str | None = None
    imageDataURI: str | None = None
    cost: float | None = None
    status: str | None = None
    error: dict[str, Any] | None = None


class _Error(BaseModel):
    model_config = ConfigDict(extra="ignore")
    code: str | None = None
    message: str | None = None
    parameter: str | list[str] | None = None
    taskUUID: str | None = None


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
    if "errors" not in raw and isinstance(raw.get("error"), (dict, list)):
        legacy = raw["error"]
        raw["errors"] = legacy if isinstance(legacy, list) else [legacy]
    try:
        return Reply.model_validate(raw)
    except ValidationError as exc:
        raise _malformed(response, f"unexpected shape ({exc.errors()[0]['msg']})") from None


def image_of(item: _Item) -> GeneratedImage | None:
    if item.imageURL:
        return GeneratedImage(url=item.imageURL)
    if item.imageBase64Data:
        return GeneratedImage(b64_json=item.imageBase64Data)
    if item.imageDataURI:
        b64 = item.imageDataURI.partition("base64,")[2]
        return GeneratedImage(b64_json=b64) if b64 else GeneratedImage(url=item.imageDataURI)
    return None


def output_format_of(calls: Sequence[ImageCall]) -> str:
    return calls[0].output_format or "jpeg"  # Runware's documented default outputFormat is JPG


def _malformed(response: HTTPReply, why: str) -> APIError:
    return malformed(response, PROVIDER, why, retryable=response.status_code >= 500)


def error_for(error: _Error, response: HTTPReply, spec: ModelSpec) -> APIError:
    """Map one Runware error onto the shim's tree (codes first: the HTTP status is not reliable alone)."""
    code = error.code or ""
    param = ", ".join(error.parameter) if isinstance(error.parameter, list) else error.parameter
    message = f"runware: {error.message or code or f'HTTP {response.status_code}'}"
    common: dict[str, Any] = {
        "code": code or None,
        "param": param,
        "provider": PROVIDER,
        "request_id": request_id(response.headers),
        "retry_after": retry_after(response.headers),
    }
    status = response.status_code
    lowered = code.lower()
    if "apikey" in lowered or code in ("unauthorized",) or status == 401:
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
    if code in ("unknownModel", "modelDisabled", "modelUnavailable") and spec.shutdown_on is not None:
        return ModelRetiredError(spec.id, shutdown_on=spec.shutdown_on, successor=spec.successor, **common)
    if "ratelimit" in lowered or status == 429:
        return RateLimitError(message, retryable=True, **common)
    if "timeout" in lowered or status in (503, 504) or status >= 500:
        return InternalServerError(
            message, status_code=status if status >= 500 else 503, retryable=True, **common
        )
    if code in ("internalServerError", "serviceUnavailable", "unknownError", "inferenceError", "taskFailed"):
        return InternalServerError(message, status_code=502, retryable=True, **common)
    if lowered.startswith("provider") or code == "processingFailed":
        return InternalServerError(message, status_code=502, retryable=True, **common)
    if code == "unknownModel" or lowered.endswith("notfound"):
        return NotFoundError(message, retryable=False, **common)
    cls: type[APIStatusError] = error_class_for_status(status if status >= 400 else 400)
    return cls(message, status_code=status if status >= 400 else 400, retryable=False, **common)
