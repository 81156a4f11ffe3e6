"""The request as the caller sent it: the keywords of OpenAI's ``images.generate``, validated and frozen.

Values are checked against the API-wide vocabulary here (a quality nobody accepts, a malformed size, n
out of 1..10); what a particular target accepts is checked when the request is mapped onto it. Either
way the error is a :class:`BadRequestError` raised before any network call, naming the field, the
value and what is allowed.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from ._errors import BadRequestError
from ._sizes import parse_size

__all__ = ["ImageRequest", "parse_size", "request_from_kwargs"]

QUALITIES = ("standard", "hd", "low", "medium", "high", "xhigh", "max", "auto")
STYLES = ("vivid", "natural")
RESPONSE_FORMATS = ("url", "b64_json")
OUTPUT_FORMATS = ("png", "jpeg", "webp")
BACKGROUNDS = ("transparent", "opaque", "auto")
MODERATIONS = ("low", "auto")
MAX_N = 10
DEFAULT_MODEL = "dall-e-2"  # the API's documented default when `model` is omitted (CreateImageRequest)


class ImageRequest(BaseModel):
    """One ``images.generate`` call. ``None`` means "not given" (the target's default applies)."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, defer_build=True)

    prompt: str
    model: str = DEFAULT_MODEL
    n: int = 1
    size: str | None = None
    quality: str | None = None
    style: str | None = None
    response_format: str | None = None
    user: str | None = None
    background: str | None = None
    moderation: str | None = None
    output_format: str | None = None
    output_compression: int | None = None
    stream: bool | None = None
    partial_images: int | None = None
    extra_body: dict[str, Any] | None = None

    def wants_url(self, default_url: bool) -> bool:
        """Whether the caller reads ``data[].url``: asked for, or the requested model's default (DALL·E
        models default to URLs, GPT image models to base64)."""
        return self.response_format == "url" or (self.response_format is None and default_url)


def _bad(field: str, value: Any, allowed: str) -> BadRequestError:
    return BadRequestError(
        f"Invalid value for {field!r}: {value!r}. Allowed: {allowed}.",
        code="invalid_value",
        param=field,
    )


_VOCABULARY: dict[str, tuple[str, ...]] = {
    "quality": QUALITIES,
    "style": STYLES,
    "response_format": RESPONSE_FORMATS,
    "output_format": OUTPUT_FORMATS,
    "background": BACKGROUNDS,
    "moderation": MODERATIONS,
}


def request_from_kwargs(kwargs: dict[str, Any]) -> ImageRequest:
    """Build and validate a request; unknown keys must have been rejected by the caller's signature."""
    data = {k: v for k, v in kwargs.items() if v is not None}
    if "model" in data and not isinstance(data["model"], str):
        raise _bad("model", data["model"], "a model id string such as 'dall-e-3' or 'gpt-image-2'")
    try:
        request = ImageRequest(**data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "request"
        raise _bad(field, first.get("input"), first["msg"].lower()) from None
    _check_vocabulary(request)
    return request


def _check_vocabulary(request: ImageRequest) -> None:
    if not request.prompt.strip():
        raise _bad("prompt", request.prompt, "a non-empty string")
    if isinstance(request.n, bool) or not 1 <= request.n <= MAX_N:
        raise _bad("n", request.n, f"an integer from 1 to {MAX_N}")
    for field, allowed in _VOCABULARY.items():
        value = getattr(request, field)
        if value is not None and value not in allowed:
            raise _bad(field, value, ", ".join(repr(a) for a in allowed))
    if request.size is not None and request.size != "auto" and parse_size(request.size) is None:
        raise _bad("size", request.size, "'auto' or 'WIDTHxHEIGHT' such as '1024x1024'")
    if request.output_compression is not None and not 0 <= request.output_compression <= 100:
        raise _bad("output_compression", request.output_compression, "an integer from 0 to 100")
    if request.partial_images is not None and not 0 <= request.partial_images <= 3:
        raise _bad("partial_images", request.partial_images, "an integer from 0 to 3")
