"""OpenAI's ``POST /images/edits``: the multipart form, exactly as the API takes it.

The text fields are the ones :func:`.wire.build_body` decides for the call (one place says what a call
sends), as form strings; the files are repeated ``image[]`` parts (what the official SDKs send for a list),
then ``mask`` and ``markup``. ``input_fidelity`` is sent only when the core left it on the call (it drops it,
with a warning, for models that refuse it).
"""

from __future__ import annotations

import json
from typing import Any

from imageshim.adapterkit import ImageCall, InputImage, ModelSpec

from .wire import build_body

__all__ = ["build_form"]

_EXT = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "image/gif": "gif"}
File = tuple[str, tuple[str, bytes, str]]


def _file(field: str, image: InputImage, index: int) -> File:
    name = image.filename or f"{field.strip('[]')}-{index}.{_EXT.get(image.media_type, 'png')}"
    return field, (name, image.data, image.media_type)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def build_form(call: ImageCall, spec: ModelSpec) -> tuple[dict[str, str], list[File]]:
    """(form fields, files) for an edit call."""
    fields = {k: _text(v) for k, v in build_body(call, spec).items()}
    if call.input_fidelity is not None:
        fields["input_fidelity"] = call.input_fidelity
    files = [_file("image[]", image, i) for i, image in enumerate(call.images)]
    if call.mask is not None:
        files.append(_file("mask", call.mask, 0))
    if call.markup is not None:
        files.append(_file("markup", call.markup, 0))
    return fields, files
