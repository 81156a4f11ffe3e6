"""One record per request the gateway answers: the access log line and the metrics are both made from it."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac

__all__ = ["AccessRecord", "Generation", "client_hash", "hash_salt"]


def client_hash(key: str | None, salt: bytes = b"") -> str:
    """A short, stable name for a client key in logs, metrics and store owners; never the key itself.
    ``"anonymous"`` when the gateway runs without keys. Keyed with ``salt`` (HMAC-SHA-256): ``/metrics``
    shows these names, and an unsalted hash of a weak key could be checked against guesses offline."""
    if not key:
        return "anonymous"
    return hmac.new(salt, key.encode(), hashlib.sha256).hexdigest()[:12]


def hash_salt(keys: list[str], configured: str | None = None) -> bytes:
    """The salt of :func:`client_hash`: ``IMAGESHIM_CLIENT_HASH_SALT`` when set, else one derived from the
    accepted keys (replicas with the same keys name clients alike; nobody without them can test guesses)."""
    if configured:
        return configured.encode()
    return hashlib.sha256("\n".join(sorted(keys)).encode()).digest()


@dataclasses.dataclass(frozen=True)
class Generation:
    """What one generation did at the providers (counted once, however many requests joined it)."""

    #: the route's target that produced the images ("openai:gpt-image-2"); None when none did
    served: str | None
    images: int
    cost_usd: float | None
    #: provider calls made (each attempt at a target), of which retries (beyond the first at a target)
    #: and recoveries (a lost reply looked up)
    provider_calls: int = 0
    retries: int = 0
    recoveries: int = 0
    #: class names of the warnings the call produced (OptionMappedWarning, ...)
    warnings: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class AccessRecord:
    method: str
    #: the route template, not the raw path ("/v1/images/generations", "/v1/imageshim/images/{name}")
    route: str
    status: int
    duration_s: float
    client: str
    request_id: str | None = None
    requested_model: str | None = None
    #: the generation behind the reply: fresh (``joined`` False) or joined / replayed (True)
    generation: Generation | None = None
    joined: bool = False
    #: idempotency: "new" | "joined" | "replayed" | None (not an image request)
    intent: str | None = None
