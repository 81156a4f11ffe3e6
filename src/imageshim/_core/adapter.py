"""The adapter protocol: what the core hands an adapter, and what it gets back.

The core maps every request onto a target before it reaches an adapter, so an adapter receives
:class:`ImageCall` values that are already valid for its model (as seen through :meth:`ImageAdapter.profile`)
and only has to speak its provider's wire format. It maps provider errors onto the shim's error tree at
one boundary and never lets a ``KeyError`` or a transport exception escape.

Third-party adapters subclass :class:`ImageAdapter` and register under the entry-point group
``imageshim.adapters`` (``name = "package.module:Class"``).
"""

from __future__ import annotations

import dataclasses
import os
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal

import httpx

from imageshim._core.catalog import ModelSpec
from imageshim._core.errors import APIError, MissingAPIKeyError, register_secret

__all__ = [
    "ADAPTER_SPEC_VERSION",
    "AdapterResult",
    "GeneratedImage",
    "ImageAdapter",
    "ImageCall",
    "InputImage",
    "ProviderSettings",
]

ADAPTER_SPEC_VERSION = "1.0"


@dataclasses.dataclass(frozen=True, repr=False)
class ProviderSettings:
    """Connection settings for one provider, from ``[providers.NAME]`` and the environment.

    ``api_key`` is never shown by ``repr``.
    """

    name: str
    base_url: str | None = None
    api_key: str | None = None
    api_key_env: str | None = None
    timeout: float | None = None
    connect_timeout: float | None = None
    max_retries: int | None = None
    organization: str | None = None
    project: str | None = None
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def __repr__(self) -> str:
        key = "set" if self.api_key else "from env" if self.api_key_env else "default env"
        return f"ProviderSettings(name={self.name!r}, base_url={self.base_url!r}, api_key=<{key}>)"

    def resolve_key(self, default_env: str | None = None) -> str | None:
        """The explicit key, else the environment variable's value, else None."""
        if self.api_key:
            return self.api_key
        env = self.api_key_env or default_env
        return os.environ.get(env) if env else None


@dataclasses.dataclass(frozen=True, repr=False)
class InputImage:
    """An image the caller sent (an edit's input, mask or markup), checked before any network call:
    ``media_type``, ``width`` and ``height`` are read from its bytes, ``has_alpha`` from its header."""

    data: bytes
    media_type: str
    width: int
    height: int
    has_alpha: bool = False
    filename: str | None = None

    def __repr__(self) -> str:  # never the bytes
        return f"InputImage({self.media_type}, {self.width}x{self.height}, {len(self.data)} bytes)"


@dataclasses.dataclass(frozen=True)
class ImageCall:
    """One provider call, already valid for the target model.

    ``call_id`` is a fresh UUID4 per attempt: after a lost reply the core asks the adapter to
    :meth:`~ImageAdapter.poll` for the result under that attempt's ids (Runware: ``taskUUID`` +
    ``getResponse``); a re-send (only of calls known not to have run) gets new ids. ``width``/``height``
    are None for "auto" (or when the caller gave no size and the target picks). ``response_format`` is
    the native format asked of the provider; the core turns base64 into URLs when the caller wanted URLs.
    """

    call_id: str
    model: str
    prompt: str
    n: int = 1
    width: int | None = None
    height: int | None = None
    quality: str | None = None
    style: str | None = None
    response_format: Literal["url", "b64_json"] = "b64_json"
    output_format: str | None = None
    output_compression: int | None = None
    background: str | None = None
    moderation: str | None = None
    end_user_id: str | None = None
    #: the name the caller gave the end-user id: "user" or "safety_identifier" (SDK 3.57's successor);
    #: the OpenAI wire sends the id under safety_identifier only when the caller used it and the target takes it
    end_user_field: str = "user"
    extra_body: Mapping[str, Any] | None = None
    timeout: float | None = None
    #: SDK 3.57 generate/edit parameters, set only where the target takes them
    complexity: str | None = None
    frame_count: int | None = None
    frame_duration_ms: int | None = None
    svg: Mapping[str, Any] | None = None
    #: an edit: the input images (the first is the one ``mask`` and ``markup`` apply to); empty: a generation
    images: tuple[InputImage, ...] = ()
    mask: InputImage | None = None
    markup: InputImage | None = None
    input_fidelity: str | None = None

    @property
    def is_edit(self) -> bool:
        return bool(self.images)

    @property
    def size(self) -> str | None:
        return None if self.width is None or self.height is None else f"{self.width}x{self.height}"

    def evolve(self, **changes: Any) -> ImageCall:
        """A copy with ``changes`` applied: ``dataclasses.replace`` without re-running ``__init__`` (the
        class has no ``__post_init__`` to skip), a fifth of the cost on the per-call path."""
        unknown = changes.keys() - self.__dict__.keys()
        if unknown:
            raise TypeError(f"ImageCall has no field(s) {sorted(unknown)}")
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__, **changes)
        return new


