"""Mapping: (request, target model, policy) -> (what to send, warnings). Pure: no I/O, no clock.

Each function decides one setting and pushes a :class:`WarningRecord` exactly when the value sent
differs from the value asked for (changed or dropped). Requests that cannot be served raise
:class:`BadRequestError` naming the field, the value and what the target allows.

The openai SDK 3.57 parameters follow one rule: sent where the target takes them (catalog facts); mapped
with a warning where a close equivalent exists (quality ``xhigh`` / ``max`` -> ``high``); dropped with a
warning where they only shape the result (``complexity``; ``frame_count`` / ``frame_duration_ms`` without
GIF output; ``svg`` without SVG output); refused where the result would be something else (GIF or SVG
output from a model without it: the 400 names the models that have it). The combinations the SDK documents
are kept: SVG output is made one image per request (n is split into calls, with a warning), GIF and SVG
output are not streamed (a 400) and take no ``output_compression`` or ``partial_images`` (dropped, warned).
"""

from __future__ import annotations

import dataclasses
import functools
import uuid
from typing import TYPE_CHECKING, Any, Literal

from imageshim._core.adapter import ImageCall
from imageshim._core.catalog import Catalog, ModelSpec, builtin_catalog
from imageshim._core.config import MappingPolicy
from imageshim._core.cost import Estimate, estimate_images, input_images
from imageshim._core.errors import BadRequestError
from imageshim._core.parity import parity_quality
from imageshim._core.sizes import fit_size, parse_size
from imageshim._core.warnings import WarningRecord

if TYPE_CHECKING:
    from imageshim._core.request import ImageRequest

__all__ = ["MappedRequest", "map_request"]

# DALL·E-vocabulary targets (standard/hd) get GPT-image qualities through this table.
_TO_DALLE_QUALITY = {"low": "standard", "medium": "standard", "high": "hd", "xhigh": "hd", "max": "hd"}
# GPT-image targets without the GPT Image 2.5 tiers: the closest tier they have ([mapping] quality wins).
_TO_GPT_QUALITY = {"xhigh": "high", "max": "high"}
#: output formats that make another kind of result (refused, never substituted, where not offered)
_OWN_KIND_FORMATS = ("gif", "svg")
_FRAME_SETTINGS = ("frame_count", "frame_duration_ms")


# OpenAI's own descriptions of the two DALL·E 3 styles, used when style = "prompt".
STYLE_HINTS = {
    "vivid": "Style: vivid: hyper-real and dramatic, with rich, saturated color.",
    "natural": "Style: natural: a more natural, less hyper-real look.",
}

UrlMode = Literal["native", "data-uri", "file"]


@dataclasses.dataclass(frozen=True)
class MappedRequest:
    """A request made valid for one target. ``url_mode`` says how the caller's URLs are produced."""

    target: str
    spec: ModelSpec
    template: ImageCall
    n: int
    per_call: int
    url_mode: UrlMode | None
    warnings: tuple[WarningRecord, ...]

    @functools.cached_property
    def estimate(self) -> Estimate | None:
        """What this target would charge for the whole request, from the catalog's prices (None: unknown).

        The call as it will be sent: its size, quality, n and prompt (text tokens on token-billed models);
        an edit's input images, mask and markup at a bound each (see :mod:`imageshim._core.cost`)."""
        call = self.template
        return estimate_images(
            self.spec, call.size, call.quality, self.n, prompt=call.prompt, input_images=input_images(call)
        )

    def calls(self) -> list[ImageCall]:
        """The calls that make up ``n`` images, each with a fresh ``call_id``."""
        out = []
        left = self.n
        while left > 0:
            count = min(left, self.per_call)
            out.append(self.template.evolve(call_id=str(uuid.uuid4()), n=count))
            left -= count
        return out


def _bad(field: str, value: Any, spec: ModelSpec, allowed: str) -> BadRequestError:
    return BadRequestError(
        f"Invalid value for {field!r}: {value!r} is not accepted by {spec.id}. Allowed for {spec.id}: {allowed}.",
        code="invalid_value",
        param=field,
    )


