"""The file store: hosted images as files under one directory, surviving restarts (import it from
:mod:`.store`, which re-exports it).

Each image is two files, ``<name>`` (the bytes, streamed by the gateway's ``FileResponse``) and
``<name>.json``, a sidecar with the owner, the media type, the size and the expiry in Unix seconds. A
sidecar rather than the expiry in the file's mtime and the owner in its name: the owner is an opaque
string (it need not be safe in a file name), an mtime does not survive a plain copy or restore of the
directory, and a size written down lets a restart recognise a file cut short by a crash. Both are
written atomically (a temporary file in the same directory, then ``os.replace``), the image first: the
sidecar is the commit, so an image without one is a write that did not finish and is deleted on the
next start, as are temporary files. An expired image loses its sidecar first, for the same reason.

On construction the index (bytes per owner, expiries) is rebuilt from the sidecars; expired images are
deleted. Expiry across restarts is by the wall clock (monotonic clocks restart at boot); an expiry more
than a TTL ahead (the wall clock was set back) is cut to one TTL, so no image outlives a TTL by a clock
jump. Within a process expiry is by the monotonic ``now``, as in the memory store. Files the store did
not write (other names) are left alone.

Write errors (a full disk, a permission) become :class:`StoreFull` with ``retry_after=60``, after the
temporary file is removed: the gateway then returns the image inline, so a paid image is not lost. The
directory is created with mode 0o700; files are 0o600 (``tempfile.mkstemp``). Nothing is logged that
names an owner or a live image (a name is a bearer capability).

Not synced to disk (``fsync``): a power loss may lose recent images (their sidecar size check drops a
torn file), never serve a wrong one; an image lives for an hour, and ``put`` may run on the event loop.
"""

from __future__ import annotations

import json
import logging
import math
import os
import stat
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from imageshim._core.media import MEDIA_EXTENSIONS
from imageshim._frontends.gateway.store import (
    Stored,
    StoreFull,
    _Entry,
    _LedgerStore,
    extension,
    gateway_link,
    is_name,
)

__all__ = ["FileStore"]

logger = logging.getLogger("imageshim")

_TEMP_PREFIX = ".tmp-"  # never a name (those start with a URL-safe character, never ".")
_SIDECAR = ".json"
_WRITE_RETRY_AFTER = 60.0


