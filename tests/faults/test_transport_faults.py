"""Transport faults through the real adapters (both providers, sync and async), on a keep-alive loopback
server (transport_server.py): a reply trickled byte by byte ends within the call's total time as a
timeout whose reply is lost (so it is never sent again), and the keep-alive race costs nothing: no
error, and exactly one generate request per call."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import imageshim
from imageshim_adapters.runware import RunwareAdapter

from .transport_server import TransportServer

KEY = "sk-transport-suite-0123456789abcdef"
TIMEOUT = 1.0


@pytest.fixture(autouse=True)
def _fast_recovery(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(RunwareAdapter, "recover_delay", 0.01)
    monkeypatch.setattr(RunwareAdapter, "recover_timeout", 0.2)


@pytest.fixture(params=["openai", "runware"])
def provider(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _config(srv: TransportServer) -> dict[str, Any]:
    return {
        "routes": {"*": [f"{srv.provider}:gpt-image-2"]},
        "providers": {srv.provider: {"api_key": KEY, "base_url": srv.base_url, "timeout": TIMEOUT}},
        # No retries: only the pool may send a request again, and only one that lost the race.
        "retry": {"max_retries": 0, "deadline": 20},
    }


def _generate(mode: str, config: dict[str, Any], clock: Any, calls: int) -> list[Any]:
    kwargs = {"model": "gpt-image-2", "prompt": "a lighthouse", "size": "1024x1024"}
    if mode == "sync":
        with imageshim.OpenAI(config=config, clock=clock) as client:
            return [client.images.generate(**kwargs) for _ in range(calls)]

    async def go() -> list[Any]:
        async with imageshim.AsyncOpenAI(config=config, clock=clock) as client:
            return [await client.images.generate(**kwargs) for _ in range(calls)]

    return asyncio.run(go())


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_trickling_reply_ends_within_the_total_time(provider: str, mode: str, clock: Any) -> None:
    # The task is done server-side before the reply trickles: Runware's getResponse may recover it;
    # OpenAI's result stays unknown. Either way the first try ends in time and nothing is sent twice.
    with TransportServer(provider, headers_after=0.9 * TIMEOUT, trickle_every=0.9 * TIMEOUT) as srv:
        error: imageshim.APIError | None = None
        try:
            attempts = _generate(mode, _config(srv), clock, 1)[0].imageshim.attempts
        except imageshim.APIError as exc:
            error, attempts = exc, exc.attempts
        generates = srv.count("generate")
    if error is not None:
        assert error.reply_lost is True  # sent, reply lost: never sent again
        assert KEY not in str(error)
    assert attempts[0].outcome == "APITimeoutError", attempts
    assert attempts[0].duration_s < TIMEOUT + 0.5
    assert generates == 1


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_the_keepalive_race_costs_no_error_and_no_second_image(provider: str, mode: str, clock: Any) -> None:
    calls = 4
    with TransportServer(provider, race=True) as srv:
        responses = _generate(mode, _config(srv), clock, calls)
        assert [len(r.data) for r in responses] == [1] * calls
        assert srv.count("generate") == calls  # one processed generate request per call
        assert srv.races == calls - 1  # every call after the first met the race on a reused connection