class _Mapper:
    def __init__(
        self,
        request: ImageRequest,
        spec: ModelSpec,
        policy: MappingPolicy,
        target: str,
        default_url: bool,
        requested: ModelSpec | None,
        catalog: Catalog | None = None,
    ) -> None:
        self.catalog = catalog
        self.default_url = default_url
        self.request = request
        self.spec = spec
        self.policy = policy
        self.target = target
        self.warnings: list[WarningRecord] = []
        self.requested = requested
        # Redirected to another model, a caller who left size or quality out still gets what the model
        # they asked for would have made (DALL·E 3: 1024x1024, standard), not the new model's "auto".
        self.inherits = requested if requested is not None and requested.id != spec.id else None

    def inherited(self, setting: str, *, quote: bool) -> tuple[str | None, str]:
        """The caller's value for ``setting``, else the requested model's default; and how to name it
        in a warning (sizes bare, as ``1792x1024``; other values quoted)."""
        value: str | None = getattr(self.request, setting)
        if value is None and self.inherits is not None:
            default: str = getattr(self.inherits, f"default_{setting}")
            if default != "auto":
                shown = repr(default) if quote else default
                return default, f"{shown} (the {self.inherits.id} default)"
            return None, "None"
        return value, repr(value) if quote else str(value)

    def changed(self, setting: str, requested: Any, applied: Any, reason: str) -> None:
        self.warnings.append(
            WarningRecord(
                "option_mapped", setting, requested, applied, reason, model=self.spec.id, target=self.target
            )
        )

    def dropped(self, setting: str, requested: Any, reason: str) -> None:
        self.warnings.append(
            WarningRecord(
                "option_dropped", setting, requested, None, reason, model=self.spec.id, target=self.target
            )
        )

    # ----- one function per setting ------------------------------------------------------------------
    def size(self) -> tuple[int | None, int | None]:
        spec = self.spec
        size, named = self.inherited("size", quote=False)
        if size is None:
            if spec.accepts_auto_size:
                return None, None
            size = spec.default_size
            parsed = parse_size(size)
            return parsed if parsed else (None, None)
        if size == "auto":
            if spec.accepts_auto_size:
                return None, None
            applied = spec.default_size
            self.changed("size", size, applied, f"size 'auto' is not accepted by {spec.id}; sent {applied}")
            parsed = parse_size(applied)
            return parsed if parsed else (None, None)
        fitted = fit_size(size, spec)
        if fitted is None:
            raise _bad("size", size if self.request.size is not None else named, spec, spec.describe_sizes())
        if fitted != size:
            self.changed(
                "size",
                size,
                fitted,
                f"size {named} is not accepted by {spec.id}; sent the nearest valid {fitted}",
            )
        parsed = parse_size(fitted)
        assert parsed is not None
        return parsed

    def quality(self, size: str | None) -> str | None:
        """``size``: the size that will be sent (None: auto), what price parity compares at."""
        spec = self.spec
        quality, named = self.inherited("quality", quote=True)
        # Under price parity, "auto" asked of a DALL·E model is that model's default quality, held to its
        # price like any other (the target's "auto" is priced as its highest level).
        inherits = self.inherits
        auto_parity = (
            self.policy.price_parity
            and inherits is not None
            and quality == "auto"
            and inherits.default_quality != "auto"
        )
        if quality is None or (quality in spec.qualities and not auto_parity):
            return quality
        parity = ""
        if self.policy.price_parity:
            asked_size, _ = self.inherited("size", quote=False)
            prompt = self.folded(self.request.prompt) or self.request.prompt
            choice = parity_quality(
                self.requested, quality, asked_size, spec, self.target, size, self.request.n, prompt
            )
            if choice.quality is not None:
                why = (
                    f"quality 'auto' on {inherits.id} is its default {inherits.default_quality!r}"
                    if auto_parity and inherits is not None
                    else f"quality {named} is not offered by {spec.id}"
                )
                self.changed(
                    "quality", quality, choice.quality, f"{why}; sent {choice.quality!r} ({choice.reason})"
                )
                return choice.quality
            if auto_parity:
                return quality  # parity cannot decide: "auto" is sent as asked
            parity = f" ({choice.reason})"
        table = _TO_DALLE_QUALITY if "hd" in spec.qualities else {**_TO_GPT_QUALITY, **self.policy.quality}
        applied = table.get(quality)
        if applied not in spec.qualities:
            if quality == "auto":
                self.dropped(
                    "quality", quality, f"quality 'auto' is not accepted by {spec.id}; its default applies"
                )
                return None
            applied = spec.default_quality
        self.changed(
            "quality",
            quality,
            applied,
            f"quality {named} is not offered by {spec.id}; sent {applied!r}{parity}",
        )
        return applied

    def folded(self, prompt: str) -> str | None:
        """``prompt`` with the style folded in, when style = "prompt" applies and it fits; else None."""
        style = self.request.style
        if style is None or style in self.spec.styles or self.policy.style != "prompt":
            return None
        folded = f"{prompt}\n\n{STYLE_HINTS[style]}"
        return folded if len(folded) <= self.spec.prompt_max else None

    def style(self, prompt: str) -> tuple[str | None, str]:
        spec, style = self.spec, self.request.style
        if style is None or style in spec.styles:
            return style, prompt
        if self.policy.style == "prompt":
            folded = self.folded(prompt)
            if folded is not None:
                self.changed(
                    "style",
                    style,
                    "prompt",
                    f"{spec.id} has no style option; style {style!r} was added to the prompt",
                )
                return None, folded
        self.dropped("style", style, f"{spec.id} has no style option; style {style!r} was not sent")
        return None, prompt

    def prompt(self) -> str:
        prompt, spec = self.request.prompt, self.spec
        if not spec.prompt_min <= len(prompt) <= spec.prompt_max:
            raise BadRequestError(
                f"Invalid value for 'prompt': {len(prompt)} characters; {spec.id} accepts "
                f"{spec.prompt_min} to {spec.prompt_max} characters (prompts are never truncated).",
                code="invalid_value",
                param="prompt",
            )
        return prompt

    def response_format(self) -> tuple[Literal["url", "b64_json"], UrlMode | None]:
        request, spec = self.request, self.spec
        if not request.wants_url(self.default_url):
            return "b64_json", None
        if "url" in spec.response_formats:
            return "url", "native"
        asked = request.response_format or "url (the DALL·E default)"
        if self.policy.url == "error":
            raise _bad(
                "response_format",
                request.response_format or "url",
                spec,
                "'b64_json' (this target returns base64 only and [mapping] url = \"error\")",
            )
        mode: UrlMode = "file" if self.policy.url == "file" else "data-uri"
        how = {
            "file": "file:// URLs of files written under url_dir",
            "hosted": self.policy.hosted_note,
        }.get(self.policy.url, "data: URIs")
        self.changed("response_format", asked, mode, f"{spec.id} returns base64 only; URLs are {how}")
        return "b64_json", mode

    def n(self, output_format: str | None) -> int:
        n, spec = self.request.n, self.spec
        # SVG output "requires n=1" (SDK 3.57): n images are n requests of one.
        if output_format == "svg":
            most, why = 1, "SVG output is made one image per request"
        else:
            most, why = spec.max_n, f"{spec.id} makes at most {spec.max_n} per call"
        if n > most:
            calls = -(-n // most)
            self.changed("n", n, most, f"{why}; sent {calls} calls")
        return min(n, most)

    def optional(self, setting: str, value: Any, allowed: tuple[str, ...]) -> Any:
        """Settings the target either takes (from ``allowed``) or has no notion of at all."""
        if value is None or value in allowed:
            return value
        if allowed and value != "auto":  # "auto" means the target's default: dropping it is harmless
            raise _bad(setting, value, self.spec, ", ".join(repr(a) for a in allowed))
        self.dropped(setting, value, f"{self.spec.id} has no {setting} option; {value!r} was not sent")
        return None

    def end_user(self) -> tuple[str | None, str]:
        """The end-user id to send, and the name the caller gave it."""
        given = self.request.end_user
        if given is None:
            return None, "user"
        field, value = given
        if not self.spec.end_user_id:
            self.dropped(field, value, f"{self.target} takes no end-user id; {field!r} was not sent")
            return None, field
        return value, field

    # ----- the openai SDK 3.57 parameters --------------------------------------------------------------
    def output_format(self) -> str | None:
        value, spec = self.request.output_format, self.spec
        if value in _OWN_KIND_FORMATS and value not in spec.output_formats:
            catalog = self.catalog if self.catalog is not None else builtin_catalog()
            having = sorted(s.id for s in catalog if value in s.output_formats)
            offered = ", ".join(repr(f) for f in spec.output_formats) or "none (no output_format option)"
            raise BadRequestError(
                f"Invalid value for 'output_format': {value!r} is not offered by {spec.id} on {self.target}. "
                f"Allowed for {spec.id}: {offered}. Models with {value} output: "
                f"{', '.join(having) or 'none in the catalog'} (route the request to one of them; imageshim "
                "never substitutes another kind of image).",
                code="invalid_value",
                param="output_format",
            )
        applied: str | None = self.optional("output_format", value, spec.output_formats)
        return applied

    def complexity(self) -> str | None:
        value, spec = self.request.complexity, self.spec
        if value is None or value in spec.complexities:
            return value
        if spec.complexities:
            raise _bad("complexity", value, spec, ", ".join(repr(c) for c in spec.complexities))
        self.dropped(
            "complexity",
            value,
            f"{spec.id} has no complexity option; {value!r} was not sent (its own planning effort applies)",
        )
        return None

    def frames(self, output_format: str | None) -> tuple[int | None, int | None]:
        if output_format == "gif":
            return self.request.frame_count, self.request.frame_duration_ms
        for setting in _FRAME_SETTINGS:
            value = getattr(self.request, setting)
            if value is not None:
                self.dropped(
                    setting,
                    value,
                    f"{setting} applies to output_format='gif' only; the output is "
                    f"{output_format or 'the default png'}, so it was not sent",
                )
        return None, None

    def svg(self, output_format: str | None) -> dict[str, Any] | None:
        value = self.request.svg
        if value is None or output_format == "svg":
            return value
        self.dropped(
            "svg",
            value,
            f"svg settings apply to output_format='svg' only; the output is "
            f"{output_format or 'the default png'}, so they were not sent",
        )
        return None

    def output_compression(self, output_format: str | None) -> int | None:
        value = self.request.output_compression
        if value is None:
            return None
        if not self.spec.output_formats or output_format not in ("jpeg", "webp"):
            self.dropped(
                "output_compression",
                value,
                "output_compression applies to jpeg/webp output of GPT image models only; it was not sent",
            )
            return None
        return value


def map_request(
    request: ImageRequest,
    spec: ModelSpec,
    policy: MappingPolicy,
    target: str,
    *,
    default_url: bool = False,
    requested: ModelSpec | None = None,
    lifecycle: tuple[WarningRecord, ...] = (),
    catalog: Catalog | None = None,
) -> MappedRequest:
    """Map ``request`` onto ``spec`` (already profiled for the provider behind ``target``).

    ``default_url``: the requested model answers with URLs when no response_format is given (DALL·E).
    ``requested``: the catalog entry of the model the caller named; when the target is another model,
    its default size and quality stand in for the ones the caller left out.
    ``lifecycle``: the route's warnings for this target, reported before the mapping's own.
    ``catalog``: where the models named in a refusal are looked up (default: the built-in catalog).
    """
    m = _Mapper(request, spec, policy, target, default_url, requested, catalog)
    prompt = m.prompt()
    width, height = m.size()
    quality = m.quality(f"{width}x{height}" if width and height else None)
    style, prompt = m.style(prompt)
    response_format, url_mode = m.response_format()
    output_format = m.output_format()
    per_call = m.n(output_format)
    if request.stream and not spec.streaming:
        raise _bad("stream", True, spec, "stream=False (this target does not stream partial images)")
    if request.stream and output_format in _OWN_KIND_FORMATS:
        raise _bad("stream", True, spec, f"stream=False with output_format={output_format!r} (not streamed)")
    if request.partial_images:
        m.dropped(
            "partial_images",
            request.partial_images,
            "imageshim's adapters return whole images: only the final image_generation.completed event is sent",
        )
    background = m.optional("background", request.background, spec.backgrounds)
    if background == "transparent" and output_format not in (None, "png", "webp"):
        raise _bad(
            "background",
            background,
            spec,
            f"'opaque' or 'auto' with {output_format} output (transparency needs png or webp)",
        )
    frame_count, frame_duration_ms = m.frames(output_format)
    end_user_id, end_user_field = m.end_user()
    template = ImageCall(
        call_id="",
        model=spec.id,
        prompt=prompt,
        n=per_call,
        width=width,
        height=height,
        quality=quality,
        style=style,
        response_format=response_format,
        output_format=output_format,
        output_compression=m.output_compression(output_format),
        background=background,
        moderation=m.optional("moderation", request.moderation, spec.moderations),
        end_user_id=end_user_id,
        end_user_field=end_user_field,
        extra_body=request.extra_body,
        complexity=m.complexity(),
        frame_count=frame_count,
        frame_duration_ms=frame_duration_ms,
        svg=m.svg(output_format),
    )
    return MappedRequest(target, spec, template, request.n, per_call, url_mode, (*lifecycle, *m.warnings))
