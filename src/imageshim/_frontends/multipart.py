"""``multipart/form-data`` bodies (the Images API's edits and variations), parsed without copies to spare.

The body is cut at its boundary with ``bytes.find`` (C speed, one pass); each part's value is one slice of
the body. Files keep their filename and declared content type (the core checks the bytes themselves);
fields are text. Repeated names keep their order (``image[]`` x 16).
"""

from __future__ import annotations

import dataclasses
from email.message import Message

__all__ = ["MultipartError", "Part", "boundary_of", "parse"]


class MultipartError(ValueError):
    """The body is not the multipart form its content type announces."""


@dataclasses.dataclass(frozen=True, repr=False)
class Part:
    name: str
    data: bytes
    filename: str | None = None
    content_type: str | None = None

    @property
    def is_file(self) -> bool:
        return self.filename is not None

    def text(self) -> str:
        try:
            return self.data.decode("utf-8")
        except UnicodeDecodeError:
            raise MultipartError(f"form field {self.name!r} is not UTF-8 text") from None

    def __repr__(self) -> str:
        return f"Part({self.name!r}, {len(self.data)} bytes, filename={self.filename!r})"


def _params(value: str) -> tuple[str, dict[str, str]]:
    from email.utils import collapse_rfc2231_value

    message = Message()
    message["content-type"] = value  # the stdlib's RFC 2231 parameter parsing, quoted values included
    params = {
        k.lower(): collapse_rfc2231_value(v)
        for k, v in message.get_params(failobj=[], header="content-type")[1:]
    }
    return message.get_content_type(), params


def boundary_of(content_type: str | None) -> str | None:
    """The boundary of a ``multipart/form-data`` content type, or None when it is not one."""
    if not content_type:
        return None
    kind, params = _params(content_type)
    if kind != "multipart/form-data":
        return None
    return params.get("boundary") or None


def _disposition(value: str) -> tuple[str, str | None]:
    message = Message()
    message["content-disposition"] = value
    name = message.get_param("name", header="content-disposition")
    filename = message.get_filename()
    if not isinstance(name, str) or not name:
        raise MultipartError("a form part has no name")
    return name, filename


def parse(body: bytes, boundary: str, *, max_parts: int = 64) -> list[Part]:
    """The parts of ``body``; :class:`MultipartError` when it is malformed or has more than ``max_parts``."""
    try:
        delimiter = b"--" + boundary.encode("latin-1")
    except UnicodeEncodeError:
        raise MultipartError("the multipart boundary is not plain text") from None
    start = body.find(delimiter)
    if start < 0:
        raise MultipartError("the body does not contain its multipart boundary")
    parts: list[Part] = []
    position = start + len(delimiter)
    separator = b"\r\n" + delimiter
    while True:
        if body[position : position + 2] == b"--":
            return parts  # the closing delimiter
        if body[position : position + 2] != b"\r\n":
            raise MultipartError("a multipart delimiter is not followed by a line break")
        head_end = body.find(b"\r\n\r\n", position + 2)
        end = body.find(separator, position + 2)
        if head_end < 0 or end < 0 or head_end > end:
            raise MultipartError("a form part is cut short (no closing boundary)")
        headers = _headers(body[position + 2 : head_end])
        name, filename = _disposition(headers.get("content-disposition", ""))
        parts.append(Part(name, body[head_end + 4 : end], filename, headers.get("content-type")))
        if len(parts) > max_parts:
            raise MultipartError(f"the form has more than {max_parts} parts")
        position = end + len(separator)


def _headers(block: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    if b"\n" in block.replace(b"\r\n", b"") or b"\r" in block.replace(b"\r\n", b""):
        raise MultipartError("a form part's headers hold a bare line break")
    for line in block.split(b"\r\n"):
        key, colon, value = line.decode("utf-8", "replace").partition(":")
        if colon:
            headers[key.strip().lower()] = value.strip()
    return headers
