"""Hosted image URLs for the gateway: base64-only targets still answer ``response_format="url"`` with an
``http(s)`` URL, served by the gateway and expiring like OpenAI's (60 minutes by default).

A bounded in-memory store: entries expire after ``ttl_seconds`` and the oldest are evicted beyond
``max_bytes``. The clock is injectable (``now`` returns seconds).
"""

from __future__ import annotations

import base64
import collections
import json
import secrets
import threading
import time
from collections.abc import Callable

__all__ = ["HostedImages"]

_EXT = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}


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

    def put(self, data: bytes, media_type: str) -> str:
        """Store ``data`` and return its name (random, unguessable, with the file extension)."""
        name = f"{secrets.token_urlsafe(24)}.{_EXT.get(media_type, 'png')}"
        with self._lock:
            self._expire()
            self._items[name] = (data, media_type, self._now() + self.ttl_seconds)
            self._bytes += len(data)
            while self._bytes > self.max_bytes and len(self._items) > 1:
                _, (old, _, _) = self._items.popitem(last=False)
                self._bytes -= len(old)
        return name

    def get(self, name: str) -> tuple[bytes, str] | None:
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
        """Replace every ``data:`` URL in an images response body with a hosted URL under ``base_url``."""
        if b'"data:' not in body:
            return body
        payload = json.loads(body)
        for item in payload.get("data", []):
            url = item.get("url")
            if isinstance(url, str) and url.startswith("data:"):
                head, _, b64 = url.partition(",")
                name = self.put(base64.b64decode(b64), head[5:].split(";")[0])
                item["url"] = f"{base_url}/v1/imageshim/images/{name}"
        return json.dumps(payload).encode()
