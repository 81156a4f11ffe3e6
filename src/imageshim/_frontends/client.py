"""The native clients: ``imageshim.OpenAI`` and ``imageshim.AsyncOpenAI`` with ``.images.generate``.

The keyword-only signature mirrors the openai SDK's ``images.generate`` (DALL·E and GPT-image keywords),
so an unknown keyword is a ``TypeError`` exactly as with the SDK.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING, Any

import httpx

from imageshim._core.config import Config, ConfigSource, load_config
from imageshim._core.errors import BadRequestError
from imageshim._core.types import NOT_GIVEN, NotGiven
from imageshim._frontends.client_edits import AsyncEditMethods, EditMethods, locals_without_self
from imageshim._frontends.engine import Engine, Plan
from imageshim._plumbing.registry import AdapterRegistry

if TYPE_CHECKING:
    from imageshim._core.models_api import Model, ModelList
    from imageshim._core.response import ImagesResponse

__all__ = ["AsyncOpenAI", "OpenAI"]


def _config_with_openai_options(
    config: ConfigSource | Config, options: dict[str, Any]
) -> ConfigSource | Config:
    """Apply the openai-style constructor options (api_key=, base_url=, ...) to [providers.openai]."""
    given = {k: v for k, v in options.items() if v is not None}
    if not given:
        return config
    loaded = load_config(config)
    settings = dataclasses.replace(loaded.provider("openai"), **given)
    return dataclasses.replace(loaded, providers={**loaded.providers, "openai": settings})


def _timeout_seconds(timeout: float | httpx.Timeout | NotGiven | None) -> float | None:
    """Seconds one provider request may take. Not given: the provider's ``timeout`` (or its default).
    None, as with the SDK, sets no limit of its own: each request may use what is left of the call's
    deadline (``[retry] deadline``)."""
    if isinstance(timeout, NotGiven):
        return None
    if timeout is None:
        return math.inf
    if isinstance(timeout, httpx.Timeout):
        return timeout.read if timeout.read is not None else math.inf
    return timeout


def _plan(engine: Engine, kwargs: dict[str, Any]) -> Plan:
    from imageshim._core.request import request_from_kwargs  # pydantic loads with the first request

    timeout = _timeout_seconds(kwargs.pop("timeout"))
    request = request_from_kwargs(kwargs)  # applies the safety_identifier-over-user and no-model rules
    if request.stream:
        raise BadRequestError(
            "Invalid value for 'stream': True. The native client returns whole images; use "
            "`imageshim serve` or imageshim.openai_http_client() with the openai SDK for streaming.",
            code="invalid_value",
            param="stream",
        )
    return engine.plan(request, timeout)


class Images(EditMethods):
    """``client.images``: ``generate`` here; ``edit`` and ``create_variation`` from :class:`EditMethods`."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def generate(
        self,
        *,
        prompt: str,
        model: str | None = None,
        n: int | None = None,
        size: str | None = None,
        quality: str | None = None,
        style: str | None = None,
        response_format: str | None = None,
        user: str | None = None,
        background: str | None = None,
        moderation: str | None = None,
        output_format: str | None = None,
        output_compression: int | None = None,
        partial_images: int | None = None,
        stream: bool | None = None,
        safety_identifier: str | None = None,
        complexity: str | None = None,
        frame_count: int | None = None,
        frame_duration_ms: int | None = None,
        svg: dict[str, Any] | None = None,
        extra_body: dict[str, Any] | None = None,
        timeout: float | httpx.Timeout | NotGiven | None = NOT_GIVEN,
    ) -> ImagesResponse:
        """Generate images: validated and mapped before any network call, every change warned.

        ``timeout``: seconds each provider request may take (not given: the provider's; None: no limit of
        its own). The whole call, retries and fallbacks included, is bounded by ``[retry] deadline``.
        """
        return self._run(_plan(self._engine, locals_without_self(locals())))


