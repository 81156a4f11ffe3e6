"""Hosted images: where the gateway keeps the images it serves behind ``response_format="url"`` URLs.

Three stores with one interface (:class:`ImageStore`), chosen by ``[gateway] store``:

- :class:`MemoryStore` (default): bounded in bytes, in all and per client key. An image stays until its
  TTL; no client's images are evicted to make room for another's. When a key's share (or the whole
  store) is full, :meth:`ImageStore.room` says how long until room is expected (the gateway answers 503
  with ``Retry-After`` before generating), and :meth:`ImageStore.put` raises :class:`StoreFull` (the
  gateway then returns the already paid image inline, with a warning: never dropped).
- :class:`FileStore` (:mod:`.store_file`): files under a directory, surviving restarts; expired files are
  swept.
- :class:`~.store_s3.S3Store` (:mod:`.store_s3`): objects in an S3-compatible bucket, shared by the
  gateway's replicas. When the bucket cannot be reached, ``put`` raises :class:`StoreFull` (the image is
  returned inline) and ``open`` raises :class:`StoreUnavailable` (the gateway answers 503).

:meth:`ImageStore.link` gives a stored image's URL: the gateway's own route for every store, or, for the
S3 store with ``urls = "presigned"``, a presigned URL of the object store.

Names are random and unguessable (``secrets.token_urlsafe(24)``: 32 URL-safe characters), with the
extension of the media type; :func:`is_name` accepts nothing else, so a name from a URL (``../x``, an
absolute path, a NUL) never reaches a dictionary or a file system unchecked. A name is a bearer
capability while its image lives: it is never logged. Owners are opaque strings (the gateway passes a
hash of the client key, never the key). The clocks are injectable: ``now`` (monotonic seconds, for
expiry) and ``wall`` (Unix seconds, for the ``Expires`` header and for files that must expire across
restarts).

Both stores share one :class:`_Ledger` (not locked itself: each store holds its lock around it): the
images by name, their expiries in a heap (the order of expiry, whatever the order they arrived in: a
file store loads its directory unordered, and concurrent writes commit out of order), the bytes per
owner and in all. ``put``, ``open``, ``room`` and ``bytes_used`` first drop what has expired, so memory
never waits for a :meth:`~ImageStore.sweep`; the cost is amortized O(log n) per image. Computing a
``retry_after`` sorts the images of the owner (or, when the whole store is full, all of them): only
when something is full.
"""

from __future__ import annotations

import dataclasses
import heapq
import math
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

from imageshim._core.media import MEDIA_EXTENSIONS

__all__ = ["FileStore", "ImageStore", "MemoryStore", "StoreFull", "StoreUnavailable", "Stored", "is_name"]


@dataclasses.dataclass(frozen=True)
class Stored:
    name: str
    media_type: str
    size: int
    #: Unix seconds at which the URL expires (the ``Expires`` header; ``Cache-Control: max-age`` is the
    #: seconds left until then)
    expires_at: float


class StoreFull(Exception):
    """No room for an image of this owner now; ``retry_after``: seconds until room is expected."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


class StoreUnavailable(Exception):
    """The store cannot answer now (an object store that cannot be reached); asking again later may work.
    The message names the failure's kind only (an error code or class name), never an address or a key."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ImageStore(Protocol):
    ttl_seconds: float

    def room(self, owner: str, images: int = 1) -> float | None:
        """None when ``owner`` can store ``images`` more images now (each the size of its last one: the
        sizes of images not yet made are not known); else the seconds until room is expected."""

    def put(self, owner: str, data: bytes, media_type: str) -> Stored:
        """Keep ``data`` (already checked to be an image of ``media_type``) for ``ttl_seconds``;
        :class:`StoreFull` when the owner's share or the store is full (nothing is evicted early)."""

    def open(self, name: str) -> tuple[Stored, bytes | Path] | None:
        """The image's facts and its bytes (memory) or file (file store); None once expired or unknown.
        :class:`StoreUnavailable` when the store cannot tell now."""

    def link(self, stored: Stored, base_url: str) -> str:
        """The URL a client fetches ``stored`` at: the gateway's hosted-image route under ``base_url``
        (no trailing ``/``), or where the store serves it itself."""

    def sweep(self) -> int:
        """Drop expired images now; the number dropped."""

    def bytes_used(self) -> int:
        """Bytes of images held (for the ``/metrics`` gauge)."""

    def close(self) -> None:
        """Release what the store holds open (files stay on disk)."""


_TOKEN_BYTES = 24  # secrets.token_urlsafe(24): 32 characters of [A-Za-z0-9_-]
_EXTENSIONS = "|".join(sorted(map(re.escape, set(MEDIA_EXTENSIONS.values()))))
_NAME = re.compile(rf"[A-Za-z0-9_-]{{32}}\.(?:{_EXTENSIONS})")


