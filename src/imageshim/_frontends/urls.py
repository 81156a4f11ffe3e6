"""``response_format="url"`` for targets that return base64 only: data URIs or files on disk.

Both label the image. The label comes from ``media_type`` when the caller knows it (the type the bytes
sniff as, :mod:`imageshim._core.media`): a provider that was asked for PNG and sent a JPEG is then labelled
JPEG, as the bytes are. Without it, the requested ``output_format`` labels the image, as before.

SVG (``image/svg+xml``, ``.svg``) is written only for a call whose ``output_format`` is ``svg``: a sniffed
SVG type on any other call is not trusted into a label (the core never accepts SVG bytes there anyway).
A ``file://`` SVG is a document a browser runs scripts in when it is opened from disk, as any SVG file.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

from imageshim._core.media import MEDIA_EXTENSIONS, SVG_MEDIA_TYPE

__all__ = ["MEDIA_TYPES", "data_uri", "write_file_url"]

MEDIA_TYPES = {
    "png": "image/png",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
    "gif": "image/gif",
    "svg": SVG_MEDIA_TYPE,
}


def _known(media_type: str | None, output_format: str | None) -> str | None:
    """``media_type`` when it is one imageshim passes on for this call (SVG only for SVG output), else None."""
    if media_type not in MEDIA_EXTENSIONS:
        return None
    if media_type == SVG_MEDIA_TYPE and output_format != "svg":
        return None
    return media_type


def _media_type(output_format: str | None, media_type: str | None) -> str:
    """The sniffed type when given and one imageshim passes on, else the one ``output_format`` names.

    A ``media_type`` outside :data:`MEDIA_EXTENSIONS` is ignored rather than written into a URL: the
    label must never be something a browser would run (``text/html``), and SVG only where it was asked."""
    known = _known(media_type, output_format)
    if known is not None:
        return known
    return MEDIA_TYPES.get(output_format or "png", "image/png")


def data_uri(b64: str, output_format: str | None, media_type: str | None = None) -> str:
    """``data:image/png;base64,...``: decodes to exactly the bytes the provider returned.

    ``media_type``: the type the bytes sniff as, when the caller knows it; it wins over ``output_format``.
    """
    return f"data:{_media_type(output_format, media_type)};base64,{b64}"


def write_file_url(
    b64: str, output_format: str | None, directory: Path, media_type: str | None = None
) -> str:
    """Write the image under ``directory`` (named by its content hash) and return its ``file://`` URL.

    The extension is the one of ``media_type`` (the sniffed type) when given, else of ``output_format``.
    """
    import hashlib

    raw = base64.b64decode(b64)
    known = _known(media_type, output_format)
    if known is not None:
        ext = MEDIA_EXTENSIONS[known]
    else:  # the behaviour before media_type existed, unchanged
        ext = {"jpeg": "jpg"}.get(output_format or "png", output_format or "png")
    directory.mkdir(parents=True, exist_ok=True)
    path = (directory / f"{hashlib.sha256(raw).hexdigest()[:32]}.{ext}").resolve()
    if not path.exists():
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(raw)
        os.replace(tmp, path)
    return path.as_uri()
