"""The engine: configuration, catalog and adapters held once per client; plans requests and builds responses.

``plan`` does everything that can fail without I/O (validation, routing, lifecycle, mapping for every
target of the route), so an invalid request never reaches the network. ``build_response`` turns what
the adapters returned into the OpenAI-shaped response with the shim's report.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING, Any

import httpx

from ._adapter import AdapterResult, GeneratedImage, ImageAdapter
from ._catalog import Catalog, ModelSpec, builtin_catalog
from ._config import Config, ConfigSource, load_config
from ._errors import APIError, APIStatusError, ConfigurationError, redact
from ._mapping import MappedRequest, map_request
from ._registry import AdapterRegistry, default_registry
from ._routing import Target, resolve_targets
from ._urls import data_uri, write_file_url
from ._warnings import WarningRecord, logger

if TYPE_CHECKING:  # pydantic models load with the first request, not with the client
    from ._request import ImageRequest
    from ._response import Attempt, Image, ImagesResponse, Usage

__all__ = ["Engine", "Outcome", "Plan"]

Clock = Callable[[], date]
_PLAN_CACHE_SIZE = 256


@dataclasses.dataclass(frozen=True)
class Plan:
    """Everything decided before I/O: the request and, per target of the route, what to send and why."""

    request: ImageRequest
    targets: tuple[MappedRequest, ...]
    #: seconds one provider call may take (the caller's ``timeout=``), instead of the provider's own
    timeout: float | None = None
    #: seconds the whole call may take, retries and fallbacks included; the shorter of this and
    #: ``[retry] deadline`` applies
    deadline: float | None = None


@dataclasses.dataclass
class Outcome:
    """What execution produced: the target that served, its results, every attempt and leftover failures."""

    mapped: MappedRequest
    results: list[AdapterResult]
    attempts: list[Attempt]
    failures: list[APIError]


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

    def plan(self, request: ImageRequest, timeout: float | None = None) -> Plan:
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
        for index, target in enumerate(targets):
            try:
                mapped.append(
                    map_request(
                        request,
                        self._profile(target),
                        self.config.mapping,
                        target.name,
                        default_url=default_url,
                        requested=requested,
                        lifecycle=target.warnings,
                    )
                )
            except APIStatusError as exc:  # refused by the mapping, or a model the provider does not serve
                if index == 0:
                    raise  # the route's first target must take the request as asked
                # A fallback that cannot serve this request is left out of this call's plan; the
                # request still goes where it was routed first.
                logger.info("imageshim: fallback %s skipped for this request: %s", target.name, exc.message)
        return Plan(request, tuple(mapped), timeout)

    # ----- the response --------------------------------------------------------------------------------
    def build_response(self, plan: Plan, outcome: Outcome) -> ImagesResponse:
        from ._response import ImagesResponse, ShimReport

        mapped = outcome.mapped
        fmt = mapped.template.output_format or _first(outcome.results, "output_format")
        images = [self._image(img, mapped, fmt) for r in outcome.results for img in r.images]
        usage = _usage(outcome.results)
        cost, cost_source = _cost(outcome.results, mapped, usage)
        warnings = list(mapped.warnings)
        if outcome.failures:
            warnings.append(_partial_warning(plan, mapped, len(images), outcome.failures))
        report = ShimReport.model_construct(
            route=mapped.target,
            requested_model=plan.request.model,
            warnings=warnings,
            cost_usd=cost,
            cost_source=cost_source,
            attempts=outcome.attempts,
            failures=[_failure(e) for e in outcome.failures],
        )
        return ImagesResponse.model_construct(
            created=_first(outcome.results, "created") or int(time.time()),
            data=images,
            usage=usage,
            size=_first(outcome.results, "size") or mapped.template.size,
            quality=_first(outcome.results, "quality") or mapped.template.quality,
            output_format=fmt,
            background=_first(outcome.results, "background"),
            imageshim=report,
        )

    def _image(self, image: GeneratedImage, mapped: MappedRequest, fmt: str | None) -> Image:
        from ._response import Image

        url = image.url
        if mapped.url_mode in ("data-uri", "file") and url is None and image.b64_json is not None:
            if mapped.url_mode == "file":
                url = write_file_url(image.b64_json, fmt, self.config.mapping.url_dir)
            else:
                url = data_uri(image.b64_json, fmt)
            return Image.model_construct(b64_json=None, url=url, revised_prompt=image.revised_prompt)
        return Image.model_construct(b64_json=image.b64_json, url=url, revised_prompt=image.revised_prompt)


def _first(results: list[AdapterResult], field: str) -> Any:
    for r in results:
        value = getattr(r, field)
        if value is not None:
            return value
    return None


def _usage(results: list[AdapterResult]) -> Usage | None:
    """The usage of all results, summed; None when no result reported a count.

    A single reply's usage is read as it came. Otherwise (or when it does not validate) only whole-number
    counts are summed and anything else a provider put there is left out: usage never raises, as the
    images it came with are already paid for.
    """
    from pydantic import ValidationError

    from ._response import Usage

    usages = [r.usage for r in results if r.usage]
    if not usages:
        return None
    if len(usages) == 1:  # the common case: one reply, read as it came
        try:
            return Usage.model_validate(usages[0])
        except ValidationError:
            pass
    total: dict[str, Any] = {}
    for usage in usages:
        for key, value in usage.items():
            if _count(value):
                total[key] = total.get(key, 0) + value
            elif isinstance(value, dict):
                inner = total.setdefault(key, {})
                if isinstance(inner, dict):
                    for ik, iv in value.items():
                        if _count(iv):
                            inner[ik] = inner.get(ik, 0) + iv
    return Usage.model_validate(total) if total else None  # only counts: it always validates


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _counted(value: Any, default: int) -> int:
    """``value`` when it is a token count, else ``default`` (providers put nulls and strings there)."""
    return value if _count(value) else default


def _cost(
    results: list[AdapterResult], mapped: MappedRequest, usage: Usage | None
) -> tuple[float | None, str | None]:
    """Provider-reported cost when every result has one; else an estimate from the catalog's prices."""
    if results and all(r.cost_usd is not None for r in results):
        return round(sum(r.cost_usd or 0.0 for r in results), 6), "provider"
    spec = mapped.spec
    if spec.price_per_token and usage is not None and usage.output_tokens:
        details = usage.input_tokens_details or {}
        image_in = _counted(details.get("image_tokens"), 0)
        text_in = _counted(details.get("text_tokens"), max(0, usage.input_tokens - image_in))
        rates = spec.price_per_token
        est = (
            text_in * rates.get("text_input", 0.0)
            + image_in * rates.get("image_input", 0.0)
            + usage.output_tokens * rates.get("output", 0.0)
        )
        return round(est, 6), f"estimate from token usage ({spec.price_source})"
    count = sum(len(r.images) for r in results)
    table = spec.price_per_image or {}
    quality = mapped.template.quality or spec.default_quality
    size = _first(results, "size") or mapped.template.size or "1024x1024"
    per = (table.get(quality) or {}).get(size)
    if per is None or not count:
        return None, None
    return round(per * count, 6), f"estimate from the catalog's per-image price ({spec.price_source})"


def _partial_warning(plan: Plan, mapped: MappedRequest, got: int, failures: list[APIError]) -> WarningRecord:
    first = failures[0]
    return WarningRecord(
        "option_mapped",
        "n",
        plan.request.n,
        got,
        f"{got} of {plan.request.n} images arrived from {mapped.target}; {len(failures)} call(s) failed "
        f"({type(first).__name__}: {redact(first.message)}); see resp.imageshim.failures",
        model=mapped.spec.id,
        target=mapped.target,
    )


def _failure(error: APIError) -> dict[str, Any]:
    return {
        "error": type(error).__name__,
        "message": redact(error.message),
        "status_code": error.status_code,
        "code": error.code,
        "provider": error.provider,
    }
