"""The request as the caller sent it: the keywords of OpenAI's ``images.generate``, validated and frozen.

Values are checked against the API-wide vocabulary here (a quality nobody accepts, a malformed size, n
out of 1..10); what a particular target accepts is checked when the request is mapped onto it. Either
way the error is a :class:`BadRequestError` raised before any network call, naming the field, the
value and what is allowed.

Text must be well-formed Unicode. A lone surrogate (half of a UTF-16 pair: JavaScript's ``slice`` cuts
an emoji into one, and JSON carries it as ``"\\ud83d"``) cannot be encoded as UTF-8, so no provider can
be sent it; every string field (and every string inside ``extra_body``, keys included) that holds one is
refused here with ``code="invalid_value"``, ``param`` the field, and the code point and its position.
Refused, not repaired: replacing it with U+FFFD (or dropping it) would send a prompt the caller did not
write, and a silently changed prompt is a changed image, billed as if it were the one asked for.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from imageshim._core.errors import BadRequestError
from imageshim._core.sizes import parse_size

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


_WELL_FORMED = "well-formed Unicode text; a lone surrogate usually comes from cutting an emoji in half"


def _lone_surrogate(text: str) -> str | None:
    """Where ``text`` cannot be encoded as UTF-8 (``"U+D83D at character 12"``, counted from 0), or None."""
    if text.isascii():  # the common case, and the cheap one
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"U+{ord(text[exc.start]):04X} at character {exc.start}"
    return None


def _surrogate_error(field: str, where: str, found: str) -> BadRequestError:
    return BadRequestError(
        f"Invalid value for {field!r}: {where}holds an unpaired surrogate ({found}), which cannot be encoded "
        f"as UTF-8 and so cannot be sent to any provider. Allowed: {_WELL_FORMED}.",
        code="invalid_value",
        param=field,
    )


def _check_text(field: str, value: Any) -> None:
    """BadRequestError when ``value`` (a string, or strings nested in dicts and lists, keys included) is
    not UTF-8 text; the message locates a nested string (``extra_body['options'][0]``), ``param`` stays
    the field the caller passed.

    Walked with a stack, not recursion, so that no nesting depth makes the check skip part of a value
    (which would leave the crash it prevents to the provider call) or overflow. Locations are kept as
    (parent, step) links and only spelled out for the message."""
    Where = tuple[Any, str] | None
    stack: list[tuple[Any, Where]] = [(value, None)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            found = _lone_surrogate(item)
            if found is not None:
                place = f"the string at {field}{_spell(where)} " if where is not None else "it "
                raise _surrogate_error(field, place, found)
        elif isinstance(item, dict):
            for key, child in item.items():
                found_in_key = _lone_surrogate(key) if isinstance(key, str) else None
                if found_in_key is not None:
                    raise _surrogate_error(field, f"a key in {field}{_spell(where)} ", found_in_key)
                stack.append((child, (where, f"[{key!r}]")))
        elif isinstance(item, (list, tuple)):
            stack.extend((child, (where, f"[{index}]")) for index, child in enumerate(item))


def _spell(where: tuple[Any, str] | None) -> str:
    steps: list[str] = []
    while where is not None:
        where, step = where
        steps.append(step)
    steps.reverse()
    if len(steps) > 12:  # cut between whole steps: a key in the message is never cut in half
        steps = [*steps[:6], "...", *steps[-6:]]
    return "".join(steps)


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
    for field, value in data.items():
        # First, before any other check: the messages below quote values, and nothing in them may hold
        # text that a log handler or a provider cannot encode.
        _check_text(field, value)
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