class FileStore(_LedgerStore[None]):
    """Images as files under ``directory`` until their TTL (see the module docstring). Thread-safe."""

    def __init__(
        self,
        directory: Path,
        *,
        ttl_seconds: float = 3600.0,
        max_bytes: int = 1 << 30,
        max_bytes_per_key: int = 256 << 20,
        now: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(
            ttl_seconds=ttl_seconds,
            max_bytes=max_bytes,
            max_bytes_per_key=max_bytes_per_key,
            now=now,
            wall=wall,
        )
        Path(directory).mkdir(mode=0o700, parents=True, exist_ok=True)
        self.directory = Path(directory).resolve()
        self._load()

    # -- the interface

    def _dropped(self, entries: list[_Entry[None]]) -> None:
        self._delete(entries)

    def put(self, owner: str, data: bytes, media_type: str) -> Stored:
        ttl = self.ttl_seconds
        size = len(data)
        dropped: list[_Entry[None]] = []
        try:
            with self._lock:
                ledger = self._ledger
                dropped = ledger.expire()
                name = ledger.new_name(media_type)  # ValueError for a type that is not hosted
                ledger.admit(owner, size, ttl)
                stored = Stored(name, media_type, size, self._wall() + ttl)
                expires = ledger.now() + ttl
        finally:
            self._delete(dropped)
        sidecar = {"owner": owner, "media_type": media_type, "size": size, "expires_at": stored.expires_at}
        try:  # outside the lock: a large write does not hold up open() on the event loop
            self._write(name, data, json.dumps(sidecar).encode())
        except BaseException as exc:
            with self._lock:
                self._ledger.release(owner, size)
            if isinstance(exc, OSError):
                problem = exc.strerror or type(exc).__name__
                raise StoreFull(
                    f"the image could not be written to the hosted-image directory: {problem}",
                    _WRITE_RETRY_AFTER,
                ) from exc
            raise
        with self._lock:
            self._ledger.commit(_Entry(stored, owner, expires, None))
        return stored

    def open(self, name: str) -> tuple[Stored, Path] | None:
        """The image's facts and its file (not read here: the gateway streams it)."""
        if not is_name(name):
            return None
        with self._lock:
            dropped = self._ledger.expire()
            entry = self._ledger.get(name)
        self._delete(dropped)
        return None if entry is None else (entry.stored, self.directory / name)

    def link(self, stored: Stored, base_url: str) -> str:
        return gateway_link(stored, base_url)

    def sweep(self) -> int:
        with self._lock:
            dropped = self._ledger.expire()
        self._delete(dropped)
        return len(dropped)

    def bytes_used(self) -> int:
        with self._lock:
            dropped = self._ledger.expire()
            held = self._ledger.held()
        self._delete(dropped)
        return held

    def close(self) -> None:
        """Nothing to release: no file is held open between calls, and the files stay for the next start."""

    # -- files

    def _write(self, name: str, data: bytes, sidecar: bytes) -> None:
        self._replace(name, data)
        try:
            self._replace(name + _SIDECAR, sidecar)
        except BaseException:
            _unlink(self.directory / name)
            raise

    def _replace(self, final: str, data: bytes) -> None:
        """Write ``data`` to ``final`` atomically: a temporary file (mode 0o600), then ``os.replace``."""
        fd, temp = tempfile.mkstemp(prefix=_TEMP_PREFIX, dir=self.directory)
        try:
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
            finally:
                os.close(fd)
            os.replace(temp, self.directory / final)
        except BaseException:
            _unlink(Path(temp))
            raise

    def _delete(self, entries: Iterable[_Entry[None]]) -> None:
        for entry in entries:  # the sidecar first: an image without one is deleted on the next start
            _unlink(self.directory / (entry.stored.name + _SIDECAR))
            _unlink(self.directory / entry.stored.name)

    def _load(self) -> None:
        wall, now = self._wall(), self._ledger.now()
        files = os.listdir(self.directory)
        kept: set[str] = set()
        dropped = 0
        for file in files:
            if file.startswith(_TEMP_PREFIX):  # a write that never finished
                _unlink(self.directory / file)
            elif file.endswith(_SIDECAR) and is_name(name := file[: -len(_SIDECAR)]):
                entry = self._entry(name, wall, now)
                if entry is None:
                    _unlink(self.directory / file)
                    _unlink(self.directory / name)
                    dropped += 1
                else:
                    self._ledger.commit(entry, reserved=False)  # over the limits if they were lowered
                    kept.add(name)
        for file in files:
            if is_name(file) and file not in kept:  # an image without its sidecar
                _unlink(self.directory / file)
        logger.info("hosted images: %d kept, %d expired or unreadable deleted", len(kept), dropped)

    def _entry(self, name: str, wall: float, now: float) -> _Entry[None] | None:
        """The index entry for a sidecar; None when it is expired, unreadable, or its image is not the
        file it describes."""
        try:
            facts: Any = json.loads((self.directory / (name + _SIDECAR)).read_bytes())
            image = os.lstat(self.directory / name)
        except (OSError, ValueError):  # ValueError: not JSON or not UTF-8
            return None
        if not isinstance(facts, dict):
            return None
        owner, media_type, size, expires_at = (
            facts.get(key) for key in ("owner", "media_type", "size", "expires_at")
        )
        if not (
            isinstance(owner, str)
            and media_type in MEDIA_EXTENSIONS
            and name.endswith("." + extension(media_type))
            and type(size) is int
            and isinstance(expires_at, (int, float))
            and math.isfinite(expires_at)
            and stat.S_ISREG(image.st_mode)
            and image.st_size == size
            and expires_at > wall
        ):
            return None
        expires_at = min(float(expires_at), wall + self.ttl_seconds)
        return _Entry(Stored(name, media_type, size, expires_at), owner, now + (expires_at - wall), None)


def _unlink(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:  # the next start or sweep tries again; the path would name a live image
        logger.warning("hosted images: a file could not be deleted: %s", exc.strerror or type(exc).__name__)
