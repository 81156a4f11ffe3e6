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
    APITimeoutError,
    ImageAdapter,
    ImageCall,
    ModelSpec,
    NotFoundError,
    SizeRule,
)
from imageshim._errors import error_class_for_status

from ._http import HTTPReply, apost, excerpt, parse_json, post, request_id
from ._runware_reply import TaskResult, by_task, error_for, parse_reply, task_errors
from ._runware_wire import AIR, build_task, output_format_of, poll_task

__all__ = ["RunwareAdapter"]

# Looked up at call time, so that tests replace them (the core's injected sleep does not reach adapters).
_sleep = time.sleep
_asleep = asyncio.sleep
_monotonic = time.monotonic

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
    #: recovery after a lost reply: at most this many seconds in all (less when the call's own timeout,
    #: which the core sets from what is left of its deadline, is shorter) ...
    recover_budget: ClassVar[float] = 8.0
    #: the core keeps that much of a call's deadline back for recovery
    recovery_reserve: ClassVar[float] = recover_budget
    #: ... at most this many getResponse polls, the first at once, then after a delay doubling from
    #: ``recover_delay`` up to ``recover_max_delay`` seconds ...
    recover_polls: ClassVar[int] = 6
    recover_delay: ClassVar[float] = 0.5
    recover_max_delay: ClassVar[float] = 2.0
    #: ... each getResponse request bounded by this many seconds (it answers at once: nothing is generated)
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

    def _result(self, response: HTTPReply, calls: Sequence[ImageCall]) -> AdapterResult:
        reply = parse_reply(response, parse_json(response, self.name))
        errors = task_errors(reply)
        ids = {c.call_id for c in calls}
        single = len(calls) == 1
        stray = [e for e in errors if e.taskUUID not in ids and not (single and e.taskUUID is None)]
        if stray:  # an error about the whole request (authentication, credits, ...)
            raise error_for(stray[0], response)
        if response.status_code >= 400 and not errors:
            cls: type[APIStatusError] = error_class_for_status(response.status_code)
            raise cls(
                f"runware: HTTP {response.status_code}: {excerpt(response.content)!r}",
                status_code=response.status_code,
                provider=self.name,
                request_id=request_id(response.headers),
            )
        tasks = by_task(reply, calls, errors)
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

    # ----- recover after a lost reply --------------------------------------------------------------------
    # UNCERTAIN (runware.md §5): getResponse is documented for tasks sent with deliveryMethod "async"; that
    # it also answers for a sync task whose reply was lost is what the official SDK's polling suggests, not
    # a documented promise. Every answer it cannot read ends recovery; the core then decides what to send.
    def recover(self, calls: Sequence[ImageCall], spec: ModelSpec) -> AdapterResult | None:
        recovery = _Recovery(self, calls)
        kwargs = self._post([poll_task(c.call_id) for c in calls], None)
        while (total := recovery.next_poll()) is not None:
            try:
                response = post(self.http_client, self.base_url, **{**kwargs, "total": total})
            except APIError:
                break
            wait = recovery.record(response)
            if wait is None:
                break
            _sleep(wait)
        return recovery.result()

    async def arecover(self, calls: Sequence[ImageCall], spec: ModelSpec) -> AdapterResult | None:
        recovery = _Recovery(self, calls)
        kwargs = self._post([poll_task(c.call_id) for c in calls], None)
        while (total := recovery.next_poll()) is not None:
            try:
                response = await apost(self.async_http_client, self.base_url, **{**kwargs, "total": total})
            except APIError:
                break
            wait = recovery.record(response)
            if wait is None:
                break
            await _asleep(wait)
        return recovery.result()


