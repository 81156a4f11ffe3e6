"""Recovery after a lost Runware reply (getResponse): finished images are kept and never paid for twice,
only tasks that surely did not run may be sent again, and polling stays inside its time budget.

Time is fake here: the adapter's sleep and clock are replaced, so no test really waits."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

import imageshim
from imageshim import AdapterResult, ImageCall, ModelSpec, ProviderSettings, builtin_catalog
from imageshim_adapters import _http
from imageshim_adapters import runware as runware_module
from imageshim_adapters.runware import RunwareAdapter

KEY = "rw-secret-key-abcdefghijkl"
DALLE3 = {
    "routes": {"*": ["runware:dall-e-3"]},
    "providers": {"runware": {"api_key": KEY}},
    "lifecycle": {"on_retired": "allow"},
    "retry": {"max_retries": 2, "initial_backoff": 0.0},
}
Handler = Callable[[httpx.Request], httpx.Response]


class FakeTime:
    """A clock that moves only when the adapter sleeps or a request "takes" time."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.slept.append(seconds)
        self.now += seconds

    async def asleep(self, seconds: float) -> None:
        self.sleep(seconds)


@pytest.fixture
def fake_time(monkeypatch: pytest.MonkeyPatch) -> FakeTime:
    fake = FakeTime()
    monkeypatch.setattr(runware_module, "_monotonic", fake.monotonic)
    monkeypatch.setattr(runware_module, "_sleep", fake.sleep)
    monkeypatch.setattr(runware_module, "_asleep", fake.asleep)
    return fake


def _item(task_uuid: str, status: str = "success") -> dict[str, Any]:
    item: dict[str, Any] = {"taskType": "imageInference", "taskUUID": task_uuid, "status": status}
    if status == "success":
        item |= {"imageURL": f"https://im.runware.ai/image/{task_uuid}.jpg", "cost": 0.04}
    return item


def _not_found(task_uuid: str) -> dict[str, Any]:
    return {"code": "taskFailedOrNotFound", "message": "task not found", "taskUUID": task_uuid}


def _kind(request: httpx.Request) -> str:
    return str(json.loads(request.content)[0]["taskType"])


# ----- through the client ---------------------------------------------------------------------------------
def _lost_then(poll: Callable[[list[str]], dict[str, Any]]) -> tuple[Handler, dict[str, list[Any]]]:
    """The first imageInference body's reply is lost (read timeout); getResponse answers with ``poll``
    (given the ids of that first body); any later imageInference body succeeds."""
    seen: dict[str, list[Any]] = {"bodies": [], "first": []}

    def handler(request: httpx.Request) -> httpx.Response:
        tasks = json.loads(request.content)
        if _kind(request) == "getResponse":
            return httpx.Response(200, json=poll(seen["first"]))
        seen["bodies"].append(tasks)
        if len(seen["bodies"]) == 1:
            seen["first"] = [t["taskUUID"] for t in tasks]
            raise httpx.ReadTimeout("the reply was lost", request=request)
        return httpx.Response(200, json={"data": [_item(t["taskUUID"]) for t in tasks]})

    return handler, seen


def _three_of_four(ids: list[str]) -> dict[str, Any]:
    return {"data": [_item(i) for i in ids[:3]], "errors": [_not_found(ids[3])]}


def _check_three_of_four(resp: imageshim.ImagesResponse, seen: dict[str, list[Any]]) -> None:
    first, *later = seen["bodies"]
    assert len(first) == 4
    resent = [t for body in later for t in body]
    # No finished task is ever generated again: only the one Runware does not know goes again, once.
    assert len(resent) == 1
    assert {t["taskUUID"] for t in resent}.isdisjoint(seen["first"])
    assert len(resp.data) == 4
    assert [d.url for d in resp.data[:3]] == [
        f"https://im.runware.ai/image/{i}.jpg" for i in seen["first"][:3]
    ]
    assert resp.imageshim.failures == []
    assert any(a.recovered for a in resp.imageshim.attempts)


def test_lost_reply_keeps_finished_tasks(recorder_factory: Any, clock: Any, fake_time: FakeTime) -> None:
    handler, seen = _lost_then(_three_of_four)
    recorder = recorder_factory(handler)
    client = imageshim.OpenAI(config=DALLE3, http_client=recorder.client(), clock=clock)
    with pytest.warns(imageshim.ImageShimWarning):
        resp = client.images.generate(model="dall-e-3", prompt="a fox", n=4)
    _check_three_of_four(resp, seen)
    assert sum(_kind(r) == "getResponse" for r in recorder.requests) == 1
    assert fake_time.slept == []  # nothing was still processing: no wait


