"""OpenAI Images API wire format: the request body, the reply models, and the error mapping.

Pure functions and pydantic models that parse only the fields the shim uses (extras ignored), so an
API addition never breaks a caller. Sources: openai/openai-openapi CreateImageRequest / ImagesResponse /
ErrorResponse (commit f85dbe22), and the openai SDK 3.54 ``_exceptions.py`` status mapping.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from imageshim.adapterkit import (
    AdapterResult,
    APIError,
    APIStatusError,
    BadRequestError,
    GeneratedImage,
    HTTPReply,
    ImageCall,
    InternalServerError,
    ModelSpec,
    RateLimitError,
    error_class_for_status,
    excerpt,
    malformed,
    parse_json,
    request_id,
    retry_after,
)

__all__ = ["build_body", "parse_reply"]

PROVIDER = "openai"
MODERATION_CODES = frozenset({"moderation_blocked", "content_policy_violation"})
# A model OpenAI no longer serves answers 404 (or, as observed for dall-e-3 after 2026-05-12, 400) with
# code model_not_found and a "has been deprecated" message (openai.md §3 error table, §5). The exact
# body for dall-e-3 was never captured (UNCERTAIN), so a retirement word counts only when OpenAI also
# names `model` as the faulty parameter: "The 'user' parameter is deprecated" is about `user`, not the
# model, and must not send the request elsewhere.
_RETIRED_WORDS = ("deprecated", "retired", "shut down", "no longer")

# extra_body keys a GPT image target must never receive verbatim, and why. The SDK merges extra_body
# into the JSON body as it is; here that would either override a value the shim validated and mapped,
# or send a parameter GPT image models refuse with 400 unknown_parameter (openai.md §2, §3).
_MANAGED_KEYS = (
    "prompt",
    "n",
    "size",
    "quality",
    "output_format",
    "output_compression",
    "background",
    "moderation",
    "user",
)
_MANAGED = "imageshim sends it from the {key}= keyword, validated and mapped for {model}; pass {key}= instead"
_GPT_IMAGE_REFUSED: dict[str, str] = {
    **dict.fromkeys(_MANAGED_KEYS, _MANAGED),
    "model": "imageshim sends the route's target model ({model}); choose it with model= and [routes]",
    "style": (
        "GPT image models take no 'style' (OpenAI answers 400 unknown_parameter); pass style= instead: "
        "imageshim drops it or folds it into the prompt ([mapping] style) and says so in a warning"
    ),
    "response_format": (
        "GPT image models take no 'response_format' and always return base64 (OpenAI answers 400 "
        "unknown_parameter); pass response_format= instead: imageshim turns base64 into URLs ([mapping] url)"
    ),
    "stream": "imageshim reads one JSON reply, not an event stream; omit it",
    "partial_images": "imageshim reads one JSON reply, not an event stream; omit it",
}


def _is_dalle(spec: ModelSpec) -> bool:
    return bool(spec.styles) or "url" in spec.response_formats


def _check_extra_body(extra: Mapping[str, Any], spec: ModelSpec) -> None:
    """Refuse, before any request is sent, extra_body keys that would break a GPT image call."""
    if _is_dalle(spec):
        return  # DALL·E targets (on_retired = "allow") keep the SDK's verbatim merge
    for key in extra:
        why = _GPT_IMAGE_REFUSED.get(key)
        if why is not None:
            raise BadRequestError(
                f"extra_body[{key!r}] cannot be sent to {spec.id}: {why.format(key=key, model=spec.id)}.",
                code="invalid_value",
                param="extra_body",
            )


def _end_user_field(call: ImageCall, spec: ModelSpec) -> str:
    """``safety_identifier`` when the caller named the id so (``ImageCall.end_user_field``) and the target
    takes it (SDK 3.57: GPT image models); else ``user``, which every API version accepts (the official
    CreateImageRequest schema of 2026-08-21 lists only ``user``; SDK 3.57 keeps it "for backward
    compatibility"), so a caller's ``user`` is sent as it always was."""
    asked = call.end_user_field
    return "safety_identifier" if asked == "safety_identifier" and spec.safety_identifier else "user"


def build_body(call: ImageCall, spec: ModelSpec) -> dict[str, Any]:
    """Only what the target model accepts: GPT image models never get style or response_format; the
    SDK 3.57 parameters (complexity, frame_count, frame_duration_ms, svg) and the end-user id's field are
    sent as the mapping left them (set only where the target takes them). The multipart edit form sends
    the same fields.

    Raises :class:`BadRequestError` (before any I/O) for ``extra_body`` keys a GPT image target must not get.
    """
    if call.extra_body:
        _check_extra_body(call.extra_body, spec)
    body: dict[str, Any] = {"model": call.model, "prompt": call.prompt, "n": call.n}
    if call.size is not None:
        body["size"] = call.size
    if call.quality is not None:
        body["quality"] = call.quality
    if _is_dalle(spec):
        if call.style is not None:
            body["style"] = call.style
        body["response_format"] = call.response_format
    for field in ("output_format", "output_compression", "background", "moderation"):
        value = getattr(call, field)
        if value is not None:
            body[field] = value
    for field in ("complexity", "frame_count", "frame_duration_ms", "svg"):
        value = getattr(call, field)
        if value is not None:
            body[field] = dict(value) if field == "svg" else value
    if call.end_user_id is not None:
        body[_end_user_field(call, spec)] = call.end_user_id
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


def parse_reply(response: HTTPReply) -> AdapterResult:
    """A 2xx reply -> AdapterResult; anything else -> the matching typed error."""
    payload = parse_json(response, PROVIDER)
    if response.status_code >= 400 or (
        isinstance(payload, dict) and "error" in payload and "data" not in payload
    ):
        raise _status_error(response, payload)
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


def _model_unavailable(status: int, code: str | None, param: str | None, message: str) -> bool:
    """OpenAI says it does not serve the model. Only reported here: the core, which holds the clock and
    the catalog, decides whether that means retired (``ModelRetiredError``) and tries the next target."""
    if status not in (400, 404):
        return False
    lowered = message.lower()
    return code == "model_not_found" or (param == "model" and any(w in lowered for w in _RETIRED_WORDS))


def _status_error(response: HTTPReply, payload: Any) -> APIError:
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
    if response.status_code < 400:
        # An error body with a success status: something answered for OpenAI after taking the request, so
        # the image may have been made; it is not sent again (the core reports it unknown).
        return InternalServerError(
            f"{message} (in an HTTP {response.status_code} reply)",
            status_code=502,
            **{**common, "retryable": False},
            reply_lost=True,
        )
    # Moderation first: a refusal of the prompt or image is final, whatever else the message says.
    if code in MODERATION_CODES:
        common["retryable"] = False
        return BadRequestError(message, status_code=status, **common)
    if status == 429 and (code == "insufficient_quota" or error.type == "insufficient_quota"):
        common["retryable"] = False  # billing, not load: retrying cannot help
        return RateLimitError(message, **common)
    cls: type[APIStatusError] = error_class_for_status(status)
    return cls(
        message,
        status_code=status,
        model_unavailable=_model_unavailable(status, code, error.param, error.message),
        **common,
    )
