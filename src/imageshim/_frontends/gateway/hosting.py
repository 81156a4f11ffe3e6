"""Hosted image URLs for the gateway: base64-only targets still answer ``response_format="url"`` with an
``http(s)`` URL, served by the gateway and expiring like OpenAI's (60 minutes by default; ``[gateway]
ttl_seconds``). Where the images are kept is :mod:`.store`'s job; this module decides what may be kept.

Only images are hosted, labelled with the media type their bytes announce (:func:`imageshim._core.media.sniff`)
and named with that type's extension, never with the type a provider wrote next to them: the gateway
serves these bytes from its own origin, so a ``data:text/html;base64,...`` from a provider (or anything
in between) would otherwise become a page, with scripts, on the gateway's address. Bytes that are not a
PNG, JPEG, WebP or GIF image are refused with a ``ValueError`` the caller turns into an error reply. The
core refuses such replies before they get here; this check is defence in depth, kept next to the store
so that nothing can put a non-image behind a hosted URL.

SVG, a document that can carry scripts, is hosted only when everything says it was asked for: the reply's
``output_format`` is ``svg``, the image's media type is ``image/svg+xml`` (the type the core gave the bytes
it accepted for an SVG call; :func:`decode_data_uri` takes it from the URI's label) and the bytes are an SVG
document
(:func:`imageshim._core.media.is_svg`). The gateway serves it as ``image/svg+xml`` with
``Content-Security-Policy: sandbox`` and ``nosniff``, so no script in it runs on the gateway's origin.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from typing import TYPE_CHECKING

from imageshim._core.media import SVG_MEDIA_TYPE, is_svg, sniff
from imageshim._core.warnings import WarningRecord
from imageshim._frontends.gateway.store import ImageStore, MemoryStore, Stored, StoreFull

if TYPE_CHECKING:
    from imageshim._core.response import Image, ImagesResponse

__all__ = ["decode_data_uri", "host_images", "media_type_of"]

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


def media_type_of(data: bytes, claimed: str | None = None) -> str | None:
    """What the gateway serves ``data`` as (see :func:`_media_type`), or None: not served."""
    try:
        return _media_type(data, claimed)
    except ValueError:
        return None


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


async def host_images(
    response: ImagesResponse, store: ImageStore, owner: str, base_url: str, *, keep_bytes: bool
) -> list[Stored]:
    """Put each image of ``response`` that the reply gives as a ``data:`` URI into ``store`` and give it
    the hosted URL instead; the images stored. ``keep_bytes``: the reply still needs the bytes (a stream);
    otherwise they are released as soon as they are stored, so a large reply is not held twice.

    ValueError (naming the image) when one of them is not an image; nothing is stored then. When the
    store is full for ``owner`` (or its disk fails), the image stays inline as its ``data:`` URI and a
    warning says so: it was paid for, and it is never dropped.
    """
    svg = response.output_format == "svg"  # the call asked for SVG: the core checked for it
    decoded: list[tuple[Image, bytes, str]] = []
    for index, image in enumerate(response.data):
        if not (image.url or "").startswith("data:"):
            continue
        b64 = image.base64() or ""
        try:
            data = base64.b64decode(b64.translate(_WHITESPACE), validate=True)
            media_type = _media_type(data, image.media_type if svg else None)
        except (binascii.Error, ValueError) as exc:
            raise ValueError(f"data[{index}] of the reply cannot be hosted: {exc}") from None
        decoded.append((image, data, media_type))
    stored: list[Stored] = []
    full: StoreFull | None = None
    for image, data, media_type in decoded:
        try:
            if isinstance(store, MemoryStore):
                item = store.put(owner, data, media_type)
            else:  # a file (or remote) store: its I/O leaves the event loop free
                item = await asyncio.to_thread(store.put, owner, data, media_type)
        except StoreFull as exc:
            full = exc
            continue
        image.url = store.link(item, base_url)
        if not keep_bytes:
            image.keep_bytes(None, media_type)
        stored.append(item)
    if full is not None:
        response.imageshim.warnings.append(_inline_warning(response, len(decoded) - len(stored), full))
    return stored


def _inline_warning(response: ImagesResponse, count: int, full: StoreFull) -> WarningRecord:
    return WarningRecord(
        "option_mapped",
        "response_format",
        "url",
        "data-uri",
        f"{count} image(s) are returned inline as data: URIs, not hosted URLs: {full.message} (the "
        "images were generated and paid for, so they are not dropped)",
        target=response.imageshim.route,
    )
