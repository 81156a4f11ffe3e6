"""OpenAI adapter: ``POST {base_url}/images/generations`` for GPT image models (and DALL·E, where it lives).

The wire format (body, reply models, error mapping) is in :mod:`._openai_wire`; this module owns the
connection: key, headers, timeouts, and the sync/async send. One :class:`ImageCall` per HTTP request.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from imageshim import AdapterResult, ImageAdapter, ImageCall, ModelSpec

from ._http import apost, post
from ._openai_wire import build_body, parse_reply

__all__ = ["OpenAIAdapter"]


class OpenAIAdapter(ImageAdapter):
    name: ClassVar[str] = "openai"
    api_key_env: ClassVar[str | None] = "OPENAI_API_KEY"
    base_url_env: ClassVar[str | None] = "OPENAI_BASE_URL"
    default_base_url: ClassVar[str | None] = "https://api.openai.com/v1"
    max_calls_per_request: ClassVar[int] = 1

    def profile(self, spec: ModelSpec) -> ModelSpec:
        """OpenAI serves the catalog's facts as they are: they come from OpenAI's own documents, and a model
        added through ``[[models]]`` is sent under its own id."""
        return spec

    def _headers(self) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.api_key()}", **self.settings.headers}
        if self.settings.organization:
            headers["OpenAI-Organization"] = self.settings.organization
        if self.settings.project:
            headers["OpenAI-Project"] = self.settings.project
        return headers

    def _total(self, call: ImageCall) -> float:
        return call.timeout if call.timeout is not None else (self.settings.timeout or self.default_timeout)

    def generate(self, calls: Sequence[ImageCall], spec: ModelSpec) -> AdapterResult:
        (call,) = calls
        response = post(
            self.http_client,
            f"{self.base_url}/images/generations",
            provider=self.name,
            total=self._total(call),
            json=build_body(call, spec),
            headers=self._headers(),
        )
        return parse_reply(response, spec)

    async def agenerate(self, calls: Sequence[ImageCall], spec: ModelSpec) -> AdapterResult:
        (call,) = calls
        response = await apost(
            self.async_http_client,
            f"{self.base_url}/images/generations",
            provider=self.name,
            total=self._total(call),
            json=build_body(call, spec),
            headers=self._headers(),
        )
        return parse_reply(response, spec)