@pytest.mark.anyio
async def test_lost_reply_keeps_finished_tasks_async(
    recorder_factory: Any, clock: Any, fake_time: FakeTime
) -> None:
    handler, seen = _lost_then(_three_of_four)
    recorder = recorder_factory(handler)
    client = imageshim.AsyncOpenAI(config=DALLE3, http_client=recorder.async_client(), clock=clock)
    with pytest.warns(imageshim.ImageShimWarning):
        resp = await client.images.generate(model="dall-e-3", prompt="a fox", n=4)
    _check_three_of_four(resp, seen)


def test_nothing_finished_sends_every_task_again(
    recorder_factory: Any, clock: Any, fake_time: FakeTime
) -> None:
    handler, seen = _lost_then(lambda ids: {"data": [], "errors": [_not_found(i) for i in ids]})
    recorder = recorder_factory(handler)
    client = imageshim.OpenAI(config=DALLE3, http_client=recorder.client(), clock=clock)
    with pytest.warns(imageshim.ImageShimWarning):
        resp = client.images.generate(model="dall-e-3", prompt="a fox", n=2)
    assert [len(b) for b in seen["bodies"]] == [2, 2]
    assert len(resp.data) == 2


def test_a_task_still_running_after_a_lost_reply_is_not_generated_twice(
    recorder_factory: Any, clock: Any, fake_time: FakeTime
) -> None:
    handler, seen = _lost_then(_processing)
    recorder = recorder_factory(handler)
    client = imageshim.OpenAI(config=DALLE3, http_client=recorder.client(), clock=clock)
    with pytest.warns(imageshim.ImageShimWarning), pytest.raises(imageshim.APITimeoutError) as caught:
        client.images.generate(model="dall-e-3", prompt="a fox")
    assert len(seen["bodies"]) == 1  # one imageInference body: the running task is not sent again
    assert "not paid twice" in str(caught.value)
    assert [a.recovered for a in caught.value.attempts] == [False, True]


# ----- the adapter, directly ----------------------------------------------------------------------------
def _adapter(handler: Handler) -> tuple[RunwareAdapter, ModelSpec]:
    adapter = RunwareAdapter(
        ProviderSettings("runware", api_key=KEY),
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
        async_http_client=httpx.AsyncClient(transport=httpx.MockTransport(handler)),
    )
    spec = builtin_catalog().get("dall-e-3")
    assert spec is not None
    return adapter, adapter.profile(spec)


def _calls(count: int, timeout: float | None = None) -> list[ImageCall]:
    return [
        ImageCall(
            call_id=f"task-{i}", model="dall-e-3", prompt="a fox", width=1024, height=1024, timeout=timeout
        )
        for i in range(count)
    ]


