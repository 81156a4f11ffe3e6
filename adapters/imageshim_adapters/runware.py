"""Runware adapter: OpenAI's image models through Runware's REST API (``POST {base_url}``, task arrays).

Several :class:`ImageCall` values (n split for models that make one image per task) travel as several
tasks in ONE request body. Results are matched by ``taskUUID`` (the call's ``call_id``); a partly failed
batch returns what succeeded with the failures listed. After a lost reply, :meth:`recover` asks Runware
for the tasks' results (``getResponse``) so that a finished, paid-for image is not generated twice.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any, ClassVar

from imageshim import (
    AdapterResult,
    APIError,
    APIStatusError,
    ImageAdapter,
    ImageCall,
    ModelSpec,
    NotFoundError,
    SizeRule,
)
from imageshim._errors import error_class_for_status

from ._http import HTTPReply, apost, excerpt, parse_json, post, request_id
from ._runware_wire import (
    AIR,
    Reply,
    build_task,
    error_for,
    image_of,
    output_format_of,
    parse_reply,
    poll_task,
)

__all__ = ["RunwareAdapter"]

_URL_AND_B64 = ("url", "b64_json")
_FORMATS = ("png", "jpeg", "webp")
# What differs when Runware serves a model (runware.md §3-4). Common to all: URL or base64 output, JPG/PNG/WEBP,
# no end-user id, cost reported instead of token usage, explicit width/height.
_COMMON: dict[str, Any] = {
    "response_formats": _URL_AND_B64,
    "output_formats": _FORMATS,
    "end_user_id": False,
    "usage": False,
    "streaming": False,
    "revised_prompt": False,  # no revised_prompt is documented for Runware (UNCERTAIN): report none
    "auto_size": False,
}
_GPT_IMAGE_2: dict[str, Any] = {
    **_COMMON,
    # 480..3840 in steps of 16 (Runware's page), plus OpenAI's ratio and pixel limits as a safe client:
    # Runware does not state them, and the upstream model enforces them (UNCERTAIN on Runware: safe choice).
    "size_rule": SizeRule(16, 480, 3840, 3.0, 655_360, 8_294_400),
    "sizes": (),
    "default_size": "1024x1024",
    "max_n": 20,
    "backgrounds": (),
    "styles": (),
    "moderations": ("auto", "low"),
    "prompt_min": 2,
}
_GPT_IMAGE_1: dict[str, Any] = {
    **_COMMON,
    "sizes": ("1024x1024", "1536x1024", "1024x1536"),
    "default_size": "1024x1024",
    "max_n": 1,  # numberResults for these models is not documented: one image per task (safe)
    "moderations": (),
}
OVERRIDES: dict[str, dict[str, Any]] = {
    "dall-e-2": {**_COMMON, "max_n": 1},
    # DALL·E 3: numberResults > 1 is not documented for openai:2@3 and upstream allowed n=1 only (UNCERTAIN).
    "dall-e-3": {**_COMMON, "max_n": 1},
    "gpt-image-1": {**_GPT_IMAGE_1, "backgrounds": ("transparent", "opaque")},
    "gpt-image-1-mini": {**_GPT_IMAGE_1, "backgrounds": ()},
    "gpt-image-1.5": {**_GPT_IMAGE_1, "backgrounds": ()},
    "gpt-image-2": _GPT_IMAGE_2,
    "gpt-image-2.5-sunburst": _GPT_IMAGE_2,
    "gpt-image-2.5-flare": _GPT_IMAGE_2,
}


class _Pending:
    """Marker: a recovered task is still processing."""


PENDING = _Pending()


class RunwareAdapter(ImageAdapter):
    name: ClassVar[str] = "runware"
    api_key_env: ClassVar[str | None] = "RUNWARE_API_KEY"
    base_url_env: ClassVar[str | None] = "RUNWARE_BASE_URL"
    default_base_url: ClassVar[str | None] = "https://api.runware.ai/v1"
    max_calls_per_request: ClassVar[int] = 20
    #: getResponse polls after a lost reply: how many, and the first delay (doubling, capped at 5 s)
    recover_polls: ClassVar[int] = 6
    recover_delay: ClassVar[float] = 1.0
    #: seconds for one getResponse request (it answers at once: no generation happens)
    recover_timeout: ClassVar[float] = 30.0

    def profile(self, spec: ModelSpec) -> ModelSpec:
        if spec.id not in AIR:
            raise NotFoundError(
                f"runware: model {spec.id!r} has no Runware AIR id; served: {', '.join(sorted(AIR))}",
                code="model_not_found",
                param="model",
                provider=self.name,
            )
        return spec.with_changes(OVERRIDES.get(spec.id, _COMMON))

    # ----- wire ----------------------------------------------------------------------------------------
    def _post(self, tasks: list[dict[str, Any]], timeout: float | None) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.api_key()}", **self.settings.headers}
        total = timeout if timeout is not None else (self.settings.timeout or self.default_timeout)
        return {"json": tasks, "headers": headers, "total": total, "provider": self.name}

    def _result(self, response: HTTPReply, calls: Sequence[ImageCall], spec: ModelSpec) -> AdapterResult:
        payload = parse_json(response, self.name)
        reply = parse_reply(response, payload)
        ids = {c.call_id for c in calls}
        stray = [e for e in reply.errors if e.taskUUID not in ids]
        if stray:  # an error about the whole request (authentication, credits, ...)
            raise error_for(stray[0], response, spec)
        if response.status_code >= 400 and not reply.errors:
            cls: type[APIStatusError] = error_class_for_status(response.status_code)
            raise cls(
                f"runware: HTTP {response.status_code}: {excerpt(response.content)!r}",
                status_code=response.status_code,
                provider=self.name,
                request_id=request_id(response.headers),
            )
        single = calls[0].call_id if len(calls) == 1 else None
        result = AdapterResult(
            images=[], output_format=output_format_of(calls), request_id=request_id(response.headers)
        )
        costs: list[float] = []
        for call in calls:
            items = [i for i in reply.data if (i.taskUUID or single) == call.call_id]
            errors = [e for e in reply.errors if e.taskUUID == call.call_id]
            images = [img for img in (image_of(i) for i in items) if img is not None]
            result.images.extend(images)
            costs.extend(i.cost for i in items if i.cost is not None)
            if errors:
                result.failures.append(error_for(errors[0], response, spec))
            elif len(images) < call.n:
                result.failures.append(
                    APIError(
                        f"runware: task {call.call_id} returned {len(images)} of {call.n} images: "
                        f"{excerpt(response.content)!r}",
                        provider=self.name,
                        status_code=response.status_code,
                        retryable=True,
                    )
                )
        if not result.images:
            raise result.failures[0]
        result.cost_usd = round(sum(costs), 6) if len(costs) == len(result.images) else None
        result.size = calls[0].size
        result.quality = calls[0].quality
        return result

    # ----- generate ------------------------------------------------------------------------------------
    def generate(self, calls: Sequence[ImageCall], spec: ModelSpec) -> AdapterResult:
        kwargs = self._post([build_task(c, spec, AIR[spec.id]) for c in calls], calls[0].timeout)
        response = post(self.http_client, self.base_url, **kwargs)
        return self._result(response, calls, spec)

    async def agenerate(self, calls: Sequence[ImageCall], spec: ModelSpec) -> AdapterResult:
        kwargs = self._post([build_task(c, spec, AIR[spec.id]) for c in calls], calls[0].timeout)
        response = await apost(self.async_http_client, self.base_url, **kwargs)
        return self._result(response, calls, spec)

    # ----- recover after a lost reply --------------------------------------------------------------------
    def _recovered(
        self, response: HTTPReply, calls: Sequence[ImageCall], spec: ModelSpec
    ) -> AdapterResult | _Pending | None:
        """The result when every task is finished; ``PENDING`` while any is processing; None when Runware
        does not know a task or reports it failed (then the core sends it again)."""
        try:
            reply: Reply = parse_reply(response, parse_json(response, self.name))
        except APIError:
            return None
        if (
            reply.errors
            or response.status_code >= 400
            or any(i.status == "error" or i.error for i in reply.data)
        ):
            return None
        if any(i.status == "processing" for i in reply.data) or not reply.data:
            return PENDING
        try:
            return self._result(response, calls, spec)
        except APIError:
            return None

    def recover(self, calls: Sequence[ImageCall], spec: ModelSpec) -> AdapterResult | None:
        kwargs = self._post([poll_task(c.call_id) for c in calls], self.recover_timeout)
        delay = self.recover_delay
        for _ in range(self.recover_polls):
            try:
                response = post(self.http_client, self.base_url, **kwargs)
            except APIError:
                return None
            result = self._recovered(response, calls, spec)
            if not isinstance(result, _Pending):
                return result
            time.sleep(delay)
            delay = min(5.0, delay * 2)
        return None

    async def arecover(self, calls: Sequence[ImageCall], spec: ModelSpec) -> AdapterResult | None:
        kwargs = self._post([poll_task(c.call_id) for c in calls], self.recover_timeout)
        delay = self.recover_delay
        for _ in range(self.recover_polls):
            try:
                response = await apost(self.async_http_client, self.base_url, **kwargs)
            except APIError:
                return None
            result = self._recovered(response, calls, spec)
            if not isinstance(result, _Pending):
                return result
            await asyncio.sleep(delay)
            delay = min(5.0, delay * 2)
        return None
