"""Runware adapter: GPT Image 2 over Runware, batching, every error shape in research/runware.md, bad replies."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

import imageshim

from ._runware_fakes import GPT2, KEY, ok_reply


@pytest.fixture(autouse=True)
def _no_sleep(no_sleep: None) -> None:
    """A recovery poll never really sleeps here."""


def _client(
    handler: Callable[[httpx.Request], httpx.Response] | httpx.Response,
    recorder_factory: Any,
    clock: Any,
    config: dict[str, Any] | None = None,
) -> tuple[imageshim.OpenAI, Any]:
    recorder = recorder_factory(handler)
    return imageshim.OpenAI(config=config or GPT2, http_client=recorder.client(), clock=clock), recorder


def test_dalle3_request_on_gpt_image_2_returns_real_urls(recorder_factory: Any, clock: Any) -> None:
    client, recorder = _client(ok_reply, recorder_factory, clock)
    with pytest.warns(imageshim.ImageShimWarning) as caught:
        resp = client.images.generate(
            model="dall-e-3", prompt="a fox", size="1792x1024", quality="hd", style="vivid", n=3, user="u-1"
        )
    (task,) = recorder.json()
    assert {**task, "taskUUID": "*"} == {
        "taskType": "imageInference",
        "taskUUID": "*",
        "model": "openai:gpt-image@2",
        "positivePrompt": "a fox",
        "width": 1792,
        "height": 1024,
        "numberResults": 3,
        "includeCost": True,
        "settings": {"quality": "high"},  # Runware's 2026-10 schema for GPT Image 2
    }
    assert [d.url for d in resp.data] == [
        d.url for d in resp.data if d.url and d.url.startswith("https://im.runware.ai/")
    ]
    assert len(resp.data) == 3
    assert resp.imageshim.cost_usd == pytest.approx(0.15)
    kinds = sorted((type(w.message).__name__, w.message.record.setting) for w in caught)  # type: ignore[union-attr]
    assert kinds == [
        ("ModelRetiredWarning", "model"),
        ("OptionDroppedWarning", "style"),
        ("OptionDroppedWarning", "user"),
        ("OptionMappedWarning", "quality"),
    ]


def test_b64_output_and_formats(recorder_factory: Any, clock: Any) -> None:
    client, recorder = _client(ok_reply, recorder_factory, clock)
    resp = client.images.generate(
        model="gpt-image-2",
        prompt="a cat",
        size="1536x1024",
        response_format="b64_json",
        output_format="webp",
        moderation="low",
        quality="medium",
    )
    (task,) = recorder.json()
    assert task["outputType"] == "base64Data"
    assert task["outputFormat"] == "WEBP"
    assert task["settings"] == {"quality": "medium", "moderation": "low"}
    assert "providerSettings" not in task
    assert resp.data[0].b64_json == "iVBORw0KGgo="
    assert resp.output_format == "webp"


def test_size_rule_on_runware(recorder_factory: Any, clock: Any) -> None:
    client, recorder = _client(ok_reply, recorder_factory, clock)
    with pytest.warns(imageshim.OptionMappedWarning, match="1920x1080'? is not accepted"):
        client.images.generate(model="gpt-image-2", prompt="a cat", size="1920x1080")
    (task,) = recorder.json()
    assert task["width"] % 16 == 0
    assert task["height"] % 16 == 0
    assert task["width"] > task["height"]
    with pytest.warns(imageshim.OptionMappedWarning, match="size 'auto'"):
        client.images.generate(model="gpt-image-2", prompt="a cat", size="auto")
    assert (recorder.json()[0]["width"], recorder.json()[0]["height"]) == (1024, 1024)


def test_n_split_into_tasks_in_one_body(recorder_factory: Any, clock: Any) -> None:
    config = {**GPT2, "routes": {"*": ["runware:dall-e-3"]}, "lifecycle": {"on_retired": "allow"}}
    client, recorder = _client(ok_reply, recorder_factory, clock, config)
    with pytest.warns(imageshim.ImageShimWarning):
        resp = client.images.generate(model="dall-e-3", prompt="a cat", n=4, size="1024x1024", quality="hd")
    assert len(recorder.requests) == 1
    tasks = recorder.json()
    assert len(tasks) == 4
    assert len({t["taskUUID"] for t in tasks}) == 4
    assert all("numberResults" not in t for t in tasks)
    assert len(resp.data) == 4


def _errors(status: int, *errors: dict[str, Any], data: list[Any] | None = None) -> httpx.Response:
    body: dict[str, Any] = {"errors": list(errors)}
    if data is not None:
        body["data"] = data
    return httpx.Response(status, json=body)


def _for_task(status: int, **error: Any) -> Callable[[httpx.Request], httpx.Response]:
    def reply(request: httpx.Request) -> httpx.Response:
        task = json.loads(request.content)[0]
        return _errors(status, {"taskUUID": task["taskUUID"], "taskType": "imageInference", **error})

    return reply


CASES = [
    (
        _errors(
            401,
            {
                "code": "invalidApiKey",
                "message": f"Invalid API key {KEY}",
                "parameter": "apiKey",
                "taskType": "authentication",
            },
        ),
        imageshim.AuthenticationError,
        401,
        "invalidApiKey",
        False,
    ),
    (
        _errors(200, {"code": "invalidApiKey", "message": "Invalid API key.", "taskType": "authentication"}),
        imageshim.AuthenticationError,
        401,
        "invalidApiKey",
        False,
    ),
    (
        _errors(402, {"code": "insufficientCredits", "message": "Insufficient credits"}),
        imageshim.PermissionDeniedError,
        402,
        "insufficientCredits",
        False,
    ),
    (
        _errors(400, {"code": "insufficientCredits", "message": "Insufficient credits"}),
        imageshim.PermissionDeniedError,
        402,
        "insufficientCredits",
        False,
    ),
    (
        _errors(200, {"code": "insufficientCredits", "message": "Insufficient credits"}, data=[]),
        imageshim.PermissionDeniedError,
        402,
        "insufficientCredits",
        False,
    ),
    (
        _for_task(400, code="contentPolicyViolation", message="blocked by safety"),
        imageshim.BadRequestError,
        400,
        "contentPolicyViolation",
        False,
    ),
    (
        _for_task(400, code="invalidPositivePrompt", message="bad prompt", parameter="positivePrompt"),
        imageshim.BadRequestError,
        400,
        "invalidPositivePrompt",
        False,
    ),
    (
        _for_task(400, code="unsupportedDimensions", message="bad", parameter=["width", "height"]),
        imageshim.BadRequestError,
        400,
        "unsupportedDimensions",
        False,
    ),
    (
        _errors(429, {"code": "rateLimitExceeded", "message": "queue full"}),
        imageshim.RateLimitError,
        429,
        "rateLimitExceeded",
        True,
    ),
    (
        _errors(503, {"code": "serviceUnavailable", "message": "capacity"}),
        imageshim.InternalServerError,
        503,
        "serviceUnavailable",
        True,
    ),
    (
        _errors(504, {"code": "timeoutProvider", "message": "queue wait exceeded"}),
        imageshim.InternalServerError,
        504,
        "timeoutProvider",
        True,
    ),
    (
        _for_task(200, code="providerError", message="upstream failed"),
        imageshim.InternalServerError,
        502,
        "providerError",
        True,
    ),
    (
        httpx.Response(403, json={"error": {"code": "forbidden", "message": "key lacks permission"}}),
        imageshim.PermissionDeniedError,
        403,
        "forbidden",
        False,
    ),
]


@pytest.mark.parametrize(("reply", "cls", "status", "code", "retryable"), CASES)
def test_error_shapes(
    reply: Any, cls: type, status: int, code: str, retryable: bool, recorder_factory: Any, clock: Any
) -> None:
    client, _ = _client(reply, recorder_factory, clock)
    with pytest.raises(cls) as info:
        client.images.generate(model="gpt-image-2", prompt="a cat")
    error = info.value
    assert type(error) is cls
    assert isinstance(error, imageshim.APIError)
    assert (error.status_code, error.code, error.provider, error.retryable) == (
        status,
        code,
        "runware",
        retryable,
    )
    assert KEY not in str(error)
    assert KEY not in repr(error)


def test_parameter_list_is_joined(recorder_factory: Any, clock: Any) -> None:
    client, _ = _client(
        _for_task(400, code="unsupportedDimensions", message="bad", parameter=["width", "height"]),
        recorder_factory,
        clock,
    )
    with pytest.raises(imageshim.BadRequestError) as info:
        client.images.generate(model="gpt-image-2", prompt="a cat")
    assert info.value.param == "width, height"


def test_model_runware_no_longer_serves(recorder_factory: Any, clock: Any) -> None:
    """unknownModel: the adapter reports the model unavailable (a NotFoundError); deciding that the model
    is retired (ModelRetiredError) is the core's job, from its catalog and clock, never the adapter's."""
    config = {**GPT2, "routes": {"*": ["runware:dall-e-3"]}, "lifecycle": {"on_retired": "allow"}}
    client, _ = _client(
        _for_task(400, code="unknownModel", message="model not found", parameter="model"),
        recorder_factory,
        clock,
        config,
    )
    with pytest.warns(imageshim.ModelRetiredWarning), pytest.raises(imageshim.APIError) as info:
        client.images.generate(model="dall-e-3", prompt="a cat")
    assert info.value.model_unavailable is True
    assert isinstance(info.value, (imageshim.NotFoundError, imageshim.ModelRetiredError))


@pytest.mark.parametrize(
    ("reply", "fragment"),
    [
        (httpx.Response(200, content=b"not json at all"), "not JSON"),
        (httpx.Response(200, json=["a", "list"]), "not a JSON object"),
        (httpx.Response(200, json={"data": "oops"}), "unexpected shape"),
        (httpx.Response(200, json={"data": []}), "no word of task"),  # looked up, then unknown
        (httpx.Response(200, json={}), "no word of task"),
        (httpx.Response(500, content=b"<html>oops</html>"), "not JSON"),
    ],
)
def test_malformed_replies(reply: httpx.Response, fragment: str, recorder_factory: Any, clock: Any) -> None:
    client, _ = _client(reply, recorder_factory, clock)
    with pytest.raises(imageshim.APIError, match=fragment):
        client.images.generate(model="gpt-image-2", prompt="a cat")


def test_item_without_image_field(recorder_factory: Any, clock: Any) -> None:
    def reply(request: httpx.Request) -> httpx.Response:
        task = json.loads(request.content)[0]
        return httpx.Response(200, json={"data": [{"taskUUID": task["taskUUID"], "imageUUID": "x"}]})

    client, _ = _client(reply, recorder_factory, clock)
    with pytest.raises(imageshim.ResultUnknownError, match="no word of task"):
        client.images.generate(model="gpt-image-2", prompt="a cat")


def test_partial_batch_returns_what_succeeded(recorder_factory: Any, clock: Any) -> None:
    def reply(request: httpx.Request) -> httpx.Response:
        first, second, third = json.loads(request.content)
        data = [
            {"taskUUID": t["taskUUID"], "imageURL": f"https://im.runware.ai/{i}.jpg"}
            | ({"cost": 0.04} if t.get("includeCost") else {})
            for i, t in enumerate((first, third))
        ]
        errors = [{"taskUUID": second["taskUUID"], "code": "contentPolicyViolation", "message": "blocked"}]
        return httpx.Response(200, json={"data": data, "errors": errors})

    config = {**GPT2, "routes": {"*": ["runware:dall-e-3"]}, "lifecycle": {"on_retired": "allow"}}
    client, recorder = _client(reply, recorder_factory, clock, config)
    with pytest.warns(imageshim.ImageShimWarning) as caught:
        resp = client.images.generate(model="dall-e-3", prompt="a cat", n=3)
    assert len(recorder.requests) == 1  # a moderation refusal is not retried
    assert any("2 of 3 images arrived" in str(w.message) for w in caught)
    assert [d.url for d in resp.data] == ["https://im.runware.ai/0.jpg", "https://im.runware.ai/1.jpg"]
    assert resp.imageshim.failures == [
        {
            "error": "BadRequestError",
            "message": "runware: blocked",
            "status_code": 400,
            "code": "contentPolicyViolation",
            "provider": "runware",
        }
    ]
    # the two images that arrived, at the cost Runware reported for them (the refused task costs nothing)
    assert resp.imageshim.cost_usd == pytest.approx(0.08)
    assert resp.imageshim.cost_source == "provider"


def test_results_are_matched_by_task_uuid_not_position(recorder_factory: Any, clock: Any) -> None:
    def reply(request: httpx.Request) -> httpx.Response:
        tasks = json.loads(request.content)
        data = [
            {"taskUUID": t["taskUUID"], "imageURL": f"https://im.runware.ai/{t['taskUUID']}.jpg"}
            for t in reversed(tasks)
        ]
        return httpx.Response(200, json={"data": data})

    config = {**GPT2, "routes": {"*": ["runware:dall-e-3"]}, "lifecycle": {"on_retired": "allow"}}
    client, recorder = _client(reply, recorder_factory, clock, config)
    with pytest.warns(imageshim.ImageShimWarning):
        resp = client.images.generate(model="dall-e-3", prompt="a cat", n=2)
    ids = [t["taskUUID"] for t in recorder.json()]
    assert [d.url for d in resp.data] == [f"https://im.runware.ai/{i}.jpg" for i in ids]


@pytest.mark.anyio
async def test_async_path(recorder_factory: Any, clock: Any) -> None:
    recorder = recorder_factory(ok_reply)
    client = imageshim.AsyncOpenAI(config=GPT2, http_client=recorder.async_client(), clock=clock)
    resp = await client.images.generate(model="gpt-image-2", prompt="a cat", n=2)
    assert len(resp.data) == 2
    assert recorder.requests[0].headers["authorization"] == f"Bearer {KEY}"


def test_unknown_model_for_runware_is_a_clear_error(recorder_factory: Any, clock: Any) -> None:
    config = {
        **GPT2,
        "routes": {"*": ["runware:my-model"]},
        "models": [{"id": "my-model", "like": "gpt-image-2"}],
    }
    client, recorder = _client(ok_reply, recorder_factory, clock, config)
    with pytest.raises(imageshim.NotFoundError, match="no Runware AIR id"):
        client.images.generate(model="my-model", prompt="a cat")
    assert recorder.requests == []


def test_a_retry_sends_fresh_task_uuids(recorder_factory: Any, clock: Any) -> None:
    busy = _errors(503, {"code": "serviceUnavailable", "message": "capacity"})
    config = {**GPT2, "retry": {"max_retries": 1, "initial_backoff": 0.0}}
    client, recorder = _client(busy, recorder_factory, clock, config)
    recorder.responses = [busy, ok_reply]
    resp = client.images.generate(model="gpt-image-2", prompt="a cat")
    first, second = (json.loads(r.content)[0]["taskUUID"] for r in recorder.requests)
    assert first != second  # Runware asks for a fresh UUID per task
    assert [a.outcome for a in resp.imageshim.attempts] == ["InternalServerError", "ok"]
