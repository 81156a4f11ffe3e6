"""The execution policy: retries, recovery, fallbacks, deadlines and partial results, decided once, with no I/O.

The policy is a generator (the shape of httpx's auth flows): it yields what must happen next and receives
what came of it. A driver (:mod:`imageshim._plumbing.drive`, one sync and one async) performs each step and knows nothing
of the rules::

    Send(calls)     -> AdapterResult | APIError     one wire request
    Poll(calls)     -> AdapterResult | APIError     one look-up of calls whose reply was lost
    Sleep(seconds)  -> None
    Parallel(flows) -> [each flow's return value]   independent batches, at most ``limit`` at once

The money rules live here, once:

- a reply that may have been lost after the request was sent (``APIError.reply_lost``) is never sent
  again blindly: the adapter is polled for the result (through transient poll failures, within its
  budget and the call's deadline); calls it reports as never run are re-sent, calls still unknown end as
  :class:`~imageshim.ResultUnknownError` naming them; an adapter that cannot look results up reports
  the call unknown at once;
- images that arrived are kept whatever happens to the rest (partial results), and provider bytes that
  are not an image are an error, never passed on;
- a target falls back to the next only when every failure allows it (nothing that may be billed);
- nothing is sent once the call's deadline has passed, and each request gets at most what is left of it.
"""

from __future__ import annotations

import dataclasses
import math
import random
import uuid
from collections.abc import Callable, Generator, Sequence
from datetime import date
from typing import Any, TypeVar

from imageshim._core.adapter import AdapterResult, GeneratedImage, ImageAdapter, ImageCall
from imageshim._core.catalog import ModelSpec
from imageshim._core.config import Config, RetryPolicy
from imageshim._core.errors import (
    APIError,
    APIStatusError,
    APITimeoutError,
    InternalServerError,
    ModelRetiredError,
    NotFoundError,
    ResultUnknownError,
    redact,
)
from imageshim._core.mapping import MappedRequest
from imageshim._core.media import check_base64_image, unwrapped
from imageshim._core.plan import Plan
from imageshim._core.response import Attempt

__all__ = ["Flow", "Outcome", "Parallel", "Poll", "Send", "Sleep", "Step", "execution"]

T = TypeVar("T")


# ----- the steps a driver performs -----------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Send:
    adapter: ImageAdapter
    calls: list[ImageCall]
    spec: ModelSpec


@dataclasses.dataclass(frozen=True)
class Poll:
    adapter: ImageAdapter
    calls: list[ImageCall]
    spec: ModelSpec


@dataclasses.dataclass(frozen=True)
class Sleep:
    seconds: float


@dataclasses.dataclass(frozen=True)
class Parallel:
    flows: tuple[Flow[Any], ...]
    #: how many flows may run at once (1: one after another); the same on both drivers
    limit: int


Step = Send | Poll | Sleep | Parallel
Flow = Generator[Step, Any, T]


# ----- what goes in and what comes out --------------------------------------------------------------------
@dataclasses.dataclass
class Outcome:
    """What execution produced: the target that served, its results, every attempt and leftover failures."""

    mapped: MappedRequest
    results: list[AdapterResult]
    attempts: list[Attempt]
    failures: list[APIError]


@dataclasses.dataclass
class _Batch:
    """What one batch came to: the results that arrived and one failure per call that did not."""

    results: list[AdapterResult] = dataclasses.field(default_factory=list)
    failures: list[APIError] = dataclasses.field(default_factory=list)

    def fail(self, error: APIError, calls: Sequence[ImageCall]) -> None:
        self.failures.extend([error] * len(calls))


@dataclasses.dataclass
class _Target:
    """One target's facts for the flows of its batches."""

    mapped: MappedRequest
    adapter: ImageAdapter
    retry: RetryPolicy
    retries: int
    timeout: float | None
    deadline: _Deadline
    attempts: list[Attempt]
    now: Callable[[], float]

    @property
    def name(self) -> str:
        return self.mapped.target

    def record(self, started: float, outcome: APIError | AdapterResult, *, recovered: bool = False) -> None:
        duration = round(self.now() - started, 4)
        if isinstance(outcome, APIError):
            self.attempts.append(
                Attempt(
                    self.name,
                    type(outcome).__name__,
                    duration,
                    0,
                    outcome.message,
                    outcome.status_code,
                    recovered=recovered,
                )
            )
        else:
            kind = "partial" if outcome.failures or outcome.pending else "ok"
            self.attempts.append(Attempt(self.name, kind, duration, len(outcome.images), recovered=recovered))


