"""Execution: send a plan's calls, retrying and falling back, and keep every image that arrived.

Per target: the calls are grouped into wire requests (``max_calls_per_request``); each request is retried
with exponential backoff and jitter on retryable failures (408/409/429/5xx, connection errors, timeouts),
honouring ``Retry-After``; every re-send carries fresh call ids. After a lost reply (timeout or dropped
connection) the adapter first tries to recover the result it may already have paid for
(:meth:`ImageAdapter.recover`) before sending again.
A target that produced no image and failed retryably (or reported the model retired or missing) gives
way to the next target of the route; a target that produced some images returns them with the
failures reported. The sync and async loops are twins; their decisions live in shared helpers.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from ._adapter import AdapterResult, ImageAdapter, ImageCall
from ._catalog import ModelSpec
from ._config import RetryPolicy
from ._engine import Engine, Outcome, Plan
from ._errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    ModelRetiredError,
    NotFoundError,
)
from ._mapping import MappedRequest
from ._response import Attempt

__all__ = ["execute", "execute_async"]


class _Deadline:
    def __init__(self, seconds: float | None, now: Callable[[], float] = time.monotonic) -> None:
        self._now = now
        self._end = None if seconds is None else now() + seconds

    def left(self) -> float | None:
        return None if self._end is None else self._end - self._now()


def _shorter(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else min(a, b)


def _delay(policy: RetryPolicy, attempt: int, error: APIError) -> float | None:
    """Seconds to wait before retry number ``attempt + 1``; None when waiting is not worth it."""
    if error.retry_after is not None and error.retry_after > 0:  # 0 or a past date: the schedule applies
        wait: float = error.retry_after
        return wait if wait <= policy.max_retry_after else None
    base = min(policy.max_backoff, policy.initial_backoff * (2.0**attempt))
    return base * (0.75 + random.random() * 0.25)


def _retries(engine: Engine, provider: str) -> int:
    configured = engine.config.provider(provider).max_retries
    return engine.config.retry.max_retries if configured is None else configured


def _falls_back(error: APIError) -> bool:
    if error.model_unavailable:
        return True
    if isinstance(error, NotFoundError) and error.code in (None, "model_not_found", "unknownModel"):
        return True
    return error.retryable


def _lost(error: APIError) -> bool:
    """Whether the request may have been carried out although no usable reply came back: the
    connection dropped or timed out after sending, the reply could not be read, or a proxy gave up
    waiting (a status error from the provider itself says the work was not done)."""
    return error.reply_lost or isinstance(error, APIConnectionError) or not isinstance(error, APIStatusError)


def _explain(engine: Engine, mapped: MappedRequest, error: APIError) -> APIError:
    """A provider's "no such model" for a model the catalog says is past shutdown: ModelRetiredError,
    naming the date and the successor (adapters have no clock; the engine does)."""
    spec = mapped.spec
    if (
        not error.model_unavailable
        or isinstance(error, ModelRetiredError)
        or spec.status_on(engine.clock()) != "retired"
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
    retired.attempts = error.attempts
    return retired


def _attempt(
    target: str, started: float, result: AdapterResult | None, error: APIError | None, **kw: Any
) -> Attempt:
    duration = round(time.monotonic() - started, 4)
    if error is not None:
        return Attempt(target, type(error).__name__, duration, 0, error.message, error.status_code, **kw)
    assert result is not None
    outcome = "partial" if result.failures else "ok"
    return Attempt(target, outcome, duration, len(result.images), **kw)


def _batches(calls: list[ImageCall], size: int) -> list[list[ImageCall]]:
    return [calls[i : i + size] for i in range(0, len(calls), max(1, size))]


def _with_timeout(
    calls: list[ImageCall],
    adapter: ImageAdapter,
    timeout: float | None,
    deadline: _Deadline,
    *,
    recovering: bool = False,
) -> list[ImageCall] | None:
    """Each call's total time: the caller's ``timeout`` or the provider's, capped by what is left of the
    call's deadline (so retries and fallbacks can never outlive it), less the time an adapter that can
    recover keeps back for :meth:`~ImageAdapter.recover`. None when the deadline has passed: nothing
    may be sent then. Unchanged calls are not copied."""
    limit = timeout if timeout is not None else (adapter.settings.timeout or adapter.default_timeout)
    left = deadline.left()
    if left is not None:
        if left <= 0:
            return None
        if not recovering and adapter.recovery_reserve:
            left -= min(adapter.recovery_reserve, left / 4)
    if left is not None and left < limit:
        limit = left
    elif timeout is None:
        return calls  # the adapter applies its own default
    return [c.evolve(timeout=max(0.001, limit)) for c in calls]


def _spent(target: str) -> APIError:
    return APITimeoutError(
        f"{target}: the call's deadline passed before this request could be sent (nothing was sent)",
        provider=target.partition(":")[0],
        retryable=False,
    )


def _fresh(calls: list[ImageCall]) -> list[ImageCall]:
    """New ids for a re-send: a provider may refuse a task id it has seen (Runware asks for a fresh UUID per
    task), and recovery of the previous attempt has already been tried with the old ids."""
    return [c.evolve(call_id=str(uuid.uuid4())) for c in calls]


def _give_up(error: APIError, attempt: int, retries: int, delay: float | None, deadline: _Deadline) -> bool:
    left = deadline.left()
    return not error.retryable or attempt >= retries or delay is None or (left is not None and left <= delay)


# ----- sync -------------------------------------------------------------------------------------------
def _send(
    engine: Engine,
    adapter: ImageAdapter,
    batch: list[ImageCall],
    spec: ModelSpec,
    target: str,
    attempts: list[Attempt],
    deadline: _Deadline,
    timeout: float | None,
    sleep: Callable[[float], None],
) -> list[AdapterResult]:
    """Send one batch with retries; every result gathered on the way (a recovery may bring part of it)."""
    retries = _retries(engine, adapter.name)
    kept: list[AdapterResult] = []
    for attempt in range(retries + 1):
        if attempt:
            batch = _fresh(batch)
        started = time.monotonic()
        calls = _with_timeout(batch, adapter, timeout, deadline)
        if calls is None:
            return _keep(kept, _spent(target), batch)
        try:
            result = adapter.generate(calls, spec)
        except APIError as error:
            attempts.append(_attempt(target, started, None, error))
            polled = (
                _with_timeout(batch, adapter, timeout, deadline, recovering=True) if _lost(error) else None
            )
            if polled is not None:  # it may have run: fetch what was paid for first
                started = time.monotonic()
                try:
                    recovered = adapter.recover(polled, spec)
                except APIError:
                    recovered = None
                if recovered is not None:
                    attempts.append(_attempt(target, started, recovered, None, recovered=True))
                    kept.append(recovered)
                    if not recovered.resend:
                        return kept
                    batch = recovered.resend  # known not to have run: the next attempt sends only these
            delay = _delay(engine.config.retry, attempt, error)
            if _give_up(error, attempt, retries, delay, deadline):
                return _keep(kept, error, batch)
            sleep(delay or 0.0)
            continue
        attempts.append(_attempt(target, started, result, None))
        return [*kept, result]
    raise AssertionError("unreachable")  # pragma: no cover


def execute(engine: Engine, plan: Plan, *, sleep: Callable[[float], None] = time.sleep) -> Outcome:
    deadline = _Deadline(_shorter(engine.config.retry.deadline, plan.deadline))
    attempts: list[Attempt] = []
    last: APIError | None = None
    for mapped in plan.targets:
        adapter = engine.adapter(mapped.target.partition(":")[0])
        results: list[AdapterResult] = []
        failures: list[APIError] = []
        for batch in _batches(mapped.calls(), adapter.max_calls_per_request):
            try:
                sent = _send(
                    engine,
                    adapter,
                    batch,
                    mapped.spec,
                    mapped.target,
                    attempts,
                    deadline,
                    plan.timeout,
                    sleep,
                )
            except APIError as error:
                failures.append(_explain(engine, mapped, error))
                continue
            _gather(sent, results, failures)
        outcome = _settle(mapped, results, failures, attempts)
        if outcome is not None:
            return outcome
        # Fall back only when every failure allows it: a call that may still be billed (reported, not
        # retryable) must not be sent to another provider as well.
        last = next((f for f in failures if not _falls_back(f)), failures[0])
        if not _falls_back(last):
            break
    assert last is not None
    raise _with_attempts(last, attempts)


# ----- async ------------------------------------------------------------------------------------------
async def _asend(
    engine: Engine,
    adapter: ImageAdapter,
    batch: list[ImageCall],
    spec: ModelSpec,
    target: str,
    attempts: list[Attempt],
    deadline: _Deadline,
    timeout: float | None,
) -> list[AdapterResult]:
    retries = _retries(engine, adapter.name)
    kept: list[AdapterResult] = []
    for attempt in range(retries + 1):
        if attempt:
            batch = _fresh(batch)
        started = time.monotonic()
        calls = _with_timeout(batch, adapter, timeout, deadline)
        if calls is None:
            return _keep(kept, _spent(target), batch)
        try:
            result = await adapter.agenerate(calls, spec)
        except APIError as error:
            attempts.append(_attempt(target, started, None, error))
            polled = (
                _with_timeout(batch, adapter, timeout, deadline, recovering=True) if _lost(error) else None
            )
            if polled is not None:
                started = time.monotonic()
                try:
                    recovered = await adapter.arecover(polled, spec)
                except APIError:
                    recovered = None
                if recovered is not None:
                    attempts.append(_attempt(target, started, recovered, None, recovered=True))
                    kept.append(recovered)
                    if not recovered.resend:
                        return kept
                    batch = recovered.resend
            delay = _delay(engine.config.retry, attempt, error)
            if _give_up(error, attempt, retries, delay, deadline):
                return _keep(kept, error, batch)
            await asyncio.sleep(delay or 0.0)
            continue
        attempts.append(_attempt(target, started, result, None))
        return [*kept, result]
    raise AssertionError("unreachable")  # pragma: no cover


async def execute_async(engine: Engine, plan: Plan) -> Outcome:
    deadline = _Deadline(_shorter(engine.config.retry.deadline, plan.deadline))
    attempts: list[Attempt] = []
    last: APIError | None = None
    for mapped in plan.targets:
        adapter = engine.adapter(mapped.target.partition(":")[0])
        batches = _batches(mapped.calls(), adapter.max_calls_per_request)
        sends = [
            _asend(engine, adapter, b, mapped.spec, mapped.target, attempts, deadline, plan.timeout)
            for b in batches
        ]
        if len(sends) == 1:  # the common case: no Task for a lone batch
            try:
                gathered: list[Any] = [await sends[0]]
            except APIError as error:
                gathered = [error]
        else:
            gathered = await asyncio.gather(*sends, return_exceptions=True)
        results: list[AdapterResult] = []
        failures: list[APIError] = []
        for item in gathered:
            if isinstance(item, APIError):
                failures.append(_explain(engine, mapped, item))
            elif isinstance(item, BaseException):
                raise item
            else:
                _gather(item, results, failures)
        outcome = _settle(mapped, results, failures, attempts)
        if outcome is not None:
            return outcome
        # Fall back only when every failure allows it: a call that may still be billed (reported, not
        # retryable) must not be sent to another provider as well.
        last = next((f for f in failures if not _falls_back(f)), failures[0])
        if not _falls_back(last):
            break
    assert last is not None
    raise _with_attempts(last, attempts)


# ----- shared decisions -------------------------------------------------------------------------------
def _keep(kept: list[AdapterResult], error: APIError, batch: list[ImageCall]) -> list[AdapterResult]:
    """Giving up on a batch: raise when nothing arrived; else keep what a recovery brought, with each
    call that was still to be sent reported as failed."""
    if not kept:
        raise error
    kept[-1].failures.extend([error] * len(batch))
    kept[-1].resend = []
    return kept


def _gather(sent: list[AdapterResult], results: list[AdapterResult], failures: list[APIError]) -> None:
    for result in sent:
        results.append(result)
        failures.extend(result.failures)


def _settle(
    mapped: MappedRequest, results: list[AdapterResult], failures: list[APIError], attempts: list[Attempt]
) -> Outcome | None:
    """An outcome when any image arrived (partial results are kept), else None (try the next target)."""
    if any(r.images for r in results):
        return Outcome(mapped, results, attempts, failures)
    if not failures:
        failures.append(
            APIStatusError(
                f"{mapped.target} returned no images",
                status_code=502,
                code="empty_response",
                retryable=True,
                provider=mapped.target.partition(":")[0],
            )
        )
    return None


def _with_attempts(error: APIError, attempts: Sequence[Attempt]) -> APIError:
    error.attempts = list(attempts)
    return error
