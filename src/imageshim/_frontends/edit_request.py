"""Edits and variations as the ways in receive them -> a plan, written once for the native client and the wire.

Both hand over text fields (already typed: the wire converts form strings with :func:`typed_fields`) and
the uploaded files; :func:`edit_plan` checks the files (decodable images, before any network call), applies
the variations policy, and asks the engine for a plan with the :class:`EditInputs`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from imageshim._core.edit import EditInputs, Kind, read_image
from imageshim._core.errors import BadRequestError

if TYPE_CHECKING:
    from imageshim._core.plan import Plan
    from imageshim._frontends.engine import Engine

__all__ = ["EDIT_FIELDS", "FILE_FIELDS", "VARIATION_FIELDS", "Upload", "edit_plan", "typed_fields"]

Upload = tuple[bytes, "str | None"]  # (bytes, filename)

#: the text fields of ``POST /images/edits`` and how a form value is read (openai SDK 3.57 image_edit_params)
EDIT_FIELDS: dict[str, type] = {
    "prompt": str,
    "model": str,
    "n": int,
    "size": str,
    "quality": str,
    "response_format": str,
    "user": str,
    "safety_identifier": str,
    "background": str,
    "output_format": str,
    "output_compression": int,
    "input_fidelity": str,
    "stream": bool,
    "partial_images": int,
    "complexity": str,
    "frame_count": int,
    "frame_duration_ms": int,
    "svg": dict,
}
#: ``POST /images/variations`` (the legacy DALL·E 2 contract)
VARIATION_FIELDS: dict[str, type] = {
    "model": str,
    "n": int,
    "size": str,
    "response_format": str,
    "user": str,
}
FILE_FIELDS = ("image", "mask", "markup")
_FIDELITIES = ("high", "low")


def _bad(field: str, value: Any, allowed: str) -> BadRequestError:
    return BadRequestError(
        f"Invalid value for {field!r}: {value!r}. Allowed: {allowed}.", code="invalid_value", param=field
    )


def typed_fields(raw: Mapping[str, str], kinds: Mapping[str, type]) -> dict[str, Any]:
    """Form strings as the types the request takes; a 400 naming the field when one does not read."""
    out: dict[str, Any] = {}
    for name, text in raw.items():
        kind = kinds[name]
        if kind is int:
            try:
                out[name] = int(text)
            except ValueError:
                raise _bad(name, text, "an integer") from None
        elif kind is bool:
            if text.lower() not in ("true", "false", "1", "0"):
                raise _bad(name, text, "true or false")
            out[name] = text.lower() in ("true", "1")
        elif kind is dict:
            try:
                value = json.loads(text)
            except (ValueError, RecursionError):
                value = None
            if not isinstance(value, dict):
                raise _bad(name, text[:80], "a JSON object")
            out[name] = value
        else:
            out[name] = text
    return out


def edit_plan(
    engine: Engine,
    fields: dict[str, Any],
    images: Sequence[Upload],
    *,
    mask: Upload | None = None,
    markup: Upload | None = None,
    kind: Kind = "edit",
    timeout: float | None = None,
) -> Plan:
    """The plan of an edit (or of a variation, made an edit) whose files are checked and mapped."""
    from imageshim._core.request import request_from_kwargs

    fields = {k: v for k, v in fields.items() if v is not None}
    if kind == "variation":
        policy = engine.config.mapping
        if policy.variations == "error":
            raise BadRequestError(
                "images.create_variation (POST /v1/images/variations) was retired with dall-e-2 on "
                "2026-05-12 and has no successor model; use images.edit (POST /v1/images/edits) with a GPT "
                'image model and a prompt asking for a variation ([mapping] variations = "error").',
                code="unsupported_endpoint",
            )
        fields["prompt"] = policy.variation_prompt
    elif "prompt" not in fields:
        raise BadRequestError(
            "Missing required parameter: 'prompt'.", code="missing_required_parameter", param="prompt"
        )
    fidelity = fields.pop("input_fidelity", None)
    if fidelity is not None and fidelity not in _FIDELITIES:
        raise _bad("input_fidelity", fidelity, "'high' or 'low'")
    if not images:
        raise BadRequestError(
            "Missing required parameter: 'image' (one or more image files).",
            code="missing_required_parameter",
            param="image",
        )
    read = tuple(
        read_image("image" if len(images) == 1 else f"image[{i}]", data, name)
        for i, (data, name) in enumerate(images)
    )
    inputs = EditInputs(
        read,
        mask=None if mask is None else read_image("mask", *mask),
        markup=None if markup is None else read_image("markup", *markup),
        input_fidelity=fidelity,
        kind=kind,
    )
    return engine.plan(request_from_kwargs(fields), timeout, edit=inputs)