@dataclasses.dataclass(frozen=True)
class GeneratedImage:
    """One image as a provider returned it: base64 or a URL. ``media_type`` is set by the core once it has
    checked the bytes (adapters leave it None)."""

    b64_json: str | None = None
    url: str | None = None
    revised_prompt: str | None = None
    media_type: str | None = None


@dataclasses.dataclass
class AdapterResult:
    """What one adapter request produced. ``failures`` holds per-call errors of a partly failed batch.

    From :meth:`ImageAdapter.poll` (recovery after a lost reply) a result also sorts the calls it was asked
    about: ``pending`` (still running, or not yet known to the provider: polled again while the recovery
    budget lasts, then reported as :class:`~imageshim.ResultUnknownError`) and ``resend`` (known not to
    have run, nothing billed: sent again with fresh ids, as a retry). Every other call is settled: its
    images are in ``images``, or its error in ``failures``.
    """

    images: list[GeneratedImage]
    created: int | None = None
    usage: dict[str, Any] | None = None
    cost_usd: float | None = None
    size: str | None = None
    quality: str | None = None
    output_format: str | None = None
    background: str | None = None
    request_id: str | None = None
    failures: list[APIError] = dataclasses.field(default_factory=list)
    resend: list[ImageCall] = dataclasses.field(default_factory=list)
    pending: list[ImageCall] = dataclasses.field(default_factory=list)


