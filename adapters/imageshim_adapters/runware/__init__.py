"""Runware adapter: OpenAI's image models through Runware's REST API (``POST {base_url}``, task arrays).

Several :class:`ImageCall` values (n split for models that make one image per task) travel as several
tasks in ONE request body. Results are matched by ``taskUUID`` (the call's ``call_id``); a partly failed
batch returns what succeeded with the failures listed. After a lost reply, :meth:`poll` asks Runware
for the tasks' results (``getResponse``) so that a finished, paid-for image is not generated twice.

Edits (calls with ``images``) are imageInference tasks with ``inputs.referenceImages`` and ``inputs.mask``
for the models in :data:`EDIT_INPUTS`; a call Runware cannot take (an edit for DALL·E, more images than the
model takes, a mask/markup/fidelity or SDK 3.57 option Runware does not document) is refused with a
:class:`BadRequestError` before any request. Options go in ``settings`` or ``providerSettings.openai``
(:mod:`.shape`: the other is sent once when Runware refuses one as unknown, and remembered).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, ClassVar

from imageshim.adapterkit import (
    AdapterResult,
    APIError,
    APIStatusError,
    BadRequestError,
    HTTPReply,
    ImageAdapter,
    ImageCall,
    ModelSpec,
    NotFoundError,
    RateLimitError,
    ResultUnknownError,
    SizeRule,
    apost,
    error_class_for_status,
    excerpt,
    parse_json,
    post,
    request_id,
)

from .prices import prices_for
from .reply import TaskResult, by_task, error_for, parse_reply, task_errors
from .request import AIR, build_task, output_format_of, poll_task
from .shape import MEMORY, refused

__all__ = ["EDIT_INPUTS", "RunwareAdapter"]

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
    # The openai SDK 3.57 options (complexity, gif/svg output and their frames, safety_identifier) are not
    # in any Runware schema (runware.md, its 2026-10 update): the core drops or refuses them, with a warning.
    "complexities": (),
    "safety_identifier": False,
    "fact_sources": {
        "output_formats": "runware.md section 2 (outputFormat JPG/PNG/WEBP)",
        "complexities": "runware.md 2026-10 update (OpenaiGptImage2Params lists no complexity)",
    },
}
_GPT_IMAGE_2: dict[str, Any] = {
    **_COMMON,
    # 480..3840 in steps of 16 (Runware's page), plus OpenAI's ratio and pixel limits as a safe client:
    # Runware does not state them, and the upstream model enforces them (UNCERTAIN on Runware: safe choice).
    "size_rule": SizeRule(16, 480, 3840, 3.0, 655_360, 8_294_400),
    "sizes": (),
    "default_size": "1024x1024",
    "max_n": 20,
    # Runware's page lists quality auto/high/medium/low only (runware.md §4), for 2.5 too (UNCERTAIN: no
    # source lists 2.5's): OpenAI's xhigh/max are mapped to high by the core, with a warning.
    "qualities": ("low", "medium", "high", "auto"),
    "default_quality": "auto",
    # `settings.background` (runware.md "2026-10 update": runware-sdk PR #281, Runware's ComfyUI workflow
    # sends "opaque"). Only "opaque" is seen in a Runware source: "transparent" (a preview on OpenAI) and
    # "auto" are dropped by the core with a warning rather than paid for and possibly ignored (UNCERTAIN).
    "backgrounds": ("opaque",),
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


#: How many input images an edit (``inputs.referenceImages``) may carry per model on Runware; a model not
#: listed takes no edit. The GPT image models take up to 16 (runware.md "2026-10 update": SDK ``IInputs``;
#: users.md §4: 16 for 1.5; GPT Image 2's page lists "Image to Image, Edit"); UNCERTAIN for 1 and 1 Mini,
#: which no Runware page describes. DALL·E 2/3 on Runware are text-to-image only (runware.md §3).
#: The core should own this as a catalog fact ("max input images per edit", per provider), like max_n.
EDIT_INPUTS: dict[str, int] = {
    "gpt-image-1": 16,
    "gpt-image-1-mini": 16,
    "gpt-image-1.5": 16,
    "gpt-image-2": 16,
    "gpt-image-2.5-sunburst": 16,
    "gpt-image-2.5-flare": 16,
}
#: ImageCall fields no Runware source documents for any OpenAI model: never sent. The core should drop
#: or refuse them from the profile; a call that still carries one is refused here, before the network.
_UNDOCUMENTED = ("markup", "input_fidelity", "complexity", "frame_count", "frame_duration_ms", "svg")
_OUTPUT_FORMATS = frozenset(_FORMATS)


def _check(calls: Sequence[ImageCall], spec: ModelSpec) -> None:
    """Refuse, before any request, a call Runware cannot take for ``spec`` (see :data:`EDIT_INPUTS`)."""
    for call in calls:
        for field in _UNDOCUMENTED:
            if getattr(call, field) is not None:
                raise _refusal(
                    f"runware: {field!r} is not sent to Runware: no Runware source documents it for "
                    f"{spec.id}. Leave it out, or route to a provider that takes it.",
                    field,
                )
        if call.output_format is not None and call.output_format not in _OUTPUT_FORMATS:
            raise _refusal(
                f"runware: output_format {call.output_format!r} is not offered by Runware for {spec.id}; "
                f"it makes {', '.join(_FORMATS)}.",
                "output_format",
            )
        if not call.is_edit:
            if call.mask is not None:
                raise _refusal("runware: a mask needs an image to apply to.", "mask")
            continue
        most = EDIT_INPUTS.get(spec.id, 0)
        if most == 0:
            served = ", ".join(sorted(EDIT_INPUTS))
            raise _refusal(
                f"runware: {spec.id} takes no input images on Runware (text to image only); edits on "
                f"Runware: {served}.",
                "model",
            )
        if len(call.images) > most:
            raise _refusal(
                f"runware: {spec.id} takes at most {most} input images on Runware; got {len(call.images)}.",
                "image",
            )


def _refusal(message: str, param: str) -> BadRequestError:
    return BadRequestError(message, code="invalid_value", param=param, provider="runware")


class RunwareAdapter(ImageAdapter):
    name: ClassVar[str] = "runware"
    api_key_env: ClassVar[str | None] = "RUNWARE_API_KEY"
    base_url_env: ClassVar[str | None] = "RUNWARE_BASE_URL"
    default_base_url: ClassVar[str | None] = "https://api.runware.ai/v1"
    max_calls_per_request: ClassVar[int] = 20
    supports_edits: ClassVar[bool] = True
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
        # Runware's capabilities and prices (.prices); the user's [[models]] corrections win over both.
        overrides = {**OVERRIDES.get(spec.id, _COMMON), **prices_for(spec)}
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

    def _tasks(self, response: HTTPReply, calls: Sequence[ImageCall], *, poll: bool) -> list[TaskResult]:
        """The reply's news of each task; raises for an answer about the whole request (authentication,
        credits, load) rather than about the tasks. In an imageInference reply an error without a
        taskUUID belongs to a lone task; a getResponse error must name its task to be about it."""
        reply = parse_reply(response, parse_json(response, self.name))
        errors = task_errors(reply)
        if poll and response.status_code >= 400:
            # getResponse tasks carry the taskUUIDs they ask about, so an error about the poll itself (429,
            # 5xx, a bad key) names our tasks too: it is the poll that failed, not the tasks. The core polls
            # again or reports them unknown; it never reads this as "the task failed, send it again".
            raise error_for(errors[0], response) if errors else self._status_error(response, poll)
        ids = {c.call_id for c in calls}
        single = not poll and len(calls) == 1
        stray = [e for e in errors if e.taskUUID not in ids and not (single and e.taskUUID is None)]
        ours = [e for e in errors if e not in stray]
        tasks = by_task(reply, calls, ours)
        if (
            stray
            and response.status_code >= 400
            and not any(t.images or t.errors or t.processing for t in tasks)
        ):
            # An error status about something else and nothing about our tasks: the request as a whole
            # failed. (With a success status, our silent tasks are looked up, not sent again.)
            raise error_for(stray[0], response)
        # (An error naming another task next to news of ours is not about ours: our images are kept.)
        if response.status_code >= 400 and not errors and not any(t.images or t.processing for t in tasks):
            raise self._status_error(response, poll)
        return tasks

    def _status_error(self, response: HTTPReply, poll: bool) -> APIStatusError:
        cls: type[APIStatusError] = error_class_for_status(response.status_code)
        what = "getResponse answered" if poll else "answered"
        return cls(
            f"runware: {what} HTTP {response.status_code}: {excerpt(response.content)!r}",
            status_code=response.status_code,
            provider=self.name,
            request_id=request_id(response.headers),
        )

    def _result(self, response: HTTPReply, calls: Sequence[ImageCall]) -> AdapterResult:
        tasks = self._tasks(response, calls, poll=False)
        provider = [error_for(t.errors[0], response) for t in tasks if t.errors]
        short = [t for t in tasks if not t.errors and not t.done]
        result = self._assemble(tasks, calls, response)
        result.failures = provider
        if (
            400 <= response.status_code < 500
            and provider
            and not result.images
            and not any(t.processing for t in tasks)
        ):
            # A refusal (a validation error names the task at fault): the tasks it does not mention never
            # ran. Not so for a 5xx, which may come after some tasks ran: those are looked up below.
            raise next((e for e in provider if not e.retryable), provider[0])
        # Tasks a success reply says nothing (or too little) of may have run: the core looks them up
        # (getResponse) before anything is sent again. The failed ones are reported as they failed.
        result.pending = [t.call for t in short]
        if not result.images and not short:
            # A task's real error; a non-retryable one ends the request (no retry).
            raise next((e for e in provider if not e.retryable), provider[0])
        return result

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

    # ----- generate (and edit) ---------------------------------------------------------------------------
    # The two drivers below differ only in how they post; what to send and what a reply means is decided
    # once, in _first / _second / _settle.
    def generate(self, calls: Sequence[ImageCall], spec: ModelSpec) -> AdapterResult:
        kwargs, shapes = self._first(calls, spec)
        started = time.monotonic()
        response = post(self.http_client, self.base_url, **kwargs)
        second = self._second(response, calls, spec, shapes, kwargs["total"] - (time.monotonic() - started))
        if second is not None:
            response = post(self.http_client, self.base_url, **second)
            self._settle(response, spec, shapes)
        return self._result(response, calls)

    async def agenerate(self, calls: Sequence[ImageCall], spec: ModelSpec) -> AdapterResult:
        kwargs, shapes = self._first(calls, spec)
        started = time.monotonic()
        response = await apost(self.async_http_client, self.base_url, **kwargs)
        second = self._second(response, calls, spec, shapes, kwargs["total"] - (time.monotonic() - started))
        if second is not None:
            response = await apost(self.async_http_client, self.base_url, **second)
            self._settle(response, spec, shapes)
        return self._result(response, calls)

    def _first(self, calls: Sequence[ImageCall], spec: ModelSpec) -> tuple[dict[str, Any], tuple[str, ...]]:
        """The first request's arguments, and the option objects to try (the first is in the body; none
        when the tasks carry no options, so there is nothing to switch)."""
        _check(calls, spec)
        air = AIR[spec.id]
        shapes = tuple(MEMORY.order(self.base_url, air))
        tasks = [build_task(c, air, shapes[0]) for c in calls]
        if not any(shapes[0] in t for t in tasks):
            shapes = ()
        return self._post(tasks, calls[0].timeout), shapes

    def _second(
        self,
        response: HTTPReply,
        calls: Sequence[ImageCall],
        spec: ModelSpec,
        shapes: tuple[str, ...],
        left: float,
    ) -> dict[str, Any] | None:
        """The request to send instead when Runware refused the first one's option object as unknown
        (nothing ran: a validation error about that object only), else None. The tasks keep their
        taskUUIDs: they are the core's ids for this attempt, under which a lost reply is looked up. It gets
        what is left of the request's time (``left`` seconds)."""
        if len(shapes) < 2 or response.status_code < 400 or response.status_code >= 500:
            return None
        try:
            reply = parse_reply(response, parse_json(response, self.name))
        except APIError:
            return None  # not a reply we can read: _result reports it
        if not refused(response.status_code, reply, shapes[0]):
            return None
        air = AIR[spec.id]
        return self._post([build_task(c, air, shapes[1]) for c in calls], max(0.001, left))

    def _settle(self, response: HTTPReply, spec: ModelSpec, shapes: tuple[str, ...]) -> None:
        """After the second object was sent: remember it when Runware took it (any reply past validation)."""
        if response.status_code < 400:
            MEMORY.learn(self.base_url, AIR[spec.id], shapes[0], shapes[1])

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
        tasks = self._tasks(response, calls, poll=True)
        finished = [t for t in tasks if t.done]
        result = self._assemble(finished, calls, response)
        for task in tasks:
            if task.done:
                continue
            # Images that arrived are kept whatever else the poll says of their task (the core drops an
            # image it already has from an earlier poll).
            result.images.extend(task.images)
            if task.errors and not _not_found(task):
                error = error_for(task.errors[0], response)
                if isinstance(error, RateLimitError) or "timeout" in (error.code or "").lower():
                    result.pending.append(task.call)  # about load or time, not the task's own end: ask again
                elif error.retryable and not task.images:
                    result.resend.append(task.call)  # it ran and failed (nothing billed): a retry may serve
                else:
                    result.failures.append(error)
            elif task.processing or not task.images:
                # Still running, no word of it yet, or "taskFailedOrNotFound": asked about again, and
                # reported unknown if that is all Runware says. UNCERTAIN whether getResponse knows a
                # task sent with deliveryMethod "sync" at all, so "not found" after a lost reply is never
                # read as "it never ran": sending it again could pay for it twice.
                result.pending.append(task.call)
            else:
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
        return result


def _not_found(task: TaskResult) -> bool:
    return any((e.code or "").lower().endswith("notfound") for e in task.errors)
