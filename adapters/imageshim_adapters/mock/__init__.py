"""The mock adapter: a real product feature for tests and demos, never a silent default.

- deterministic: the same prompt, size and index give the same image bytes;
- real images: decodable PNG (JPEG/WebP with Pillow), animated GIF and SVG, of exactly the size sent;
- faithful: it enforces the emulated model's constraints as the provider would (a request the mapping
  got wrong fails here with a 400), and answers in that model's shape (URLs and ``revised_prompt`` for
  DALL·E, base64 and token usage for GPT image models);
- priced: a token-billed model's usage is what the catalog's estimate assumes for the same call
  (:func:`~imageshim.adapterkit.expected_usage`), so ``resp.imageshim.cost_usd`` is what the same call would
  cost on the provider (DALL·E: the catalog's per-image price); nothing is charged;
- observable: every call is recorded on its :class:`MockBackend`; failures can be scripted.

URLs returned for URL-capable models are ``data:`` URIs, so they decode without a network.
"""

from __future__ import annotations

import base64
import collections
import dataclasses
import hashlib
import threading
import time
from collections.abc import Sequence
from typing import Any, ClassVar

from imageshim.adapterkit import (
    AdapterResult,
    APIError,
    APIStatusError,
    BadRequestError,
    GeneratedImage,
    ImageAdapter,
    ImageCall,
    ModelSpec,
    RateLimitError,
    edit_facts,
    error_class_for_status,
    expected_usage,
    input_images,
)

from .images import MEDIA_TYPES, make_gif, make_image, with_text

__all__ = ["MockAdapter", "MockBackend", "MockCall"]

_MEDIA = MEDIA_TYPES


@dataclasses.dataclass(frozen=True)
class MockCall:
    """One call the mock received: the target (``mock:<model>``) and the :class:`ImageCall` sent.

    Every field of the call reads straight off it: ``.model``, ``.prompt``, ``.size``, ``.quality``,
    ``.n``, ``.style``, ``.response_format``, ``.output_format``, ``.background``, ...
    """

    target: str
    call: ImageCall

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):  # copy/pickle probe dunders: not the call's fields
            raise AttributeError(name)
        return getattr(self.call, name)


class MockBackend:
    """Shared state of mock adapters: the calls received and the failures scripted for the next calls."""

    __test__ = False  # not a pytest test class

    def __init__(self) -> None:
        self.calls: list[MockCall] = []
        self._failures: collections.deque[BaseException] = collections.deque()
        self._lock = threading.Lock()

    def fail_next(self, error: APIError | int = 500, *, times: int = 1) -> None:
        """Make the next ``times`` calls fail with ``error``: an exception, or an HTTP status code.

        Status codes become the matching typed error (429 with ``retry_after=0`` so retries are instant).
        """
        exc = error if isinstance(error, BaseException) else _status_error(error)
        with self._lock:
            self._failures.extend([exc] * times)

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self._failures.clear()

    def _take(self, target: str, call: ImageCall) -> BaseException | None:
        with self._lock:
            self.calls.append(MockCall(target, call))
            return self._failures.popleft() if self._failures else None


def _status_error(status: int) -> APIStatusError:
    cls = error_class_for_status(status)
    message = f"Scripted mock failure (HTTP {status})"
    if cls is RateLimitError:
        return RateLimitError(message, provider="mock", code="rate_limit_exceeded", retry_after=0.0)
    if status >= 500:
        return cls(message, status_code=status, provider="mock", code="server_error", retry_after=0.0)
    return cls(message, status_code=status, provider="mock")


