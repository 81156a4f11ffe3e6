"""Image bytes from providers: is it base64, is it an image, and which media type it really is.

Providers' bytes are checked before they reach a caller or a hosted URL: a reply whose base64 does not
decode, or decodes to something that is not an image, is an error (never passed on), and an image is
labelled with the media type its bytes say, never with the one a provider wrote next to it (a ``data:``
URI claiming ``text/html`` would otherwise be served as a page).

The base64 is decoded in slices, so checking a 16 MiB image holds one slice at a time, not a second copy.
"""

from __future__ import annotations

import binascii
import sys

__all__ = ["MEDIA_EXTENSIONS", "check_base64_image", "sniff"]

#: the image media types imageshim passes on, and their file extensions
MEDIA_EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "image/gif": "gif"}
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


def _decode(chunk: str) -> bytes:
    if sys.version_info >= (3, 11):
        return binascii.a2b_base64(chunk, strict_mode=True)
    import base64  # pragma: no cover - Python 3.10

    return base64.b64decode(chunk, validate=True)  # pragma: no cover


def check_base64_image(b64: str) -> str:
    """The media type of the image ``b64`` encodes; ValueError saying why when it is not valid base64 of
    an image. Line breaks (MIME-style wrapping) are tolerated; any other stray character is not."""
    if not isinstance(b64, str) or not b64:
        raise ValueError("the image is empty")
    if not b64.isascii():
        raise ValueError("the base64 holds characters outside the base64 alphabet")
    try:
        head = _decode(b64[:_SLICE])
    except (binascii.Error, ValueError):
        b64 = b64.translate(_WHITESPACE)
        try:
            head = _decode(b64[:_SLICE])
        except (binascii.Error, ValueError) as exc:
            raise ValueError(f"the base64 does not decode ({exc})") from None
    media_type = sniff(head[:16])
    if media_type is None:
        # The bytes are not quoted: they are the provider's, and could hold anything.
        raise ValueError("the bytes are not a PNG, JPEG, WebP or GIF image")
    for start in range(_SLICE, len(b64), _SLICE):
        try:
            _decode(b64[start : start + _SLICE])
        except (binascii.Error, ValueError) as exc:
            raise ValueError(f"the base64 does not decode after character {start} ({exc})") from None
    return media_type
