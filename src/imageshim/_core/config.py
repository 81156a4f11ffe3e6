"""Configuration: discovery, validation, and the typed result.

Found in this order: the ``config=`` argument (a dict or a path); the file named by ``IMAGESHIM_CONFIG``;
``./imageshim.toml``; ``[tool.imageshim]`` in ``./pyproject.toml``; built-in defaults. Invalid config raises
:class:`ConfigurationError` naming the file, the key and what is allowed.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from imageshim._core.adapter import ProviderSettings
from imageshim._core.errors import ConfigurationError, register_secret

__all__ = [
    "BudgetPolicy",
    "Config",
    "GatewayBudgets",
    "GatewayPolicy",
    "KeyBudget",
    "LifecyclePolicy",
    "MappingPolicy",
    "RetryPolicy",
    "RoutingPolicy",
    "load_config",
]

ConfigSource = str | os.PathLike[str] | Mapping[str, Any] | None
# (a ready Config is accepted too: see load_config)

DEFAULT_QUALITY_MAP: dict[str, str] = {"standard": "medium", "hd": "high"}
#: OpenAI's advice for the retired variations endpoint: an edit asking for a variation (users.md section 4)
DEFAULT_VARIATION_PROMPT = "A variation of this image: the same subject, composition and style, with small differences in the details."


@dataclasses.dataclass(frozen=True)
class LifecyclePolicy:
    warn_days: int = 90
    on_retired: Literal["redirect", "error", "allow"] = "redirect"


@dataclasses.dataclass(frozen=True)
class MappingPolicy:
    quality: Mapping[str, str] = dataclasses.field(default_factory=lambda: dict(DEFAULT_QUALITY_MAP))
    style: Literal["drop", "prompt"] = "drop"
    #: "hosted" is the gateway's own: data URIs it turns into URLs it serves (not a config file value)
    url: Literal["data-uri", "file", "error", "hosted"] = "data-uri"
    url_dir: Path = Path(".imageshim/images")
    #: images.create_variation: "edit" (an edit of the image on the successor, with ``variation_prompt``
    #: and a warning) or "error" (a 400 that names the edits endpoint)
    variations: Literal["edit", "error"] = "edit"
    variation_prompt: str = DEFAULT_VARIATION_PROMPT
    #: with url = "hosted": what the URLs are, for the warning (the gateway says how long and where they live)
    hosted_note: str = "hosted by the imageshim gateway, for a limited time"
    #: ``quality = "price-parity"``: a quality the target lacks becomes its highest quality that costs no
    #: more than the requested model charged (``quality`` above then applies only where parity cannot)
    price_parity: bool = False


@dataclasses.dataclass(frozen=True)
class BudgetPolicy:
    """``[budget]``: a call whose estimate is above ``max_usd_per_call`` is refused before any network call
    (:class:`~imageshim.BudgetExceededError`); so is a call the catalog cannot price. None: no cap."""

    max_usd_per_call: float | None = None


@dataclasses.dataclass(frozen=True)
class RoutingPolicy:
    """``[routing]``: ``prefer = "cheapest"`` tries a route's targets from the lowest estimate up (ties, and
    targets without one, keep the configured order, priced ones first); "order": as configured."""

    prefer: Literal["order", "cheapest"] = "order"


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """Retries of retryable failures (408/409/429/5xx, connection errors, timeouts) per target."""

    max_retries: int = 2
    initial_backoff: float = 0.5
    max_backoff: float = 8.0
    #: the longest Retry-After the shim will wait; a longer one moves on to the next target
    max_retry_after: float = 60.0
    #: total seconds for one ``generate`` call across retries and fallbacks (None: no limit)
    deadline: float | None = 600.0
    #: when some of n images fail: "return" the others (with a warning) or raise PartialResultError
    partial: Literal["return", "error"] = "return"
    #: wire requests of one call in flight at once when n is split into several (1: one after another);
    #: the sync and the async client both honour it, each adapter may allow fewer
    concurrency: int = 4


@dataclasses.dataclass(frozen=True)
class KeyBudget:
    """What one client key may spend, in US dollars per UTC day and month (None: no budget)."""

    usd_per_day: float | None = None
    usd_per_month: float | None = None


@dataclasses.dataclass(frozen=True)
class GatewayBudgets(KeyBudget):
    """``[gateway.budgets]``: every client key's budgets, and overrides for some keys by their label (the
    access log's ``client``: a salted hash, never the key). README, "Budgets per client key"."""

    keys: Mapping[str, KeyBudget] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class GatewayPolicy:
    """``[gateway]``: how ``imageshim serve`` runs (``serve`` flags override these). README, "Gateway"."""

    #: the base URL clients reach the gateway at, for hosted image URLs (None: the bound address)
    public_url: str | None = None
    #: hosted images: "memory" (bounded, fair per client key) or "file" (under store_dir, survives restarts)
    store: Literal["memory", "file", "s3"] = "memory"
    store_dir: Path = Path(".imageshim/hosted")
    #: hosted URLs and stored results (Idempotency-Key, joined retries) live this long
    ttl_seconds: float = 3600.0
    #: bytes of hosted images held at once, in all, and by one client key (no key can take another's room)
    store_max_bytes: int = 1 << 30
    store_max_bytes_per_key: int = 256 << 20
    #: a repeat of a finished request (same client key, same body, no Idempotency-Key, not marked as a
    #: retry) within this many seconds gets the stored result instead of a new generation
    retry_window_seconds: float = 120.0
    #: generations in flight at once for one client key (beyond: 429 with Retry-After); 0: no limit
    max_concurrency_per_key: int = 16
    #: open connections at once (beyond: refused); request headers, body and keep-alive idle timeouts
    max_connections: int = 1024
    header_timeout: float = 10.0
    body_timeout: float = 60.0
    idle_timeout: float = 5.0
    #: how long SIGTERM waits for requests in flight (None: the call deadline, [retry] deadline, + 5 s)
    drain_seconds: float | None = None
    #: origins allowed by CORS ("*" for any); empty: no CORS headers
    cors_origins: tuple[str, ...] = ()
    log_format: Literal["text", "json"] = "text"
    max_body_bytes: int = 1 << 20
    max_upload_bytes: int = 64 << 20
    #: shared state between replicas (intents, joins, per-key limits): a ``redis://`` URL; None: this
    #: process only
    state: str | None = None
    #: a replica's claim on a generation lapses this long after it stops renewing it (it died): then a
    #: retry generates again
    state_lease_seconds: float = 30.0
    #: hosted URLs: "proxy" (served by any replica from the store) or "presigned" (object-store URLs)
    urls: Literal["proxy", "presigned"] = "proxy"
    #: store = "s3": the bucket, a key prefix, the endpoint (None: AWS) and region; credentials come from
    #: the usual AWS environment variables (AWS_ACCESS_KEY_ID, ...), never from this file
    s3_bucket: str | None = None
    s3_prefix: str = "imageshim/"
    s3_endpoint: str | None = None
    s3_region: str | None = None
    #: ``[gateway.budgets]``: per-client-key budgets per UTC day and month (none by default)
    budgets: GatewayBudgets = GatewayBudgets()