class _Recovery:
    """One recovery: its time budget and poll schedule (shared by the sync and async loops), and the
    latest news of every task."""

    def __init__(self, adapter: RunwareAdapter, calls: Sequence[ImageCall]) -> None:
        self.adapter = adapter
        self.calls = calls
        timeout = calls[0].timeout
        self.budget = adapter.recover_budget if timeout is None else min(adapter.recover_budget, timeout)
        self.started = _monotonic()
        self.delay = adapter.recover_delay
        self.polls = 0
        self.tasks: list[TaskResult] | None = None
        self.response: HTTPReply | None = None

    def _left(self) -> float:
        return self.budget - (_monotonic() - self.started)

    def next_poll(self) -> float | None:
        """Seconds the next getResponse request may take, or None when the budget or the polls are spent."""
        left = self._left()
        if self.polls >= self.adapter.recover_polls or left <= 0:
            return None
        self.polls += 1
        return min(self.adapter.recover_timeout, left)

    def record(self, response: HTTPReply) -> float | None:
        """Read one getResponse reply; the seconds to wait before polling again, or None to stop."""
        try:
            reply = parse_reply(response, parse_json(response, self.adapter.name))
        except APIError:
            return None
        errors = task_errors(reply)
        ids = {c.call_id for c in self.calls}
        if any(e.taskUUID not in ids for e in errors) or (response.status_code >= 400 and not errors):
            return None  # an answer about the whole request (key, credits, ...): not news of the tasks
        latest = by_task(reply, self.calls, errors)
        if self.tasks is not None:
            # UNCERTAIN whether getResponse repeats results it already gave: a task that finished in an
            # earlier poll keeps its images whatever a later poll says (they are paid for).
            latest = [
                old if old.images and len(old.images) >= len(new.images) else new
                for old, new in zip(self.tasks, latest, strict=True)
            ]
        self.tasks, self.response = latest, response
        if not any(_pending(t) for t in self.tasks):
            return None
        wait = min(self.delay, self.adapter.recover_max_delay)
        self.delay *= 2
        return wait if wait < self._left() else None

    def result(self) -> AdapterResult | None:
        """What the polls found: the finished images; ``resend`` for tasks known not to have run (nothing
        billed); a failure for every other task, which is never sent again (one still processing will be
        billed). None when nothing is known, or when no task ran at all: the core then retries as usual."""
        tasks, response = self.tasks, self.response
        if tasks is None or response is None or all(_silent(t) for t in tasks):
            return None  # no word about any task: nothing is known
        result = self.adapter._assemble(tasks, self.calls, response)
        for task in tasks:
            if task.done:
                continue
            error = self._failure(task, response)
            if _resendable(task, error):
                result.resend.append(task.call)
            else:
                result.failures.append(error)
        if not result.images and not result.failures:
            return None  # none of them ran: a plain retry sends them all again
        return result

    def _failure(self, task: TaskResult, response: HTTPReply) -> APIError:
        name, call_id = self.adapter.name, task.call.call_id
        if task.errors:
            error = error_for(task.errors[0], response)
            if _not_found(task) and not task.images:
                # UNCERTAIN: taskFailedOrNotFound for a task whose reply was lost is read as "it never
                # ran or failed" (neither is billed), so sending it again cannot pay twice.
                return APIError(
                    f"runware: task {call_id} did not finish before its reply was lost "
                    f"({error.code}: {error.message})",
                    code=error.code,
                    provider=name,
                    status_code=error.status_code,
                    retryable=True,
                )
            return error
        if _pending(task):
            # Still running when recovery stopped: it may yet finish and be billed, so it is not sent again.
            return APITimeoutError(
                f"runware: task {call_id} was still processing when recovery gave up after "
                f"{self.budget - max(0.0, self._left()):.1f} s; it is not sent again, so that it is not paid twice",
                provider=name,
                retryable=False,
            )
        # Fewer images than asked, or no word at all about the task: whether it ran (and was billed) is
        # unknown, so it is reported, not sent again.
        return APIError(
            f"runware: task {call_id} returned {len(task.images)} of {task.call.n} images after a lost "
            "reply; it is not sent again, so that it is not paid twice",
            provider=name,
            status_code=response.status_code,
            retryable=False,
        )


def _pending(task: TaskResult) -> bool:
    """Not done, no error, and Runware says it is still processing: worth polling again."""
    return not task.done and not task.errors and task.processing


def _silent(task: TaskResult) -> bool:
    """The poll said nothing about this task: no image, no error, not reported as processing."""
    return not task.done and not task.images and not task.errors and not task.processing


def _not_found(task: TaskResult) -> bool:
    return any((e.code or "").lower().endswith("notfound") for e in task.errors)


def _resendable(task: TaskResult, error: APIError) -> bool:
    """A task that produced nothing and failed in a way a new task can fix."""
    return not task.images and not _pending(task) and error.retryable
