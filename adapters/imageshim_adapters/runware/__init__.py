"""Runware adapter: OpenAI's image models through Runware's REST API (``POST {base_url}``, task arrays).

Several :class:`ImageCall` values (n split for models that make one image per task) travel as several
tasks in ONE request body. Results are matched by ``taskUUID`` (the call's ``call_id``); a partly failed
batch returns what succeeded with the failures listed. After a lost reply, :meth:`poll` asks Runware
for the tasks' results (``getResponse``) so that a finished, paid-for image is not generated twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from imageshim.adapterkit import (
    AdapterResult,
    APIError,
    APIStatusError,
    HTTPReply,
    ImageAdapter,
    ImageCall,
    ModelSpec,
    NotFoundError,
    ResultUnknownError,
    SizeRule,
    apost,
    error_class_for_status,
    excerpt,
    parse_json,
    post,
    request_id,
)

from .reply import TaskResult, by_task, error_for, parse_reply, task_errors
from .request import AIR, build_task, output_format_of, poll_task

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
    "backgrounds": (),  # providerSettings.openai takes quality and moderation only (runware.md §4)
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
    # DALL·E 2: "Standard only", no provider settings (runware.md §3): the core maps any other quality
    # to standard, and drops style/background/moderation, with a warning each.
    "dall-e-2": {
        **_COMMON,
        "max_n": 1,
        "qualities": ("standard",),
        "default_quality": "standard",
        "styles": (),
        "backgrounds": (),
        "moderations": (),
    },
    # DALL·E 3: numberResults > 1 is not documented for openai:2@3 and upstream allowed n=1 only (UNCERTAIN).
    "dall-e-3": {**_COMMON, "max_n": 1},
    # GPT Image 1: providerSettings.openai.background "transparent" / "opaque" (runware.md §3)
    "gpt-image-1": {**_GPT_IMAGE_1, "backgrounds": ("transparent", "opaque")},
    # Mini and 1.5: no Runware page lists their provider settings (UNCERTAIN): background is not offered
    "gpt-image-1-mini": {**_GPT_IMAGE_1, "backgrounds": ()},
    "gpt-image-1.5": {**_GPT_IMAGE_1, "backgrounds": ()},
    "gpt-image-2": _GPT_IMAGE_2,
    "gpt-image-2.5-sunburst": _GPT_IMAGE_2,
    "gpt-image-2.5-flare": _GPT_IMAGE_2,
}


class RunwareAdapter(ImageAdapter):
    name: ClassVar[str] = "runware"
    api_key_env: ClassVar[str | None] = "RUNWARE_API_KEY"
    base_url_env: ClassVar[str | None] = "RUNWARE_BASE_URL"
    default_base_url: ClassVar[str | None] = "https://api.runware.ai/v1"
    max_calls_per_request: ClassVar[int] = 20
    #: recovery after a lost reply (getResponse polls, scheduled by the core): at most 8 s of the call's
    #: deadline, polls from 0.5 s apart doubling to 2 s, each bounded by 5 s (it answers at once)
    recovery_reserve: ClassVar[float] = 8.0
    recover_polls: ClassVar[int] = 10
    recover_delay: ClassVar[float] = 0.5
    recover_max_delay: ClassVar[float] = 2.0
    recover_timeout: ClassVar[float] = 5.0

    def profile(self, spec: ModelSpec) -> ModelSpec:
        if spec.id not in AIR:
            raise NotFoundError(
                f"runware: model {spec.id!r} has no Runware AIR id; served: {', '.join(sorted(AIR))}",
                code="model_not_found",
                param="model",
                provider=self.name,
            )
        overrides = OVERRIDES.get(spec.id, _COMMON)
        # The user's [[models]] corrections win over Runware's differences.
        return spec.with_changes({k: v for k, v in overrides.items() if k not in spec.user_fields})

    # ----- wire ----------------------------------------------------------------------------------------
    def _post(self, tasks: list[dict[str, Any]], timeout: float | None) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.api_key()}", **self.settings.headers}
        total = timeout if timeout is not None else (self.settings.timeout or self.default_timeout)
        return {
            "json": tasks,
            "headers": headers,
            "total": total,
            "connect": self.settings.connect_timeout,
            "provider": self.name,
        }

    def _tasks(
        self, response: HTTPReply, calls: Sequence[ImageCall], *, what: str, lone: bool
    ) -> list[TaskResult]:
        """The reply's news of each task; raises for an answer about the whole request (authentication,
        credits, load) rather than about the tasks. With ``lone``, an error without a taskUUID belongs to
        a lone task (an imageInference reply); a getResponse error must name its task to be about it."""
        reply = parse_reply(response, parse_json(response, self.name))
        errors = task_errors(reply)
        ids = {c.call_id for c in calls}
        single = lone and len(calls) == 1
        stray = [e for e in errors if e.taskUUID not in ids and not (single and e.taskUUID is None)]
        if stray:
            raise error_for(stray[0], response)
        if response.status_code >= 400 and not errors:
            cls: type[APIStatusError] = error_class_for_status(response.status_code)
            raise cls(
                f"runware: {what} HTTP {response.status_code}: {excerpt(response.content)!r}",
                status_code=response.status_code,
                provider=self.name,
                request_id=request_id(response.headers),
            )
        return by_task(reply, calls, errors)

    def _result(self, response: HTTPReply, calls: Sequence[ImageCall]) -> AdapterResult:
        tasks = self._tasks(response, calls, what="answered", lone=True)
        # Runware's own errors are reported (and raised) before tasks that came back short with no error.
        provider = [error_for(t.errors[0], response) for t in tasks if t.errors]
        short = [self._short(t, response, bool(provider)) for t in tasks if not t.errors and not t.done]
        result = self._assemble(tasks, calls, response)
        result.failures = provider + short
        if not result.images:
            # A task's real error wins over "0 of 1"; a non-retryable one ends the request (no retry).
            raise next((e for e in provider if not e.retryable), None) or (provider + short)[0]
        return result

    def _short(self, task: TaskResult, response: HTTPReply, others_failed: bool) -> APIError:
        why = " (another task of the request failed)" if others_failed else ""
        return APIError(
            f"runware: task {task.call.call_id} returned {len(task.images)} of {task.call.n} images{why}: "
            f"{excerpt(response.content)!r}",
            provider=self.name,
            status_code=response.status_code,
            retryable=True,
        )

    def _assemble(
        self, tasks: Sequence[TaskResult], calls: Sequence[ImageCall], response: HTTPReply
    ) -> AdapterResult:
        result = AdapterResult(
            images=[img for t in tasks for img in t.images],
            output_format=output_format_of(calls),
            request_id=request_id(response.headers),
            size=calls[0].size,
            quality=calls[0].quality,
        )
        costs = [c for t in tasks for c in t.costs]
        result.cost_usd = round(sum(costs), 6) if len(costs) == len(result.images) else None
        return result

    # ----- generate ------------------------------------------------------------------------------------
    def generate(self, calls: Sequence[ImageCall], spec: ModelSpec) -> AdapterResult:
        kwargs = self._post([build_task(c, AIR[spec.id]) for c in calls], calls[0].timeout)
        response = post(self.http_client, self.base_url, **kwargs)
        return self._result(response, calls)

    async def agenerate(self, calls: Sequence[ImageCall], spec: ModelSpec) -> AdapterResult:
        kwargs = self._post([build_task(c, AIR[spec.id]) for c in calls], calls[0].timeout)
        response = await apost(self.async_http_client, self.base_url, **kwargs)
        return self._result(response, calls)

    # ----- look up tasks whose reply was lost ----------------------------------------------------------
    # UNCERTAIN (runware.md §5): getResponse is documented for tasks sent with deliveryMethod "async"; that
    # it also answers for a sync task whose reply was lost is what the official SDK's polling suggests, not
    # a documented promise. The core schedules the polls (retrying failed ones within the budget) and
    # reports every task still without an answer as unknown: never sent again.
    def poll(self, calls: Sequence[ImageCall], spec: ModelSpec) -> AdapterResult:
        kwargs = self._post([poll_task(c.call_id) for c in calls], calls[0].timeout)
        return self._sorted(post(self.http_client, self.base_url, **kwargs), calls)

    async def apoll(self, calls: Sequence[ImageCall], spec: ModelSpec) -> AdapterResult:
        kwargs = self._post([poll_task(c.call_id) for c in calls], calls[0].timeout)
        return self._sorted(await apost(self.async_http_client, self.base_url, **kwargs), calls)

    def _sorted(self, response: HTTPReply, calls: Sequence[ImageCall]) -> AdapterResult:
        """One getResponse reply: each task finished (images), failed, still pending, or never run."""
        tasks = self._tasks(response, calls, what="getResponse answered", lone=False)
        finished = [t for t in tasks if t.done]
        result = self._assemble(finished, calls, response)
        for task in tasks:
            if task.done:
                continue
            if task.errors:
                error = error_for(task.errors[0], response)
                if _not_found(task) and not task.images:
                    # UNCERTAIN: taskFailedOrNotFound for a task whose reply was lost is read as "it never
                    # ran, or failed" (neither is billed), so sending it again cannot pay twice.
                    result.resend.append(task.call)
                else:
                    result.failures.append(error)
            elif task.processing:
                # UNCERTAIN whether getResponse repeats images it gave before: a task still running is
                # asked about again as a whole, and its images are read once it is done.
                result.pending.append(task.call)
            elif task.images:
                # Fewer images than asked and no word of more: the missing ones may yet be billed.
                result.failures.append(
                    ResultUnknownError(
                        f"runware: task {task.call.call_id} returned {len(task.images)} of {task.call.n} "
                        "images after a lost reply; it is not sent again, so that nothing is paid twice",
                        task_ids=[task.call.call_id],
                        provider=self.name,
                        request_id=request_id(response.headers),
                    )
                )
                result.images.extend(task.images)
            else:
                # No word of it yet (it may not be registered): ask again; unknown if it stays silent.
                result.pending.append(task.call)
        return result


def _not_found(task: TaskResult) -> bool:
    return any((e.code or "").lower().endswith("notfound") for e in task.errors)
