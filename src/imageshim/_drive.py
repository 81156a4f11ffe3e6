"""The two drivers of the execution policy: they perform its steps and decide nothing.

:func:`run` performs each step with blocking I/O, :func:`arun` with ``await``. Both run the flows of a
``Parallel`` step concurrently up to the step's ``limit`` (threads for sync, tasks for async): the policy
chooses the limit, so batches behave the same on both. An adapter's :class:`~imageshim.APIError` is handed
back to the policy as a value; anything else is a bug and propagates.

``sleep`` and ``asleep`` are looked up at call time, so tests can replace them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from ._adapter import AdapterResult
from ._errors import APIError
from ._policy import Flow, Parallel, Poll, Send, Sleep, Step

__all__ = ["arun", "run"]

T = TypeVar("T")
sleep: Callable[[float], None] = time.sleep
asleep: Callable[[float], Awaitable[None]] = asyncio.sleep


def run(flow: Flow[T]) -> T:
    """Drive ``flow`` to its end with blocking I/O; its return value (or its exception)."""
    reply: Any = None
    while True:
        try:
            step = flow.send(reply)
        except StopIteration as stop:
            value: T = stop.value
            return value
        reply = _perform(step)


def _perform(step: Step) -> Any:
    if isinstance(step, Send):
        return _call(step.adapter.generate, step)
    if isinstance(step, Poll):
        return _call(step.adapter.poll, step)
    if isinstance(step, Sleep):
        sleep(step.seconds)
        return None
    if step.limit <= 1:
        return [run(f) for f in step.flows]
    with ThreadPoolExecutor(max_workers=min(step.limit, len(step.flows))) as pool:
        return list(pool.map(run, step.flows))


def _call(method: Callable[..., AdapterResult], step: Send | Poll) -> AdapterResult | APIError:
    try:
        return method(step.calls, step.spec)
    except APIError as error:
        return error


async def arun(flow: Flow[T]) -> T:
    """Async twin of :func:`run`."""
    reply: Any = None
    while True:
        try:
            step = flow.send(reply)
        except StopIteration as stop:
            value: T = stop.value
            return value
        reply = await _aperform(step)


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
    if step.limit <= 1:
        return [await arun(f) for f in step.flows]
    gate = asyncio.Semaphore(step.limit)

    async def one(flow: Flow[Any]) -> Any:
        async with gate:
            return await arun(flow)

    return list(await asyncio.gather(*(one(f) for f in step.flows)))
