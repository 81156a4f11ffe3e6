"""Real, decodable images made without dependencies (PNG, animated GIF, SVG), or through Pillow (JPEG, WebP)."""

from __future__ import annotations

import hashlib
import io
import struct
import zlib

from imageshim.adapterkit import (
    ConfigurationError,
)

__all__ = ["MEDIA_TYPES", "gif_delay", "make_gif", "make_image", "make_svg", "png_size"]

#: the media type of each output format the mock makes
MEDIA_TYPES = {
    "png": "image/png",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
    "gif": "image/gif",
    "svg": "image/svg+xml",
}


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
    """Image bytes of exactly ``width`` x ``height`` in ``output_format`` (png, jpeg, webp, gif, svg).

    GIF: the API's defaults (9 frames of 200 ms); :func:`make_gif` takes other ones."""
    if output_format == "gif":
        return make_gif(width, height, seed)
    if output_format == "svg":
        return make_svg(width, height, seed)
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


# ----- animated GIF (GIF89a, LZW), no dependencies ---------------------------------------------------------
_GIF_BITS = 6  # a 64-colour palette: the gradient's steps
_GIF_COLOURS = 1 << _GIF_BITS
_GIF_MAX_DELAY = 65535  # centiseconds: the delay field is 16 bits


def gif_delay(frame_duration_ms: int) -> int:
    """The GIF frame delay, in centiseconds, for ``frame_duration_ms``: rounded to 10 ms, capped at the
    16-bit field's 65,535 (655,350 ms)."""
    return min(_GIF_MAX_DELAY, max(0, round(frame_duration_ms / 10)))


def make_gif(width: int, height: int, seed: str, frame_count: int = 9, frame_duration_ms: int = 200) -> bytes:
    """An animated GIF89a of exactly ``width`` x ``height``: ``frame_count`` frames of the gradient drawn
    from ``seed`` (each frame shifts it by one step), each shown ``frame_duration_ms`` (see
    :func:`gif_delay`), looping forever.

    Each frame is horizontal bands of one colour; the pixel data is a real LZW code stream (see
    :func:`_lzw_runs`), so any GIF reader decodes it, and building it costs a few hundred codes per band
    at most, not work per pixel (the default 1024x1024 of 9 frames takes well under a second)."""
    if not (1 <= width <= 0xFFFF and 1 <= height <= 0xFFFF):
        raise ValueError(f"a GIF is 1..65535 pixels a side, not {width}x{height}")
    if frame_count < 1:
        raise ValueError(f"a GIF has at least one frame, not {frame_count}")
    top, bottom = _colors(seed)
    steps = min(height, _GIF_COLOURS)
    palette = bytearray()
    for i in range(_GIF_COLOURS):
        t = min(i, steps - 1) / max(1, steps - 1)
        palette += bytes(round(a + (b - a) * t) for a, b in zip(top, bottom, strict=True))
    band = -(-height // steps)
    rows = [min(band, height - i * band) for i in range(steps)]
    rows = [r for r in rows if r > 0]
    delay = gif_delay(frame_duration_ms)
    out = bytearray(b"GIF89a")
    # logical screen: global colour table of 2**_GIF_BITS entries, 8-bit colour resolution
    out += struct.pack("<HHBBB", width, height, 0xF0 | (_GIF_BITS - 1), 0, 0)
    out += palette
    out += b"\x21\xff\x0bNETSCAPE2.0\x03\x01" + struct.pack("<H", 0) + b"\x00"  # loop forever
    for frame in range(frame_count):
        # graphic control: disposal 1 (leave in place), no transparency, the delay
        out += b"\x21\xf9\x04\x04" + struct.pack("<H", delay) + b"\x00\x00"
        out += b"\x2c" + struct.pack("<HHHHB", 0, 0, width, height, 0)
        runs = [((i + frame) % len(rows), r * width) for i, r in enumerate(rows)]
        out.append(_GIF_BITS)
        data = _lzw_runs(runs, _GIF_BITS)
        for start in range(0, len(data), 255):
            block = data[start : start + 255]
            out.append(len(block))
            out += block
        out.append(0)
    out += b"\x3b"
    return bytes(out)


def _lzw_runs(runs: list[tuple[int, int]], min_code_size: int) -> bytes:
    """The GIF LZW code stream of pixels given as runs ``(palette index, length)``.

    Every run starts after a clear code, and is then encoded as a greedy LZW encoder would: after a clear
    the only strings known for a run of colour ``c`` are ``c`` and those the run itself adds, so the codes
    are ``c`` (1 pixel), then the new entries for ``cc``, ``ccc``, ... (2, 3, ... pixels: each one the
    entry the previous code just created, LZW's "KwKwK" case), and a last one for what is left. Code widths
    follow the decoder's dictionary exactly (GIF grows the width when the next entry reaches 2**width,
    without TIFF's early change), and a clear is sent again before the dictionary would fill (4096)."""
    clear = 1 << min_code_size
    end = clear + 1
    first_free = clear + 2
    most = 4095 - first_free  # codes after a clear: the decoder's next entry stays below 4095
    acc = nbits = 0
    out = bytearray()
    width = min_code_size + 1  # the width each code is written at: the one the decoder reads it at

    def put(code: int) -> None:
        nonlocal acc, nbits
        acc |= code << nbits
        nbits += width
        while nbits >= 8:
            out.append(acc & 0xFF)
            acc >>= 8
            nbits -= 8

    for colour, length in runs:
        left = length
        while left > 0:
            put(clear)  # read at the width in use; the decoder then starts again
            width = min_code_size + 1
            next_entry = first_free  # the decoder's next dictionary entry
            known = 1  # the longest run of ``colour`` the dictionary holds
            codes = 0
            while left > 0 and codes < most:
                take = min(known, left)
                put(colour if take == 1 else first_free + take - 2)
                left -= take
                if codes:  # the decoder adds an entry for every code but the first after a clear
                    next_entry += 1
                    if next_entry >= 1 << width and width < 12:
                        width += 1
                codes += 1
                known += 1  # the code just sent adds the run one pixel longer
    put(end)
    if nbits:
        out.append(acc & 0xFF)
    return bytes(out)


# ----- SVG ---------------------------------------------------------------------------------------------------
def make_svg(width: int, height: int, seed: str) -> bytes:
    """A small, well-formed SVG document of ``width`` x ``height`` (its ``width``, ``height`` and
    ``viewBox``): the gradient drawn from ``seed``, and a circle placed by it. No script, no reference to
    anything outside the document."""
    top, bottom = _colors(seed)
    digest = hashlib.sha256(b"svg|" + seed.encode()).digest()
    cx = round(width * (0.25 + digest[0] / 510))
    cy = round(height * (0.25 + digest[1] / 510))
    r = max(1, round(min(width, height) * (0.1 + digest[2] / 1275)))
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}">\n'
        '<defs><linearGradient id="g" x1="0" y1="0" x2="0" y2="1">'
        f'<stop offset="0" stop-color="#{top.hex()}"/><stop offset="1" stop-color="#{bottom.hex()}"/>'
        "</linearGradient></defs>\n"
        f'<rect width="{width}" height="{height}" fill="url(#g)"/>\n'
        f'<circle cx="{cx}" cy="{cy}" r="{r}" fill="#{digest[3:6].hex()}"/>\n'
        "</svg>\n"
    ).encode()


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
