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

Two rules of the API are applied here, once, for every way in (native client, transport, gateway, edits):

- **End-user id** (openai SDK 3.57): a non-empty ``safety_identifier`` wins over the deprecated ``user``;
  ``user`` applies when ``safety_identifier`` is omitted, null or empty. The losing ``user`` is not kept.
- **No model** (:func:`default_model`): the rule the API documented until SDK 2.x, ``dall-e-2`` unless a
  parameter only GPT image models take is set, then ``gpt-image-1``. Both are retired, so such a request is
  routed like any request for a retired model: redirected to the successor with a ``ModelRetiredWarning``
  (``[lifecycle] on_retired``), never sent to a retired model silently. SDK 3.57 documents no default
  ("Specify a model explicitly").
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
OUTPUT_FORMATS = ("png", "jpeg", "webp", "gif", "svg")
BACKGROUNDS = ("transparent", "opaque", "auto")
MODERATIONS = ("low", "auto")
COMPLEXITIES = ("low", "medium", "high")
#: ``svg.reasoning.effort`` (openai SDK 3.57 ``image_generate_params.SvgReasoning``)
SVG_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh", "max")
FRAME_COUNT = (2, 16)  # GIF frames (SDK 3.57: "integers from 2 through 16", default 9)
MAX_N = 10
DEFAULT_MODEL = "dall-e-2"  # the API's documented default when `model` is omitted (CreateImageRequest)
#: the model the pre-3.x docs name when a GPT-image-only parameter is set and `model` is not
DEFAULT_GPT_MODEL = "gpt-image-1"
#: parameters only GPT image models take (SPEC: "only supported for the GPT image models"; SDK 3.57 for
#: the new ones); quality counts when it is a GPT image quality
_GPT_ONLY = (
    "background",
    "moderation",
    "output_format",
    "output_compression",
    "partial_images",
    "stream",
    "complexity",
    "frame_count",
    "frame_duration_ms",
    "svg",
)
_GPT_QUALITIES = ("low", "medium", "high", "xhigh", "max")


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
    #: the end-user id under its SDK 3.x name; when set (non-empty) it won over ``user``, which is then None
    safety_identifier: str | None = None
    complexity: str | None = None
    frame_count: int | None = None
    frame_duration_ms: int | None = None
    svg: dict[str, Any] | None = None
    extra_body: dict[str, Any] | None = None

    @property
    def end_user(self) -> tuple[str, str] | None:
        """(the field the caller named it in, the end-user id), or None when none was given."""
        if self.safety_identifier is not None:
            return "safety_identifier", self.safety_identifier
        return None if self.user is None else ("user", self.user)

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
    "complexity": COMPLEXITIES,
}


def default_model(data: dict[str, Any]) -> str:
    """The model of a request that names none: ``dall-e-2``, or ``gpt-image-1`` when a parameter only GPT
    image models take is set (the rule of the SDK 2.x docstring: "Defaults to dall-e-2 unless a parameter
    specific to the GPT image models is used"; which GPT image model is not said: gpt-image-1 was the only
    one when the rule was written, UNCERTAIN)."""
    gpt_only = any(data.get(field) not in (None, False) for field in _GPT_ONLY)
    return DEFAULT_GPT_MODEL if gpt_only or data.get("quality") in _GPT_QUALITIES else DEFAULT_MODEL


def request_from_kwargs(kwargs: dict[str, Any]) -> ImageRequest:
    """Build and validate a request; unknown keys must have been rejected by the caller's signature.

    Applies the end-user id rule (a non-empty ``safety_identifier`` wins over ``user``) and the
    missing-model rule (:func:`default_model`)."""
    data = {k: v for k, v in kwargs.items() if v is not None}
    for field, value in data.items():
        # First, before any other check: the messages below quote values, and nothing in them may hold
        # text that a log handler or a provider cannot encode.
        _check_text(field, value)
    if "model" in data and not isinstance(data["model"], str):
        raise _bad("model", data["model"], "a model id string such as 'dall-e-3' or 'gpt-image-2'")
    if data.get("safety_identifier") == "":  # "omitted, null, or empty": `user` applies
        del data["safety_identifier"]
    if "safety_identifier" in data and isinstance(data["safety_identifier"], str):
        data.pop("user", None)  # a non-empty safety_identifier takes precedence over `user`
    if "model" not in data:
        data["model"] = default_model(data)
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
    low, high = FRAME_COUNT
    if request.frame_count is not None and not low <= request.frame_count <= high:
        raise _bad("frame_count", request.frame_count, f"an integer from {low} to {high} (GIF frames)")
    if request.frame_duration_ms is not None and request.frame_duration_ms < 0:
        raise _bad(
            "frame_duration_ms",
            request.frame_duration_ms,
            "a non-negative integer of milliseconds (GIF output rounds it to 10 ms and caps it at 655,350)",
        )
    if request.svg is not None:
        _check_svg(request.svg)


_SVG_ALLOWED = (
    "an object {'model': 'AUTHOR_MODEL', 'reasoning': {'effort': EFFORT}} ('reasoning' optional; effort one "
    f"of {', '.join(repr(e) for e in SVG_EFFORTS)} or null)"
)


def _check_svg(svg: dict[str, Any]) -> None:
    """``svg`` as the SDK 3.57 ``Svg`` type has it: ``model`` (required string), ``reasoning.effort``."""
    unknown = sorted(set(svg) - {"model", "reasoning"}, key=str)
    model = svg.get("model")
    reasoning = svg.get("reasoning")
    effort = reasoning.get("effort") if isinstance(reasoning, dict) else None
    if (
        unknown
        or not isinstance(model, str)
        or not model.strip()
        or not (reasoning is None or isinstance(reasoning, dict))
        or (isinstance(reasoning, dict) and set(reasoning) - {"effort"})
        or not (effort is None or effort in SVG_EFFORTS)
    ):
        raise _bad("svg", svg, _SVG_ALLOWED)