class _Deadline:
    def __init__(self, seconds: float | None, now: Callable[[], float]) -> None:
        self._now = now
        self._end = None if seconds is None else now() + seconds

    def left(self) -> float | None:
        return None if self._end is None else self._end - self._now()


# ----- the flow of a whole call --------------------------------------------------------------------------
def execution(
    plan: Plan,
    config: Config,
    adapter: Callable[[str], ImageAdapter],
    *,
    today: date,
    now: Callable[[], float],
) -> Flow[Outcome]:
    """Serve ``plan``: each target of the route in turn until one produces images; raise the failure that
    ends the call (with every attempt on ``.attempts``) when none does."""
    deadline = _Deadline(_shorter(config.retry.deadline, plan.deadline), now)
    attempts: list[Attempt] = []
    last: APIError | None = None
    for mapped in plan.targets:
        provider = mapped.target.partition(":")[0]
        target = _Target(
            mapped,
            adapter(provider),
            config.retry,
            _retries(config, provider),
            plan.timeout,
            deadline,
            attempts,
            now,
        )
        batches = _split(mapped.calls(), target.adapter.max_calls_per_request)
        done: list[_Batch]
        if len(batches) == 1:  # the common case: no Parallel step to drive
            done = [(yield from _batch(target, batches[0]))]
        else:
            limit = max(1, min(target.adapter.concurrent_requests, config.retry.concurrency))
            settled = yield Parallel(tuple(_batch(target, b) for b in batches), limit)
            done = [_crashed(target, b, item) for b, item in zip(batches, settled, strict=True)]
        results = [r for b in done for r in b.results]
        failures = [_explain(f, mapped, today) for b in done for f in b.failures]
        if any(r.images for r in results):  # partial results are kept
            return Outcome(mapped, results, attempts, failures)
        if not failures:
            failures.append(_empty(mapped.target))
        unknown = [f for f in failures if isinstance(f, ResultUnknownError)]
        if unknown:  # what may be billed is what the caller must hear of, every task of it, first
            last = _merged(unknown)
            break
        # Fall back only when every failure allows it: a call that may still be billed must not be sent
        # to another provider as well.
        last = next((f for f in failures if not _falls_back(f)), failures[0])
        if not _falls_back(last):
            break
    assert last is not None, "a plan has at least one target"
    last.attempts = list(attempts)
    raise last


# ----- the flow of one wire request, with its retries and recovery -------------------------------------
def _batch(target: _Target, batch: list[ImageCall]) -> Flow[_Batch]:
    out = _Batch()
    for attempt in range(target.retries + 1):
        if attempt:
            batch = _fresh(batch)
        calls = _timed(batch, target)
        if calls is None:
            out.fail(_spent(target.name), batch)
            return out
        started = target.now()
        reply = yield Send(target.adapter, calls, target.mapped.spec)
        resend: list[ImageCall] = []
        if not isinstance(reply, APIError):
            result = _checked(reply, target.name, svg=target.mapped.template.output_format == "svg")
            target.record(started, result)
            if result.images:
                out.results.append(result)
            out.failures.extend(result.failures)
            resend = list(result.resend)  # calls the provider says never ran: a retry may serve them
            # The reply said nothing of some calls: they may have run. Looked up like a lost reply.
            lost = list(result.pending)
            if not lost and not resend:
                return out
            reply = _unaccounted(target, result) if lost else _never_ran_in(target, result)
        else:
            target.record(started, reply)
            lost = batch if reply.reply_lost else []
        if lost:  # it may have run and been billed: find out before anything is sent again
            known = {_key(i) for r in out.results for i in r.images}  # images this batch already has
            recovered = yield from _recover(target, lost, reply, known)
            out.results.extend(recovered.results)
            out.failures.extend(recovered.failures)
            resend += recovered.resend
            if not resend:
                return out
        if resend:
            batch = resend
            reply = _never_ran(reply)
        delay = _delay(target.retry, attempt, reply)
        left = target.deadline.left()
        if (
            not reply.retryable
            or attempt >= target.retries
            or delay is None
            or (left is not None and left <= delay)
        ):
            out.fail(reply, batch)
            return out
        yield Sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