def _check(call: ImageCall, spec: ModelSpec) -> None:
    """Refuse what the emulated model would refuse, with the provider's kind of message.

    The openai SDK 3.57 parameters are checked as the API documents them: ``complexity`` from the model's
    ``complexities``; ``frame_count`` (2..16) and ``frame_duration_ms`` only with GIF output; ``svg`` only
    with SVG output; SVG output with n=1; GIF and SVG output without ``output_compression``. A request the
    model takes is answered in the format asked: an animated GIF or an SVG document (see :meth:`_images`).
    """
    problems = []
    if not spec.prompt_min <= len(call.prompt) <= spec.prompt_max:
        problems.append(("prompt", f"length {len(call.prompt)} outside {spec.prompt_min}..{spec.prompt_max}"))
    if not 1 <= call.n <= spec.max_n:
        problems.append(("n", f"{call.n} outside 1..{spec.max_n}"))
    if call.width is not None and call.height is not None and not spec.size_allowed(call.width, call.height):
        problems.append(("size", f"{call.size} not supported ({spec.describe_sizes()})"))
    if call.width is None and not spec.accepts_auto_size:
        problems.append(("size", "a size is required"))
    for field, value, allowed in (
        ("quality", call.quality, spec.qualities),
        ("style", call.style, spec.styles),
        ("output_format", call.output_format, spec.output_formats),
        ("background", call.background, spec.backgrounds),
        ("moderation", call.moderation, spec.moderations),
        ("complexity", call.complexity, spec.complexities),
    ):
        if value is not None and value not in allowed:
            problems.append((field, f"{value!r} not in {list(allowed)}"))
    if call.response_format not in spec.response_formats:
        problems.append(("response_format", f"{call.response_format!r} not in {list(spec.response_formats)}"))
    fmt = call.output_format
    for field in ("frame_count", "frame_duration_ms"):
        if getattr(call, field) is not None and fmt != "gif":
            problems.append((field, "is only supported with output_format='gif'"))
    if call.frame_count is not None and not 2 <= call.frame_count <= 16:
        problems.append(("frame_count", f"{call.frame_count} outside 2..16"))
    if call.frame_duration_ms is not None and call.frame_duration_ms < 0:
        problems.append(("frame_duration_ms", f"{call.frame_duration_ms} is negative"))
    if call.svg is not None and fmt != "svg":
        problems.append(("svg", "is only supported with output_format='svg'"))
    if fmt == "svg" and call.n != 1:
        problems.append(("n", f"{call.n}: SVG output requires n=1"))
    if fmt in ("gif", "svg") and call.output_compression is not None:
        problems.append(("output_compression", f"is not supported with {fmt} output"))
    if call.background == "transparent" and fmt not in (None, "png", "webp"):
        problems.append(("background", f"'transparent' needs png or webp output, not {fmt}"))
    if problems:
        field, detail = problems[0]
        raise BadRequestError(
            f"mock:{spec.id} rejected the request: {field} {detail}",
            param=field,
            code="invalid_value",
            provider="mock",
        )


