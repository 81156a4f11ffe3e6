"""The engine: configuration, catalog and adapters held once per client; plans requests.

``plan`` does everything that can fail without I/O (validation, routing, lifecycle, mapping for every
target of the route, then :func:`~imageshim._core.budget.spend_policy`: cheapest-first order and the
per-call cap), so an invalid or over-budget request never reaches the network. Execution is :mod:`imageshim._core.policy`
(driven by :mod:`imageshim._plumbing.drive`); the response is built by :mod:`.render`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING

import httpx

from imageshim._core.adapter import ImageAdapter
from imageshim._core.budget import spend_policy
from imageshim._core.catalog import Catalog, ModelSpec, builtin_catalog
from imageshim._core.config import Config, ConfigSource, load_config
from imageshim._core.edit import EditInputs, map_edit
from imageshim._core.errors import APIStatusError, ConfigurationError
from imageshim._core.mapping import MappedRequest, map_request
from imageshim._core.plan import Plan
from imageshim._core.routing import Target, resolve_targets
from imageshim._core.warnings import logger
from imageshim._plumbing.registry import AdapterRegistry, default_registry

if TYPE_CHECKING:  # pydantic models load with the first request, not with the client
    from imageshim._core.request import ImageRequest

__all__ = ["Engine", "KeylessPlanner", "Plan"]

Clock = Callable[[], date]
_PLAN_CACHE_SIZE = 256


class Engine:
    def __init__(
        self,
        config: ConfigSource | Config = None,
        *,
        http_client: httpx.Client | None = None,
        async_http_client: httpx.AsyncClient | None = None,
        clock: Clock | None = None,
        registry: AdapterRegistry | None = None,
    ) -> None:
        self.config = load_config(config)
        try:
            self.catalog: Catalog = builtin_catalog().with_overrides(self.config.models, self.config.source)
        except KeyError as exc:  # validated in load_config; kept for configs built in code
            raise ConfigurationError(
                f"[[models]] refers to unknown model {exc}", file=self.config.source
            ) from None
        self.clock: Clock = clock or date.today
        self.registry = registry or default_registry()
        self._http_client = http_client
        self._async_http_client = async_http_client
        self._adapters: dict[str, ImageAdapter] = {}
        self._targets: dict[tuple[str, date], list[Target]] = {}
        self._profiles: dict[tuple[str, str], ModelSpec] = {}
        self._lock = threading.Lock()

    # ----- adapters ------------------------------------------------------------------------------------
    def adapter(self, provider: str) -> ImageAdapter:
        adapter = self._adapters.get(provider)
        if adapter is None:
            with self._lock:
                adapter = self._adapters.get(provider)
                if adapter is None:
                    cls = self.registry.get(provider)
                    adapter = cls(
                        self.config.provider(provider),
                        http_client=self._http_client,
                        async_http_client=self._async_http_client,
                    )
                    self._adapters[provider] = adapter
        return adapter

    def has_credentials(self, provider: str, default_env: str) -> bool:
        """Whether ``provider`` has a key (config, its api_key_env, or ``default_env``); imports nothing."""
        return bool(self.config.provider(provider).resolve_key(default_env))

    def close(self) -> None:
        for adapter in self._adapters.values():
            adapter.close()

    async def aclose(self) -> None:
        for adapter in self._adapters.values():
            await adapter.aclose()

    # ----- planning (no I/O) ---------------------------------------------------------------------------
    def _profile(self, target: Target) -> ModelSpec:
        key = (target.provider, target.spec.id)
        spec = self._profiles.get(key)
        if spec is None:
            spec = self._profiles[key] = self.adapter(target.provider).profile(target.spec)
        return spec

    def plan(
        self, request: ImageRequest, timeout: float | None = None, edit: EditInputs | None = None
    ) -> Plan:
        """Everything decided before I/O, for every target of the route; ``edit``: the inputs of an edit
        (checked against each target: one that cannot make it is left out, the first must). The targets
        are then ordered and held to the budget (:func:`~imageshim._core.budget.spend_policy`)."""
        mapped = self.map_targets(request, edit)
        return Plan(
            request, spend_policy(mapped, self.config.budget, self.config.routing), timeout, edit=edit
        )

    def map_targets(self, request: ImageRequest, edit: EditInputs | None = None) -> list[MappedRequest]:
        """Every target of the route that can take ``request``, mapped, in the configured order (each with
        its ``estimate``). The route's first target must take it as asked; with ``[routing] prefer =
        "cheapest"`` any may, since the order is the estimates' (the first refusal is raised if none can)."""
        day = self.clock()
        key = (request.model, day)
        targets = self._targets.get(key)
        if targets is None:
            targets = resolve_targets(request.model, self.config, self.catalog, day, self.has_credentials)
            if len(self._targets) >= _PLAN_CACHE_SIZE:  # model names come from callers: stay bounded
                self._targets.clear()
            self._targets[key] = targets
        requested = self.catalog.get(request.model)
        default_url = requested is not None and requested.response_formats[:1] == ("url",)
        mapped: list[MappedRequest] = []
        refusals: list[APIStatusError] = []
        any_first = self.config.routing.prefer == "cheapest"
        for index, target in enumerate(targets):
            try:
                one = map_request(
                    request,
                    self._profile(target),
                    self.config.mapping,
                    target.name,
                    default_url=default_url,
                    requested=requested,
                    lifecycle=target.warnings,
                    catalog=self.catalog,
                )
                if edit is not None:
                    supported = self.adapter(target.provider).supports_edits
                    one = map_edit(edit, one, adapter_edits=supported)
                mapped.append(one)
            except APIStatusError as exc:  # refused by the mapping, or a model the provider does not serve
                if index == 0 and not any_first:
                    raise  # the route's first target must take the request as asked
                # A fallback that cannot serve this request is left out of this call's plan; the
                # request still goes where it was routed first.
                refusals.append(exc)
                logger.info("imageshim: fallback %s skipped for this request: %s", target.name, exc.message)
        if not mapped and refusals:
            raise refusals[0]
        return mapped


class KeylessPlanner(Engine):
    """An engine for planning only (``imageshim estimate``, ``imageshim scan``): every default provider
    counts as having a key, so the default route is the one a deployment with keys would take. Nothing is
    sent and no key is read; a plan from it must never be executed."""

    def has_credentials(self, provider: str, default_env: str) -> bool:
        return True