@dataclasses.dataclass
class _Recovered:
    results: list[AdapterResult] = dataclasses.field(default_factory=list)
    failures: list[APIError] = dataclasses.field(default_factory=list)
    resend: list[ImageCall] = dataclasses.field(default_factory=list)


def _recover(target: _Target, batch: list[ImageCall], cause: APIError, known: set[str]) -> Flow[_Recovered]:
    """Poll for ``batch`` after its reply was lost, until every call is settled or the budget is spent."""
    adapter, out = target.adapter, _Recovered()
    pending = list(batch)
    # An adapter that keeps time for recovery but has no poll (one written for the old recover hook)
    # cannot look anything up: its lost replies are reported unknown at once.
    budget = adapter.recovery_reserve if type(adapter).poll is not ImageAdapter.poll else 0.0
    if budget <= 0:
        out.failures.extend(
            [_unknown(target, pending, cause, why="it offers no way to look a result up")] * len(pending)
        )
        return out
    started, delay, polls = target.now(), adapter.recover_delay, 0
    last_poll: APIError | None = None
    seen = set(known)  # images the batch already has (a short reply's) count once

    def left() -> float:
        deadline = target.deadline.left()
        own = budget - (target.now() - started)
        return own if deadline is None else min(own, deadline)

    while pending and polls < adapter.recover_polls and left() > 0:
        polls += 1
        timeout = max(0.001, min(adapter.recover_timeout, left()))
        asked = target.now()
        reply = yield Poll(adapter, [c.evolve(timeout=timeout) for c in pending], target.mapped.spec)
        wait = delay
        if isinstance(reply, APIError):
            target.record(asked, reply, recovered=True)
            last_poll = reply
            if not reply.retryable and not reply.reply_lost:
                break  # a refusal (key, credits, a reply it cannot read): asking again cannot help
            if reply.retry_after:
                wait = reply.retry_after
        else:
            result = _checked(reply, target.name, svg=target.mapped.template.output_format == "svg")
            target.record(asked, result, recovered=True)
            # A poll may list again an image an earlier poll gave (UNCERTAIN on Runware): kept once.
            fresh = [i for i in result.images if _key(i) not in seen]
            seen.update(_key(i) for i in fresh)
            if len(fresh) < len(result.images):
                result = dataclasses.replace(result, images=fresh, cost_usd=None)
            if result.images:
                out.results.append(result)
            out.failures.extend(result.failures)
            out.resend.extend(result.resend)
            pending = list(result.pending)
        delay = min(delay * 2, adapter.recover_max_delay)
        if pending:
            if wait >= left():
                break
            yield Sleep(wait)
    if pending:
        spent = target.now() - started
        why = f"it had not reported a result after {polls} look-up(s) in {spent:.1f} s"
        if last_poll is not None:
            why += f" (last look-up: {type(last_poll).__name__}: {last_poll.message})"
        out.failures.extend([_unknown(target, pending, cause, why=why)] * len(pending))
    return out


def _unknown(target: _Target, calls: Sequence[ImageCall], cause: APIError, *, why: str) -> ResultUnknownError:
    ids = [c.call_id for c in calls]
    provider = target.name.partition(":")[0]
    return ResultUnknownError(
        f"{target.name}: the reply to task(s) {', '.join(ids)} was lost ({type(cause).__name__}: "
        f"{cause.message}) and whether they made (and billed) images is unknown: {provider} {why}. "
        "They are not sent again, so that no image is paid for twice; see the README "
        "('When a result is unknown') to look them up.",
        task_ids=ids,
        provider=provider,
        request_id=cause.request_id,
    )