@dataclasses.dataclass(frozen=True)
class Config:
    routes: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    lifecycle: LifecyclePolicy = LifecyclePolicy()
    mapping: MappingPolicy = MappingPolicy()
    retry: RetryPolicy = RetryPolicy()
    gateway: GatewayPolicy = GatewayPolicy()
    budget: BudgetPolicy = BudgetPolicy()
    routing: RoutingPolicy = RoutingPolicy()
    providers: Mapping[str, ProviderSettings] = dataclasses.field(default_factory=dict)
    models: tuple[Mapping[str, Any], ...] = ()
    #: IMAGESHIM_ADAPTER: send every route to this provider (the model mapping still applies)
    force_adapter: str | None = None
    #: where the config came from ("<dict>", a path, or None for built-in defaults)
    source: str | None = None

    def provider(self, name: str) -> ProviderSettings:
        return self.providers.get(name) or ProviderSettings(name=name)


def _describe(error: Mapping[str, Any]) -> tuple[str, str]:
    key = ".".join(str(p) for p in error["loc"])
    if tuple(error["loc"][:3]) == ("gateway", "budgets", "keys"):
        # Budgets name a client key by its label; what was written instead may be the key itself: neither
        # the name nor the value is shown.
        problem = "unknown key" if error["type"] == "extra_forbidden" else error["msg"]
        return "gateway.budgets.keys", (
            f"{problem} (the name written is not shown): each entry is named by a client key's label (12 "
            "hex characters, the access log's client field), never by the key, and holds usd_per_day and "
            "usd_per_month"
        )
    if error["type"] == "extra_forbidden":
        return key, "unknown key"
    value = error.get("input")
    if error["loc"][:1] == ("providers",):
        # Provider settings hold keys and auth headers: say what kind of value it was, never the value.
        return key, f"{error['msg']} (got a value of type {type(value).__name__})"
    shown = repr(value)
    return key, f"{error['msg']} (got {shown[:80] + '...' if len(shown) > 80 else shown})"


def _read_file(path: Path) -> dict[str, Any]:
    # The TOML parser loads with the first config file read: a dict config (or none) never needs it.
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigurationError("Config file not found", file=str(path)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"Config file is not valid TOML: {exc}", file=str(path)) from None
    if path.name == "pyproject.toml":
        tool = data.get("tool", {})
        section = tool.get("imageshim", {}) if isinstance(tool, dict) else {}
        return dict(section) if isinstance(section, dict) else {}
    return dict(data)


def _discover(config: ConfigSource) -> tuple[dict[str, Any], str | None]:
    if isinstance(config, Mapping):
        return dict(config), "<dict>"
    if config is not None:
        path = Path(config)
        return _read_file(path), str(path)
    env = os.environ.get("IMAGESHIM_CONFIG")
    if env:
        return _read_file(Path(env)), env
    if Path("imageshim.toml").is_file():
        return _read_file(Path("imageshim.toml")), "imageshim.toml"
    pyproject = Path("pyproject.toml")
    if pyproject.is_file():
        data = _read_file(pyproject)
        if data:
            return data, "pyproject.toml [tool.imageshim]"
    return {}, None


