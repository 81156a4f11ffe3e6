"""``response_format="url"`` for targets that return base64 only: data URIs or files on disk."""

from __future__ import annotations

import base64
import os
from pathlib import Path

__all__ = ["MEDIA_TYPES", "data_uri", "write_file_url"]

MEDIA_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}


def data_uri(b64: str, output_format: str | None) -> str:
    """``data:image/png;base64,...``: decodes to exactly the bytes the provider returned."""
    return f"data:{MEDIA_TYPES.get(output_format or 'png', 'image/png')};base64,{b64}"


def write_file_url(b64: str, output_format: str | None, directory: Path) -> str:
    """Write the image under ``directory`` (named by its content hash) and return its ``file://`` URL."""
    import hashlib

    raw = base64.b64decode(b64)
    ext = {"jpeg": "jpg"}.get(output_format or "png", output_format or "png")
    directory.mkdir(parents=True, exist_ok=True)
    path = (directory / f"{hashlib.sha256(raw).hexdigest()[:32]}.{ext}").resolve()
    if not path.exists():
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(raw)
        os.replace(tmp, path)
    return path.as_uri()
