"""Real, decodable images made without dependencies (PNG), or through Pillow (JPEG, WebP)."""

from __future__ import annotations

import hashlib
import io
import struct
import zlib

from imageshim.adapterkit import (
    ConfigurationError,
)

__all__ = ["make_image", "png_size"]


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def _colors(seed: str) -> tuple[bytes, bytes]:
    digest = hashlib.sha256(seed.encode()).digest()
    return digest[:3], digest[3:6]


def _png(width: int, height: int, seed: str) -> bytes:
    """A vertical gradient between two colours drawn from ``seed``: deterministic and cheap to build."""
    top, bottom = _colors(seed)
    rows = []
    steps = min(height, 64)
    band = -(-height // steps)
    for i in range(steps):
        t = i / max(1, steps - 1)
        pixel = bytes(round(a + (b - a) * t) for a, b in zip(top, bottom, strict=True))
        row = b"\x00" + pixel * width
        rows.append(row * min(band, height - i * band))
    raw = b"".join(rows)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(raw, 1))
        + _chunk(b"IEND", b"")
    )


def make_image(width: int, height: int, seed: str, output_format: str = "png") -> bytes:
    """Image bytes of exactly ``width`` x ``height`` in ``output_format`` (png, jpeg, webp)."""
    png = _png(width, height, seed)
    if output_format == "png":
        return png
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - exercised only without the extra
        raise ConfigurationError(
            f"The mock adapter needs Pillow for output_format={output_format!r}: pip install 'imageshim[images]'"
        ) from None
    out = io.BytesIO()
    Image.open(io.BytesIO(png)).convert("RGB").save(
        out, format={"jpeg": "JPEG", "webp": "WEBP"}[output_format]
    )
    return out.getvalue()


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) read from a PNG's IHDR."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def with_text(png: bytes, key: str, text: str) -> bytes:
    """``png`` with a ``tEXt`` chunk ``key``=``text`` right after its header (readers ignore it; tests read
    it to tell what an image was made from)."""
    chunk = _chunk(b"tEXt", key.encode("latin-1") + b"\0" + text.encode("latin-1"))
    return png[:33] + chunk + png[33:]


def png_text(png: bytes) -> dict[str, str]:
    """The ``tEXt`` chunks of a PNG, as a dict."""
    out: dict[str, str] = {}
    position = 8
    while position + 8 <= len(png):
        length, kind = struct.unpack(">I4s", png[position : position + 8])
        if kind == b"tEXt":
            key, _, value = png[position + 8 : position + 8 + length].partition(b"\0")
            out[key.decode("latin-1")] = value.decode("latin-1")
        if kind == b"IEND":
            break
        position += 12 + length
    return out