def _crashed(target: _Target, batch: list[ImageCall], item: _Batch | Exception) -> _Batch:
    """A batch whose flow ended in an exception (a bug, not a provider error): its calls may have been
    sent, so they are reported unknown; the other batches keep what they got."""
    if not isinstance(item, Exception):
        return item
    cause = APIError(f"imageshim failed while handling this request ({type(item).__name__}: {item})")
    out = _Batch()
    out.fail(_unknown(target, batch, cause, why="the shim could not finish handling the reply"), batch)
    return out


def _merged(unknown: list[ResultUnknownError]) -> ResultUnknownError:
    """One error naming every task whose fate is unknown (each batch reports its own)."""
    ids = list(dict.fromkeys(t for error in unknown for t in error.task_ids))
    first = unknown[0]
    if len(ids) == len(first.task_ids):
        return first
    return ResultUnknownError(
        f"{len(ids)} task(s) of this call may have made (and billed) images that did not come back: "
        f"{', '.join(ids)}. {first.message}",
        task_ids=ids,
        provider=first.provider,
        request_id=first.request_id,
    )


def _never_ran_in(target: _Target, result: AdapterResult) -> APIError:
    ids = ", ".join(c.call_id for c in result.resend)
    return APIError(
        f"{target.name}: task(s) {ids} did not run",
        provider=target.name.partition(":")[0],
        request_id=result.request_id,
        retryable=True,
        reply_lost=False,
    )


def _unaccounted(target: _Target, result: AdapterResult) -> APIError:
    ids = ", ".join(c.call_id for c in result.pending)
    return APIError(
        f"{target.name}: the reply brought {len(result.images)} image(s) and no word of task(s) {ids}",
        provider=target.name.partition(":")[0],
        request_id=result.request_id,
        reply_lost=True,
    )


def _never_ran(cause: APIError) -> APIError:
    """The error that stands for calls the provider says never ran: retryable like any unsent request."""
    return APIError(
        f"{cause.message} (the provider reports the task(s) never ran; they are sent again)",
        provider=cause.provider,
        retryable=True,
        reply_lost=False,
        retry_after=cause.retry_after,
    )


# ----- checks and small decisions -----------------------------------------------------------------------
def _checked(result: AdapterResult, target: str, *, svg: bool = False) -> AdapterResult:
    """``result`` with every image's bytes checked: base64 that does not decode, or decodes to something
    that is not an image, becomes a failure (a 502: the provider's fault, nothing to recover) instead of
    reaching the caller; good images get their real media type.

    ``svg``: the call asked for SVG output, so an SVG document is an image here (``image/svg+xml``); for
    any other call SVG bytes are refused like any non-image (SVG can carry scripts)."""
    images: list[GeneratedImage] = []
    bad: list[APIError] = []
    for image in result.images:
        try:
            images.append(_checked_image(image, svg=svg))
        except ValueError as exc:
            bad.append(
                InternalServerError(
                    f"{target} returned image data that is not a usable image: {exc}",
                    status_code=502,
                    code="invalid_image_data",
                    provider=target.partition(":")[0],
                    request_id=result.request_id,
                    retryable=False,
                )
            )
    return dataclasses.replace(result, images=images, failures=[*result.failures, *bad])


def _checked_image(image: GeneratedImage, *, svg: bool = False) -> GeneratedImage:
    if image.b64_json is not None:
        b64 = unwrapped(image.b64_json)  # passed on as strict decoders read it
        return dataclasses.replace(image, b64_json=b64, media_type=check_base64_image(b64, svg=svg))
    url = image.url
    if url is None:
        raise ValueError("the image has neither base64 data nor a URL")
    if url[:5].lower() == "data:":
        head, comma, b64 = url.partition(",")
        if not comma or not head.lower().endswith(";base64"):
            raise ValueError("a data: URI that is not base64")
        # Labelled with the type its bytes say: the URI's own label is only the provider's claim.
        b64 = unwrapped(b64)
        media_type = check_base64_image(b64, svg=svg)
        return GeneratedImage(None, f"data:{media_type};base64,{b64}", image.revised_prompt, media_type)
    if not url.lower().startswith(("https://", "http://")):
        raise ValueError(f"a URL that is neither http(s) nor data: ({redact(url)[:40]!r})")
    if redact(url) != url:
        # A provider that puts a credential (ours, or one shaped like a key) in the image's URL: passing it
        # on would hand the key to the caller and whoever they share the URL with.
        raise ValueError("the image URL carries a credential; it is not passed on")
    return image


