"""Image bytes from providers: is it base64, is it an image, and which media type it really is.

Providers' bytes are checked before they reach a caller or a hosted URL: a reply whose base64 does not
decode, or decodes to something that is not an image, is an error (never passed on), and an image is
labelled with the media type its bytes say, never with the one a provider wrote next to it (a ``data:``
URI claiming ``text/html`` would otherwise be served as a page).

SVG is a document, not a raster image, and can carry scripts: it is accepted only where the caller asked
for it (``check_base64_image(..., svg=True)``, which the execution policy passes for calls whose output
format is ``svg``), recognised by its first element (:func:`is_svg`), and labelled ``image/svg+xml``.

The base64 is decoded in slices, so checking a 16 MiB image holds one slice at a time, not a second copy.
"""

from __future__ import annotations

import binascii
import struct
import sys

__all__ = [
    "MEDIA_EXTENSIONS",
    "SVG_MEDIA_TYPE",
    "check_base64_image",
    "inspect_image",
    "is_svg",
    "sniff",
    "unwrapped",
]

#: the image media types imageshim passes on, and their file extensions (SVG only where it was asked for)
MEDIA_EXTENSIONS = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/webp": "webp",
    "image/gif": "gif",
    "image/svg+xml": "svg",
}
SVG_MEDIA_TYPE = "image/svg+xml"
_SLICE = 1 << 20  # characters of base64 decoded at a time (a multiple of 4)
_WHITESPACE = str.maketrans("", "", " \t\r\n")


def sniff(head: bytes) -> str | None:
    """The media type the leading bytes of an image announce (PNG, JPEG, WebP, GIF), else None.

    SVG is not among them on purpose: it is a document that can carry scripts, not a raster image.
    """
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    return None


_SVG_SCAN = 64 << 10  # bytes of prolog (declaration, comments, doctype) looked through for <svg
#: characters of base64 decoded to read what the image is: enough for _SVG_SCAN bytes (the rest of the
#: string is only checked against the alphabet, in slices)
_HEAD = 4 * -(-_SVG_SCAN // 3)
_XML_SPACE = b" \t\r\n"


def is_svg(head: bytes) -> bool:
    """Whether ``head`` (the leading bytes of a document) is an SVG document: after optional whitespace,
    a UTF-8 byte-order mark, an ``<?xml ...?>`` declaration, comments and a doctype, its first element is
    ``<svg``. A doctype with an internal subset (``[...]``: entity definitions) is not accepted."""
    text = head[:_SVG_SCAN]
    position = 3 if text.startswith(b"\xef\xbb\xbf") else 0
    while True:
        while position < len(text) and text[position] in _XML_SPACE:
            position += 1
        if text.startswith(b"<?xml", position):
            end = text.find(b"?>", position + 5)
            if end < 0:
                return False
            position = end + 2
        elif text.startswith(b"<!--", position):
            end = text.find(b"-->", position + 4)
            if end < 0:
                return False
            position = end + 3
        elif text.startswith(b"<!DOCTYPE", position):
            end = text.find(b">", position + 9)
            if end < 0 or b"[" in text[position:end]:
                return False
            position = end + 1
        else:
            break
    return text.startswith(b"<svg", position) and text[position + 4 : position + 5] in (
        *(bytes([c]) for c in _XML_SPACE),
        b">",
        b"/",
    )


def _decode(chunk: str) -> bytes:
    if sys.version_info >= (3, 11):
        return binascii.a2b_base64(chunk, strict_mode=True)
    import base64  # pragma: no cover - Python 3.10

    return base64.b64decode(chunk, validate=True)  # pragma: no cover


_ALPHABET_AND_PAD = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="


def _check_alphabet(b64: str) -> None:
    """Every character is of the base64 alphabet, padding only at the end and the length a multiple of 4:
    what a strict decoder checks, in one C pass (``bytes.translate``) instead of decoding the image."""
    for start in range(0, len(b64), _SLICE):  # a slice at a time: no second copy of a big image
        chunk = b64[start : start + _SLICE].encode("ascii")
        stray = chunk.translate(None, _ALPHABET_AND_PAD)
        if stray:
            position = start + chunk.find(stray[:1])
            raise ValueError(f"the base64 holds a character outside its alphabet at position {position}")
    padding = b64.find("=")  # only the last one or two characters may be padding
    if padding != -1 and (padding < len(b64) - 2 or b64[padding:].strip("=")):
        raise ValueError(f"the base64 has padding inside it at position {padding}")
    if len(b64) % 4:
        raise ValueError("the base64 is cut short (its length is not a multiple of 4)")


def unwrapped(b64: str) -> str:
    """``b64`` without the line breaks and spaces some encoders wrap base64 in (a strict decoder, and
    every caller's, refuses them); the same string when it has none (the common case: four C-speed scans)."""
    if any(c in b64 for c in " \t\r\n"):
        return b64.translate(_WHITESPACE)
    return b64


def check_base64_image(b64: str, *, svg: bool = False) -> str:
    """The media type of the image ``b64`` encodes; ValueError saying why when it is not valid base64 of
    an image. Line breaks and spaces (MIME-style wrapping, anywhere in the string) are tolerated, as
    :func:`unwrapped` removes them; any other stray character is not.

    ``svg``: accept an SVG document as well (``image/svg+xml``): only for a call that asked for SVG
    output. Without it an SVG is refused like any other non-image."""
    if not isinstance(b64, str) or not b64:
        raise ValueError("the image is empty")
    if not b64.isascii():
        raise ValueError("the base64 holds characters outside the base64 alphabet")
    b64 = unwrapped(b64)
    try:
        head = _decode(b64[:_HEAD])
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"the base64 does not decode ({exc})") from None
    media_type = sniff(head[:16])
    if media_type is None:
        # The bytes are not quoted: they are the provider's, and could hold anything.
        if not is_svg(head):
            what = "a PNG, JPEG, WebP or GIF image" + (" or an SVG document" if svg else "")
            raise ValueError(f"the bytes are not {what}")
        if not svg:
            raise ValueError(
                "the bytes are an SVG document, not a PNG, JPEG, WebP or GIF image "
                "(SVG is accepted only when output_format='svg' was asked for)"
            )
        media_type = SVG_MEDIA_TYPE
    _check_alphabet(b64)
    return media_type


