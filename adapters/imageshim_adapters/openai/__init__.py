"""OpenAI adapter: ``POST {base_url}/images/generations`` for GPT image models (and DALL·E, where it lives).

The wire format (body, reply models, error mapping) is in :mod:`.wire`; this module owns the
connection: key, headers (``OpenAI-Organization`` / ``OpenAI-Project`` from the config, else from
``OPENAI_ORG_ID`` / ``OPENAI_PROJECT_ID``, as the official SDK reads them), timeouts, and the sync/async
send. One :class:`ImageCall` per HTTP request.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, ClassVar

from imageshim.adapterkit import (
    AdapterResult,
    ImageAdapter,
    ImageCall,
    ModelSpec,
    apost,
    post,
)

from .edit import build_form
from .wire import build_body, parse_reply

__all__ = ["OpenAIAdapter"]

#: read by the official SDK (openai 3.x ``_client.py``) when ``organization`` / ``project`` are not given
ORGANIZATION_ENV = "OPENAI_ORG_ID"
PROJECT_ENV = "OPENAI_PROJECT_ID"


class OpenAIAdapter(ImageAdapter):
    name: ClassVar[str] = "openai"
    api_key_env: ClassVar[str | None] = "OPENAI_API_KEY"
    base_url_env: ClassVar[str | None] = "OPENAI_BASE_URL"
    default_base_url: ClassVar[str | None] = "https://api.openai.com/v1"
    max_calls_per_request: ClassVar[int] = 1
    supports_edits: ClassVar[bool] = True

    def profile(self, spec: ModelSpec) -> ModelSpec:
        """OpenAI serves the catalog's facts as they are: they come from OpenAI's own documents, and a model
        added through ``[[models]]`` is sent under its own id."""
        return spec

    def _headers(self) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.api_key()}", **self.settings.headers}
        # As the official SDK does: the configured value, else OPENAI_ORG_ID / OPENAI_PROJECT_ID.
        organization = self.settings.organization or os.environ.get(ORGANIZATION_ENV)
        project = self.settings.project or os.environ.get(PROJECT_ENV)
        if organization:
            headers["OpenAI-Organization"] = organization
        if project:
            headers["OpenAI-Project"] = project
        return headers

    def _total(self, call: ImageCall) -> float:
        return call.timeout if call.timeout is not None else (self.settings.timeout or self.default_timeout)

    def _request(self, call: ImageCall, spec: ModelSpec) -> dict[str, Any]:
        """The keywords of one post: JSON to /images/generations, or the multipart form to /images/edits."""
        kwargs: dict[str, Any] = {
            "provider": self.name,
            "total": self._total(call),
            "connect": self.settings.connect_timeout,
            "headers": self._headers(),
        }
        if call.is_edit:
            fields, files = build_form(call, spec)
            return {**kwargs, "url": f"{self.base_url}/images/edits", "data": fields, "files": files}
        return {**kwargs, "url": f"{self.base_url}/images/generations", "json": build_body(call, spec)}

    def generate(self, calls: Sequence[ImageCall], spec: ModelSpec) -> AdapterResult:
        (call,) = calls
        return parse_reply(post(self.http_client, **self._request(call, spec)))

    async def agenerate(self, calls: Sequence[ImageCall], spec: ModelSpec) -> AdapterResult:
        (call,) = calls
        return parse_reply(await apost(self.async_http_client, **self._request(call, spec)))
