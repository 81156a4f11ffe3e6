"""The response: OpenAI ``ImagesResponse`` field names, plus the shim's report under ``.imageshim``."""

from __future__ import annotations

import dataclasses
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from imageshim._core.warnings import WarningRecord

__all__ = ["Attempt", "Image", "ImagesResponse", "ShimReport", "Usage"]


class Image(BaseModel):
    model_config = ConfigDict(defer_build=True)

    b64_json: str | None = None
    url: str | None = None
    revised_prompt: str | None = None
    # The image's own bytes (base64) and checked media type, whatever form the reply gives it: a streamed
    # reply and a hosted URL are made from these, so no form of the reply can lose an image.
    _data: str | None = PrivateAttr(default=None)
    _media_type: str | None = PrivateAttr(default=None)

    def keep_bytes(self, b64: str | None, media_type: str | None) -> None:
        self._data, self._media_type = b64, media_type

    def base64(self) -> str | None:
        """The image as base64 when its bytes are here (``b64_json``, a ``data:`` URL, or kept aside when
        the reply gives a file or hosted URL); None for an image that only exists behind a remote URL."""
        if self._data is not None:
            return self._data
        if self.b64_json is not None:
            return self.b64_json
        if self.url is not None and self.url.startswith("data:"):
            return self.url.partition(",")[2] or None
        return None

    @property
    def media_type(self) -> str | None:
        """The media type the image's bytes decode as (checked by imageshim), when its bytes are here."""
        return self._media_type


class Usage(BaseModel):
    """Token usage as GPT image models report it (extra fields kept).

    The details stay free-form: providers add keys (``cached_tokens``, nested breakdowns, nulls) and a
    reply's bookkeeping must never cost the caller the images that came with it.
    """

    model_config = ConfigDict(extra="allow", defer_build=True)

    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    input_tokens_details: dict[str, Any] | None = None
    output_tokens_details: dict[str, Any] | None = None


@dataclasses.dataclass(frozen=True)
class Attempt:
    """One try at one target: ``outcome`` is "ok", "partial", or the error class name."""

    target: str
    outcome: str
    duration_s: float
    images: int = 0
    error: str | None = None
    status_code: int | None = None
    recovered: bool = False


class ShimReport(BaseModel):
    """What the shim did: where the images came from, what it changed, what it cost."""

    model_config = ConfigDict(arbitrary_types_allowed=True, defer_build=True)

    route: str
    requested_model: str
    warnings: list[WarningRecord] = Field(default_factory=list)
    #: what was charged: provider-reported, else estimated from the reply's usage or the catalog's prices
    cost_usd: float | None = None
    cost_source: str | None = None
    #: what the call was estimated to cost before anything was sent (the plan's estimate for the target
    #: that served it), and how that estimate was made (prices, their source and date, approximations)
    estimate_usd: float | None = None
    estimate_source: str | None = None
    attempts: list[Attempt] = Field(default_factory=list)
    #: errors of calls that failed while others succeeded (partial results)
    failures: list[dict[str, Any]] = Field(default_factory=list)

    def model_dump(self, **kwargs: Any) -> dict[str, Any]:
        out = super().model_dump(**{"mode": "json", **kwargs})
        out["warnings"] = [w.to_dict() for w in self.warnings]
        return out


class ImagesResponse(BaseModel):
    """Shaped like ``openai.types.ImagesResponse``; ``imageshim`` holds the :class:`ShimReport`."""

    model_config = ConfigDict(defer_build=True)

    created: int
    data: list[Image] = Field(default_factory=list)
    usage: Usage | None = None
    size: str | None = None
    quality: str | None = None
    output_format: str | None = None
    background: str | None = None
    imageshim: ShimReport

    def model_dump(self, **kwargs: Any) -> dict[str, Any]:
        """A plain, JSON-serialisable dict (dates as ISO strings)."""
        exclude = kwargs.pop("exclude", None)
        kwargs = {"mode": "json", **kwargs, "exclude": {"imageshim"} | set(exclude or ())}
        out = super().model_dump(**kwargs)
        if not exclude or "imageshim" not in exclude:
            out["imageshim"] = self.imageshim.model_dump()
        return out

    def to_openai_dict(self) -> dict[str, Any]:
        """The body OpenAI would have sent: no ``imageshim`` key, unset fields left out, except that every
        data item carries ``revised_prompt`` (null when the model gave none), as DALL·E 3 replies always
        did: code that reads the raw JSON (``item["revised_prompt"]``) keeps working on any model."""
        out = self.model_dump(exclude={"imageshim"}, exclude_none=True)
        out["data"] = [
            {**{k: v for k, v in d.items() if v is not None}, "revised_prompt": d.get("revised_prompt")}
            for d in out.get("data", [])
        ]
        return out
