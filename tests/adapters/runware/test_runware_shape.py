"""Runware's 2026-10 schema: GPT Image 2/2.5 options in ``settings``, DALL·E 3 in ``providerSettings.openai``.

When Runware refuses a body's option object as unknown (a 400 validation error: nothing ran, nothing
billed), the adapter sends the other object once, remembers what works for the process (per model, shared
by sync and async) and logs it once; every other error goes to the core as before."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from typing import Any

import httpx
import pytest

import imageshim
from imageshim_adapters.runware.reply import Reply
from imageshim_adapters.runware.shape import MEMORY, refused

from ._runware_fakes import DALLE3, GPT2, ok_reply

SETTINGS, PROVIDER_SETTINGS = "settings", "providerSettings"
LEARNED = "this process sends"


def _refusal(tasks: list[dict[str, Any]], parameter: str, code: str = "unknownParameter") -> httpx.Response:
    errors = [
        {
            "code": code,
            "message": f"Unknown parameter '{parameter}'",
            "parameter": parameter,
            "taskType": "imageInference",
            "taskUUID": t["taskUUID"],
        }
        for t in tasks
    ]
    return httpx.Response(400, json={"errors": errors})


def runware(*, takes: set[str]) -> Callable[[httpx.Request], httpx.Response]:
    """A Runware that takes only the option objects in ``takes`` and refuses the other as unknown."""

    def handler(request: httpx.Request) -> httpx.Response:
        tasks = json.loads(request.content)
        for shape in (SETTINGS, PROVIDER_SETTINGS):
            if any(shape in t for t in tasks) and shape not in takes:
                return _refusal(tasks, shape)
        return ok_reply(request)

    return handler


def _shapes(recorder: Any) -> list[list[str]]:
    """Per request, the option objects its tasks carried."""
    return [
        sorted({s for t in json.loads(r.content) for s in (SETTINGS, PROVIDER_SETTINGS) if s in t})
        for r in recorder.requests
    ]


def _learned(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "imageshim" and LEARNED in r.getMessage()]


async def _generate(mode: str, recorder: Any, clock: Any, config: dict[str, Any], **kw: Any) -> Any:
    if mode == "sync":
        return imageshim.OpenAI(config=config, http_client=recorder.client(), clock=clock).images.generate(
            **kw
        )
    client = imageshim.AsyncOpenAI(config=config, http_client=recorder.async_client(), clock=clock)
    return await client.images.generate(**kw)


GEN: dict[str, Any] = {"model": "gpt-image-2", "prompt": "a fox", "size": "1024x1024", "quality": "high"}


# ----- three Runwares, sync and async ---------------------------------------------------------------------
@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_a_runware_that_takes_only_settings(
    mode: str, recorder_factory: Any, clock: Any, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = recorder_factory(runware(takes={SETTINGS}))
    for _ in range(2):
        resp = await _generate(mode, recorder, clock, GPT2, **GEN)
        assert len(resp.data) == 1
    assert _shapes(recorder) == [[SETTINGS], [SETTINGS]]  # the first choice: never refused
    assert recorder.json(0)[0]["settings"] == {"quality": "high"}
    assert _learned(caplog) == []


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_a_runware_that_takes_only_provider_settings(
    mode: str, recorder_factory: Any, clock: Any, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = recorder_factory(runware(takes={PROVIDER_SETTINGS}))
    caplog.set_level(logging.WARNING, logger="imageshim")
    first = await _generate(mode, recorder, clock, GPT2, **GEN)
    # refused as unknown (nothing ran), sent once more with the other object, under the same taskUUID
    assert _shapes(recorder) == [[SETTINGS], [PROVIDER_SETTINGS]]
    assert recorder.json(1)[0]["providerSettings"] == {"openai": {"quality": "high"}}
    assert recorder.json(0)[0]["taskUUID"] == recorder.json(1)[0]["taskUUID"]
    assert len(first.data) == 1
    assert first.imageshim.cost_usd == pytest.approx(0.05)  # one image made, one paid for
    # the second call goes straight to the remembered object
    second = await _generate(mode, recorder, clock, GPT2, **GEN)
    assert _shapes(recorder)[2:] == [[PROVIDER_SETTINGS]]
    assert len(second.data) == 1
    (message,) = _learned(caplog)  # logged once
    assert "openai:gpt-image@2" in message
    assert "'providerSettings'" in message


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_a_runware_that_takes_both(
    mode: str, recorder_factory: Any, clock: Any, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = recorder_factory(runware(takes={SETTINGS, PROVIDER_SETTINGS}))
    for _ in range(2):
        await _generate(mode, recorder, clock, GPT2, **GEN)
    assert _shapes(recorder) == [[SETTINGS], [SETTINGS]]
    assert _learned(caplog) == []


@pytest.mark.anyio
async def test_what_sync_learned_async_uses(recorder_factory: Any, clock: Any) -> None:
    recorder = recorder_factory(runware(takes={PROVIDER_SETTINGS}))
    await _generate("sync", recorder, clock, GPT2, **GEN)
    await _generate("async", recorder, clock, GPT2, **GEN)
    assert _shapes(recorder) == [[SETTINGS], [PROVIDER_SETTINGS], [PROVIDER_SETTINGS]]


def test_remembered_per_model(recorder_factory: Any, clock: Any) -> None:
    recorder = recorder_factory(runware(takes={PROVIDER_SETTINGS}))
    client = imageshim.OpenAI(config=GPT2, http_client=recorder.client(), clock=clock)
    client.images.generate(**GEN)
    config = {**GPT2, "routes": {"*": ["runware:gpt-image-2.5-flare"]}}
    other = imageshim.OpenAI(config=config, http_client=recorder.client(), clock=clock)
    with pytest.warns(imageshim.OptionMappedWarning, match="xhigh"):  # Runware lists no xhigh (UNCERTAIN)
        other.images.generate(model="gpt-image-2.5-flare", prompt="a fox", size="1024x1024", quality="xhigh")
    assert [t["model"] for r in recorder.requests for t in json.loads(r.content)] == [
        "openai:gpt-image@2",
        "openai:gpt-image@2",
        "openai:gpt-image@2.5-flare",
        "openai:gpt-image@2.5-flare",
    ]
    assert _shapes(recorder) == [[SETTINGS], [PROVIDER_SETTINGS], [SETTINGS], [PROVIDER_SETTINGS]]
    assert recorder.json(-1)[0]["providerSettings"] == {"openai": {"quality": "high"}}


def test_a_switch_back_is_learned_too(recorder_factory: Any, clock: Any) -> None:
    """Runware changes again: the remembered object is refused, the first one is taken once more."""
    old = recorder_factory(runware(takes={PROVIDER_SETTINGS}))
    imageshim.OpenAI(config=GPT2, http_client=old.client(), clock=clock).images.generate(**GEN)
    new = recorder_factory(runware(takes={SETTINGS}))
    client = imageshim.OpenAI(config=GPT2, http_client=new.client(), clock=clock)
    client.images.generate(**GEN)
    client.images.generate(**GEN)
    assert _shapes(new) == [[PROVIDER_SETTINGS], [SETTINGS], [SETTINGS]]


def test_a_batch_of_tasks_switches_together(recorder_factory: Any, clock: Any) -> None:
    recorder = recorder_factory(runware(takes={PROVIDER_SETTINGS}))
    config = {**GPT2, "models": [{"id": "gpt-image-2", "max_n": 2}]}
    client = imageshim.OpenAI(config=config, http_client=recorder.client(), clock=clock)
    with pytest.warns(imageshim.OptionMappedWarning):
        resp = client.images.generate(**GEN, n=4)
    assert [len(json.loads(r.content)) for r in recorder.requests] == [2, 2]
    assert _shapes(recorder) == [[SETTINGS], [PROVIDER_SETTINGS]]
    assert len(resp.data) == 4


def test_learning_from_many_threads_logs_once(
    recorder_factory: Any, clock: Any, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = recorder_factory(runware(takes={PROVIDER_SETTINGS}))
    client = imageshim.OpenAI(config=GPT2, http_client=recorder.client(), clock=clock)
    barrier = threading.Barrier(8)

    def call() -> None:
        barrier.wait()
        client.images.generate(**GEN)

    threads = [threading.Thread(target=call) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(_learned(caplog)) == 1
    client.images.generate(**GEN)
    assert _shapes(recorder)[-1] == [PROVIDER_SETTINGS]


# ----- what is never sent twice -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "reply",
    [
        # an invalid VALUE inside the object: not about the object
        lambda tasks: _refusal(tasks, "settings.quality", code="invalidParameter"),
        # an unknown parameter that is not the options object
        lambda tasks: _refusal(tasks, "ttl"),
        # the object named, but not as a validation error before anything ran
        lambda tasks: httpx.Response(
            500, json={"errors": [{"code": "unknownParameter", "parameter": "settings"}]}
        ),
        lambda tasks: httpx.Response(
            200, json={"data": [], "errors": [{"code": "unknownParameter", "parameter": "settings"}]}
        ),
        # not every error of the body is about the object
        lambda tasks: httpx.Response(
            400,
            json={
                "errors": [
                    {"code": "unknownParameter", "parameter": "settings"},
                    {"code": "invalidPositivePrompt", "parameter": "positivePrompt"},
                ]
            },
        ),
        # no parameter named: it may be about anything
        lambda tasks: httpx.Response(400, json={"errors": [{"code": "unknownParameter"}]}),
        # a body that is not Runware's
        lambda tasks: httpx.Response(400, content=b"<html>bad request</html>"),
    ],
    ids=["invalid value", "other parameter", "500", "200", "mixed errors", "no parameter", "html"],
)
def test_other_errors_go_to_the_core_and_nothing_is_sent_again(
    reply: Callable[[list[dict[str, Any]]], httpx.Response], recorder_factory: Any, clock: Any
) -> None:
    recorder = recorder_factory(lambda request: reply(json.loads(request.content)))
    client = imageshim.OpenAI(config=GPT2, http_client=recorder.client(), clock=clock)
    with pytest.raises(imageshim.APIError):
        client.images.generate(**GEN)
    assert len(recorder.requests) == 1
    assert _shapes(recorder) == [[SETTINGS]]


def test_both_objects_refused_is_the_second_refusal(recorder_factory: Any, clock: Any) -> None:
    recorder = recorder_factory(runware(takes=set()))
    client = imageshim.OpenAI(config=GPT2, http_client=recorder.client(), clock=clock)
    with pytest.raises(imageshim.BadRequestError) as info:
        client.images.generate(**GEN)
    assert info.value.param == "providerSettings"
    assert _shapes(recorder) == [[SETTINGS], [PROVIDER_SETTINGS]]  # once each, no loop
    client2 = imageshim.OpenAI(config=GPT2, http_client=recorder.client(), clock=clock)
    with pytest.raises(imageshim.BadRequestError):
        client2.images.generate(**GEN)
    assert _shapes(recorder)[2] == [SETTINGS]  # nothing was learned


def test_a_body_without_options_is_never_sent_twice(recorder_factory: Any, clock: Any) -> None:
    recorder = recorder_factory(lambda request: _refusal(json.loads(request.content), "settings"))
    client = imageshim.OpenAI(config=GPT2, http_client=recorder.client(), clock=clock)
    with pytest.raises(imageshim.BadRequestError):
        client.images.generate(model="gpt-image-2", prompt="a fox", size="1024x1024")
    assert len(recorder.requests) == 1


def test_dalle3_keeps_provider_settings_and_never_switches(recorder_factory: Any, clock: Any) -> None:
    recorder = recorder_factory(runware(takes={SETTINGS}))
    client = imageshim.OpenAI(config=DALLE3, http_client=recorder.client(), clock=clock)
    with pytest.warns(imageshim.ModelRetiredWarning), pytest.raises(imageshim.BadRequestError):
        client.images.generate(model="dall-e-3", prompt="a fox", size="1792x1024", quality="hd")
    assert _shapes(recorder) == [[PROVIDER_SETTINGS]]
    assert recorder.json()[0]["providerSettings"] == {"openai": {"quality": "hd"}}


def test_gpt_image_1_5_starts_with_provider_settings_and_may_switch(
    recorder_factory: Any, clock: Any
) -> None:
    recorder = recorder_factory(runware(takes={SETTINGS}))
    config = {**GPT2, "routes": {"*": ["runware:gpt-image-1.5"]}}
    client = imageshim.OpenAI(config=config, http_client=recorder.client(), clock=clock)
    with pytest.warns(imageshim.ModelDeprecationWarning):
        client.images.generate(model="gpt-image-1.5", prompt="a fox", size="1024x1024", quality="low")
    assert _shapes(recorder) == [[PROVIDER_SETTINGS], [SETTINGS]]
    assert recorder.json()[0]["settings"] == {"quality": "low"}


# ----- the detection itself ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "error", "shape", "expected"),
    [
        (400, {"code": "unknownParameter", "parameter": "settings"}, SETTINGS, True),
        (400, {"code": "unknownParameter", "parameter": "settings.quality"}, SETTINGS, True),
        (400, {"code": "unsupportedParameter", "parameter": "settings"}, SETTINGS, True),
        (400, {"code": "invalidParameter", "parameter": "settings"}, SETTINGS, True),
        (422, {"code": "unknownParameter", "parameter": ["settings"]}, SETTINGS, True),
        (400, {"code": "unknownParameter", "parameter": "providerSettings.openai"}, PROVIDER_SETTINGS, True),
        (400, {"code": "unknownProviderSettingsProvider"}, PROVIDER_SETTINGS, True),
        (400, {"code": "unknownProviderSettingsProvider"}, SETTINGS, False),
        (400, {"code": "invalidParameter", "parameter": "settings.quality"}, SETTINGS, False),
        (400, {"code": "unknownParameter", "parameter": "providerSettings"}, SETTINGS, False),
        (400, {"code": "unknownParameter", "parameter": "settingsX"}, SETTINGS, False),
        (400, {"code": "unknownParameter", "parameter": ["settings", "ttl"]}, SETTINGS, False),
        (400, {"code": "insufficientCredits", "parameter": "settings"}, SETTINGS, False),
        (402, {"code": "unknownParameter", "parameter": "settings"}, SETTINGS, False),
        (429, {"code": "unknownParameter", "parameter": "settings"}, SETTINGS, False),
    ],
)
def test_refused(status: int, error: dict[str, Any], shape: str, expected: bool) -> None:
    assert refused(status, Reply.model_validate({"errors": [error]}), shape) is expected


def test_not_refused_when_an_image_came_back() -> None:
    reply = Reply.model_validate(
        {
            "data": [{"imageURL": "https://im.runware.ai/x.jpg"}],
            "errors": [{"code": "unknownParameter", "parameter": "settings"}],
        }
    )
    assert not refused(400, reply, SETTINGS)


def test_memory_order_and_forget() -> None:
    url, air = "https://api.runware.ai/v1", "openai:gpt-image@2"
    assert tuple(MEMORY.order(url, air)) == (SETTINGS, PROVIDER_SETTINGS)
    MEMORY.learn(url, air, SETTINGS, PROVIDER_SETTINGS)
    assert tuple(MEMORY.order(url, air)) == (PROVIDER_SETTINGS, SETTINGS)
    assert tuple(MEMORY.order("http://127.0.0.1:9/v1", air)) == (SETTINGS, PROVIDER_SETTINGS)  # per URL
    assert tuple(MEMORY.order(url, "openai:2@3")) == (PROVIDER_SETTINGS,)
    MEMORY.forget()
    assert tuple(MEMORY.order(url, air)) == (SETTINGS, PROVIDER_SETTINGS)
