"""The two drivers of the execution policy: they perform its steps and decide nothing.

:func:`run` performs each step with blocking I/O, :func:`arun` with ``await``. Both run the flows of a
``Parallel`` step concurrently up to the step's ``limit`` (threads for sync, tasks for async): the policy
chooses the limit, so batches behave the same on both. An adapter's :class:`~imageshim.APIError` is handed
back to the policy as a value; anything else is a bug: it propagates, except from one flow of a
``Parallel`` step, where it is that flow's value (the other flows finish and keep their images).

``sleep`` and ``asleep`` are looked up at call time, so tests can replace them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from imageshim._core.adapter import AdapterResult
from imageshim._core.errors import APIError
from imageshim._core.policy import Flow, Parallel, Poll, Send, Sleep, Step

__all__ = ["arun", "run"]

T = TypeVar("T")
sleep: Callable[[float], None] = time.sleep
asleep: Callable[[float], Awaitable[None]] = asyncio.sleep


def _advance(flow: Flow[T], reply: Any) -> tuple[Step | None, T | None]:
    """The flow's next step, or (None, its return value) when it is done."""
    try:
        return flow.send(reply), None
    except StopIteration as stop:
        return None, stop.value


def run(flow: Flow[T]) -> T:
    """Drive ``flow`` to its end with blocking I/O; its return value (or its exception)."""
    step, value = _advance(flow, None)
    while step is not None:
        step, value = _advance(flow, _perform(step))
    return value  # type: ignore[return-value]


def _perform(step: Step) -> Any:
    if isinstance(step, Send):
        return _call(step.adapter.generate, step)
    if isinstance(step, Poll):
        return _call(step.adapter.poll, step)
    if isinstance(step, Sleep):
        sleep(step.seconds)
        return None
    if step.limit <= 1:
        return [_settled(f) for f in step.flows]
    with ThreadPoolExecutor(max_workers=min(step.limit, len(step.flows))) as pool:
        return list(pool.map(_settled, step.flows))


def _settled(flow: Flow[T]) -> T | Exception:
    """A parallel flow's value, or the exception that ended it: one batch's bug must not cost the others'
    images (the policy reports that batch's tasks)."""
    try:
        return run(flow)
    except Exception as exc:
        return exc


def _call(method: Callable[..., AdapterResult], step: Send | Poll) -> AdapterResult | APIError:
    try:
        return method(step.calls, step.spec)
    except APIError as error:
        return error


async def arun(flow: Flow[T]) -> T:
    """Async twin of :func:`run`."""
    step, value = _advance(flow, None)
    while step is not None:
        step, value = _advance(flow, await _aperform(step))
    return value  # type: ignore[return-value]


async def _aperform(step: Step) -> Any:
    if isinstance(step, (Send, Poll)):
        method = step.adapter.agenerate if isinstance(step, Send) else step.adapter.apoll
        try:
            return await method(step.calls, step.spec)
        except APIError as error:
            return error
    if isinstance(step, Sleep):
        await asleep(step.seconds)
        return None
    return await _parallel(step)


async def _parallel(step: Parallel) -> list[Any]:
    gate = asyncio.Semaphore(max(1, step.limit))

    async def one(flow: Flow[Any]) -> Any:
        async with gate:
            try:
                return await arun(flow)
            except Exception as exc:  # as _settled: the other batches keep their images
                return exc

    if step.limit <= 1:
        return [await one(f) for f in step.flows]
    return list(await asyncio.gather(*(one(f) for f in step.flows)))
