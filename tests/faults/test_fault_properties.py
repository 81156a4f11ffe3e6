"""Random fault sequences through the real adapters against a loopback fake provider (hypothesis, stateful).

Each run scripts faults for generate requests (stalls past the timeout that finish server-side, resets after
the request was read, cut and trickled bodies, 5xx, 429) and for Runware's getResponse polls (5xx, 429,
resets), then makes calls, sync or async. After every call:

- every image the fake generated is accounted for: billed <= returned + reported unknown (never lost,
  never silently paid twice);
- the call ended within its deadline plus 0.5 s;
- only the shim's typed errors came out.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

import imageshim
from imageshim_adapters.runware import RunwareAdapter

from . import server as s
from .test_fault_matrix import KEY

TIMEOUT = 0.3
DEADLINE = 2.5
GENERATE_FAULTS = {
    "ok": s.ok,
    "stall, finished": s.stall(2 * TIMEOUT, then_finish=True),
    "stall": s.stall(2 * TIMEOUT),
    "reset": s.reset,
    "truncated": s.truncated,
    "trickle": s.trickle(2 * TIMEOUT),
    "500": s.status(500),
    "503": s.status(503),
    "429": s.status(429, {"retry-after": "0"}),
}
POLL_FAULTS = {"503": s.status(503), "429": s.status(429, {"retry-after": "0"}), "reset": s.reset}


def _config(srv: s.FaultServer) -> dict[str, Any]:
    target = "openai:gpt-image-2" if srv.provider == "openai" else "runware:dall-e-3"
    return {
        "routes": {"*": [target]},
        "lifecycle": {"on_retired": "allow"},
        "providers": {srv.provider: {"api_key": KEY, "base_url": srv.base_url, "timeout": TIMEOUT}},
        "retry": {"max_retries": 2, "initial_backoff": 0.01, "max_backoff": 0.02, "deadline": DEADLINE},
    }


def _unknown(error: BaseException | None, resp: imageshim.ImagesResponse | None) -> int:
    """Tasks the call reported as of unknown fate (each may have made one image per task here)."""
    if isinstance(error, imageshim.ResultUnknownError):
        return len(error.task_ids)
    failures = resp.imageshim.failures if resp is not None else []
    return len({t for f in failures for t in f.get("task_ids", [])})


class FaultSequences(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.srv: s.FaultServer | None = None
        self.last: dict[str, Any] = {}

    @initialize(provider=st.sampled_from(["openai", "runware"]))
    def start(self, provider: str) -> None:
        self.srv = s.FaultServer(provider=provider)

    @rule(fault=st.sampled_from(sorted(GENERATE_FAULTS)))
    def script_generate(self, fault: str) -> None:
        assert self.srv is not None
        self.srv.script.append(GENERATE_FAULTS[fault])

    @rule(fault=st.sampled_from(sorted(POLL_FAULTS)))
    def script_poll(self, fault: str) -> None:
        assert self.srv is not None
        self.srv.poll_script.append(POLL_FAULTS[fault])

    @rule(n=st.integers(1, 2), asynchronous=st.booleans())
    def call(self, n: int, asynchronous: bool) -> None:
        srv = self.srv
        assert srv is not None
        billed_before = srv.billed
        kwargs = {
            "model": "dall-e-3" if srv.provider == "runware" else "gpt-image-2",
            "prompt": "a fox",
            "n": n,
        }
        resp: imageshim.ImagesResponse | None = None
        error: BaseException | None = None
        started = time.monotonic()
        try:
            if asynchronous:

                async def go() -> imageshim.ImagesResponse:
                    async with imageshim.AsyncOpenAI(config=_config(srv), clock=lambda: _today()) as client:
                        return await client.images.generate(**kwargs)

                resp = asyncio.run(go())
            else:
                with imageshim.OpenAI(config=_config(srv), clock=lambda: _today()) as client:
                    resp = client.images.generate(**kwargs)
        except imageshim.ImageShimError as exc:
            error = exc
        except BaseException as exc:  # anything else is a defect: fail with it
            raise AssertionError(f"untyped error escaped: {exc!r}") from exc
        elapsed = time.monotonic() - started
        # Let a stalled request's thread finish its bookkeeping before counting what was billed.
        time.sleep(0.05)
        returned = len(resp.data) if resp is not None else 0
        self.last = {
            "billed": srv.billed - billed_before,
            "returned": returned,
            "unknown": _unknown(error, resp),
            "elapsed": elapsed,
            "error": error,
        }

    @invariant()
    def every_billed_image_is_returned_or_reported(self) -> None:
        if not self.last:
            return
        last = self.last
        assert last["billed"] <= last["returned"] + last["unknown"], last

    @invariant()
    def no_call_outlives_its_deadline(self) -> None:
        if self.last:
            assert self.last["elapsed"] <= DEADLINE + 0.5, self.last

    def teardown(self) -> None:
        if self.srv is not None:
            self.srv.close()


def _today() -> Any:
    import datetime

    return datetime.date(2026, 11, 24)


@pytest.fixture(autouse=True)
def _short_recovery(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(RunwareAdapter, "recovery_reserve", 1.0)
    monkeypatch.setattr(RunwareAdapter, "recover_delay", 0.05)
    monkeypatch.setattr(RunwareAdapter, "recover_max_delay", 0.1)
    monkeypatch.setattr(RunwareAdapter, "recover_timeout", TIMEOUT)


def test_random_fault_sequences_never_lose_or_double_bill(recwarn: Any) -> None:
    FaultSequences.TestCase.settings = settings(
        max_examples=12,
        stateful_step_count=6,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
    )
    FaultSequences.TestCase().runTest()
