"""What the gateway is assembled from, chosen by ``[gateway]``: the image store, where intents and budgets
are kept, and the engine's config (the hosted-url warning says where the URLs live and for how long)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from imageshim._core.config import Config, GatewayPolicy
from imageshim._core.errors import ConfigurationError, register_secret
from imageshim._core.warnings import logger
from imageshim._frontends.gateway.budgets import Budgets, Limits, enabled, usd
from imageshim._frontends.gateway.intent import Intents, IntentState
from imageshim._frontends.gateway.record import client_hash
from imageshim._frontends.gateway.store import FileStore, ImageStore, MemoryStore
from imageshim._frontends.gateway.store_s3 import S3Store

__all__ = [
    "announce_budgets",
    "hosting_config",
    "kept_file",
    "labels",
    "make_budgets",
    "make_intents",
    "make_store",
]

#: the keys whose budgets are logged at startup, at most
_ANNOUNCED = 50


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


def kept_file(store: ImageStore, policy: GatewayPolicy, suffix: str) -> Path | None:
    """Where a gateway with a file store (and no shared state) keeps what outlives a restart, beside the
    images: ``<store_dir>.replies`` (the replies kept for retries), ``<store_dir>.budgets``."""
    if not isinstance(store, FileStore) or policy.state:
        return None
    directory = Path(policy.store_dir)
    return directory.parent / f"{directory.name}{suffix}"


def make_budgets(
    policy: GatewayPolicy, intents: IntentState, store: ImageStore, *, wall: Callable[[], float] = time.time
) -> Budgets | None:
    """``[gateway.budgets]``, kept where the intents are: in Redis with ``[gateway] state``, else in this
    process (and in a file beside a file store). None when no key has a budget."""
    if not enabled(policy.budgets):
        return None
    from imageshim._frontends.gateway.state_redis import RedisIntents

    if isinstance(intents, RedisIntents):
        from imageshim._frontends.gateway.budgets_redis import RedisLedger

        return Budgets(policy.budgets, RedisLedger(intents.client), wall=wall)
    from imageshim._frontends.gateway.budgets_local import LocalLedger

    return Budgets(policy.budgets, LocalLedger(kept_file(store, policy, ".budgets")), wall=wall)


def _describe(limits: Limits | None) -> str:
    if limits is None:
        return "no budget"
    parts = [
        f"{usd(amount)} per UTC {kind}"
        for kind, amount in (("day", limits.day), ("month", limits.month))
        if amount is not None
    ]
    return ", ".join(parts)


def announce_budgets(budgets: Budgets, labels: list[str], *, salted: bool, kept: bool) -> None:
    """Log each key's budgets by its position in IMAGESHIM_GATEWAY_KEYS and its label (so an operator can
    write overrides without the key), and what would make the budgets less than they look."""
    if labels == ["anonymous"]:
        logger.info(
            "imageshim gateway: no client keys: every client shares one budget (label anonymous): %s",
            _describe(budgets.limits("anonymous")),
        )
    else:
        for index, label in enumerate(labels[:_ANNOUNCED], 1):
            logger.info(
                "imageshim gateway: client key %d of IMAGESHIM_GATEWAY_KEYS (label %s): %s",
                index,
                label,
                _describe(budgets.limits(label)),
            )
    unknown = sorted(set(budgets.policy.keys) - set(labels))
    if unknown:
        logger.warning(
            "imageshim gateway: [gateway.budgets.keys] names label(s) no accepted key has: %s; those "
            "overrides apply to nobody (a key's label changes with the salt: IMAGESHIM_CLIENT_HASH_SALT)",
            ", ".join(unknown),
        )
    if labels != ["anonymous"] and not salted:
        logger.warning(
            "imageshim gateway: budgets follow each key's label, derived from the whole key list: adding "
            "or removing a key renames every key and starts their budgets afresh. Set "
            "IMAGESHIM_CLIENT_HASH_SALT to keep the labels (and what was spent) when the keys change."
        )
    if not kept:
        logger.warning(
            "imageshim gateway: budgets are kept in this process's memory: a restart forgets what was "
            'spent. Use [gateway] store = "file" (kept beside the images) or state = "redis://...".'
        )


def labels(keys: list[str], salt: bytes) -> list[str]:
    """The labels of the accepted keys, in order (["anonymous"] without keys)."""
    return [client_hash(key, salt) for key in keys] or ["anonymous"]