class AsyncImages(AsyncEditMethods):
    """Async twin of :class:`Images`."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    async def generate(
        self,
        *,
        prompt: str,
        model: str | None = None,
        n: int | None = None,
        size: str | None = None,
        quality: str | None = None,
        style: str | None = None,
        response_format: str | None = None,
        user: str | None = None,
        background: str | None = None,
        moderation: str | None = None,
        output_format: str | None = None,
        output_compression: int | None = None,
        partial_images: int | None = None,
        stream: bool | None = None,
        safety_identifier: str | None = None,
        complexity: str | None = None,
        frame_count: int | None = None,
        frame_duration_ms: int | None = None,
        svg: dict[str, Any] | None = None,
        extra_body: dict[str, Any] | None = None,
        timeout: float | httpx.Timeout | NotGiven | None = NOT_GIVEN,
    ) -> ImagesResponse:
        """Async twin of :meth:`Images.generate`."""
        return await self._run(_plan(self._engine, locals_without_self(locals())))


class Models:
    """``client.models``: the catalog, each model with its lifecycle on the client's clock."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def list(self) -> ModelList:
        from imageshim._core.models_api import list_models

        return list_models(self._engine)

    def retrieve(self, model: str) -> Model:
        """The model, or :class:`~imageshim.NotFoundError` (code ``model_not_found``) for an unknown id."""
        from imageshim._core.models_api import retrieve_model

        return retrieve_model(self._engine, model)


class AsyncModels:
    """Async twin of :class:`Models` (nothing to wait for: the catalog is local)."""

    def __init__(self, engine: Engine) -> None:
        self._models = Models(engine)

    async def list(self) -> ModelList:
        return self._models.list()

    async def retrieve(self, model: str) -> Model:
        return self._models.retrieve(model)


class _BaseClient:
    def __init__(
        self,
        config: ConfigSource | Config,
        *,
        clock: Callable[[], date] | None,
        registry: AdapterRegistry | None,
        openai_options: dict[str, Any],
        http_client: httpx.Client | None = None,
        async_http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self._engine = Engine(
            _config_with_openai_options(config, openai_options),
            http_client=http_client,
            async_http_client=async_http_client,
            clock=clock,
            registry=registry,
        )

    @property
    def config(self) -> Config:
        return self._engine.config

    def __repr__(self) -> str:
        return f"{type(self).__name__}(config={self._engine.config.source!r})"


class OpenAI(_BaseClient):
    """Drop-in for ``openai.OpenAI`` for image generation.

    ``config``: None (discover), a path, or a dict. ``http_client``: the ``httpx.Client`` adapters use.
    ``clock``: returns today's date (default: the real date). ``api_key``/``base_url``/``organization``/
    ``project``/``timeout``/``max_retries`` apply to the ``openai`` provider, as with the SDK.
    """

    def __init__(
        self,
        config: ConfigSource | Config = None,
        *,
        http_client: httpx.Client | None = None,
        clock: Callable[[], date] | None = None,
        registry: AdapterRegistry | None = None,
        api_key: str | None = None,
        base_url: str | None = None,
        organization: str | None = None,
        project: str | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
    ) -> None:
        options = {
            "api_key": api_key,
            "base_url": base_url,
            "organization": organization,
            "project": project,
            "timeout": timeout,
            "max_retries": max_retries,
        }
        super().__init__(
            config, clock=clock, registry=registry, openai_options=options, http_client=http_client
        )
        self.images = Images(self._engine)
        self.models = Models(self._engine)

    def close(self) -> None:
        self._engine.close()

    def __enter__(self) -> OpenAI:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncOpenAI(_BaseClient):
    """Async twin of :class:`OpenAI`; ``http_client`` is an ``httpx.AsyncClient``."""

    def __init__(
        self,
        config: ConfigSource | Config = None,
        *,
        http_client: httpx.AsyncClient | None = None,
        clock: Callable[[], date] | None = None,
        registry: AdapterRegistry | None = None,
        api_key: str | None = None,
        base_url: str | None = None,
        organization: str | None = None,
        project: str | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
    ) -> None:
        options = {
            "api_key": api_key,
            "base_url": base_url,
            "organization": organization,
            "project": project,
            "timeout": timeout,
            "max_retries": max_retries,
        }
        super().__init__(
            config, clock=clock, registry=registry, openai_options=options, async_http_client=http_client
        )
        self.images = AsyncImages(self._engine)
        self.models = AsyncModels(self._engine)

    async def close(self) -> None:
        await self._engine.aclose()

    async def __aenter__(self) -> AsyncOpenAI:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
