"""The S3 store: hosted images as objects in an S3-compatible bucket (AWS S3, MinIO, Cloudflare R2, Ceph
RGW, ...), so that the gateway's replicas share them: any replica serves an image another one stored.

``[gateway] store = "s3"`` with ``s3_bucket`` (required), ``s3_prefix`` (default ``imageshim/``),
``s3_endpoint`` (None: AWS) and ``s3_region``. Credentials come from boto3's default chain (the
``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` / ``AWS_SESSION_TOKEN`` environment variables, a
profile, an instance or task role), never from the config file. The client has bounded timeouts (connect
5 s, read 30 s) and retries (botocore's standard mode, 3 attempts in all); with an endpoint it addresses
buckets by path (``http://host/bucket/key``, what every S3-compatible store accepts), and it computes
checksums only where the operation requires them (botocore >= 1.36 otherwise adds CRC checksums that
some S3-compatible stores refuse). The permissions it needs on the prefix: ``s3:PutObject``,
``s3:GetObject``, ``s3:DeleteObject`` and ``s3:ListBucket`` (without the last, S3 answers a missing key
with 403 rather than 404, and this store would take every expired URL for an outage).

Each image is one object, ``<prefix><name>``, with its media type as ``Content-Type`` and two metadata
entries: ``owner`` (the opaque owner the gateway passes: a hash, never a client key) and ``expires-at``
(Unix seconds). :meth:`S3Store.open` answers None for an object whose ``expires-at`` has passed on the
wall clock (keep the replicas' clocks synchronised), so an image is never served after its TTL, whoever
stored it.

Expiry of the objects themselves is by :meth:`S3Store.sweep`: it lists the prefix and deletes the images
whose ``LastModified`` is a TTL old (a listing carries no metadata). Every replica sweeps every minute:
one LIST request per 1000 objects, per replica, per minute. Objects under the prefix that are not
images of this store (other names) are left alone. As a backstop for a time when no replica runs, give
the bucket a lifecycle rule that expires the prefix after 1 day (S3 lifecycle counts in whole days; it
cannot do an hour), for instance::

    {"Rules": [{"ID": "imageshim-hosted", "Status": "Enabled", "Filter": {"Prefix": "imageshim/"},
                "Expiration": {"Days": 1}}]}

Byte caps: ``max_bytes`` and ``max_bytes_per_key`` are kept by the shared :class:`~.store._Ledger` for
the images *this replica* stored, so with several replicas they apply per replica (a client key spread
over N replicas may hold up to N shares). The shared capacity is the object store itself; what it holds
in all is the bucket's business (quotas, billing alerts). :meth:`S3Store.bytes_used` (the ``/metrics``
gauge) is likewise this replica's.

URLs (:meth:`S3Store.link`): by default (``urls = "proxy"``) the gateway's own route, which any replica
serves from the bucket, with the gateway's checks and headers (the media type sniffed again,
``nosniff``, a sandbox CSP). With ``urls = "presigned"``, a SigV4 presigned ``GetObject`` URL of the
object store, valid for the TTL (SigV4 allows at most 7 days; the config caps ``ttl_seconds`` there):
clients fetch the bytes from the bucket and the gateway does not carry them. Such a URL names the access
key ID (never the secret) and, with temporary credentials (a role), a session token; it stops working
when those credentials expire, which for role credentials may be before the TTL. An SVG image is
presigned with ``Content-Disposition: attachment``: the bucket serves it without the gateway's sandbox
CSP, so a browser that opens it as a page saves it instead of running what it holds (``<img>`` ignores
the header).

Failures: when the object store cannot be reached or refuses (any botocore error: a refused connection,
a timeout, missing credentials, ``AccessDenied``, ``NoSuchBucket``...), :meth:`S3Store.put` releases the
bytes it reserved and raises :class:`StoreFull` with ``retry_after=5`` (the gateway then returns the
paid image inline, with a warning: never dropped), and :meth:`S3Store.open` raises
:class:`StoreUnavailable` (the gateway answers 503 with ``Retry-After``). Their messages, and the warnings
logged (logger ``imageshim``), name the failure by its S3 error code or its exception class only: never
an endpoint, a URL (a presigned one is a credential), a key or an image name (a name is a bearer
capability).

boto3 is an optional dependency (the ``s3`` extra), imported when the store is made. Its calls are
synchronous; boto3 clients are thread-safe, and the gateway calls ``put`` and ``sweep`` in a thread.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from imageshim._core.errors import ConfigurationError
from imageshim._core.media import MEDIA_EXTENSIONS, SVG_MEDIA_TYPE
from imageshim._frontends.gateway.store import (
    Stored,
    StoreFull,
    StoreUnavailable,
    _Entry,
    _LedgerStore,
    gateway_link,
    is_name,
)

if TYPE_CHECKING:
    from imageshim._frontends.gateway.store import ImageStore

__all__ = ["S3Store"]

logger = logging.getLogger("imageshim")

_RETRY_AFTER = 5.0
_MAX_PRESIGN_SECONDS = 7 * 86400  # SigV4's limit on X-Amz-Expires
_DELETE_BATCH = 1000  # DeleteObjects takes at most 1000 keys per call
_LIST_PAGE = 1000  # ListObjectsV2 returns at most 1000 keys per page
_CODE = re.compile(r"[A-Za-z0-9._-]{1,64}")  # what an error code looks like; anything else is not shown
_NOT_FOUND = ("NoSuchKey", "NotFound", "404")


class S3Store(_LedgerStore[None]):
    """Images as objects in an S3-compatible bucket until their TTL (see the module docstring).
    Thread-safe. ``client``: a boto3 S3 client to use instead of making one (tests)."""

    def __init__(
        self,
        *,
        bucket: str,
        prefix: str = "imageshim/",
        endpoint: str | None = None,
        region: str | None = None,
        ttl_seconds: float = 3600.0,
        max_bytes: int = 1 << 30,
        max_bytes_per_key: int = 256 << 20,
        presigned: bool = False,
        now: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        client: Any = None,
    ) -> None:
        if presigned and ttl_seconds > _MAX_PRESIGN_SECONDS:
            raise ValueError("presigned URLs live at most 7 days: ttl_seconds must be at most 604800")
        if not bucket:
            raise ValueError("bucket must be named")
        super().__init__(
            ttl_seconds=ttl_seconds,
            max_bytes=max_bytes,
            max_bytes_per_key=max_bytes_per_key,
            now=now,
            wall=wall,
        )
        try:
            import boto3  # type: ignore[import-untyped,unused-ignore]
            from botocore.config import Config  # type: ignore[import-untyped,unused-ignore]
            from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped,unused-ignore]
        except ImportError:
            raise ConfigurationError(
                "the S3 image store needs boto3: pip install 'imageshim[s3]'", key="gateway.store"
            ) from None
        #: every failure of a call: BotoCoreError (connection, timeout, credentials) and ClientError (an
        #: error reply)
        self._errors: tuple[type[BaseException], ...] = (BotoCoreError, ClientError)
        self.bucket = bucket
        self.prefix = prefix
        self.presigned = presigned
        self._client = client if client is not None else _client(boto3, Config, endpoint, region)

    # -- the interface

    def put(self, owner: str, data: bytes, media_type: str) -> Stored:
        ttl = self.ttl_seconds
        size = len(data)
        with self._lock:
            ledger = self._ledger
            ledger.expire()
            name = ledger.new_name(media_type)  # ValueError for a type that is not hosted
            ledger.admit(owner, size, ttl)
            expires_at = int(self._wall() + ttl)
            expires = ledger.now() + ttl
        stored = Stored(name, media_type, size, float(expires_at))
        try:  # outside the lock: an upload does not hold up the other requests of this replica
            self._client.put_object(
                Bucket=self.bucket,
                Key=self.prefix + name,
                Body=data,
                ContentType=media_type,
                Metadata={"owner": owner, "expires-at": str(expires_at)},
            )
        except BaseException as exc:
            with self._lock:
                self._ledger.release(owner, size)
            if isinstance(exc, self._errors):
                kind = _kind(exc)
                logger.warning("hosted images: the object store did not take an image: %s", kind)
                raise StoreFull(f"the object store is unreachable: {kind}", _RETRY_AFTER) from exc
            raise
        with self._lock:
            self._ledger.commit(_Entry(stored, owner, expires, None))
        return stored

    def open(self, name: str) -> tuple[Stored, bytes] | None:
        """The image's facts and bytes, from whichever replica stored it; None once expired or unknown;
        :class:`StoreUnavailable` when the object store cannot be asked."""
        if not is_name(name):
            return None  # never sent: a name from a URL is checked before it becomes a key
        try:
            reply = self._client.get_object(Bucket=self.bucket, Key=self.prefix + name)
        except self._errors as exc:
            if _not_found(exc):
                return None
            raise self._unavailable(exc) from exc
        body = reply["Body"]
        try:
            facts = self._facts(name, reply)
            if facts is None:
                return None
            data = body.read()
        except self._errors as exc:
            raise self._unavailable(exc) from exc
        finally:
            body.close()
        media_type, expires_at = facts
        return Stored(name, media_type, len(data), expires_at), data

    def link(self, stored: Stored, base_url: str) -> str:
        if not self.presigned:
            return gateway_link(stored, base_url)
        params = {
            "Bucket": self.bucket,
            "Key": self.prefix + stored.name,
            "ResponseContentType": stored.media_type,
        }
        if stored.media_type == SVG_MEDIA_TYPE:  # served without the gateway's sandbox CSP
            params["ResponseContentDisposition"] = "attachment"
        try:
            url: str = self._client.generate_presigned_url(
                "get_object", Params=params, ExpiresIn=max(1, math.ceil(self.ttl_seconds))
            )
        except self._errors as exc:  # (refreshing credentials failed) the gateway's route serves it too
            logger.warning("hosted images: a presigned URL could not be made: %s", _kind(exc))
            return gateway_link(stored, base_url)
        return url

    def sweep(self) -> int:
        """Delete the images under the prefix whose ``LastModified`` is a TTL old; the number deleted
        (before a failure, which is logged: the next sweep tries again)."""
        with self._lock:
            self._ledger.expire()
        cutoff = self._wall() - self.ttl_seconds
        deleted = 0
        batch: list[dict[str, str]] = []
        try:
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.prefix, PaginationConfig={"PageSize": _LIST_PAGE}
            )
            for page in pages:
                for item in page.get("Contents", ()):
                    key = item["Key"]
                    if is_name(key[len(self.prefix) :]) and item["LastModified"].timestamp() <= cutoff:
                        batch.append({"Key": key})
                        if len(batch) == _DELETE_BATCH:
                            deleted += self._delete(batch)
                            batch = []
            if batch:
                deleted += self._delete(batch)
        except self._errors as exc:
            logger.warning("hosted images: sweeping the object store failed: %s", _kind(exc))
        return deleted

    def bytes_used(self) -> int:
        """Bytes of the images this replica stored that have not expired (not the bucket's total)."""
        with self._lock:
            self._ledger.expire()
            return self._ledger.held()

    def close(self) -> None:
        """Close the client's connections; the objects stay for the other replicas."""
        close = getattr(self._client, "close", None)
        if callable(close):
            close()

    # -- helpers

    def _facts(self, name: str, reply: Any) -> tuple[str, float] | None:
        """The media type and expiry (Unix seconds) of a ``GetObject`` reply; None when it is expired or
        not an image of this store (no ``expires-at``, or a media type that does not match the name)."""
        media_type = reply.get("ContentType")
        if not (media_type in MEDIA_EXTENSIONS and name.endswith("." + MEDIA_EXTENSIONS[media_type])):
            return None
        try:
            expires_at = float(reply.get("Metadata", {})["expires-at"])
        except (KeyError, TypeError, ValueError):
            return None
        wall = self._wall()
        if not math.isfinite(expires_at) or expires_at <= wall:
            return None
        # Cut to one TTL (a clock set back, another replica's longer TTL): never cached for longer.
        return media_type, min(expires_at, wall + self.ttl_seconds)

    def _delete(self, batch: list[dict[str, str]]) -> int:
        reply = self._client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
        errors = reply.get("Errors", [])
        if errors:
            logger.warning(
                "hosted images: the object store kept %d expired image(s): %s",
                len(errors),
                _code(errors[0].get("Code")) or "no error code",
            )
        return len(batch) - len(errors)

    def _unavailable(self, exc: BaseException) -> StoreUnavailable:
        kind = _kind(exc)
        logger.warning("hosted images: the object store could not be read: %s", kind)
        return StoreUnavailable(f"the object store cannot be reached: {kind}")


def _client(boto3: Any, config: Any, endpoint: str | None, region: str | None) -> Any:
    """A boto3 S3 client with bounded timeouts and retries (credentials: boto3's default chain)."""
    options: dict[str, Any] = {
        "connect_timeout": 5,
        "read_timeout": 30,
        "retries": {"mode": "standard", "total_max_attempts": 3},
        # SigV4 for presigned URLs too: botocore may otherwise presign with the retired SigV2 (it does
        # for a custom endpoint in us-east-1).
        "signature_version": "s3v4",
    }
    if endpoint is not None:  # an S3-compatible store: path-style addressing works everywhere
        options["s3"] = {"addressing_style": "path"}
    if "request_checksum_calculation" in config.OPTION_DEFAULTS:  # botocore >= 1.36
        options["request_checksum_calculation"] = "when_required"
        options["response_checksum_validation"] = "when_required"
    session = boto3.session.Session()  # its own session: the default one is not safe to share
    return session.client("s3", endpoint_url=endpoint, region_name=region, config=config(**options))


def _kind(exc: BaseException) -> str:
    """What went wrong, for a message: the S3 error code, or the exception's class name."""
    response = getattr(exc, "response", None)
    error = response.get("Error") if isinstance(response, dict) else None
    code = error.get("Code") if isinstance(error, dict) else None
    return _code(code) or type(exc).__name__


def _code(code: object) -> str | None:
    """An S3 error code when it looks like one (it comes from the server: nothing else is repeated)."""
    return code if isinstance(code, str) and _CODE.fullmatch(code) else None


def _not_found(exc: BaseException) -> bool:
    """A ``GetObject`` error that means no such object (a missing bucket is a fault, not a 404)."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return False
    code = _kind(exc)
    if code == "NoSuchBucket":
        return False
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return code in _NOT_FOUND or status == 404


if TYPE_CHECKING:

    def _conforms(store: S3Store) -> ImageStore:
        return store  # mypy checks it against the Protocol