class ImageAdapter(ABC):
    """Base of every adapter. One instance per (provider, client); it may serve several models.

    Class attributes describe the provider: ``name`` (the ``provider`` part of ``provider:model``),
    ``api_key_env`` (None when no key is needed), ``default_base_url``, and ``max_calls_per_request``: how
    many :class:`ImageCall` values one wire request may carry (Runware takes an array of tasks).
    """

    name: ClassVar[str]
    spec_version: ClassVar[str] = ADAPTER_SPEC_VERSION
    api_key_env: ClassVar[str | None] = None
    base_url_env: ClassVar[str | None] = None
    default_base_url: ClassVar[str | None] = None
    max_calls_per_request: ClassVar[int] = 1
    #: default seconds for one provider request (image generation takes 10-120 s)
    default_timeout: ClassVar[float] = 180.0
    #: wire requests of one call this provider may be sent at once (n split into several requests)
    concurrent_requests: ClassVar[int] = 4
    #: whether :meth:`generate` also serves edits (calls with ``images``); the core never sends an edit to
    #: an adapter that does not say so
    supports_edits: ClassVar[bool] = False
    #: recovery after a lost reply (:meth:`poll`): seconds of a call's deadline kept back for it and the
    #: most it may take (0: the adapter cannot recover; a lost reply is then reported, never re-sent) ...
    recovery_reserve: ClassVar[float] = 0.0
    #: ... at most this many polls, the first at once, then after a delay doubling from ``recover_delay``
    #: up to ``recover_max_delay`` seconds (a failed poll is retried on the same schedule) ...
    recover_polls: ClassVar[int] = 10
    recover_delay: ClassVar[float] = 0.5
    recover_max_delay: ClassVar[float] = 2.0
    #: ... each poll bounded by this many seconds
    recover_timeout: ClassVar[float] = 5.0

    def __init__(
        self,
        settings: ProviderSettings,
        *,
        http_client: httpx.Client | None = None,
        async_http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self.settings = settings
        self._http_client = http_client
        self._async_http_client = async_http_client
        self._owns_http_client = http_client is None
        self._owns_async_http_client = async_http_client is None
        self._registered_key: str | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r})"

    # ----- facts ---------------------------------------------------------------------------------------
    def profile(self, spec: ModelSpec) -> ModelSpec:
        """The model as this provider serves it (override to apply provider differences).

        Raise :class:`~imageshim.NotFoundError` for a model the provider does not serve.
        """
        return spec

    @property
    def base_url(self) -> str:
        # The environment overrides the config file (CONTRACT: OPENAI_BASE_URL, RUNWARE_BASE_URL).
        url = os.environ.get(self.base_url_env) if self.base_url_env else None
        return (url or self.settings.base_url or self.default_base_url or "").rstrip("/")

    def api_key(self) -> str:
        """The key from settings or the environment; raises :class:`MissingAPIKeyError` naming the variable."""
        if self.api_key_env is None:
            return ""
        key = self.settings.resolve_key(self.api_key_env)
        if not key:
            raise MissingAPIKeyError(self.name, self.settings.api_key_env or self.api_key_env)
        if key != self._registered_key:  # read every call (keys rotate); registered once per value
            register_secret(key)
            self._registered_key = key
        return key

    @property
    def timeout(self) -> httpx.Timeout:
        total = self.settings.timeout or self.default_timeout
        return httpx.Timeout(total, connect=self.settings.connect_timeout or min(10.0, total))

    # ----- clients -------------------------------------------------------------------------------------
    @property
    def http_client(self) -> httpx.Client:
        if self._http_client is None:
            from imageshim._plumbing.pool import http_client

            self._http_client = http_client(self.timeout)
        return self._http_client

    @property
    def async_http_client(self) -> httpx.AsyncClient:
        if self._async_http_client is None:
            # Up to 1000 connections in flight, all kept alive: _pool.py keeps httpcore 1.0's pool
            # bookkeeping linear (its stock pass is quadratic in the connections kept alive).
            from imageshim._plumbing.pool import async_http_client

            self._async_http_client = async_http_client(self.timeout)
        return self._async_http_client

    def close(self) -> None:
        if self._owns_http_client and self._http_client is not None:
            self._http_client.close()
            self._http_client = None

    async def aclose(self) -> None:
        if self._owns_async_http_client and self._async_http_client is not None:
            await self._async_http_client.aclose()
            self._async_http_client = None

    # ----- the work ------------------------------------------------------------------------------------
    @abstractmethod
    def generate(self, calls: Sequence[ImageCall], spec: ModelSpec) -> AdapterResult:
        """Send ``calls`` (at most ``max_calls_per_request``) as one wire request: a generation, or an edit
        when the calls carry ``images`` (only for adapters with ``supports_edits``)."""

    @abstractmethod
    async def agenerate(self, calls: Sequence[ImageCall], spec: ModelSpec) -> AdapterResult:
        """Async twin of :meth:`generate`."""

    def poll(self, calls: Sequence[ImageCall], spec: ModelSpec) -> AdapterResult:
        """One look-up of ``calls`` after their reply was lost (one wire request; the core schedules the
        polls, retries failed ones and keeps the budget). Sort every call: its images, its error in
        ``failures``, ``pending`` (no word yet) or ``resend`` (known not to have run). Only adapters with a
        ``recovery_reserve`` are asked; raise :class:`~imageshim.APIError` when the look-up itself failed."""
        raise NotImplementedError(f"{type(self).__name__} cannot look up a lost reply")

    async def apoll(self, calls: Sequence[ImageCall], spec: ModelSpec) -> AdapterResult:
        """Async twin of :meth:`poll`."""
        raise NotImplementedError(f"{type(self).__name__} cannot look up a lost reply")
