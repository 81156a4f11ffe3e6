"""Runware REST wire format, the request side: imageInference and getResponse tasks.

Facts from Runware's docs (see research/runware.md): the body is a JSON array of tasks, each with a client
UUID v4 ``taskUUID``. Replies are read in :mod:`.reply`. Pure functions; no I/O here.

Options (quality, style, moderation, background) travel in one of two objects (runware.md, "2026-10
update"): ``providerSettings.openai`` (DALL·E 3's recorded bodies, GPT Image 1.x, mid-2026 GPT Image 2) or
``settings`` (Runware's 2026-10 schema for GPT Image 2 and 2.5). :data:`OPTION_SHAPES` says which a model
gets first and which is tried once when Runware refuses the first (see :mod:`.shape`).

Edits are imageInference tasks too: the input images go in ``inputs.referenceImages`` and the mask in
``inputs.mask``, as data URIs.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any

from imageshim.adapterkit import (
    BadRequestError,
    ImageCall,
    InputImage,
)

__all__ = [
    "AIR",
    "OPTION_SHAPES",
    "PROVIDER",
    "PROVIDER_SETTINGS",
    "SETTINGS",
    "build_task",
    "data_uri",
    "output_format_for",
    "output_format_of",
    "poll_task",
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
#: the two objects Runware has taken a model's options in (runware.md "2026-10 update")
PROVIDER_SETTINGS = "providerSettings"
SETTINGS = "settings"
#: AIR -> where its options go, first choice first; a second entry is what is tried once when Runware
#: refuses the first as unknown (a validation error: nothing ran). runware-sdk 1.8.0 (schemas of
#: 2026-10): GPT Image 2 lists `settings` and no `providerSettings`; GPT Image 1.5 takes both; 1.5.5 (2026-06)
#: took `providerSettings` only. GPT Image 1 / 1 Mini are not described (UNCERTAIN: treated like 1.5).
#: DALL·E 2/3 keep `providerSettings` only: the recorded bodies, and no source names `settings` for them.
OPTION_SHAPES: dict[str, tuple[str, ...]] = {
    AIR["dall-e-2"]: (PROVIDER_SETTINGS,),
    AIR["dall-e-3"]: (PROVIDER_SETTINGS,),
    AIR["gpt-image-1"]: (PROVIDER_SETTINGS, SETTINGS),
    AIR["gpt-image-1-mini"]: (PROVIDER_SETTINGS, SETTINGS),
    AIR["gpt-image-1.5"]: (PROVIDER_SETTINGS, SETTINGS),
    AIR["gpt-image-2"]: (SETTINGS, PROVIDER_SETTINGS),
    AIR["gpt-image-2.5-sunburst"]: (SETTINGS, PROVIDER_SETTINGS),
    AIR["gpt-image-2.5-flare"]: (SETTINGS, PROVIDER_SETTINGS),
}
_OUTPUT_FORMAT = {"png": "PNG", "jpeg": "JPG", "webp": "WEBP"}
#: outputQuality bounds on every OpenAI model page on Runware (runware.md §2, §4: integer 20..99)
OUTPUT_QUALITY = (20, 99)
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


def build_task(call: ImageCall, air: str, shape: str | None = None) -> dict[str, Any]:
    """One imageInference task. Only documented fields; the recorded DALL·E 3 bodies carry exactly
    taskType, taskUUID, model, positivePrompt, width, height and providerSettings.openai.quality, and so
    do ours for the same call, plus ``includeCost`` (and ``style`` when given, ``numberResults`` when
    above its default 1, ``outputType`` only when it is not the default "URL", ``outputFormat`` when asked).

    ``shape`` is where the options go (``"settings"`` or ``"providerSettings"``; default: the model's
    first choice in :data:`OPTION_SHAPES`). An edit adds ``inputs.referenceImages`` (in the caller's order)
    and ``inputs.mask``. The SDK 3.57 fields of :class:`ImageCall` (complexity, frames, svg) are never sent:
    Runware documents none of them (the adapter refuses a call that carries one before this is reached).

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
    if call.images:
        task["inputs"] = _inputs(call)
    task["includeCost"] = True
    # UNCERTAIN (runware.md §3): Runware does not document DALL·E 3's defaults for quality/style. When the
    # caller gives none we send none, exactly as the recorded bodies do (they carry quality only because
    # it was asked), rather than guess OpenAI's defaults (standard, vivid) on Runware's behalf.
    options = {
        k: v
        for k, v in (
            ("quality", call.quality),
            ("style", call.style),
            ("moderation", call.moderation),
            ("background", call.background),
        )
        if v
    }
    if air == AIR["dall-e-2"] and options.get("quality") == "standard":
        # DALL·E 2 on Runware is "Standard only" with no provider settings (runware.md §3): its one quality
        # is what it makes anyway, so sending it could only be refused.
        del options["quality"]
    if options:
        # UNCERTAIN: `settings` is documented with quality and background (runware-sdk PR #281, Runware's
        # ComfyUI workflow); moderation was documented under providerSettings.openai and is sent in the
        # same object as the rest rather than split across two.
        shape = shape or OPTION_SHAPES.get(air, (PROVIDER_SETTINGS,))[0]
        task[shape] = {"openai": options} if shape == PROVIDER_SETTINGS else options
    if call.extra_body:
        _merge_extra(task, call.extra_body, options)
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


def _merge_extra(task: dict[str, Any], extra: Mapping[str, Any], options: Mapping[str, Any]) -> None:
    """The caller's own Runware task fields (e.g. ``ttl``, ``safety``, ``webhookURL``), added to ``task``.

    A field the adapter sets (or whose Runware default the shim relies on) may only repeat that value;
    ``providerSettings`` and ``settings`` are merged, refusing a key that would change an option the adapter
    set from a keyword (wherever the adapter put it: Runware might read either object).
    """
    for key, value in extra.items():
        if key == PROVIDER_SETTINGS:
            task[key] = _merge_provider_settings(task.get(key), value, options)
            continue
        if key == SETTINGS:
            task[key] = _merge_options(task.get(key), value, options, SETTINGS)
            continue
        owned = key in _OWNED or key in task
        if owned and value != task.get(key, _DEFAULTS.get(key)):
            raise _refuse(key, _HINTS.get(key, "imageshim sets it from the request"))
        task[key] = value


def _merge_provider_settings(ours: Any, theirs: Any, options: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(theirs, Mapping) or not all(isinstance(v, Mapping) for v in theirs.values()):
        raise _refuse(PROVIDER_SETTINGS, 'it must be an object of objects, e.g. {"openai": {...}}')
    merged: dict[str, Any] = {k: dict(v) for k, v in (ours or {}).items()}
    for provider, settings in theirs.items():
        known = options if provider == "openai" else {}
        merged[provider] = _merge_options(
            merged.get(provider), settings, known, f"{PROVIDER_SETTINGS}.{provider}"
        )
    return merged


def _merge_options(ours: Any, theirs: Any, options: Mapping[str, Any], where: str) -> dict[str, Any]:
    if not isinstance(theirs, Mapping):
        raise _refuse(where, "it must be an object")
    into: dict[str, Any] = dict(ours or {})
    for key, value in theirs.items():
        mine = into.get(key, options.get(key))
        if (key in into or key in options) and mine != value:
            raise _refuse(f"{where}.{key}", f"pass {_SETTING_KEYWORD.get(key, key)} instead")
        into[key] = value
    return into


def _inputs(call: ImageCall) -> dict[str, Any]:
    """An edit's ``inputs``: the images in the caller's order (the first is the one the mask applies to,
    as on OpenAI) and the mask. Data URIs rather than Runware's ``imageUpload`` task: see :func:`data_uri`."""
    inputs: dict[str, Any] = {"referenceImages": [data_uri(image) for image in call.images]}
    if call.mask is not None:
        inputs["mask"] = data_uri(call.mask)
    return inputs


def data_uri(image: InputImage) -> str:
    """``data:<media type>;base64,<bytes>``, which ``inputs.referenceImages`` and ``inputs.mask`` take
    (runware.md §4: "UUID, URL, data URI or base64").

    Chosen over Runware's ``imageUpload`` task (runware.ai/docs/platform/image-upload) because an upload is
    a second round trip before the paid one (a second place for a reply to be lost), keeps a copy on
    Runware for 30 days after last use, and is stored "with a maximum of 2048 pixels in width or height",
    which would shrink inputs GPT Image 2 takes up to 3840. UNCERTAIN: no source states a size limit for a
    data URI in an imageInference body (the core's input checks bound each image, as OpenAI's 50 MB does),
    nor whether Runware resizes inline inputs itself.
    """
    return f"data:{image.media_type};base64,{base64.b64encode(image.data).decode('ascii')}"


def poll_task(task_uuid: str) -> dict[str, Any]:
    return {"taskType": "getResponse", "taskUUID": task_uuid}


def output_format_of(calls: Sequence[ImageCall]) -> str:
    return output_format_for(calls[0]) or "jpeg"  # Runware's documented default outputFormat is JPG