def _key(image: GeneratedImage) -> str:
    return image.url or image.b64_json or ""


def _split(calls: list[ImageCall], size: int) -> list[list[ImageCall]]:
    return [calls[i : i + size] for i in range(0, len(calls), max(1, size))]


def _shorter(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else min(a, b)


def _retries(config: Config, provider: str) -> int:
    configured = config.provider(provider).max_retries
    return config.retry.max_retries if configured is None else configured


def _delay(policy: RetryPolicy, attempt: int, error: APIError) -> float | None:
    """Seconds to wait before retry number ``attempt + 1``; None when waiting is not worth it."""
    if error.retry_after is not None and error.retry_after > 0:  # 0 or a past date: the schedule applies
        wait: float = error.retry_after
        return wait if wait <= policy.max_retry_after else None
    base = min(policy.max_backoff, policy.initial_backoff * (2.0**attempt))
    return base * (0.75 + random.random() * 0.25)


def _falls_back(error: APIError) -> bool:
    if error.model_unavailable:
        return True
    if isinstance(error, NotFoundError) and error.code in (None, "model_not_found", "unknownModel"):
        return True
    return error.retryable and not error.reply_lost


def _timed(batch: list[ImageCall], target: _Target) -> list[ImageCall] | None:
    """Each call's total time: the caller's ``timeout`` or the provider's, capped by what is left of the
    call's deadline (so retries and fallbacks can never outlive it), less the time an adapter that can
    recover keeps back for it. None when the deadline has passed: nothing may be sent then."""
    adapter = target.adapter
    limit = (
        target.timeout
        if target.timeout is not None
        else (adapter.settings.timeout or adapter.default_timeout)
    )
    left = target.deadline.left()
    if left is not None:
        if left <= 0:
            return None
        if adapter.recovery_reserve:
            left -= min(adapter.recovery_reserve, left / 4)
    if left is not None and left < limit:
        limit = left
    elif target.timeout is None or math.isinf(limit):
        return batch  # the adapter applies its own default (with no deadline, also for timeout=None)
    return [c.evolve(timeout=max(0.001, limit)) for c in batch]


def _spent(target: str) -> APIError:
    return APITimeoutError(
        f"{target}: the call's deadline passed before this request could be sent (nothing was sent)",
        provider=target.partition(":")[0],
        retryable=False,
        reply_lost=False,
    )


def _fresh(calls: list[ImageCall]) -> list[ImageCall]:
    """New ids for a re-send: a provider may refuse a task id it has seen (Runware asks for a fresh UUID per
    task), and the previous ids belong to the attempt that did not run."""
    return [c.evolve(call_id=str(uuid.uuid4())) for c in calls]


def _empty(target: str) -> APIError:
    return APIStatusError(
        f"{target} returned no images",
        status_code=502,
        code="empty_response",
        retryable=True,  # nothing arrived and nothing was billed for it: the route's next target may serve
        provider=target.partition(":")[0],
    )


def _explain(error: APIError, mapped: MappedRequest, today: date) -> APIError:
    """A provider's "no such model" for a model the catalog says is past shutdown: ModelRetiredError,
    naming the date and the successor (adapters have no clock; the core does)."""
    spec = mapped.spec
    if (
        not error.model_unavailable
        or isinstance(error, ModelRetiredError)
        or spec.status_on(today) != "retired"
    ):
        return error
    assert spec.shutdown_on is not None
    instead = f"; use {spec.successor!r} instead" if spec.successor else ""
    retired = ModelRetiredError(
        spec.id,
        shutdown_on=spec.shutdown_on,
        successor=spec.successor,
        message=f"{error.message} ({spec.id} was retired on {spec.shutdown_on.isoformat()}{instead})",
        status_code=error.status_code if error.status_code and error.status_code >= 400 else 400,
        code=error.code or "model_retired",
        provider=error.provider,
        request_id=error.request_id,
        body=error.body,
    )
    retired.__cause__ = error
    return retired
