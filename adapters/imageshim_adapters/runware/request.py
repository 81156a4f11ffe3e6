"""Runware REST wire format, the request side: imageInference and getResponse tasks.

Facts from Runware's docs (see research/runware.md): the body is a JSON array of tasks, each with a client
UUID v4 ``taskUUID``. Replies are read in :mod:`.reply`. Pure functions; no I/O here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from imageshim.adapterkit import (
    BadRequestError,
    ImageCall,
)

__all__ = ["AIR", "PROVIDER", "build_task", "output_format_for", "output_format_of", "poll_task"]

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


def output_format_of(calls: Sequence[ImageCall]) -> str:
    return output_format_for(calls[0]) or "jpeg"  # Runware's documented default outputFormat is JPG