def _polls(
    replies: Callable[[int], dict[str, Any]], fake: FakeTime, request_takes: float = 0.0
) -> tuple[Handler, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        assert _kind(request) == "getResponse"
        seen.append(request)
        fake.now += request_takes
        return httpx.Response(200, json=replies(len(seen)))

    return handler, seen


def _processing(ids: list[str]) -> dict[str, Any]:
    return {"data": [_item(i, "processing") for i in ids]}


def test_finished_tasks_come_back_and_resendable_ones_are_named(fake_time: FakeTime) -> None:
    """The core re-sends only what did not run (AdapterResult.resend): the unknown task is listed there,
    not reported as a failure."""
    calls = _calls(4)
    handler, _ = _polls(lambda _: _three_of_four([c.call_id for c in calls]), fake_time)
    adapter, spec = _adapter(handler)
    result = adapter.recover(calls, spec)
    assert isinstance(result, AdapterResult)
    assert len(result.images) == 3
    assert result.failures == []
    assert result.resend == [calls[3]]
    assert result.cost_usd == pytest.approx(0.12)


def test_processing_then_finished(fake_time: FakeTime) -> None:
    calls = _calls(2)
    ids = [c.call_id for c in calls]
    handler, seen = _polls(
        lambda n: _processing(ids) if n == 1 else {"data": [_item(i) for i in ids]}, fake_time
    )
    adapter, spec = _adapter(handler)
    result = adapter.recover(calls, spec)
    assert result is not None
    assert (len(result.images), result.failures) == (2, [])
    assert len(seen) == 2
    assert fake_time.slept == [RunwareAdapter.recover_delay]


def test_a_task_still_processing_is_never_sent_again(fake_time: FakeTime) -> None:
    calls = _calls(2)
    handler, _ = _polls(
        lambda _: {"data": [_item(calls[0].call_id), _item(calls[1].call_id, "processing")]}, fake_time
    )
    adapter, spec = _adapter(handler)
    result = adapter.recover(calls, spec)
    assert result is not None
    assert len(result.images) == 1
    assert result.resend == []
    (failure,) = result.failures
    assert isinstance(failure, imageshim.APITimeoutError)
    assert not failure.retryable
    assert "not paid twice" in failure.message


def test_nested_error_item_is_a_failed_task_sent_again(fake_time: FakeTime) -> None:
    calls = _calls(2)
    failed = {
        "taskUUID": calls[1].call_id,
        "status": "error",
        "error": {"code": "taskFailed", "message": "upstream failed"},
    }
    handler, _ = _polls(lambda _: {"data": [_item(calls[0].call_id), failed]}, fake_time)
    adapter, spec = _adapter(handler)
    result = adapter.recover(calls, spec)
    assert result is not None
    assert len(result.images) == 1
    # Runware says the task failed (nothing billed): the core sends it again, as a retry.
    assert (result.resend, result.failures) == ([calls[1]], [])


@pytest.mark.parametrize(
    "reply",
    [
        httpx.Response(401, json={"errors": [{"code": "invalidApiKey", "message": "bad key"}]}),
        httpx.Response(200, content=b"<html>proxy</html>"),
        httpx.Response(200, json={"data": [], "errors": []}),
    ],
)
def test_an_answer_that_is_not_about_the_tasks_recovers_nothing(
    reply: httpx.Response, fake_time: FakeTime
) -> None:
    adapter, spec = _adapter(lambda _: reply)
    assert adapter.recover(_calls(2), spec) is None
    assert fake_time.slept == []


def test_recovery_is_short_by_default(fake_time: FakeTime) -> None:
    calls = _calls(2)
    handler, seen = _polls(lambda _: _processing([c.call_id for c in calls]), fake_time, request_takes=0.3)
    adapter, spec = _adapter(handler)
    started = fake_time.now
    result = adapter.recover(calls, spec)
    # Nothing finished, but both tasks are known to be running: reported (they will be billed), never re-sent.
    assert result is not None
    assert (result.images, result.resend) == ([], [])
    assert [type(f) for f in result.failures] == [imageshim.APITimeoutError] * 2
    assert not any(f.retryable for f in result.failures)
    assert fake_time.now - started <= RunwareAdapter.recover_budget
    assert 1 < len(seen) <= RunwareAdapter.recover_polls
    assert all(s <= RunwareAdapter.recover_max_delay for s in fake_time.slept)


@pytest.mark.parametrize("timeout", [0.05, 1.0, 3.0])
def test_recovery_respects_the_calls_timeout(
    timeout: float, fake_time: FakeTime, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _calls(1, timeout=timeout)
    handler, _ = _polls(lambda _: _processing([calls[0].call_id]), fake_time, request_takes=0.02)
    adapter, spec = _adapter(handler)
    totals: list[float] = []
    real_post = _http.post

    def spy(*args: Any, **kwargs: Any) -> Any:
        totals.append(kwargs["total"])
        assert kwargs["total"] <= timeout - (fake_time.now - started) + 1e-9
        return real_post(*args, **kwargs)

    monkeypatch.setattr(runware_module, "post", spy)
    started = fake_time.now
    result = adapter.recover(calls, spec)
    assert result is not None
    assert [type(f) for f in result.failures] == [imageshim.APITimeoutError]
    assert fake_time.now - started <= timeout
    assert totals
    assert all(t <= min(timeout, RunwareAdapter.recover_timeout) for t in totals)


@pytest.mark.anyio
async def test_async_recovery_is_bounded_too(fake_time: FakeTime) -> None:
    calls = _calls(2, timeout=2.0)
    ids = [c.call_id for c in calls]
    handler, seen = _polls(lambda _: {"data": [_item(ids[0]), _item(ids[1], "processing")]}, fake_time, 0.1)
    adapter, spec = _adapter(handler)
    started = fake_time.now
    result = await adapter.arecover(calls, spec)
    assert fake_time.now - started <= 2.0
    assert result is not None
    assert len(result.images) == 1
    assert len(seen) > 1
    assert isinstance(result.failures[0], imageshim.APITimeoutError)


def test_images_from_an_earlier_poll_are_kept(fake_time: FakeTime) -> None:
    # Poll 1: task 0 done, task 1 processing. Poll 2 speaks of task 1 only. Task 0 is paid for: kept.
    calls = _calls(2)
    ids = [c.call_id for c in calls]
    handler, seen = _polls(
        lambda n: (
            {"data": [_item(ids[0]), _item(ids[1], "processing")]} if n == 1 else {"data": [_item(ids[1])]}
        ),
        fake_time,
    )
    adapter, spec = _adapter(handler)
    result = adapter.recover(calls, spec)
    assert result is not None
    assert [i.url for i in result.images] == [f"https://im.runware.ai/image/{i}.jpg" for i in ids]
    assert (result.failures, result.resend) == ([], [])
    assert len(seen) == 2
