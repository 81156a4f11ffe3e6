"""The configuration file's format, validated strictly (unknown keys are errors).

Imported only when a configuration is loaded, so that ``import imageshim`` does not build these models.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from imageshim._core.config import DEFAULT_VARIATION_PROMPT

__all__ = ["ConfigFile", "GatewayTable"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, defer_build=True)


class _Lifecycle(_Strict):
    warn_days: int = Field(90, ge=0, le=3650)
    on_retired: Literal["redirect", "error", "allow"] = "redirect"


class _Mapping(_Strict):
    quality: dict[str, str] | Literal["price-parity"] = Field(default_factory=dict)
    style: Literal["drop", "prompt"] = "drop"
    url: Literal["data-uri", "file", "error"] = "data-uri"
    url_dir: str = ".imageshim/images"
    variations: Literal["edit", "error"] = "edit"
    variation_prompt: str = Field(DEFAULT_VARIATION_PROMPT, min_length=1, max_length=4000)

    @field_validator("quality", mode="before")
    @classmethod
    def _quality(cls, value: Any) -> Any:
        tabled = isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
        if value == "price-parity" or tabled:
            return value
        raise ValueError(
            'must be "price-parity" or a table from the asked quality to the one sent, such as '
            '{ standard = "medium", hd = "high" }'
        )


class _Budget(_Strict):
    max_usd_per_call: float | None = Field(None, gt=0, le=1e6, allow_inf_nan=False)


class _Routing(_Strict):
    prefer: Literal["order", "cheapest"] = "order"


class _Retry(_Strict):
    max_retries: int = Field(2, ge=0, le=10)
    initial_backoff: float = Field(0.5, ge=0, le=60)
    max_backoff: float = Field(8.0, ge=0, le=600)
    max_retry_after: float = Field(60.0, ge=0, le=3600)
    deadline: float | None = Field(600.0, gt=0)
    partial: Literal["return", "error"] = "return"
    concurrency: int = Field(4, ge=1, le=64)


class _Provider(_Strict):
    base_url: str | None = None
    api_key: str | None = None
    api_key_env: str | None = None
    timeout: float | None = Field(None, gt=0)
    connect_timeout: float | None = Field(None, gt=0)
    max_retries: int | None = Field(None, ge=0, le=10)
    organization: str | None = None
    project: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)


#: a client key's label in the access log and metrics (``record.client_hash``), or "anonymous" (no keys)
_CLIENT_LABEL = r"^([0-9a-f]{12}|anonymous)$"


class _KeyBudget(_Strict):
    usd_per_day: float | None = Field(None, ge=0, le=1e9, allow_inf_nan=False)
    usd_per_month: float | None = Field(None, ge=0, le=1e9, allow_inf_nan=False)


class _Budgets(_KeyBudget):
    keys: dict[Annotated[str, StringConstraints(pattern=_CLIENT_LABEL)], _KeyBudget] = Field(
        default_factory=dict
    )


class GatewayTable(_Strict):
    public_url: str | None = None
    store: Literal["memory", "file", "s3"] = "memory"
    store_dir: str = ".imageshim/hosted"
    ttl_seconds: float = Field(3600.0, gt=0, le=7 * 86400)
    store_max_bytes: int = Field(1 << 30, ge=1 << 20)
    store_max_bytes_per_key: int = Field(256 << 20, ge=1 << 20)
    retry_window_seconds: float = Field(120.0, ge=0, le=86400)
    max_concurrency_per_key: int = Field(16, ge=0, le=100_000)
    max_connections: int = Field(1024, ge=1, le=1_000_000)
    header_timeout: float = Field(10.0, gt=0, le=3600)
    body_timeout: float = Field(60.0, gt=0, le=3600)
    idle_timeout: float = Field(5.0, gt=0, le=3600)
    drain_seconds: float | None = Field(None, ge=0, le=86400)
    cors_origins: list[str] = Field(default_factory=list)
    log_format: Literal["text", "json"] = "text"
    max_body_bytes: int = Field(1 << 20, ge=1024, le=1 << 30)
    max_upload_bytes: int = Field(64 << 20, ge=1024, le=4 << 30)
    state: str | None = Field(None, pattern=r"^(redis|rediss|unix)://")
    state_lease_seconds: float = Field(30.0, ge=1, le=3600)
    urls: Literal["proxy", "presigned"] = "proxy"
    s3_bucket: str | None = Field(None, min_length=3, max_length=63)
    s3_prefix: str = Field("imageshim/", max_length=512)
    s3_endpoint: str | None = Field(None, pattern=r"^https?://")
    s3_region: str | None = None
    budgets: _Budgets = Field(default_factory=_Budgets)


class ConfigFile(_Strict):
    routes: dict[str, list[str]] = Field(default_factory=dict)
    lifecycle: _Lifecycle = Field(default_factory=_Lifecycle)
    mapping: _Mapping = Field(default_factory=_Mapping)
    retry: _Retry = Field(default_factory=_Retry)
    gateway: GatewayTable = Field(default_factory=GatewayTable)
    budget: _Budget = Field(default_factory=_Budget)
    routing: _Routing = Field(default_factory=_Routing)
    providers: dict[str, _Provider] = Field(default_factory=dict)
    models: list[dict[str, Any]] = Field(default_factory=list)
