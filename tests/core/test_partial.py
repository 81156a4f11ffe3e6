"""Partial results are never thrown away: the images that arrived come back with a warning and the
failures listed; with [retry] partial = "error" an error carries them instead."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import imageshim

CONFIG = {"routes": {"*": ["mock:dall-e-3"]}, "lifecycle": {"on_retired": "allow"}}


def _script(mock: Any) -> None:
    original = type(mock)._take

    def take(self: Any, target: str, call: Any) -> BaseException | None:
        failure = original(self, target, call)
        if len(self.calls) == 2:  # the second of three calls is refused
            return imageshim.BadRequestError("blocked", code="content_policy_violation", provider="mock")
        return failure

    type(mock)._take = take  # type: ignore[method-assign]


@pytest.fixture
def refuse_second(imageshim_mock: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(type(imageshim_mock), "_take", type(imageshim_mock)._take)
    _script(imageshim_mock)
    return imageshim_mock


def test_partial_results_come_back_with_a_warning(refuse_second: Any, clock: Any) -> None:
    client = imageshim.OpenAI(config=CONFIG, clock=clock)
    with pytest.warns(imageshim.ImageShimWarning) as caught:
        resp = client.images.generate(model="dall-e-3", prompt="a fox", n=3)
    assert len(resp.data) == 2
    partial = [w for w in caught if "2 of 3 images arrived" in str(w.message)]
    assert len(partial) == 1
    assert isinstance(partial[0].message, imageshim.OptionMappedWarning)
    assert resp.imageshim.failures[0]["code"] == "content_policy_violation"
    assert len(refuse_second.calls) == 3


def test_strict_mode_raises_with_the_images(refuse_second: Any, clock: Any) -> None:
    client = imageshim.OpenAI(config={**CONFIG, "retry": {"partial": "error"}}, clock=clock)
    with pytest.warns(imageshim.ImageShimWarning), pytest.raises(imageshim.PartialResultError) as info:
        client.images.generate(model="dall-e-3", prompt="a fox", n=3)
    assert len(info.value.response.data) == 2
    assert info.value.failures[0].code == "content_policy_violation"


def test_async_partial(refuse_second: Any, clock: Any) -> None:
    async def go() -> imageshim.ImagesResponse:
        async with imageshim.AsyncOpenAI(config=CONFIG, clock=clock) as client:
            return await client.images.generate(model="dall-e-3", prompt="a fox", n=3)

    with pytest.warns(imageshim.ImageShimWarning):
        resp = asyncio.run(go())
    assert len(resp.data) == 2
    assert len(resp.imageshim.failures) == 1
