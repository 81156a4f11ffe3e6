"""Routing and lifecycle: requested model -> ordered ``provider:model`` targets, with lifecycle warnings.

The route comes from config (``[routes]``: the model, else ``"*"``), else the built-in default: every
provider that has credentials, OpenAI first, serving the requested model. Then each target's model is
checked against its shutdown date: inside ``warn_days`` it warns (date and days left); past shutdown
``on_retired`` redirects along the successor chain, refuses, or sends it anyway. Pure apart from the
``has_credentials`` callback; the day is passed in.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import date

from imageshim._core.catalog import Catalog, ModelSpec
from imageshim._core.config import Config
from imageshim._core.errors import BadRequestError, ConfigurationError, MissingAPIKeyError, ModelRetiredError
from imageshim._core.warnings import WarningRecord

__all__ = ["DEFAULT_PROVIDERS", "Target", "resolve_targets"]

#: providers tried by the built-in route, in order, with the env var that holds each one's key
DEFAULT_PROVIDERS: tuple[tuple[str, str], ...] = (
    ("openai", "OPENAI_API_KEY"),
    ("runware", "RUNWARE_API_KEY"),
)


@dataclasses.dataclass(frozen=True)
class Target:
    provider: str
    spec: ModelSpec
    warnings: tuple[WarningRecord, ...] = ()

    @property
    def name(self) -> str:
        return f"{self.provider}:{self.spec.id}"


def _deprecation(spec: ModelSpec, day: date, target: str) -> WarningRecord:
    left = spec.days_left(day)
    assert spec.shutdown_on is not None
    assert left is not None
    successor = f" Migrate to {spec.successor}." if spec.successor else ""
    source = f" Source: {spec.lifecycle_source}" if spec.lifecycle_source else ""
    return WarningRecord(
        "model_deprecation",
        "model",
        spec.id,
        spec.id,
        f"{spec.id} shuts down on {spec.shutdown_on.isoformat()} ({left} day{'s' if left != 1 else ''} left).{successor}"
        f"{source}",
        model=spec.id,
        shutdown_on=spec.shutdown_on,
        days_left=left,
        successor=spec.successor,
        target=target,
    )


def _retired(spec: ModelSpec, day: date, target: str, outcome: str) -> WarningRecord:
    left = spec.days_left(day)
    assert spec.shutdown_on is not None
    assert left is not None
    return WarningRecord(
        "model_retired",
        "model",
        spec.id,
        target.partition(":")[2],
        f"{spec.id} was retired on {spec.shutdown_on.isoformat()} ({-left} days ago); {outcome}",
        model=spec.id,
        shutdown_on=spec.shutdown_on,
        days_left=left,
        successor=spec.successor,
        target=target,
    )


def _apply_lifecycle(provider: str, spec: ModelSpec, config: Config, catalog: Catalog, day: date) -> Target:
    status = spec.status_on(day)
    name = f"{provider}:{spec.id}"
    if status == "retired":
        policy = config.lifecycle.on_retired
        if policy == "error":
            raise ModelRetiredError(spec.id, shutdown_on=spec.shutdown_on, successor=spec.successor)
        if policy == "allow":
            return Target(
                provider, spec, (_retired(spec, day, name, f"sent to {name} anyway (on_retired = allow)"),)
            )
        successor = catalog.first_active_successor(spec.id, day)
        if successor is None:
            raise ModelRetiredError(spec.id, shutdown_on=spec.shutdown_on, successor=spec.successor)
        new = f"{provider}:{successor.id}"
        redirected = _apply_lifecycle(provider, successor, config, catalog, day)
        return Target(
            provider,
            successor,
            (_retired(spec, day, new, f"this request went to {new} instead"), *redirected.warnings),
        )
    left = spec.days_left(day)
    if status == "deprecated" and left is not None and left <= config.lifecycle.warn_days:
        return Target(provider, spec, (_deprecation(spec, day, name),))
    return Target(provider, spec)


def _route(
    requested: str, config: Config, catalog: Catalog, has_credentials: Callable[[str, str], bool]
) -> list[str]:
    canonical = catalog.canonical(requested)
    routes = config.routes
    explicit = routes.get(requested) or routes.get(canonical) or routes.get("*")
    if explicit:
        return list(explicit)
    if requested not in catalog:
        raise BadRequestError(
            f"Invalid value for 'model': {requested!r} is not a known model and no route is configured for it. "
            f"Known models: {', '.join(sorted(catalog.ids()))} (or add a [routes] entry).",
            code="model_not_found",
            param="model",
        )
    if config.force_adapter:
        return [f"{config.force_adapter}:{canonical}"]
    with_keys = [f"{p}:{canonical}" for p, env in DEFAULT_PROVIDERS if has_credentials(p, env)]
    if not with_keys:
        (first, env), *rest = DEFAULT_PROVIDERS
        raise MissingAPIKeyError(first, env, alternatives=tuple(e for _, e in rest))
    return with_keys


def resolve_targets(
    requested: str,
    config: Config,
    catalog: Catalog,
    day: date,
    has_credentials: Callable[[str, str], bool],
) -> list[Target]:
    """The targets to try in order, each with the lifecycle warnings that apply if it serves the request."""
    targets: list[Target] = []
    seen: set[str] = set()
    for raw in _route(requested, config, catalog, has_credentials):
        provider, _, model = raw.partition(":")
        if config.force_adapter:
            provider = config.force_adapter
        spec = catalog.get(model)
        if spec is None:
            raise ConfigurationError(
                f"Route target {raw!r} names model {model!r}, which is not in the catalog; known: "
                f"{', '.join(sorted(catalog.ids()))} (or add it with [[models]])",
                file=config.source,
                key=f"routes.{requested}",
            )
        target = _apply_lifecycle(provider, spec, config, catalog, day)
        if target.name not in seen:
            seen.add(target.name)
            extra = _requested_warnings(requested, target, catalog, config, day)
            targets.append(dataclasses.replace(target, warnings=extra + target.warnings))
    return targets


def _requested_warnings(
    requested: str, target: Target, catalog: Catalog, config: Config, day: date
) -> tuple[WarningRecord, ...]:
    """When the route sends a retired or dying model elsewhere, say so (unless the target already says it)."""
    spec = catalog.get(requested)
    if spec is None or target.spec.id == spec.id or any(w.model == spec.id for w in target.warnings):
        return ()
    status = spec.status_on(day)
    if status == "retired":
        return (
            _retired(spec, day, target.name, f"this request went to {target.name} instead (your [routes])"),
        )
    left = spec.days_left(day)
    if status == "deprecated" and left is not None and left <= config.lifecycle.warn_days:
        return (_deprecation(spec, day, target.name),)
    return ()