# ----- images the caller sends (edit inputs) ----------------------------------------------------------------
def inspect_image(data: bytes) -> tuple[str, int, int, bool]:
    """(media type, width, height, has an alpha channel) read from an image's header, without decoding
    its pixels; ValueError saying why when the bytes are not a PNG, JPEG, WebP or GIF this can read.

    PNG: IHDR (colour types 4 and 6 carry alpha, a tRNS chunk adds it); JPEG: the first SOFn frame header
    (never alpha); WebP: VP8 / VP8L / VP8X headers (VP8X and VP8L say whether there is alpha); GIF: the
    logical screen (alpha when a graphic control block sets a transparent colour)."""
    media_type = sniff(data[:16])
    if media_type == "image/png":
        return (media_type, *_png(data))
    if media_type == "image/jpeg":
        return (media_type, *_jpeg(data))
    if media_type == "image/webp":
        return (media_type, *_webp(data))
    if media_type == "image/gif":
        if len(data) < 10:
            raise ValueError("the GIF header is cut short")
        width, height = struct.unpack("<HH", data[6:10])
        return media_type, width, height, b"\x21\xf9\x04" in data[:4096]
    raise ValueError("the file is not a PNG, JPEG, WebP or GIF image")


def _png(data: bytes) -> tuple[int, int, bool]:
    if len(data) < 33 or data[12:16] != b"IHDR":
        raise ValueError("the PNG has no IHDR header")
    width, height, _, colour = struct.unpack(">IIBB", data[16:26])
    alpha = colour in (4, 6)
    position = 33  # after the signature (8) and IHDR (4 + 4 + 13 + 4)
    while not alpha and position + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[position : position + 8])
        if kind in (b"IDAT", b"IEND"):
            break
        alpha = kind == b"tRNS"
        position += 12 + length
    if width == 0 or height == 0:
        raise ValueError("the PNG says it is 0 pixels wide or high")
    return width, height, alpha


_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _jpeg(data: bytes) -> tuple[int, int, bool]:
    position = 2
    while position + 9 <= len(data):
        if data[position] != 0xFF:
            raise ValueError("the JPEG's segments are malformed")
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        (length,) = struct.unpack(">H", data[position + 2 : position + 4])
        if marker in _SOF:
            height, width = struct.unpack(">HH", data[position + 5 : position + 9])
            if width == 0 or height == 0:
                break
            return width, height, False
        position += 2 + length
    raise ValueError("the JPEG has no frame header with its size")


def _webp(data: bytes) -> tuple[int, int, bool]:
    kind = data[12:16]
    if kind == b"VP8X" and len(data) >= 30:
        alpha = bool(data[20] & 0x10)
        width = 1 + int.from_bytes(data[24:27], "little")
        height = 1 + int.from_bytes(data[27:30], "little")
        return width, height, alpha
    if kind == b"VP8L" and len(data) >= 25:
        bits = int.from_bytes(data[21:25], "little")
        return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF), bool((bits >> 28) & 1)
    if kind == b"VP8 " and len(data) >= 30:
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF, False
    raise ValueError("the WebP has no VP8, VP8L or VP8X header")
