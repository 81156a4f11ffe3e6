"""What the gateway is assembled from, chosen by ``[gateway]``: the image store, where intents are kept,
and the engine's config (the hosted-url warning says where the URLs live and for how long)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from imageshim._core.config import Config, GatewayPolicy
from imageshim._core.errors import ConfigurationError, register_secret
from imageshim._core.warnings import logger
from imageshim._frontends.gateway.intent import Intents, IntentState
from imageshim._frontends.gateway.store import FileStore, ImageStore, MemoryStore
from imageshim._frontends.gateway.store_s3 import S3Store

__all__ = ["hosting_config", "make_intents", "make_store"]


def describe_store(store: ImageStore) -> str:
    minutes = f"{store.ttl_seconds / 60:g} minutes"
    if isinstance(store, FileStore):
        return f"hosted by this imageshim gateway on its disk for {minutes}"
    if not isinstance(store, MemoryStore):  # an object store, shared by the replicas
        return f"hosted in the gateway's object store for {minutes}"
    return f"hosted by this imageshim gateway in its memory for {minutes} (lost if it restarts)"


def hosting_config(loaded: Config, store: ImageStore) -> Config:
    """The config with ``[mapping] url = "hosted"``: data URIs the gateway turns into URLs it serves (and
    the warning says what those URLs are: where they live and for how long)."""
    if loaded.mapping.url not in ("data-uri", "hosted"):
        logger.info(
            "imageshim gateway: [mapping] url = %r does not apply to the gateway: it hosts the images itself",
            loaded.mapping.url,
        )
    mapping = dataclasses.replace(loaded.mapping, url="hosted", hosted_note=describe_store(store))
    return dataclasses.replace(loaded, mapping=mapping)


def make_store(policy: GatewayPolicy, *, now: Callable[[], float] = time.monotonic) -> ImageStore:
    """The image store ``[gateway] store`` names."""
    limits = {
        "ttl_seconds": policy.ttl_seconds,
        "max_bytes": policy.store_max_bytes,
        "max_bytes_per_key": policy.store_max_bytes_per_key,
        "now": now,
    }
    if policy.urls == "presigned" and policy.store != "s3":
        raise ConfigurationError(
            f'[gateway] urls = "presigned" needs store = "s3" (the object store signs them), not '
            f'{policy.store!r}; use urls = "proxy"',
            key="gateway.urls",
        )
    if policy.store == "file":
        return FileStore(Path(policy.store_dir), **limits)  # type: ignore[arg-type]
    if policy.store == "s3":
        if not policy.s3_bucket:
            raise ConfigurationError(
                '[gateway] store = "s3" needs the bucket to keep hosted images in', key="gateway.s3_bucket"
            )
        return S3Store(
            bucket=policy.s3_bucket,
            prefix=policy.s3_prefix,
            endpoint=policy.s3_endpoint,
            region=policy.s3_region,
            presigned=policy.urls == "presigned",
            **limits,  # type: ignore[arg-type]
        )
    return MemoryStore(**limits)  # type: ignore[arg-type]


def make_intents(
    policy: GatewayPolicy, ttl: float, *, now: Callable[[], float] = time.monotonic
) -> IntentState:
    """Where intents are kept: shared through Redis with ``[gateway] state``, else in this process. A
    stored reply lives as long as the URLs in it (``ttl``: the store's)."""
    if policy.state:
        from imageshim._frontends.gateway.state_redis import RedisIntents

        register_secret(urlsplit(policy.state).password)  # redis://:password@host never shows up anywhere
        return RedisIntents(
            policy.state, ttl=ttl, window=policy.retry_window_seconds, lease=policy.state_lease_seconds
        )
    return Intents(ttl=ttl, window=policy.retry_window_seconds, max_bytes=policy.store_max_bytes, now=now)
