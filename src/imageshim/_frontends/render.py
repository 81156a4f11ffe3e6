"""The one renderer: what execution produced -> the response, and the response -> a JSON body or SSE events.

:func:`build` turns an :class:`~._policy.Outcome` into the OpenAI-shaped :class:`ImagesResponse` with the
shim's report (URLs made for callers who want them, usage summed, cost charged beside the estimate made
before the call, the partial-result warning).
:func:`json_body` and :func:`sse_body` render that same response: every image of the JSON reply is an
``image_generation.completed`` event of the stream, with its bytes, whatever form the JSON reply gives it
(a streamed reply carries exactly the images a JSON reply would).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from imageshim._core.cost import estimate_images, input_images
from imageshim._core.errors import APIError, redact
from imageshim._core.warnings import WarningRecord, logger
from imageshim._frontends.urls import data_uri, write_file_url

if TYPE_CHECKING:
    from imageshim._core.adapter import AdapterResult, GeneratedImage
    from imageshim._core.config import MappingPolicy
    from imageshim._core.mapping import MappedRequest
    from imageshim._core.policy import Outcome
    from imageshim._core.response import Image, ImagesResponse, Usage
    from imageshim._frontends.engine import Plan

__all__ = ["build", "json_body", "sse_body"]


def build(plan: Plan, outcome: Outcome, mapping: MappingPolicy) -> ImagesResponse:
    from imageshim._core.response import ImagesResponse, ShimReport

    mapped = outcome.mapped
    fmt = mapped.template.output_format or _first(outcome.results, "output_format")
    images = [_image(img, mapped, fmt, mapping) for r in outcome.results for img in r.images]
    usage = _usage(outcome.results)
    cost, cost_source = _cost(outcome.results, mapped, usage)
    estimate = mapped.estimate
    warnings = list(mapped.warnings)
    if mapped.url_mode is None:  # base64 was asked for
        linked = sum(1 for image in images if image.b64_json is None and image.url is not None)
        if linked:
            warnings.append(
                WarningRecord(
                    "option_mapped",
                    "response_format",
                    "b64_json",
                    "url",
                    f"{mapped.target} answered {linked} image(s) with a URL where base64 was asked for; "
                    "data[i].url holds it (data[i].b64_json is None)",
                    model=mapped.spec.id,
                    target=mapped.target,
                )
            )
    if outcome.failures:
        warnings.append(_partial_warning(plan, mapped, len(images), outcome.failures))
    report = ShimReport.model_construct(
        route=mapped.target,
        requested_model=plan.request.model,
        warnings=warnings,
        cost_usd=cost,
        cost_source=cost_source,
        estimate_usd=estimate.usd if estimate is not None else None,
        estimate_source=estimate.explain() if estimate is not None else None,
        attempts=outcome.attempts,
        failures=[_failure(e) for e in outcome.failures],
    )
    return ImagesResponse.model_construct(
        created=_first(outcome.results, "created") or int(time.time()),
        data=images,
        usage=usage,
        size=_first(outcome.results, "size") or mapped.template.size,
        quality=_first(outcome.results, "quality") or mapped.template.quality,
        output_format=fmt,
        background=_first(outcome.results, "background"),
        imageshim=report,
    )


#: base64 strings this long are written into the body piece by piece rather than through json.dumps
_LARGE = 1 << 16
_MARK = "\x00imageshim-b64\x00"


def json_body(response: ImagesResponse, *, consume: bool = False) -> bytes:
    """The JSON reply (bytes), as ``json.dumps(response.to_openai_dict()).encode()`` makes it.

    Large ``b64_json`` strings are not passed through ``json.dumps`` (a copy of the whole reply as text,
    then another as bytes): base64 needs no escaping, so each is encoded into the body on its own.
    ``consume``: the response is not used afterwards (a wire reply): each image's base64 is released as
    soon as it is in the body, so the reply is not held twice at its peak.
    """
    body = response.to_openai_dict()
    pulled: list[str | None] = []
    for item in body.get("data", []):
        value = item.get("b64_json")
        if isinstance(value, str) and len(value) >= _LARGE:
            pulled.append(value)
            item["b64_json"] = _MARK
    if not pulled:
        return json.dumps(body).encode()
    del item, value  # the loop's names would keep the last image alive
    pieces = json.dumps(body).encode().split(json.dumps(_MARK).encode())
    del body
    if consume:
        for image in response.data:
            image.b64_json = None
            image.keep_bytes(None, image.media_type)

    def chunks() -> Iterator[bytes]:
        for index, piece in enumerate(pieces[:-1]):
            yield piece + b'"'
            value, pulled[index] = pulled[index], None  # the last reference, when consumed
            yield (value or "").encode("ascii")
            del value
            yield b'"'
        yield pieces[-1]

    return b"".join(chunks())


def sse_body(response: ImagesResponse, event_type: str = "image_generation.completed") -> bytes:
    """One ``image_generation.completed`` (or, for an edit, ``image_edit.completed``) event per image
    (OpenAI's stream shape with partial_images=0).

    Each event carries the image's base64 (also when the JSON reply would give a URL for it: the caller of
    a stream reads ``b64_json``), and ``url`` as well where the image only exists behind a URL.
    """
    body = response.to_openai_dict()
    common = {
        "created_at": body.get("created", int(time.time())),
        "size": body.get("size"),
        "quality": body.get("quality"),
        "output_format": body.get("output_format"),
        "background": body.get("background"),
        "usage": body.get("usage"),
    }
    events = []
    for image in response.data:
        event: dict[str, Any] = {"type": event_type, "b64_json": image.base64()}
        if event["b64_json"] is None:
            event["url"] = image.url
        if image.revised_prompt is not None:
            event["revised_prompt"] = image.revised_prompt
        event.update(common)
        events.append(f"event: {event_type}\ndata: {json.dumps(event)}\n\n")
    return "".join(events).encode()


def _image(image: GeneratedImage, mapped: MappedRequest, fmt: str | None, mapping: MappingPolicy) -> Image:
    from imageshim._core.response import Image

    b64 = image.b64_json
    if mapped.url_mode in ("data-uri", "file") and image.url is None and b64 is not None:
        if mapped.url_mode == "file":
            url = write_file_url(b64, fmt, mapping.url_dir, media_type=image.media_type)
        else:
            url = data_uri(b64, fmt, media_type=image.media_type)
        made = Image.model_construct(b64_json=None, url=url, revised_prompt=image.revised_prompt)
    else:
        made = Image.model_construct(b64_json=b64, url=image.url, revised_prompt=image.revised_prompt)
    made.keep_bytes(b64, image.media_type)
    return made


def _first(results: list[AdapterResult], field: str) -> Any:
    for r in results:
        value = getattr(r, field)
        if value is not None:
            return value
    return None


def _usage(results: list[AdapterResult]) -> Usage | None:
    """The usage of all results, summed; None when no result reported a count.

    A single reply's usage is read as it came. Otherwise (or when it does not validate) only whole-number
    counts are summed and anything else a provider put there is left out: usage never raises, as the
    images it came with are already paid for.
    """
    from pydantic import ValidationError

    from imageshim._core.response import Usage

    usages = [r.usage for r in results if r.usage]
    if not usages:
        return None
    if len(usages) == 1:  # the common case: one reply, read as it came
        try:
            return Usage.model_validate(usages[0])
        except ValidationError:
            pass
    total: dict[str, Any] = {}
    for usage in usages:
        for key, value in usage.items():
            if _count(value):
                total[key] = total.get(key, 0) + value
            elif isinstance(value, dict):
                inner = total.setdefault(key, {})
                if isinstance(inner, dict):
                    for ik, iv in value.items():
                        if _count(iv):
                            inner[ik] = inner.get(ik, 0) + iv
    return Usage.model_validate(total) if total else None  # only counts: it always validates


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _counted(value: Any, default: int) -> int:
    """``value`` when it is a token count, else ``default`` (providers put nulls and strings there)."""
    return value if _count(value) else default


def _cost(
    results: list[AdapterResult], mapped: MappedRequest, usage: Usage | None
) -> tuple[float | None, str | None]:
    """Provider-reported cost when every result has a usable one; else an estimate from the reply's usage
    or the catalog's prices.

    The one place a provider's cost is read: a figure that is not a price (NaN, infinite, negative, above
    $1,000,000, or not a number at all) is treated as unknown, with a log line, so no header, report or budget sees it.
    """
    reported = [r.cost_usd for r in results]
    if results and all(cost is not None for cost in reported):
        odd = [cost for cost in reported if not _price(cost)]
        if not odd:
            return round(sum(cost or 0.0 for cost in reported), 6), "provider"
        logger.warning(
            "imageshim: %s reported a cost of %r, which is not a price; the estimate is used instead",
            mapped.target,
            odd[0],
        )
    spec = mapped.spec
    if spec.price_per_token and usage is not None and usage.output_tokens:
        details = usage.input_tokens_details or {}
        image_in = _counted(details.get("image_tokens"), 0)
        text_in = _counted(details.get("text_tokens"), max(0, usage.input_tokens - image_in))
        rates = spec.price_per_token
        est = (
            text_in * rates.get("text_input", 0.0)
            + image_in * rates.get("image_input", 0.0)
            + usage.output_tokens * rates.get("output", 0.0)
        )
        return round(est, 6), f"estimate from token usage ({spec.price_source})"
    count = sum(len(r.images) for r in results)
    size = _first(results, "size") or mapped.template.size
    call = mapped.template
    priced = estimate_images(
        spec, size, call.quality, count, prompt=call.prompt, input_images=input_images(call)
    )
    if priced is None:
        return None, None
    if priced.basis == "tokens":
        return priced.usd, f"estimate from the catalog's token prices, no usage reported ({priced.explain()})"
    return priced.usd, f"estimate from the catalog's per-image price ({spec.price_source})"


#: a reported cost above this (USD, one call) is not a price either: the catalog's own ceiling per image
_MOST_USD = 1e6


def _price(value: Any) -> bool:
    """Whether a provider's reported cost can be trusted as a price: a finite number from 0 to
    :data:`_MOST_USD`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return math.isfinite(value) and 0 <= value <= _MOST_USD


def _partial_warning(plan: Plan, mapped: MappedRequest, got: int, failures: list[APIError]) -> WarningRecord:
    first = failures[0]
    return WarningRecord(
        "option_mapped",
        "n",
        plan.request.n,
        got,
        f"{got} of {plan.request.n} images arrived from {mapped.target}; {len(failures)} call(s) failed "
        f"({type(first).__name__}: {redact(first.message)}); see resp.imageshim.failures",
        model=mapped.spec.id,
        target=mapped.target,
    )


def _failure(error: APIError) -> dict[str, Any]:
    out = {
        "error": type(error).__name__,
        "message": redact(error.message),
        "status_code": error.status_code,
        "code": error.code,
        "provider": error.provider,
    }
    task_ids = getattr(error, "task_ids", None)
    if task_ids:
        out["task_ids"] = list(task_ids)
    return out
