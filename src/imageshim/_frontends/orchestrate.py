"""One orchestration for every way in: plan -> execute -> response -> partial-result policy.

The native client, the in-process transport and the gateway all call :func:`run` / :func:`arun` with a
plan the engine made, and report warnings with :func:`warnings_for`; only how they report them (raise
through ``warnings.warn``, log, or put in a header) and how they render the result differ.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from imageshim._core.errors import ImageShimError, PartialResultError
from imageshim._core.warnings import WarningRecord

if TYPE_CHECKING:
    from imageshim._core.policy import Flow, Outcome
    from imageshim._core.response import ImagesResponse
    from imageshim._frontends.engine import Engine, Plan

__all__ = ["arun", "run", "warnings_for"]

#: the policy's clock for deadlines and budgets (looked up per call, so tests can replace it)
monotonic = time.monotonic


def _flow(engine: Engine, plan: Plan) -> Flow[Outcome]:
    from imageshim._core.policy import execution

    return execution(plan, engine.config, engine.adapter, today=engine.clock(), now=monotonic)


def run(engine: Engine, plan: Plan) -> ImagesResponse:
    """Serve ``plan`` with blocking I/O: the response, or the error that ended the call."""
    from imageshim._plumbing.drive import run as drive

    return _conclude(engine, plan, drive(_flow(engine, plan)))


async def arun(engine: Engine, plan: Plan) -> ImagesResponse:
    """Async twin of :func:`run`."""
    from imageshim._plumbing.drive import arun as drive

    return _conclude(engine, plan, await drive(_flow(engine, plan)))


def _conclude(engine: Engine, plan: Plan, outcome: Outcome) -> ImagesResponse:
    from imageshim._frontends.render import build

    response = build(plan, outcome, engine.config.mapping)
    if outcome.failures and engine.config.retry.partial == "error":
        first = outcome.failures[0]
        raise PartialResultError(
            f"{len(response.data)} of {plan.request.n} images arrived and {len(outcome.failures)} call(s) "
            f'failed ({type(first).__name__}: {first.message}); with [retry] partial = "error" the request '
            "fails as a whole (the images that arrived are on the error's .response).",
            response=response,
            failures=outcome.failures,
        )
    return response


def warnings_for(plan: Plan, error: ImageShimError) -> Sequence[WarningRecord]:
    """What had been decided for a call that failed: it still matters (a retired model, a changed size)."""
    if isinstance(error, PartialResultError):
        return list(error.response.imageshim.warnings)
    return plan.targets[0].warnings if plan.targets else ()
