"""What an outside audit of the money rules found (2026-11-27), each pinned by a test that failed before
its fix: a paid image kept when a reply also speaks of another task, every unknown task named, images a
poll brings kept once, an error body with a success status not re-sent, key pieces redacted, base64
normalised, a provider URL carrying a key refused, duplicate items counted once."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

import imageshim
from imageshim._core.errors import redact, register_secret
from imageshim._plumbing import drive as _drive

KEY = "rw-secret-AUDIT0123456789abcdefXYZ"
OPENAI_KEY = "sk-audit-openai-0123456789abcdefghij"
PNG = "iVBORw0KGgo="
RUNWARE = {
    "routes": {"*": ["runware:gpt-image-2"]},
    "providers": {"runware": {"api_key": KEY}},
    "retry": {"max_retries": 2, "initial_backoff": 0.0},
}
Handler = Callable[[httpx.Request], httpx.Response]


@pytest.fixture(autouse=True)
def _no_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    async def asleep(_: float) -> None:
        return None

    monkeypatch.setattr(_drive, "sleep", lambda _: None)
    monkeypatch.setattr(_drive, "asleep", asleep)


def _item(task: str, url: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "taskType": "imageInference",
        "taskUUID": task,
        "imageURL": url or f"https://im.runware.ai/{task}.jpg",
        **extra,
    }


def _tasks(request: httpx.Request) -> list[dict[str, Any]]:
    tasks: list[dict[str, Any]] = json.loads(request.content)
    return tasks


def _generates(recorder: Any) -> int:
    return sum(1 for r in recorder.requests if _tasks(r)[0]["taskType"] == "imageInference")


@pytest.mark.parametrize("code", ["serviceUnavailable", "timeoutProvider", "invalidPositivePrompt"])
def test_an_error_about_another_task_does_not_cost_our_image(
    code: str, recorder_factory: Any, clock: Any
) -> None:
    def reply(request: httpx.Request) -> httpx.Response:
        (task,) = _tasks(request)
        other = {"taskUUID": "someone-elses-task", "code": code, "message": "not about you"}
        return httpx.Response(200, json={"data": [_item(task["taskUUID"])], "errors": [other]})

    recorder = recorder_factory(reply)
    client = imageshim.OpenAI(config=RUNWARE, http_client=recorder.client(), clock=clock)
    resp = client.images.generate(
        model="gpt-image-2", prompt="a fox", size="1024x1024", response_format="url"
    )
    assert len(resp.data) == 1
    assert _generates(recorder) == 1


def test_the_same_item_listed_twice_is_one_image(recorder_factory: Any, clock: Any) -> None:
    def reply(request: httpx.Request) -> httpx.Response:
        (task,) = _tasks(request)
        item = _item(task["taskUUID"], imageUUID="img-1")
        return httpx.Response(200, json={"data": [item, item, item]})

    client = imageshim.OpenAI(config=RUNWARE, http_client=recorder_factory(reply).client(), clock=clock)
    assert (
        len(
            client.images.generate(
                model="gpt-image-2", prompt="a fox", size="1024x1024", response_format="url"
            ).data
        )
        == 1
    )


def test_images_a_poll_brings_are_kept_once(recorder_factory: Any, clock: Any) -> None:
    """A lost reply for 2 images; poll 1: the first image and "processing"; poll 2: both images (Runware
    repeating the first, UNCERTAIN whether it does). Two images, not one and not three."""
    seen: dict[str, Any] = {"first": None, "polls": 0}

    def reply(request: httpx.Request) -> httpx.Response:
        tasks = _tasks(request)
        if tasks[0]["taskType"] == "imageInference":
            seen["first"] = tasks[0]["taskUUID"]
            raise httpx.ReadTimeout("lost", request=request)
        seen["polls"] += 1
        task = seen["first"]
        if seen["polls"] == 1:
            return httpx.Response(
                200,
                json={"data": [_item(task, "https://im/1.jpg"), {"taskUUID": task, "status": "processing"}]},
            )
        return httpx.Response(
            200, json={"data": [_item(task, "https://im/1.jpg"), _item(task, "https://im/2.jpg")]}
        )

    recorder = recorder_factory(reply)
    client = imageshim.OpenAI(config=RUNWARE, http_client=recorder.client(), clock=clock)
    resp = client.images.generate(
        model="gpt-image-2", prompt="a fox", size="1024x1024", response_format="url", n=2
    )
    assert sorted(d.url or "" for d in resp.data) == ["https://im/1.jpg", "https://im/2.jpg"]
    assert _generates(recorder) == 1


def test_images_next_to_a_task_error_in_a_poll_are_kept(recorder_factory: Any, clock: Any) -> None:
    first: list[str] = []

    def reply(request: httpx.Request) -> httpx.Response:
        tasks = _tasks(request)
        if tasks[0]["taskType"] == "imageInference":
            first.append(tasks[0]["taskUUID"])
            raise httpx.ReadTimeout("lost", request=request)
        error = {"taskUUID": first[0], "code": "providerError", "message": "second image failed"}
        return httpx.Response(200, json={"data": [_item(first[0])], "errors": [error]})

    client = imageshim.OpenAI(config=RUNWARE, http_client=recorder_factory(reply).client(), clock=clock)
    with pytest.warns(imageshim.OptionMappedWarning, match="1 of 2 images arrived"):
        resp = client.images.generate(
            model="gpt-image-2", prompt="a fox", size="1024x1024", response_format="url", n=2
        )
    assert [d.url for d in resp.data] == [f"https://im.runware.ai/{first[0]}.jpg"]


def test_every_unknown_task_of_a_split_call_is_named(recorder_factory: Any, clock: Any) -> None:
    def reply(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("lost", request=request)

    config = {
        "routes": {"*": ["openai:gpt-image-2"]},
        "providers": {"openai": {"api_key": OPENAI_KEY}},
        "models": [{"id": "gpt-image-2", "max_n": 1}],
        "retry": {"concurrency": 1},
    }
    recorder = recorder_factory(reply)
    client = imageshim.OpenAI(config=config, http_client=recorder.client(), clock=clock)
    with pytest.warns(imageshim.OptionMappedWarning), pytest.raises(imageshim.ResultUnknownError) as caught:
        client.images.generate(model="gpt-image-2", prompt="x", n=3)
    assert len(recorder.requests) == 3
    assert len(set(caught.value.task_ids)) == 3


def test_an_unknown_task_is_not_hidden_behind_a_400(recorder_factory: Any, clock: Any) -> None:
    replies = [
        httpx.Response(400, json={"error": {"message": "bad", "type": "invalid_request_error", "code": "x"}}),
        httpx.Response(400, json={"error": {"message": "bad", "type": "invalid_request_error", "code": "x"}}),
    ]

    def reply(request: httpx.Request) -> httpx.Response:
        if replies:
            return replies.pop(0)
        raise httpx.ReadTimeout("lost", request=request)

    config = {
        "routes": {"*": ["openai:gpt-image-2"]},
        "providers": {"openai": {"api_key": OPENAI_KEY}},
        "models": [{"id": "gpt-image-2", "max_n": 1}],
        "retry": {"concurrency": 1},
    }
    client = imageshim.OpenAI(config=config, http_client=recorder_factory(reply).client(), clock=clock)
    with pytest.warns(imageshim.OptionMappedWarning), pytest.raises(imageshim.ResultUnknownError) as caught:
        client.images.generate(model="gpt-image-2", prompt="x", n=3)
    assert len(caught.value.task_ids) == 1


def test_an_error_body_with_a_success_status_is_not_sent_again(recorder_factory: Any, clock: Any) -> None:
    recorder = recorder_factory(httpx.Response(200, json={"error": {"message": "late failure"}}))
    config = {"routes": {"*": ["openai:gpt-image-2"]}, "providers": {"openai": {"api_key": OPENAI_KEY}}}
    client = imageshim.OpenAI(config=config, http_client=recorder.client(), clock=clock)
    with pytest.raises(imageshim.ResultUnknownError, match="late failure"):
        client.images.generate(model="gpt-image-2", prompt="x")
    assert len(recorder.requests) == 1


@pytest.mark.parametrize(
    "shown",
    [
        "Invalid API key: rw-secret-AUDIT0123456****fXYZ",  # a prefix
        "key RW-SECRET-AUDIT0123456789ABCDEFXYZ refused",  # another case
        "rw-secret-AU DIT0123456789abcdefXYZ",  # cut in two by a line break an excerpt folded
    ],
)
def test_pieces_of_a_key_are_redacted(shown: str) -> None:
    register_secret(KEY)
    cleaned = redact(shown).lower()
    assert not any(KEY[i : i + 8].lower() in cleaned for i in range(len(KEY) - 7)), cleaned


def test_a_provider_url_carrying_the_key_is_not_passed_on(recorder_factory: Any, clock: Any) -> None:
    def reply(request: httpx.Request) -> httpx.Response:
        (task,) = _tasks(request)
        return httpx.Response(
            200, json={"data": [_item(task["taskUUID"], f"https://im.example/x.jpg?apiKey={KEY}")]}
        )

    client = imageshim.OpenAI(config=RUNWARE, http_client=recorder_factory(reply).client(), clock=clock)
    with pytest.raises(imageshim.InternalServerError, match="carries a credential") as caught:
        client.images.generate(model="gpt-image-2", prompt="a fox", size="1024x1024", response_format="url")
    assert KEY not in str(caught.value)


def test_a_url_where_base64_was_asked_is_said(recorder_factory: Any, clock: Any) -> None:
    def reply(request: httpx.Request) -> httpx.Response:
        (task,) = _tasks(request)
        return httpx.Response(200, json={"data": [_item(task["taskUUID"])]})

    client = imageshim.OpenAI(config=RUNWARE, http_client=recorder_factory(reply).client(), clock=clock)
    with pytest.warns(imageshim.OptionMappedWarning, match="URL where base64 was asked"):
        resp = client.images.generate(
            model="gpt-image-2", prompt="a fox", size="1024x1024", response_format="b64_json"
        )
    assert resp.data[0].b64_json is None
    assert resp.data[0].url is not None


@pytest.mark.parametrize(
    "wrapped",
    [
        PNG[:4] + " " + PNG[4:],
        PNG[:4] + "\t" + PNG[4:],
        ("iVBORw0KGgo" + "A" * (1 << 20)) + "\n" + "AAAA",  # a break just past the first MiB
    ],
    ids=["space", "tab", "newline after a MiB"],
)
def test_wrapped_base64_is_passed_on_unwrapped(wrapped: str, recorder_factory: Any, clock: Any) -> None:
    if len(wrapped) > 100:  # make the long one valid base64 of a PNG: length a multiple of 4
        body = wrapped.replace("\n", "")
        wrapped = wrapped + "A" * ((4 - len(body) % 4) % 4)
    reply = httpx.Response(200, json={"created": 1, "data": [{"b64_json": wrapped}]})
    config = {"routes": {"*": ["openai:gpt-image-2"]}, "providers": {"openai": {"api_key": OPENAI_KEY}}}
    client = imageshim.OpenAI(config=config, http_client=recorder_factory(reply).client(), clock=clock)
    b64 = client.images.generate(model="gpt-image-2", prompt="x").data[0].b64_json
    assert b64 is not None
    assert not any(c in b64 for c in " \t\r\n")