def is_name(name: object) -> bool:
    """Whether ``name`` has the exact form of a hosted image's name (``<32 URL-safe characters>.<ext>``)."""
    return isinstance(name, str) and _NAME.fullmatch(name) is not None


def gateway_link(stored: Stored, base_url: str) -> str:
    """The URL of ``stored`` on the gateway's hosted-image route (``GET /v1/imageshim/images/{name}``)."""
    return f"{base_url}/v1/imageshim/images/{stored.name}"


def extension(media_type: str) -> str:
    """The file extension of a hosted media type; ValueError for any other type."""
    found = MEDIA_EXTENSIONS.get(media_type)
    if found is None:
        raise ValueError(f"not a media type the gateway hosts: {media_type!r}")
    return found


def seconds(delay: float) -> float:
    """A ``retry_after``: whole seconds (rounded up, so that room is there when the caller comes back),
    at least 1."""
    return float(max(1, math.ceil(delay)))


_P = TypeVar("_P")


@dataclasses.dataclass(frozen=True)
class _Entry(Generic[_P]):
    stored: Stored
    owner: str
    expires: float  # on the ``now`` clock
    payload: _P


class _Ledger(Generic[_P]):
    """Images by name, their expiries, and the bytes per owner and in all (see the module docstring).

    ``admit`` reserves an image's bytes before it is written (a file store writes outside its lock) and
    ``commit`` makes it visible; ``release`` gives back a reservation whose write failed. Reserved bytes
    count against the limits, not in :meth:`held`.
    """

    def __init__(self, *, max_bytes: int, max_bytes_per_key: int, now: Callable[[], float]) -> None:
        if max_bytes < 1 or max_bytes_per_key < 1:
            raise ValueError("max_bytes and max_bytes_per_key must be at least 1")
        self.max_bytes = max_bytes
        self.max_bytes_per_key = max_bytes_per_key
        self.now = now
        self._entries: dict[str, _Entry[_P]] = {}
        #: the size of each owner's last image: what its next one is expected to need
        self._last: dict[str, int] = {}
        self._heap: list[tuple[float, str]] = []  # (expires, name), one per entry
        self._by_owner: dict[str, dict[str, _Entry[_P]]] = {}
        self._owner_bytes: dict[str, int] = {}  # held and reserved
        self._held = 0
        self._reserved = 0

    def held(self) -> int:
        return self._held

    def new_name(self, media_type: str) -> str:
        while True:  # 192 random bits: the loop is a formality
            name = f"{secrets.token_urlsafe(_TOKEN_BYTES)}.{extension(media_type)}"
            if name not in self._entries:
                return name

    def get(self, name: str) -> _Entry[_P] | None:
        entry = self._entries.get(name)
        return entry if entry is not None and entry.expires > self.now() else None

    def expire(self) -> list[_Entry[_P]]:
        """Drop the entries whose time has come (``expires <= now``); the entries dropped."""
        now = self.now()
        dropped = []
        while self._heap and self._heap[0][0] <= now:
            entry = self._entries.pop(heapq.heappop(self._heap)[1])
            owned = self._by_owner[entry.owner]
            del owned[entry.stored.name]
            if not owned:
                del self._by_owner[entry.owner]
            self._count(entry.owner, -entry.stored.size)
            self._held -= entry.stored.size
            dropped.append(entry)
        return dropped

    def wait(self, owner: str, size: int, ttl: float) -> tuple[float, str] | None:
        """None when ``size`` more bytes of ``owner`` fit now; else (retry_after, why)."""
        used = self._owner_bytes.get(owner, 0)
        total = self._held + self._reserved
        waits, why = [], []
        if used + size > self.max_bytes_per_key:
            owned = self._by_owner.get(owner, {}).values()
            waits.append(self._until_freed(owned, used + size - self.max_bytes_per_key, ttl))
            why.append(f"this client's share is full ({used} of {self.max_bytes_per_key} bytes held)")
        if total + size > self.max_bytes:
            waits.append(self._until_freed(self._entries.values(), total + size - self.max_bytes, ttl))
            why.append(f"the store is full ({total} of {self.max_bytes} bytes held)")
        return (max(waits), " and ".join(why)) if waits else None

    def _until_freed(self, entries: Iterable[_Entry[_P]], excess: int, ttl: float) -> float:
        """Seconds until the earliest of ``entries`` to expire free ``excess`` bytes; ``ttl`` when they
        cannot (the rest is held by writes in flight, which will hold it for a TTL once committed)."""
        freed, now = 0, self.now()
        for entry in sorted(entries, key=lambda entry: entry.expires):
            freed += entry.stored.size
            if freed >= excess:
                return seconds(entry.expires - now)
        return seconds(ttl)

    def need(self, owner: str, images: int) -> int:
        """The bytes ``images`` more images of ``owner`` are expected to take (at least 1)."""
        return max(1, self._last.get(owner, 1) * images)

    def admit(self, owner: str, size: int, ttl: float) -> None:
        """Reserve ``size`` bytes for ``owner``; :class:`StoreFull` when they do not fit."""
        for limit, whose in ((self.max_bytes_per_key, "a client's share"), (self.max_bytes, "the store")):
            if size > limit:
                # Waiting never makes it fit: the TTL is the hint, so a caller that retries anyway
                # does so rarely. Not taken as the next image's size: no expiry would ever make room
                # for it, and room() would refuse the owner for good.
                raise StoreFull(
                    f"the image ({size} bytes) is larger than {whose} of hosted images ({limit} bytes)",
                    seconds(ttl),
                )
        self._last[owner] = size  # also when it is refused below: the share is full, not too small
        full = self.wait(owner, size, ttl)
        if full is not None:
            retry_after, why = full
            raise StoreFull(
                f"no room for a hosted image: {why}; room in about {retry_after:.0f} s", retry_after
            )
        self._count(owner, size)
        self._reserved += size

    def release(self, owner: str, size: int) -> None:
        self._count(owner, -size)
        self._reserved -= size

    def commit(self, entry: _Entry[_P], *, reserved: bool = True) -> None:
        """Hold ``entry`` (admitted before, or, ``reserved=False``, loaded over the limits as it is)."""
        size = entry.stored.size
        if reserved:
            self._reserved -= size
        else:
            self._count(entry.owner, size)
        self._held += size
        self._entries[entry.stored.name] = entry
        self._by_owner.setdefault(entry.owner, {})[entry.stored.name] = entry
        heapq.heappush(self._heap, (entry.expires, entry.stored.name))

    def _count(self, owner: str, delta: int) -> None:
        used = self._owner_bytes.get(owner, 0) + delta
        if used:
            self._owner_bytes[owner] = used
        else:
            self._owner_bytes.pop(owner, None)


