"""Fault injection: each fault against both providers' adapters, sync and async, on a loopback server.

For every fault the expected outcome (retried and succeeded, recovered without a second task, fell back,
or a typed error), the number of generate requests the server saw, and that the API key leaked nowhere
(exception text, repr, log records). The matrix is printed at the end of the run.

The money rule shows in the columns: a fault after the request was sent (a reset, a stall, a cut or
unreadable reply) is never answered by generating again blindly. Runware is asked (getResponse) and only
a task it does not know is sent again; OpenAI has no way to look a result up, so the call ends as
ResultUnknownError after exactly one generate.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

import imageshim
from imageshim_adapters.runware import RunwareAdapter

from . import server as s

KEY = "sk-fault-suite-0123456789abcdef"
TIMEOUT = 1.0


@dataclass(frozen=True)
class Case:
    fault: str
    action: Any
    outcome: str  # "ok" | "retried" | "recovered" | "fell back" | an error class name
    openai_generates: int
    runware_generates: int
    fallback: bool = False
    #: what the first getResponse polls meet (Runware), before the server answers normally
    polls: tuple[Any, ...] = ()


CASES = [
    Case("429 + Retry-After", s.status(429, {"retry-after": "0"}), "retried", 2, 2),
    Case("500", s.status(500), "retried", 2, 2),
    Case("502", s.status(502), "retried", 2, 2),
    Case("503", s.status(503), "retried", 2, 2),
    Case("504", s.status(504), "retried", 2, 2),
    # Reset after the request was read: neither provider can say whether it ran. Runware answers "not
    # found", which is never read as "it never ran" (UNCERTAIN for sync tasks): reported, not re-sent.
    Case("connection reset", s.reset, "ResultUnknownError", 1, 1),
    # Runware: the task finished server-side; getResponse returns it and nothing is generated twice.
    Case("stall past timeout", s.stall(3 * TIMEOUT, then_finish=True), "ResultUnknownError|recovered", 1, 1),
    Case("truncated body", s.truncated, "ResultUnknownError|recovered", 1, 1),
    Case("slow trickle", s.trickle(3 * TIMEOUT), "ResultUnknownError|recovered", 1, 1),
    # A 200 that cannot be read may hold a paid image: looked up, never generated again blindly.
    Case("non-JSON body", s.raw(200, b"<html>proxy error</html>"), "ResultUnknownError", 1, 1),
    Case("JSON of the wrong shape", s.raw(200, b'{"data": "nope", "errors": 3}'), "ResultUnknownError", 1, 1),
    # Recovery polls through transient failures of getResponse itself (OpenAI has no polls).
    Case(
        "poll fails 503 then 429",
        s.stall(3 * TIMEOUT, then_finish=True),
        "ResultUnknownError|recovered",
        1,
        1,
        polls=(s.status(503), s.status(429, {"retry-after": "0"})),
    ),
    Case(
        "poll reset",
        s.stall(3 * TIMEOUT, then_finish=True),
        "ResultUnknownError|recovered",
        1,
        1,
        polls=(s.reset,),
    ),
    Case("image bytes not an image", s.bad_image, "InternalServerError", 1, 1),
    Case("huge body", s.huge, "ok", 1, 1),
    Case(
        "401 echoing the key",
        s.raw(
            401,
            b'{"error": {"message": "bad key ' + KEY.encode() + b'"}, '
            b'"errors": [{"code": "invalidApiKey", "message": "bad key ' + KEY.encode() + b'"}]}',
        ),
        "AuthenticationError",
        1,
        1,
    ),
    Case("503 on every try", None, "fell back", 3, 3, fallback=True),
]


@pytest.fixture(autouse=True)
def _fast_recovery(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(RunwareAdapter, "recover_delay", 0.01)
    monkeypatch.setattr(RunwareAdapter, "recover_max_delay", 0.05)
    monkeypatch.setattr(RunwareAdapter, "recover_timeout", TIMEOUT)


@pytest.fixture
def fault_server(request: pytest.FixtureRequest) -> Iterator[s.FaultServer]:
    srv = s.FaultServer(provider=request.param)
    yield srv
    srv.close()


def _config(srv: s.FaultServer, fallback: bool) -> dict[str, Any]:
    targets = [f"{srv.provider}:gpt-image-2"] + (["mock:gpt-image-2"] if fallback else [])
    return {
        "routes": {"*": targets},
        "providers": {srv.provider: {"api_key": KEY, "base_url": srv.base_url, "timeout": TIMEOUT}},
        "retry": {"max_retries": 2, "initial_backoff": 0.01, "max_backoff": 0.02, "deadline": 20},
    }


def _run(mode: str, config: dict[str, Any], clock: Any) -> imageshim.ImagesResponse:
    kwargs = {"model": "gpt-image-2", "prompt": "a lighthouse", "size": "1024x1024"}
    if mode == "sync":
        with imageshim.OpenAI(config=config, clock=clock) as client:
            return client.images.generate(**kwargs)

    async def go() -> imageshim.ImagesResponse:
        async with imageshim.AsyncOpenAI(config=config, clock=clock) as client:
            return await client.images.generate(**kwargs)

    return asyncio.run(go())


def _outcome(resp: imageshim.ImagesResponse, provider: str) -> str:
    attempts = resp.imageshim.attempts
    if not resp.imageshim.route.startswith(provider):
        return "fell back"
    if any(a.recovered for a in attempts):
        return "recovered"
    return "retried" if len(attempts) > 1 else "ok"


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("fault_server", ["openai", "runware"], indirect=True)
@pytest.mark.parametrize("case", CASES, ids=[c.fault for c in CASES])
def test_fault(
    case: Case, fault_server: s.FaultServer, mode: str, clock: Any, caplog: Any, matrix: list[dict[str, Any]]
) -> None:
    srv = fault_server
    srv.script[:] = [s.status(503)] * 3 if case.fallback else [case.action]
    srv.poll_script[:] = list(case.polls)
    caplog.set_level(logging.DEBUG)
    error: imageshim.ImageShimError | None = None
    try:
        resp = _run(mode, _config(srv, case.fallback), clock)
        outcome = _outcome(resp, srv.provider)
        assert len(resp.data) == 1
    except imageshim.ImageShimError as exc:
        error, outcome = exc, type(exc).__name__
    leaked = KEY in caplog.text or (error is not None and (KEY in str(error) or KEY in repr(error)))
    generates = srv.count("generate")
    matrix.append(
        {
            "fault": case.fault,
            "provider": srv.provider,
            "mode": mode,
            "outcome": outcome,
            "generate": generates,
            "getResponse": srv.count("getResponse"),
            "leaked": leaked,
        }
    )

    expected = case.openai_generates if srv.provider == "openai" else case.runware_generates
    assert outcome in case.outcome.split("|"), error
    assert generates == expected
    assert not leaked
    if isinstance(error, imageshim.ResultUnknownError):
        assert error.task_ids  # it names what to look up later
    if srv.provider == "runware" and "recovered" in case.outcome:
        assert outcome == "recovered"
        assert srv.count("getResponse") >= 1 + len(case.polls)
    if srv.provider == "openai" and "ResultUnknownError" in case.outcome:
        assert outcome == "ResultUnknownError"
