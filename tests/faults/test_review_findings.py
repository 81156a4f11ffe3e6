"""What a second review of the execution core and the edit forms found, each pinned by a test that failed
before its fix: a failed poll is not a failed task, images a short reply brought count once after the look-up,
one batch's bug keeps the other batches' images, images next to an error status are kept, an adapter's
resend list is honoured, and malformed forms are 400s, never 500s."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any, ClassVar

import httpx
import pytest

import imageshim
from imageshim import AdapterRegistry, AdapterResult, GeneratedImage, ImageAdapter, ImageCall, ModelSpec
from imageshim._frontends.engine import Engine
from imageshim._frontends.wire import WireHandler
from imageshim._plumbing import drive as _drive

KEY = "rw-review-key-0123456789abcdef"
RUNWARE = {
    "routes": {"*": ["runware:gpt-image-2"]},
    "providers": {"runware": {"api_key": KEY}},
    "retry": {"max_retries": 2, "initial_backoff": 0.0},
}
PNG = "iVBORw0KGgo="


@pytest.fixture(autouse=True)
def _no_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    async def asleep(_: float) -> None:
        return None

    monkeypatch.setattr(_drive, "sleep", lambda _: None)
    monkeypatch.setattr(_drive, "asleep", asleep)


def _tasks(request: httpx.Request) -> list[dict[str, Any]]:
    tasks: list[dict[str, Any]] = json.loads(request.content)
    return tasks


def _item(task: str, url: str) -> dict[str, Any]:
    return {"taskType": "imageInference", "taskUUID": task, "imageURL": url}


def test_a_failed_poll_naming_our_task_is_not_a_failed_task(recorder_factory: Any, clock: Any) -> None:
    first: list[str] = []
    polls = {"n": 0}

    def reply(request: httpx.Request) -> httpx.Response:
        tasks = _tasks(request)
        if tasks[0]["taskType"] == "imageInference":
            first.append(tasks[0]["taskUUID"])
            raise httpx.ReadTimeout("lost", request=request)
        polls["n"] += 1
        if polls["n"] == 1:  # the poll itself is rate limited: Runware names the task it was asked about
            error = {"code": "rateLimitExceeded", "message": "slow down", "taskUUID": first[0]}
            return httpx.Response(429, json={"errors": [error]})
        return httpx.Response(200, json={"data": [_item(first[0], "https://im/1.jpg")]})

    recorder = recorder_factory(reply)
    client = imageshim.OpenAI(config=RUNWARE, http_client=recorder.client(), clock=clock)
    resp = client.images.generate(
        model="gpt-image-2", prompt="a fox", size="1024x1024", response_format="url"
    )
    assert [d.url for d in resp.data] == ["https://im/1.jpg"]
    assert len(first) == 1  # generated once


def test_images_of_a_short_reply_count_once_after_the_look_up(recorder_factory: Any, clock: Any) -> None:
    def reply(request: httpx.Request) -> httpx.Response:
        (task,) = _tasks(request)
        uuid = task["taskUUID"]
        urls = [f"https://im/{i}.jpg" for i in range(4)]
        if task["taskType"] == "imageInference":
            return httpx.Response(200, json={"data": [_item(uuid, u) for u in urls[:2]]})
        return httpx.Response(200, json={"data": [_item(uuid, u) for u in urls]})

    recorder = recorder_factory(reply)
    client = imageshim.OpenAI(config=RUNWARE, http_client=recorder.client(), clock=clock)
    resp = client.images.generate(
        model="gpt-image-2", prompt="a fox", size="1024x1024", n=4, response_format="url"
    )
    assert sorted(d.url or "" for d in resp.data) == [f"https://im/{i}.jpg" for i in range(4)]
    assert sum(_tasks(r)[0]["taskType"] == "imageInference" for r in recorder.requests) == 1


def test_images_next_to_an_error_status_are_kept(recorder_factory: Any, clock: Any) -> None:
    def reply(request: httpx.Request) -> httpx.Response:
        (task,) = _tasks(request)
        return httpx.Response(503, json={"data": [_item(task["taskUUID"], "https://im/0.jpg")]})

    recorder = recorder_factory(reply)
    client = imageshim.OpenAI(config=RUNWARE, http_client=recorder.client(), clock=clock)
    resp = client.images.generate(
        model="gpt-image-2", prompt="a fox", size="1024x1024", response_format="url"
    )
    assert [d.url for d in resp.data] == ["https://im/0.jpg"]
    assert len(recorder.requests) == 1


class Flaky(ImageAdapter):
    """One image per call; the second call of a run raises a bug (not an APIError), or, with ``resend``,
    answers that its first call never ran."""

    name: ClassVar[str] = "flaky"
    mode: ClassVar[str] = "bug"
    seen: ClassVar[list[str]] = []

    def generate(self, calls: Sequence[ImageCall], spec: ModelSpec) -> AdapterResult:
        self.seen.append(calls[0].call_id)
        if self.mode == "bug" and len(self.seen) == 2:
            raise RuntimeError("a bug in a third-party adapter")
        if self.mode == "resend" and len(self.seen) == 1:
            return AdapterResult(images=[], resend=list(calls))
        return AdapterResult(images=[GeneratedImage(b64_json=PNG)])

    async def agenerate(self, calls: Sequence[ImageCall], spec: ModelSpec) -> AdapterResult:
        return self.generate(calls, spec)


def _flaky(mode: str, asynchronous: bool, clock: Any) -> Any:
    Flaky.mode, Flaky.seen = mode, []
    registry = AdapterRegistry(entry_points=False)
    registry.register("flaky", Flaky)
    config = {
        "routes": {"*": ["flaky:dall-e-3"]},
        "lifecycle": {"on_retired": "allow"},
        "retry": {"concurrency": 2},
    }
    cls = imageshim.AsyncOpenAI if asynchronous else imageshim.OpenAI
    return cls(config=config, registry=registry, clock=clock)


def _generate(client: Any, asynchronous: bool, **kwargs: Any) -> Any:
    call = client.images.generate(**kwargs)
    return asyncio.run(call) if asynchronous else call


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_one_batchs_bug_keeps_the_other_batches_images(asynchronous: bool, clock: Any) -> None:
    with pytest.warns(imageshim.ImageShimWarning) as caught:
        resp = _generate(
            _flaky("bug", asynchronous, clock), asynchronous, model="dall-e-3", prompt="a fox", n=3
        )
    assert len(resp.data) == 2
    (failure,) = resp.imageshim.failures
    assert failure["error"] == "ResultUnknownError"
    assert "RuntimeError" in failure["message"]
    assert any("2 of 3 images arrived" in str(w.message) for w in caught)


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_calls_an_adapter_says_never_ran_are_sent_again(asynchronous: bool, clock: Any) -> None:
    with pytest.warns(imageshim.ImageShimWarning):
        resp = _generate(
            _flaky("resend", asynchronous, clock), asynchronous, model="dall-e-3", prompt="a fox"
        )
    assert len(resp.data) == 1
    assert len(Flaky.seen) == 2
    assert Flaky.seen[0] != Flaky.seen[1]  # the re-send has a fresh id


# ----- malformed forms are 400s -----------------------------------------------------------------------------
def _form(body: bytes, content_type: str = "multipart/form-data; boundary=B") -> Any:
    handler = WireHandler(Engine({"routes": {"*": ["mock:gpt-image-2"]}}))
    return handler.handle("POST", "/v1/images/edits", body, content_type=content_type)


@pytest.mark.parametrize(
    ("body", "content_type", "param"),
    [
        (b'--B\r\nContent-Disposition: form-data; name="prompt"\r\n\r\n\xff\xfe\r\n--B--', None, "prompt"),
        (b"--B--", "multipart/form-data; boundary=\u20ac", None),
        (
            b'--B\r\nContent-Disposition: form-data; name="prompt"\nContent-Disposition: form-data; name="model"'
            b"\r\n\r\nx\r\n--B--",
            None,
            None,
        ),
        (b'--B\r\nContent-Disposition: form-data; name="svg"\r\n\r\n3\r\n--B--', None, "svg"),
        (
            b'--B\r\nContent-Disposition: form-data; name="n"\r\n\r\n1\r\n'
            b'--B\r\nContent-Disposition: form-data; name="n"\r\n\r\n2\r\n--B--',
            None,
            "n",
        ),
    ],
    ids=[
        "not utf-8",
        "boundary not latin-1",
        "bare line feed in a header",
        "svg not an object",
        "field twice",
    ],
)
def test_malformed_forms_are_a_400(body: bytes, content_type: str | None, param: str | None) -> None:
    reply = _form(body, content_type or "multipart/form-data; boundary=B")
    assert reply.status == 400, reply.body
    assert reply.json()["error"]["param"] == param


@pytest.mark.parametrize("status", [500, 503])
def test_a_5xx_naming_one_task_does_not_resend_a_task_still_running(
    status: int, recorder_factory: Any, clock: Any
) -> None:
    """Two tasks; a 5xx says task A failed and task B is processing: B may be billed, so it is looked up
    (and comes back), never sent again with A."""
    bodies: list[list[str]] = []

    def reply(request: httpx.Request) -> httpx.Response:
        tasks = _tasks(request)
        ids = [t["taskUUID"] for t in tasks]
        if tasks[0]["taskType"] == "getResponse":
            return httpx.Response(200, json={"data": [_item(i, f"https://im/{i}.jpg") for i in ids]})
        bodies.append(ids)
        error = {"taskUUID": ids[0], "code": "serviceUnavailable", "message": "busy"}
        return httpx.Response(
            status, json={"data": [{"taskUUID": ids[1], "status": "processing"}], "errors": [error]}
        )

    config = {**RUNWARE, "routes": {"*": ["runware:dall-e-3"]}, "lifecycle": {"on_retired": "allow"}}
    client = imageshim.OpenAI(config=config, http_client=recorder_factory(reply).client(), clock=clock)
    with pytest.warns(imageshim.ImageShimWarning):
        resp = client.images.generate(model="dall-e-3", prompt="a fox", n=2, response_format="url")
    assert all(bodies[0][1] not in later for later in bodies[1:])  # B never sent again
    assert f"https://im/{bodies[0][1]}.jpg" in [d.url for d in resp.data]


def test_a_200_with_only_another_tasks_error_looks_ours_up(recorder_factory: Any, clock: Any) -> None:
    generates: list[str] = []

    def reply(request: httpx.Request) -> httpx.Response:
        (task,) = _tasks(request)
        if task["taskType"] == "getResponse":
            return httpx.Response(200, json={"data": [_item(task["taskUUID"], "https://im/ok.jpg")]})
        generates.append(task["taskUUID"])
        other = {"taskUUID": "someone-elses", "code": "serviceUnavailable", "message": "busy"}
        return httpx.Response(200, json={"data": [], "errors": [other]})

    client = imageshim.OpenAI(config=RUNWARE, http_client=recorder_factory(reply).client(), clock=clock)
    resp = client.images.generate(
        model="gpt-image-2", prompt="a fox", size="1024x1024", response_format="url"
    )
    assert [d.url for d in resp.data] == ["https://im/ok.jpg"]
    assert len(generates) == 1
