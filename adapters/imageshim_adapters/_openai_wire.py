"""OpenAI Images API wire format: the request body, the reply models, and the error mapping.

Pure functions and pydantic models that parse only the fields the shim uses (extras ignored), so an
API addition never breaks a caller. Sources: openai/openai-openapi CreateImageRequest / ImagesResponse /
ErrorResponse (commit f85dbe22), and the openai SDK 3.54 ``_exceptions.py`` status mapping.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from imageshim import (
    AdapterResult,
    APIError,
    APIStatusError,
    BadRequestError,
    GeneratedImage,
    ImageCall,
    ModelRetiredError,
    ModelSpec,
    RateLimitError,
)
from imageshim._errors import error_class_for_status

from ._http import HTTPReply, excerpt, malformed, parse_json, request_id, retry_after

__all__ = ["build_body", "parse_reply"]

PROVIDER = "openai"
MODERATION_CODES = frozenset({"moderation_blocked", "content_policy_violation"})
# Retired models answer 400/404 with model_not_found or a "deprecated"/"retired" message (openai.md §5).
_RETIRED_WORDS = ("deprecated", "retired", "shut down", "no longer")


def build_body(call: ImageCall, spec: ModelSpec) -> dict[str, Any]:
    """Only what the target model accepts: GPT image models never get style or response_format."""
    body: dict[str, Any] = {"model": call.model, "prompt": call.prompt, "n": call.n}
    if call.size is not None:
        body["size"] = call.size
    if call.quality is not None:
        body["quality"] = call.quality
    dalle = bool(spec.styles) or "url" in spec.response_formats
    if dalle:
        if call.style is not None:
            body["style"] = call.style
        body["response_format"] = call.response_format
    for field in ("output_format", "output_compression", "background", "moderation"):
        value = getattr(call, field)
        if value is not None:
            body[field] = value
    if call.end_user_id is not None:
        # `user` is in the official CreateImageRequest schema for every model; SDK 3.x adds
        # `safety_identifier` as its successor, but the schema we validate against (2026-08-21) does not
        # list it yet: `user` is the field every API version accepts (safe choice).
        body["user"] = call.end_user_id
    if call.extra_body:
        body.update(call.extra_body)  # the caller's own fields, as the SDK's extra_body does
    return body


class _Image(BaseModel):
    model_config = ConfigDict(extra="ignore")
    b64_json: str | None = None
    url: str | None = None
    revised_prompt: str | None = None


class _Reply(BaseModel):
    model_config = ConfigDict(extra="ignore")
    created: int | None = None
    data: list[_Image]
    usage: dict[str, Any] | None = None
    size: str | None = None
    quality: str | None = None
    output_format: str | None = None
    background: str | None = None


class _Error(BaseModel):
    model_config = ConfigDict(extra="ignore")
    message: str = ""
    type: str | None = None
    param: str | None = None
    code: str | int | None = None


def parse_reply(response: HTTPReply, spec: ModelSpec) -> AdapterResult:
    """A 2xx reply -> AdapterResult; anything else -> the matching typed error."""
    payload = parse_json(response, PROVIDER)
    if response.status_code >= 400 or (
        isinstance(payload, dict) and "error" in payload and "data" not in payload
    ):
        raise _status_error(response, payload, spec)
    try:
        reply = _Reply.model_validate(payload)
    except ValidationError as exc:
        raise _malformed(response, f"unexpected shape ({exc.errors()[0]['msg']})") from None
    images = [GeneratedImage(i.b64_json, i.url, i.revised_prompt) for i in reply.data if i.b64_json or i.url]
    if not images:
        raise _malformed(response, "no image in data")
    return AdapterResult(
        images=images,
        created=reply.created,
        usage=reply.usage,
        size=reply.size,
        quality=reply.quality,
        output_format=reply.output_format,
        background=reply.background,
        request_id=request_id(response.headers),
    )


def _malformed(response: HTTPReply, why: str) -> APIError:
    return malformed(response, PROVIDER, why, retryable=False)


def _status_error(response: HTTPReply, payload: Any, spec: ModelSpec) -> APIError:
    raw = payload.get("error") if isinstance(payload, dict) else None
    try:
        error = (
            _Error.model_validate(raw) if isinstance(raw, dict) else _Error(message=excerpt(response.content))
        )
    except ValidationError:
        error = _Error(message=excerpt(response.content))
    status = response.status_code if response.status_code >= 400 else 500
    code = None if error.code is None else str(error.code)
    common: dict[str, Any] = {
        "code": code,
        "param": error.param,
        "provider": PROVIDER,
        "request_id": request_id(response.headers),
        "retry_after": retry_after(response.headers),
        "body": raw if isinstance(raw, dict) else None,
    }
    should_retry = response.headers.get("x-should-retry")
    if should_retry in ("true", "false"):
        common["retryable"] = should_retry == "true"
    message = f"openai: {error.message or f'HTTP {status}'}"
    lowered = error.message.lower()
    retired_reply = code == "model_not_found" or any(w in lowered for w in _RETIRED_WORDS)
    # Only a model with a shutdown date is called retired; a live model's model_not_found is an access problem.
    if status in (400, 404) and retired_reply and spec.shutdown_on is not None:
        return ModelRetiredError(
            spec.id,
            shutdown_on=spec.shutdown_on,
            successor=spec.successor,
            message=message,
            status_code=status,
            **common,
        )
    if code in MODERATION_CODES:
        common["retryable"] = False
        return BadRequestError(message, status_code=status, **common)
    if status == 429 and (code == "insufficient_quota" or error.type == "insufficient_quota"):
        common["retryable"] = False  # billing, not load: retrying cannot help
        return RateLimitError(message, **common)
    cls: type[APIStatusError] = error_class_for_status(status)
    return cls(message, status_code=status, **common)