class _LedgerStore(Generic[_P]):
    """What every store shares: the TTL, the clocks, the ledger of this process's images, and ``room``."""

    def __init__(
        self,
        *,
        ttl_seconds: float = 3600.0,
        max_bytes: int = 1 << 30,
        max_bytes_per_key: int = 256 << 20,
        now: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        if not ttl_seconds > 0:
            raise ValueError("ttl_seconds must be positive")
        self.ttl_seconds = ttl_seconds
        self._wall = wall
        self._ledger: _Ledger[_P] = _Ledger(max_bytes=max_bytes, max_bytes_per_key=max_bytes_per_key, now=now)
        self._lock = threading.Lock()

    def room(self, owner: str, images: int = 1) -> float | None:
        with self._lock:
            dropped = self._ledger.expire()
            full = self._ledger.wait(owner, self._ledger.need(owner, images), self.ttl_seconds)
        self._dropped(dropped)
        return None if full is None else full[0]

    def _dropped(self, entries: list[_Entry[_P]]) -> None:
        """What a store does with images that expired (a file store deletes their files)."""


class MemoryStore(_LedgerStore[bytes]):
    """Images in memory until their TTL (see the module docstring). Thread-safe."""

    def put(self, owner: str, data: bytes, media_type: str) -> Stored:
        ttl = self.ttl_seconds
        size = len(data)
        with self._lock:
            ledger = self._ledger
            ledger.expire()
            name = ledger.new_name(media_type)  # ValueError for a type that is not hosted
            ledger.admit(owner, size, ttl)
            stored = Stored(name, media_type, size, self._wall() + ttl)
            ledger.commit(_Entry(stored, owner, ledger.now() + ttl, bytes(data)))
        return stored

    def open(self, name: str) -> tuple[Stored, bytes] | None:
        if not is_name(name):
            return None
        with self._lock:
            self._ledger.expire()
            entry = self._ledger.get(name)
        return None if entry is None else (entry.stored, entry.payload)

    def link(self, stored: Stored, base_url: str) -> str:
        return gateway_link(stored, base_url)

    def sweep(self) -> int:
        with self._lock:
            return len(self._ledger.expire())

    def bytes_used(self) -> int:
        with self._lock:
            self._ledger.expire()
            return self._ledger.held()

    def close(self) -> None:
        """Nothing to release: the images stay valid (their URLs were handed out) until the process ends."""


if TYPE_CHECKING:
    from imageshim._frontends.gateway.store_file import FileStore

    def _conforms(memory: MemoryStore, files: FileStore) -> tuple[ImageStore, ImageStore]:
        return memory, files  # mypy checks both against the Protocol

else:

    def __getattr__(name: str) -> object:
        # FileStore lives in .store_file, which builds on this module: imported on first use, so that
        # either module can be imported first.
        if name == "FileStore":
            from imageshim._frontends.gateway.store_file import FileStore

            return FileStore
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
