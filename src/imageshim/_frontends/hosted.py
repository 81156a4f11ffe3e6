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

from imageshim._core.media import MEDIA_EXTENSIONS, sniff

__all__ = ["HostedImages", "decode_data_uri"]

_NOT_AN_IMAGE = "the bytes are not a PNG, JPEG, WebP or GIF image"
_WHITESPACE = str.maketrans("", "", " \t\r\n")  # MIME-style line breaks are valid base64 wrapping


def decode_data_uri(url: str) -> bytes:
    """The image bytes of a base64 ``data:`` URI; ValueError when it is not base64 or not an image.

    The media type written in the URI is ignored: only the bytes decide what is served. The messages
    never quote the bytes: they come from a provider, and a few of them cut from the front could be
    the front of a key that :func:`imageshim._core.errors.redact` no longer recognises once cut.
    """
    head, comma, b64 = url.partition(",")
    if not head.startswith("data:") or not comma or not head.endswith(";base64"):
        # A non-base64 data URI (``data:image/svg+xml,<svg ...>``) is text, never one of the raster
        # images a provider returns.
        raise ValueError("the URL is not a base64 data: URI")
    try:
        data = base64.b64decode(b64.translate(_WHITESPACE), validate=True)
    except (binascii.Error, ValueError):  # ValueError: characters outside ASCII
        raise ValueError("the base64 of the data: URI does not decode") from None
    if sniff(data[:16]) is None:
        raise ValueError(_NOT_AN_IMAGE)
    return data


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

        ``claimed``: the media type the caller was told (a provider's ``data:`` label). It is accepted so
        that callers holding one can pass it, and never used: a claim is what this store must not trust.
        """
        del claimed
        media_type = sniff(data[:16])
        if media_type is None:
            raise ValueError(_NOT_AN_IMAGE)
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
        decoded: list[tuple[dict[str, Any], bytes]] = []
        for index, item in enumerate(payload.get("data", [])):
            url = item.get("url")
            if not (isinstance(url, str) and url.startswith("data:")):
                continue
            try:
                decoded.append((item, decode_data_uri(url)))
            except ValueError as exc:
                raise ValueError(f"data[{index}] of the reply cannot be hosted: {exc}") from None
        for item, data in decoded:
            item["url"] = f"{base_url}/v1/imageshim/images/{self.put(data)}"
        return json.dumps(payload).encode()
