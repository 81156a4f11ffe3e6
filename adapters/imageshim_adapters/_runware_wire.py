"""Runware REST wire format: imageInference tasks, the reply models, and the error mapping.

Facts from Runware's docs (see research/runware.md): the body is a JSON array of tasks, each with a client
UUID v4 ``taskUUID``; replies carry ``data[]`` (one item per image) and ``errors[]`` (one per failed task)
whatever the HTTP status, matched by ``taskUUID``, never by position. Pure functions; no I/O here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
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
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
)
from imageshim._errors import error_class_for_status

from ._http import HTTPReply, malformed, request_id, retry_after

__all__ = [
    "AIR",
    "Reply",
    "TaskResult",
    "build_task",
    "by_task",
    "error_for",
    "parse_reply",
    "poll_task",
    "task_errors",
]

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
#: outputQuality bounds on every OpenAI model page on Runware (runware.md §2, §4: integer 20..99)
OUTPUT_QUALITY = (20, 99)
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

# What an imageInference task gets when a field is left out (runware.md §2); extra_body may repeat these
# values but not change them, since the shim reads the reply on the strength of them.
_DEFAULTS: dict[str, Any] = {
    "numberResults": 1,
    "outputType": "URL",
    "outputFormat": "JPG",
    "deliveryMethod": "sync",
}
# Task fields the adapter owns, and the keyword (or reason) through which a caller sets them instead.
_OWNED: dict[str, str] = {
    "taskType": "imageshim sends imageInference tasks",
    "taskUUID": "imageshim sets a fresh UUID v4 per task and matches the reply by it",
    "model": "imageshim sends the route's target model; choose it with model= and [routes]",
    "positivePrompt": "pass prompt= instead",
    "width": "pass size= instead",
    "height": "pass size= instead",
    "numberResults": "pass n= instead: imageshim splits n into tasks and counts the images back",
    "outputType": "pass response_format= instead",
    "outputFormat": "pass output_format= instead",
    "includeCost": "imageshim always asks for the cost: resp.imageshim.cost_usd reports it",
    "deliveryMethod": "imageshim reads the images from the reply ('sync'); 'async' returns only an acknowledgement",
}
_HINTS = {**_OWNED, "outputQuality": "pass output_compression= instead"}
_SETTING_KEYWORD = {
    "quality": "quality=",
    "style": "style=",
    "moderation": "moderation=",
    "background": "background=",
}


def build_task(call: ImageCall, air: str) -> dict[str, Any]:
    """One imageInference task. Only documented fields; the recorded DALL·E 3 bodies carry exactly
    taskType, taskUUID, model, positivePrompt, width, height and providerSettings.openai.quality, and so
    do ours for the same call, plus ``includeCost`` (and ``style`` when given, ``numberResults`` when
    above its default 1, ``outputType`` only when it is not the default "URL", ``outputFormat`` when asked).

    Raises :class:`BadRequestError`, before the request is sent, when ``extra_body`` would change a field
    the adapter sets itself, or when ``output_compression`` has no Runware equivalent.
    """
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
    output_format = output_format_for(call)
    if output_format is not None:
        task["outputFormat"] = _OUTPUT_FORMAT[output_format]
    if call.output_compression is not None:
        task["outputQuality"] = _output_quality(call.output_compression)
    # `cost` (USD) comes back only with includeCost=true (default false; runware.md §2, §5). It adds a
    # field to the reply and changes nothing else: resp.imageshim.cost_usd is then what Runware charged.
    task["includeCost"] = True
    # UNCERTAIN (runware.md §3): Runware does not document DALL·E 3's defaults for quality/style. When the
    # caller gives none we send none, exactly as the recorded bodies do (they carry quality only because
    # it was asked), rather than guess OpenAI's defaults (standard, vivid) on Runware's behalf.
    settings = {
        k: v
        for k, v in (
            ("quality", call.quality),
            ("style", call.style),
            ("moderation", call.moderation),
            ("background", call.background),
        )
        if v
    }
    if air == AIR["dall-e-2"] and settings.get("quality") == "standard":
        # DALL·E 2 on Runware is "Standard only" with no provider settings (runware.md §3): its one quality
        # is what it makes anyway, so sending it could only be refused.
        del settings["quality"]
    if settings:
        task["providerSettings"] = {"openai": settings}
    if call.extra_body:
        _merge_extra(task, call.extra_body)
    return task


def output_format_for(call: ImageCall) -> str | None:
    """The outputFormat to ask for. A transparent background with no format asked gets PNG: Runware's
    default is JPG, which has no transparency (OpenAI's own default for GPT image models is PNG)."""
    if call.output_format is None and call.background == "transparent":
        return "png"
    return call.output_format


def _output_quality(value: int) -> int:
    # UNCERTAIN: OpenAI's output_compression (0-100, higher keeps more detail) and Runware's outputQuality
    # (20-99, default 95) both set the JPEG/WEBP encoder quality; the same number is sent. Outside 20..99
    # there is no equal value and the adapter cannot warn, so it refuses instead of changing it silently.
    low, high = OUTPUT_QUALITY
    if not low <= value <= high:
        raise BadRequestError(
            f"Invalid value for 'output_compression': {value!r}. Runware takes outputQuality {low} to {high}; "
            f"pass output_compression from {low} to {high}, or leave it out for Runware's default (95).",
            code="invalid_value",
            param="output_compression",
            provider=PROVIDER,
        )
    return value


def _refuse(field: str, why: str) -> BadRequestError:
    return BadRequestError(
        f"extra_body[{field!r}] cannot be sent to Runware: {why}.",
        code="invalid_value",
        param="extra_body",
        provider=PROVIDER,
    )


def _merge_extra(task: dict[str, Any], extra: Mapping[str, Any]) -> None:
    """The caller's own Runware task fields (e.g. ``ttl``, ``safety``, ``webhookURL``), added to ``task``.

    A field the adapter sets (or whose Runware default the shim relies on) may only repeat that value;
    ``providerSettings`` is merged, refusing a key that would change one the adapter set from a keyword.
    """
    for key, value in extra.items():
        if key == "providerSettings":
            task["providerSettings"] = _merge_settings(task.get("providerSettings"), value)
            continue
        owned = key in _OWNED or key in task
        if owned and value != task.get(key, _DEFAULTS.get(key)):
            raise _refuse(key, _HINTS.get(key, "imageshim sets it from the request"))
        task[key] = value


def _merge_settings(ours: Any, theirs: Any) -> dict[str, Any]:
    if not isinstance(theirs, Mapping) or not all(isinstance(v, Mapping) for v in theirs.values()):
        raise _refuse("providerSettings", 'it must be an object of objects, e.g. {"openai": {...}}')
    merged: dict[str, Any] = {k: dict(v) for k, v in (ours or {}).items()}
    for provider, settings in theirs.items():
        into = merged.setdefault(provider, {})
        for key, value in settings.items():
            if key in into and into[key] != value:
                field = f"providerSettings.{provider}.{key}"
                raise _refuse(field, f"pass {_SETTING_KEYWORD.get(key, key)} instead")
            into[key] = value
    return merged


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
            error = _Error(message=str(item.error)[:200])
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
    for item in reply.data:
        task = results.get(item.taskUUID or single or "")
        if task is None or item.status == "error" or item.error:
            continue
        if item.status in ("processing", "pending"):  # "pending": the older docs' word
            task.processing = True
            continue
        image = image_of(item)
        if image is not None:
            task.images.append(image)
            if item.cost is not None:
                task.costs.append(item.cost)
    for error in errors:
        task = results.get(error.taskUUID or single or "")
        if task is not None:
            task.errors.append(error)
    return list(results.values())


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
    return output_format_for(calls[0]) or "jpeg"  # Runware's documented default outputFormat is JPG


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
