"""The multipart side of the wire: ``POST /images/edits`` and ``/images/variations`` bodies -> a plan.

Form fields are checked like JSON ones (an unknown field is OpenAI's 400 ``unknown_parameter``); files come
as ``image`` or repeated ``image[]`` parts (the SDKs send either), ``mask`` and ``markup``. Everything else
is :func:`~imageshim._frontends.edit_request.edit_plan`, shared with the native client.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from imageshim._frontends import multipart
from imageshim._frontends.edit_request import EDIT_FIELDS, VARIATION_FIELDS, Upload, edit_plan, typed_fields

if TYPE_CHECKING:
    from imageshim._core.edit import Kind
    from imageshim._core.plan import Plan
    from imageshim._frontends.engine import Engine

__all__ = ["FormError", "form_plan"]


class FormError(ValueError):
    """A form the handler answers with a 400 before anything else: ``param`` names the field."""

    def __init__(self, message: str, *, code: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message, self.code, self.param = message, code, param


def form_plan(
    engine: Engine, kind: Kind, body: bytes, content_type: str | None, timeout: float | None
) -> Plan:
    """The plan of an edit or variation form; :class:`FormError` for a malformed form, and the core's
    errors (a 400 naming the field) for what it refuses."""
    boundary = multipart.boundary_of(content_type)
    if boundary is None:
        raise FormError(
            f"This endpoint takes multipart/form-data (with the image files), not {content_type or 'no body'}.",
            code="invalid_content_type",
        )
    try:
        parts = multipart.parse(body, boundary)
    except multipart.MultipartError as exc:
        raise FormError(f"The multipart body could not be read: {exc}.", code="invalid_multipart") from None
    kinds = EDIT_FIELDS if kind == "edit" else VARIATION_FIELDS
    files: dict[str, list[Upload]] = {"image": [], "mask": [], "markup": []}
    raw: dict[str, str] = {}
    for part in parts:
        name = "image" if part.name == "image[]" else part.name
        if name in files and (kind == "edit" or name == "image"):
            files[name].append((part.data, part.filename))
        elif name in kinds:
            if name in raw:
                raise FormError(f"'{name}' was sent twice.", code="invalid_value", param=name)
            try:
                raw[name] = part.text()
            except multipart.MultipartError as exc:
                raise FormError(f"{exc}.", code="invalid_value", param=name) from None
        else:
            raise FormError(f"Unknown parameter: '{part.name}'.", code="unknown_parameter", param=part.name)
    for single in ("mask", "markup"):
        if len(files[single]) > 1:
            raise FormError(f"Only one '{single}' file may be sent.", code="invalid_value", param=single)
    if kind == "variation" and len(files["image"]) > 1:
        raise FormError("A variation takes one 'image' file.", code="invalid_value", param="image")
    return edit_plan(
        engine,
        typed_fields(raw, kinds),
        files["image"],
        mask=files["mask"][0] if files["mask"] else None,
        markup=files["markup"][0] if files["markup"] else None,
        kind=kind,
        timeout=timeout,
    )