def load_config(config: ConfigSource | Config = None) -> Config:
    """Find, read and validate the configuration."""
    if isinstance(config, Config):
        return config
    from pydantic import ValidationError

    from imageshim._core.config_schema import ConfigFile

    raw, source = _discover(config)
    try:
        parsed = ConfigFile.model_validate(raw)
    except ValidationError as exc:
        key, problem = _describe(exc.errors()[0])
        raise ConfigurationError(f"Invalid configuration: {problem}", file=source, key=key) from None
    _check_routes(parsed.routes, source)
    _check_models(parsed.models, source)
    providers = {
        name: ProviderSettings(name=name, **p.model_dump(exclude={"headers"}), headers=dict(p.headers))
        for name, p in parsed.providers.items()
    }
    for settings in providers.values():  # keys and auth headers never show up in a message
        register_secret(settings.api_key)
        for value in settings.headers.values():
            if len(value) >= 12:  # token-like; short values ("true", "v2") would blank common words
                register_secret(value)
    m = parsed.mapping
    force = os.environ.get("IMAGESHIM_ADAPTER") or None
    return Config(
        routes={k: tuple(v) for k, v in parsed.routes.items()},
        lifecycle=LifecyclePolicy(**parsed.lifecycle.model_dump()),
        mapping=MappingPolicy(
            quality={**DEFAULT_QUALITY_MAP, **(m.quality if isinstance(m.quality, dict) else {})},
            style=m.style,
            url=m.url,
            url_dir=Path(m.url_dir),
            variations=m.variations,
            variation_prompt=m.variation_prompt,
            price_parity=m.quality == "price-parity",
        ),
        retry=RetryPolicy(**parsed.retry.model_dump()),
        budget=BudgetPolicy(**parsed.budget.model_dump()),
        routing=RoutingPolicy(**parsed.routing.model_dump()),
        gateway=gateway_policy(parsed.gateway.model_dump()),
        providers=providers,
        models=tuple(parsed.models),
        force_adapter=force,
        source=source,
    )


def gateway_policy(raw: dict[str, Any]) -> GatewayPolicy:
    """The ``[gateway]`` policy from its validated table (``GatewayTable.model_dump()``)."""
    budgets = dict(raw.get("budgets") or {})
    keys = {label: KeyBudget(**limits) for label, limits in (budgets.pop("keys", None) or {}).items()}
    return GatewayPolicy(
        **{
            **raw,
            "store_dir": Path(raw["store_dir"]),
            "cors_origins": tuple(raw["cors_origins"]),
            "budgets": GatewayBudgets(**budgets, keys=keys),
        }
    )


def _check_routes(routes: Mapping[str, list[str]], source: str | None) -> None:
    for model, targets in routes.items():
        if not targets:
            raise ConfigurationError(
                "A route needs at least one target 'provider:model'", file=source, key=f"routes.{model}"
            )
        for target in targets:
            provider, sep, name = target.partition(":")
            if not (provider and sep and name):
                raise ConfigurationError(
                    f"Route target {target!r} is not of the form 'provider:model' "
                    "(for example 'openai:gpt-image-2')",
                    file=source,
                    key=f"routes.{model}",
                )


def _check_models(entries: list[dict[str, Any]], source: str | None) -> None:
    from imageshim._core.catalog import FIELD_NAMES, builtin_catalog

    catalog = builtin_catalog()
    known = set(catalog.ids())
    for i, entry in enumerate(entries):
        key = f"models[{i}]"
        model_id = entry.get("id")
        if not isinstance(model_id, str) or not model_id:
            raise ConfigurationError("Each [[models]] entry needs an 'id' string", file=source, key=key)
        unknown = set(entry) - FIELD_NAMES - {"like"}
        if unknown:
            raise ConfigurationError(
                f"Unknown field(s) {sorted(unknown)} in [[models]] {model_id!r}; allowed: "
                f"{', '.join(sorted(FIELD_NAMES - {'id'}))} and 'like'",
                file=source,
                key=key,
            )
        like = entry.get("like")
        if model_id not in catalog and like is None:
            raise ConfigurationError(
                f'[[models]] {model_id!r} is not in the catalog: add like = "<known model>" to copy its '
                f"facts (known: {', '.join(sorted(known))})",
                file=source,
                key=key,
            )
        if like is not None and like not in known:
            raise ConfigurationError(
                f"like = {like!r} names no known model; known: {', '.join(sorted(known))}",
                file=source,
                key=key,
            )
        known.add(model_id)
        try:
            base = catalog.get(str(like or model_id)) or next(iter(catalog))
            base.with_changes({k: v for k, v in entry.items() if k != "like"})
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(
                f"Invalid [[models]] {model_id!r}: {exc}", file=source, key=key
            ) from None