class MockAdapter(ImageAdapter):
    """Serves ``mock:<any catalog model>``. No key, no network."""

    name: ClassVar[str] = "mock"
    api_key_env: ClassVar[str | None] = None
    supports_edits: ClassVar[bool] = True
    #: one request at a time: the mock answers at once, and users' tests read ``calls[i]`` in order
    concurrent_requests: ClassVar[int] = 1
    #: the backend all mock adapters use unless given their own (the pytest fixture swaps it)
    backend: ClassVar[MockBackend] = MockBackend()

    def _serve(self, calls: Sequence[ImageCall], spec: ModelSpec) -> AdapterResult:
        backend = type(self).backend
        images: list[GeneratedImage] = []
        for call in calls:
            failure = backend._take(f"mock:{spec.id}", call)
            if failure is not None:
                raise failure
            _check(call, spec)
            if call.is_edit:
                _check_edit(call, spec)
            images.extend(self._images(call, spec))
        first = calls[0]
        size = first.size or _default_size(spec)
        usage = None
        if spec.usage:
            count = sum(c.n for c in calls)
            usage = expected_usage(
                spec, first.size, first.quality, count, first.prompt, input_images=input_images(first)
            )
        if spec.usage and usage is None:  # a GPT image model the catalog has no token prices for
            text = max(1, len(first.prompt) // 4)
            out = sum(c.n for c in calls) * _output_tokens(size, first.quality)
            usage = {
                "input_tokens": text,
                "input_tokens_details": {"text_tokens": text, "image_tokens": 0},
                "output_tokens": out,
                "total_tokens": text + out,
            }
        return AdapterResult(
            images=images,
            created=int(time.time()),
            usage=usage,
            size=size,
            quality=first.quality or (spec.default_quality if spec.usage else None),
            output_format=(first.output_format or "png") if spec.output_formats else None,
            background=(first.background if first.background in ("transparent", "opaque") else "opaque")
            if spec.backgrounds
            else None,
        )

    def _images(self, call: ImageCall, spec: ModelSpec) -> list[GeneratedImage]:
        """``call.n`` images of the size and format asked, deterministic from the prompt, size and index.

        GIF: ``frame_count`` frames (default 9) of ``frame_duration_ms`` each (default 200; the GIF delay
        is that rounded to 10 ms, at most 655,350 ms). SVG: a small document of the size asked."""
        width, height = (
            (call.width, call.height) if call.width and call.height else _dims(_default_size(spec))
        )
        fmt = call.output_format or "png"
        source = _edit_source(call)
        out = []
        for index in range(call.n):
            raw = _draw(call, width, height, f"{call.prompt}|{width}x{height}|{index}|{source}", fmt)
            if source and fmt == "png":  # an edit: say what it was made from, for tests to read
                raw = with_text(raw, "imageshim-edit-of", source)
            b64 = base64.b64encode(raw).decode("ascii")
            revised = call.prompt if spec.revised_prompt else None
            if call.response_format == "url":
                out.append(GeneratedImage(url=f"data:{_MEDIA[fmt]};base64,{b64}", revised_prompt=revised))
            else:
                out.append(GeneratedImage(b64_json=b64, revised_prompt=revised))
        return out

    def generate(self, calls: Sequence[ImageCall], spec: ModelSpec) -> AdapterResult:
        return self._serve(calls, spec)

    async def agenerate(self, calls: Sequence[ImageCall], spec: ModelSpec) -> AdapterResult:
        return self._serve(calls, spec)


def _edit_source(call: ImageCall) -> str:
    """For an edit: the first input's digest, how many inputs, and whether a mask came; else empty."""
    if not call.is_edit:
        return ""
    digest = hashlib.sha256(call.images[0].data).hexdigest()[:16]
    return f"{digest};images={len(call.images)};mask={'yes' if call.mask else 'no'}"


def _draw(call: ImageCall, width: int, height: int, seed: str, fmt: str) -> bytes:
    """One image's bytes: GIF with the call's frame settings (the API's defaults when unset)."""
    if fmt == "gif":
        frames = 9 if call.frame_count is None else call.frame_count
        duration = 200 if call.frame_duration_ms is None else call.frame_duration_ms
        return make_gif(width, height, seed, frames, duration)
    return make_image(width, height, seed, fmt)


def _check_edit(call: ImageCall, spec: ModelSpec) -> None:
    """Refuse an edit the emulated model would refuse: too many images, a format it does not read, a mask
    of another size or without alpha, markup where the model has none."""
    facts = edit_facts(spec.id)
    problem: tuple[str, str] | None = None
    first = call.images[0]
    if facts is None:
        problem = ("model", f"{spec.id} makes no edits")
    elif len(call.images) > facts.max_images:
        problem = ("image", f"{len(call.images)} images; at most {facts.max_images}")
    elif any(i.media_type not in facts.formats for i in call.images):
        problem = ("image", f"a format outside {list(facts.formats)}")
    elif call.mask is not None and (call.mask.width, call.mask.height) != (first.width, first.height):
        problem = ("mask", f"{call.mask.width}x{call.mask.height}, the image is {first.width}x{first.height}")
    elif call.mask is not None and not call.mask.has_alpha:
        problem = ("mask", "no alpha channel")
    elif call.markup is not None and not facts.markup:
        problem = ("markup", f"{spec.id} takes no markup")
    if problem is not None:
        field, detail = problem
        raise BadRequestError(
            f"mock:{spec.id} rejected the edit: {field} {detail}",
            param=field,
            code="invalid_value",
            provider="mock",
        )


def _default_size(spec: ModelSpec) -> str:
    return spec.default_size if spec.default_size != "auto" else "1024x1024"


def _dims(size: str) -> tuple[int, int]:
    w, _, h = size.partition("x")
    return int(w), int(h)


def _output_tokens(size: str, quality: str | None) -> int:
    # Shaped like GPT image token counts (more pixels and higher quality cost more); not a price table.
    w, h = _dims(size)
    per_megapixel = {"low": 260, "medium": 1000, "high": 4000}.get(quality or "medium", 1000)
    return max(16, round(per_megapixel * w * h / 1_048_576))
