"""Hosted image URLs for the gateway: base64-only targets still answer ``response_format="url"`` with an
``http(s)`` URL, served by the gateway and expiring like OpenAI's (60 minutes by default).

A bounded in-memory store: entries expire after ``ttl_seconds`` and the oldest are evicted beyond
``max_bytes``. The clock is injectable (``now`` returns seconds).

Only images are hosted, labelled with the media type their bytes announce (:func:`imageshim._core.media.sniff`)
and named with that type's extension, never with the type a provider wrote next to them: the gateway
serves these bytes from its own origin, so a ``data:text/html;base64,...`` from a provider (or anything
in between) would otherwise become a page, with scripts, on the gateway's address. Bytes that are not a
PNG, JPEG, WebP or GIF image are refused with a ``ValueError`` the caller turns into an error reply. The
core refuses such replies before they get here; this check is defence in depth, kept next to the store
so that nothing can put a non-image behind a hosted URL.

SVG, a document that can carry scripts, is hosted only when everything says it was asked for: the reply's
``output_format`` is ``svg``, the ``data:`` URI is labelled ``image/svg+xml`` (the shim's own label, made
from the bytes the core accepted for an SVG call) and the bytes are an SVG document
(:func:`imageshim._core.media.is_svg`). The gateway serves it as ``image/svg+xml`` with
``Content-Security-Policy: sandbox`` and ``nosniff``, so no script in it runs on the gateway's origin.
"""

from __future__ import annotations

import base64
import binascii
import collections
import json
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

from imageshim._core.media import MEDIA_EXTENSIONS, SVG_MEDIA_TYPE, is_svg, sniff

__all__ = ["HostedImages", "decode_data_uri"]

_NOT_AN_IMAGE = "the bytes are not a PNG, JPEG, WebP or GIF image"
_SVG_NOT_ASKED = " (an SVG document is hosted only for output_format='svg')"
_WHITESPACE = str.maketrans("", "", " \t\r\n")  # MIME-style line breaks are valid base64 wrapping


def decode_data_uri(url: str, *, svg: bool = False) -> bytes:
    """The image bytes of a base64 ``data:`` URI; ValueError when it is not base64 or not an image.

    The media type written in the URI is ignored for raster images: only the bytes decide what is
    served. ``svg``: the reply was asked for as SVG; an SVG document is then accepted too, when the URI
    is labelled ``image/svg+xml`` as well (both must say SVG). The messages never quote the bytes: they
    come from a provider, and a few of them cut from the front could be the front of a key that
    :func:`imageshim._core.errors.redact` no longer recognises once cut.
    """
    head, comma, b64 = url.partition(",")
    if not head.startswith("data:") or not comma or not head.endswith(";base64"):
        # A non-base64 data URI (``data:image/svg+xml,<svg ...>``) is text, never one of the raster
        # images a provider returns, nor the base64 the shim writes its own SVG labels with.
        raise ValueError("the URL is not a base64 data: URI")
    try:
        data = base64.b64decode(b64.translate(_WHITESPACE), validate=True)
    except (binascii.Error, ValueError):  # ValueError: characters outside ASCII
        raise ValueError("the base64 of the data: URI does not decode") from None
    _media_type(data, _label(head) if svg else None)
    return data


def _label(head: str) -> str:
    """The media type a ``data:...;base64`` head names (lower case, parameters dropped)."""
    return head[5:].partition(";")[0].strip().lower()


def _media_type(data: bytes, claimed: str | None) -> str:
    """The media type ``data`` is served as: the raster type its bytes sniff as; ``image/svg+xml`` only
    when it was ``claimed`` and the bytes are an SVG document; else ValueError."""
    media_type = sniff(data[:16])
    if media_type is not None:
        return media_type
    if is_svg(data):
        if claimed == SVG_MEDIA_TYPE:
            return SVG_MEDIA_TYPE
        raise ValueError(_NOT_AN_IMAGE + _SVG_NOT_ASKED)
    raise ValueError(_NOT_AN_IMAGE)


class HostedImages:
    def __init__(
        self,
        *,
        ttl_seconds: float = 3600.0,
        max_bytes: int = 512 << 20,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_seconds = ttl_seconds
        self.max_bytes = max_bytes
        self._now = now
        self._items: collections.OrderedDict[str, tuple[bytes, str, float]] = collections.OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def put(self, data: bytes, claimed: str | None = None) -> str:
        """Store the image ``data`` and return its name (random, unguessable, with the file extension of
        the media type the bytes sniff as). ValueError when the bytes are not an image.

        ``claimed``: the media type the caller was told. It never labels a raster image (the bytes do),
        and it is the only way in for SVG: an SVG document is stored only when ``claimed`` is
        ``image/svg+xml``, which :meth:`host_data_uris` passes only for a reply asked for as SVG.
        """
        media_type = _media_type(data, claimed)
        name = f"{secrets.token_urlsafe(24)}.{MEDIA_EXTENSIONS[media_type]}"
        with self._lock:
            self._expire()
            self._items[name] = (data, media_type, self._now() + self.ttl_seconds)
            self._bytes += len(data)
            while self._bytes > self.max_bytes and len(self._items) > 1:
                _, (old, _, _) = self._items.popitem(last=False)
                self._bytes -= len(old)
        return name

    def get(self, name: str) -> tuple[bytes, str] | None:
        """The image and its sniffed media type, or None once expired (or never stored)."""
        with self._lock:
            self._expire()
            found = self._items.get(name)
        return None if found is None else (found[0], found[1])

    def _expire(self) -> None:
        now = self._now()
        while self._items:
            name, (data, _, expires) = next(iter(self._items.items()))
            if expires > now:
                break
            del self._items[name]
            self._bytes -= len(data)

    def host_data_uris(self, body: bytes, base_url: str) -> bytes:
        """Replace every ``data:`` URL in an images response body with a hosted URL under ``base_url``.

        ValueError (naming the image) when one of them is not an image; nothing is hosted then, so a
        refused reply leaves no unreachable entries behind in the store.
        """
        if b'"data:' not in body:
            return body
        payload = json.loads(body)
        svg = payload.get("output_format") == "svg"  # the call asked for SVG: the core checked for it
        decoded: list[tuple[dict[str, Any], bytes, str | None]] = []
        for index, item in enumerate(payload.get("data", [])):
            url = item.get("url")
            if not (isinstance(url, str) and url.startswith("data:")):
                continue
            try:
                data = decode_data_uri(url, svg=svg)
            except ValueError as exc:
                raise ValueError(f"data[{index}] of the reply cannot be hosted: {exc}") from None
            decoded.append((item, data, _label(url.partition(",")[0]) if svg else None))
        for item, data, claimed in decoded:
            item["url"] = f"{base_url}/v1/imageshim/images/{self.put(data, claimed)}"
        return json.dumps(payload).encode()
