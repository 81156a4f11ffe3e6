"""The execution policy (imageshim._core.policy) with a scripted adapter, through both clients: recovery after a
lost reply whatever retries are left, results of unknown fate never re-sent, bad image bytes refused,
deadlines, fallbacks, and a provider's "no such model" as ModelRetiredError only past shutdown.

Time is fake: the policy's clock moves only when a driver sleeps or a scripted step says it took time."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import pytest

import imageshim
from imageshim import (
    AdapterRegistry,
    AdapterResult,
    GeneratedImage,
    ImageAdapter,
    ImageCall,
    ModelSpec,
)
from imageshim._frontends import orchestrate as _orchestrate
from imageshim._plumbing import drive as _drive

PNG = "iVBORw0KGgo="  # the PNG signature: what the policy's check of image bytes looks at

Step = Callable[[Sequence[ImageCall]], AdapterResult]


class FakeTime:
    now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    async def asleep(self, seconds: float) -> None:
        self.now += seconds


CLOCK = FakeTime()


class Scripted(ImageAdapter):
    """Answers each generate with the next step of ``script``; ``poll`` answers from ``recovered`` (None:
    no word of the calls yet)."""

    name: ClassVar[str] = "scripted"
    recovery_reserve: ClassVar[float] = 8.0
    script: ClassVar[list[Step]] = []
    recovered: ClassVar[AdapterResult | None] = None
    log: ClassVar[list[str]] = []

    def generate(self, calls: Sequence[ImageCall], spec: ModelSpec) -> AdapterResult:
        self.log.append(f"generate {spec.id} timeout={calls[0].timeout is not None}")
        return self.script.pop(0)(calls)

    async def agenerate(self, calls: Sequence[ImageCall], spec: ModelSpec) -> AdapterResult:
        return self.generate(calls, spec)

    def poll(self, calls: Sequence[ImageCall], spec: ModelSpec) -> AdapterResult:
        self.log.append(f"recover timeout={calls[0].timeout is not None}")
        return self.recovered or AdapterResult(images=[], pending=list(calls))

    async def apoll(self, calls: Sequence[ImageCall], spec: ModelSpec) -> AdapterResult:
        return self.poll(calls, spec)


def _ok(calls: Sequence[ImageCall]) -> AdapterResult:
    return AdapterResult(images=[GeneratedImage(b64_json=PNG) for _ in range(calls[0].n)])


def _raise(error: imageshim.APIError) -> Step:
    def step(calls: Sequence[ImageCall]) -> AdapterResult:
        raise error

    return step


@pytest.fixture(autouse=True)
def fake_time(monkeypatch: pytest.MonkeyPatch) -> FakeTime:
    monkeypatch.setattr(_orchestrate, "monotonic", CLOCK.monotonic)
    monkeypatch.setattr(_drive, "sleep", CLOCK.sleep)
    monkeypatch.setattr(_drive, "asleep", CLOCK.asleep)
    return CLOCK


@pytest.fixture
def scripted() -> type[Scripted]:
    Scripted.script, Scripted.recovered, Scripted.log = [], None, []
    return Scripted


def _client(config: dict[str, Any], clock: Any, *, asynchronous: bool = False) -> Any:
    registry = AdapterRegistry(entry_points=False)
    registry.register("scripted", Scripted)
    registry.register("backup", type("Backup", (Scripted,), {"name": "backup"}))
    cls = imageshim.AsyncOpenAI if asynchronous else imageshim.OpenAI
    return cls(config={"retry": {"initial_backoff": 0.001}, **config}, registry=registry, clock=clock)


def test_a_lost_reply_is_recovered_even_with_no_retry_left(scripted: type[Scripted], clock: Any) -> None:
    scripted.script = [_raise(imageshim.APITimeoutError("scripted: timed out", provider="scripted"))]
    scripted.recovered = AdapterResult(images=[GeneratedImage(b64_json="iVBORw0KGgoAAAAN")])
    client = _client(
        {"routes": {"*": ["scripted:gpt-image-2"]}, "providers": {"scripted": {"max_retries": 0}}}, clock
    )
    resp = client.images.generate(model="gpt-image-2", prompt="a fox")
    assert resp.data[0].b64_json == "iVBORw0KGgoAAAAN"
    assert scripted.log == ["generate gpt-image-2 timeout=False", "recover timeout=True"]
    assert [(a.outcome, a.recovered) for a in resp.imageshim.attempts] == [
        ("APITimeoutError", False),
        ("ok", True),
    ]


def test_recovery_is_bounded_by_the_deadline(scripted: type[Scripted], clock: Any) -> None:
    scripted.script = [_raise(imageshim.APIConnectionError("scripted: reset", provider="scripted"))]
    scripted.recovered = AdapterResult(images=[GeneratedImage(b64_json=PNG)])
    client = _client({"routes": {"*": ["scripted:gpt-image-2"]}, "retry": {"deadline": 30}}, clock)
    client.images.generate(model="gpt-image-2", prompt="a fox")
    assert scripted.log[-1] == "recover timeout=True"  # the calls it polls for carry what is left


def test_an_unreadable_reply_is_recovered_too(scripted: type[Scripted], clock: Any) -> None:
    scripted.script = [_raise(imageshim.APIError("scripted: HTTP 200 reply is malformed", status_code=200))]
    scripted.recovered = AdapterResult(images=[GeneratedImage(b64_json=PNG)])
    client = _client({"routes": {"*": ["scripted:gpt-image-2"]}}, clock)
    assert client.images.generate(model="gpt-image-2", prompt="a fox").data[0].b64_json == PNG


def test_a_provider_refusal_is_not_recovered(scripted: type[Scripted], clock: Any) -> None:
    scripted.script = [_raise(imageshim.BadRequestError("scripted: bad prompt", provider="scripted"))]
    client = _client({"routes": {"*": ["scripted:gpt-image-2"]}}, clock)
    with pytest.raises(imageshim.BadRequestError):
        client.images.generate(model="gpt-image-2", prompt="a fox")
    assert scripted.log == ["generate gpt-image-2 timeout=False"]


def _unavailable() -> imageshim.NotFoundError:
    return imageshim.NotFoundError(
        "scripted: The model does not exist or you do not have access to it.",
        code="model_not_found",
        provider="scripted",
        model_unavailable=True,
    )


def test_unavailable_model_past_shutdown_is_retired_error_naming_date_and_successor(
    scripted: type[Scripted], clock: Any
) -> None:
    scripted.script = [_raise(_unavailable())]
    client = _client({"routes": {"*": ["scripted:dall-e-3"]}, "lifecycle": {"on_retired": "allow"}}, clock)
    with (
        pytest.warns(imageshim.ModelRetiredWarning),
        pytest.raises(imageshim.ModelRetiredError) as caught,
    ):
        client.images.generate(model="dall-e-3", prompt="a fox")
    error = caught.value
    assert error.shutdown_on == datetime.date(2026, 5, 12)
    assert error.successor == "gpt-image-2"
    assert "retired on 2026-05-12" in str(error)
    assert "'gpt-image-2'" in str(error)
    assert error.code == "model_not_found"
    assert error.status_code == 404
    assert isinstance(error.__cause__, imageshim.NotFoundError)


def test_unavailable_live_model_stays_not_found_and_falls_back(scripted: type[Scripted], clock: Any) -> None:
    # gpt-image-1.5 shuts down on 2026-12-01: a week away, not retired. An access problem is not a retirement.
    scripted.script = [_raise(_unavailable()), _ok]
    client = _client({"routes": {"*": ["scripted:gpt-image-1.5", "backup:gpt-image-1.5"]}}, clock)
    with pytest.warns(imageshim.ModelDeprecationWarning, match=r"2026-12-01 \(7 days left\)"):
        resp = client.images.generate(model="gpt-image-1.5", prompt="a fox")
    assert resp.imageshim.route == "backup:gpt-image-1.5"
    assert [a.outcome for a in resp.imageshim.attempts] == ["NotFoundError", "ok"]


def test_unavailable_live_model_with_no_fallback_raises_not_found(
    scripted: type[Scripted], clock: Any
) -> None:
    scripted.script = [_raise(_unavailable())]
    client = _client({"routes": {"*": ["scripted:gpt-image-2"]}}, clock)
    with pytest.raises(imageshim.NotFoundError) as caught:
        client.images.generate(model="gpt-image-2", prompt="a fox")
    assert not isinstance(caught.value, imageshim.ModelRetiredError)


@pytest.mark.anyio
async def test_async_recovers_and_explains_retirement(scripted: type[Scripted], clock: Any) -> None:
    scripted.script = [_raise(imageshim.APITimeoutError("scripted: timed out", provider="scripted"))]
    scripted.recovered = AdapterResult(images=[GeneratedImage(b64_json=PNG)])
    client = _client(
        {"routes": {"*": ["scripted:gpt-image-2"]}, "providers": {"scripted": {"max_retries": 0}}},
        clock,
        asynchronous=True,
    )
    resp = await client.images.generate(model="gpt-image-2", prompt="a fox")
    assert resp.data[0].b64_json == PNG

    scripted.script = [_raise(_unavailable())]
    retired = _client(
        {"routes": {"*": ["scripted:dall-e-3"]}, "lifecycle": {"on_retired": "allow"}},
        clock,
        asynchronous=True,
    )
    with pytest.warns(imageshim.ModelRetiredWarning), pytest.raises(imageshim.ModelRetiredError):
        await retired.images.generate(model="dall-e-3", prompt="a fox")


def test_a_fallback_that_cannot_take_the_request_is_left_out(scripted: type[Scripted], clock: Any) -> None:
    # A 2,000-character prompt fits gpt-image-2 (32,000) but not the dall-e-2 fallback (1,000): the
    # fallback is left out of this call's plan instead of failing the whole request.
    scripted.script = [_ok]
    client = _client(
        {"routes": {"*": ["scripted:gpt-image-2", "backup:dall-e-2"]}, "lifecycle": {"on_retired": "allow"}},
        clock,
    )
    resp = client.images.generate(model="gpt-image-2", prompt="a fox " * 400)
    assert resp.imageshim.route == "scripted:gpt-image-2"


def test_the_first_target_must_take_the_request(scripted: type[Scripted], clock: Any) -> None:
    client = _client(
        {"routes": {"*": ["scripted:dall-e-2", "backup:gpt-image-2"]}, "lifecycle": {"on_retired": "allow"}},
        clock,
    )
    with pytest.raises(imageshim.BadRequestError, match="prompt"):
        client.images.generate(model="gpt-image-2", prompt="a fox " * 400)
    assert scripted.log == []


def _timed_out_after(seconds: float) -> Step:
    def step(calls: Sequence[ImageCall]) -> AdapterResult:
        CLOCK.now += seconds
        raise imageshim.APITimeoutError("scripted: timed out", provider="scripted", reply_lost=False)

    return step


def test_nothing_is_sent_once_the_deadline_has_passed(scripted: type[Scripted], clock: Any) -> None:
    scripted.script = [_timed_out_after(0.08)]
    started = CLOCK.now
    client = _client(
        {
            "routes": {"*": ["scripted:gpt-image-2", "backup:gpt-image-2"]},
            "retry": {"deadline": 0.05, "initial_backoff": 0.001},
        },
        clock,
    )
    with pytest.raises(imageshim.APITimeoutError, match="nothing was sent"):
        client.images.generate(model="gpt-image-2", prompt="a fox")
    assert CLOCK.now - started < 0.1
    assert [entry for entry in scripted.log if entry.startswith("generate")] == [
        "generate gpt-image-2 timeout=True"
    ]  # the backup target was never sent anything


def test_an_adapter_that_recovers_keeps_time_for_it(clock: Any) -> None:
    seen: list[float | None] = []

    class Recovering(Scripted):
        name: ClassVar[str] = "recovering"
        recovery_reserve: ClassVar[float] = 8.0

        def generate(self, calls: Sequence[ImageCall], spec: ModelSpec) -> AdapterResult:
            seen.append(calls[0].timeout)
            return _ok(calls)

    registry = AdapterRegistry(entry_points=False)
    registry.register("recovering", Recovering)
    client = imageshim.OpenAI(
        config={"routes": {"*": ["recovering:gpt-image-2"]}, "retry": {"deadline": 20}},
        registry=registry,
        clock=clock,
    )
    client.images.generate(model="gpt-image-2", prompt="a fox")
    (timeout,) = seen
    assert timeout is not None
    assert 14.0 < timeout <= 15.0  # 20 s less min(8 s, a quarter of what is left)


def test_no_fallback_when_one_failure_forbids_it(scripted: type[Scripted], clock: Any) -> None:
    # Two calls (dall-e-3 makes one image per call): the first fails retryably, the second is refused.
    scripted.script = [
        _raise(imageshim.InternalServerError("scripted: overloaded", provider="scripted")),
        _raise(imageshim.BadRequestError("scripted: prompt refused", code="moderation_blocked")),
    ]
    client = _client(
        {
            "routes": {"*": ["scripted:dall-e-3", "backup:dall-e-3"]},
            "lifecycle": {"on_retired": "allow"},
            "providers": {"scripted": {"max_retries": 0}},
        },
        clock,
    )
    with (
        pytest.warns(imageshim.ImageShimWarning),
        pytest.raises(imageshim.BadRequestError, match="prompt refused"),
    ):
        client.images.generate(model="dall-e-3", prompt="a fox", n=2)
    assert len(scripted.log) == 2  # both calls went to the first target, none to the backup


def test_a_proxy_timeout_page_is_recovered(scripted: type[Scripted], clock: Any) -> None:
    scripted.script = [
        _raise(imageshim.InternalServerError("scripted: HTTP 524 page", status_code=524, reply_lost=True))
    ]
    scripted.recovered = AdapterResult(images=[GeneratedImage(b64_json=PNG)])
    client = _client({"routes": {"*": ["scripted:gpt-image-2"]}}, clock)
    assert client.images.generate(model="gpt-image-2", prompt="a fox").data[0].b64_json == PNG
    assert scripted.log[-1].startswith("recover")


@pytest.mark.parametrize(("hint", "backoff"), [(0.0, True), (None, True), (2.5, False)])
def test_retry_after_zero_uses_the_backoff_schedule(hint: float | None, backoff: bool) -> None:
    from imageshim._core.config import RetryPolicy
    from imageshim._core.policy import _delay

    error = imageshim.RateLimitError("slow down", retry_after=hint)
    delay = _delay(RetryPolicy(initial_backoff=0.5), 0, error)
    assert delay is not None
    assert (0.375 <= delay <= 0.5) if backoff else delay == 2.5


def test_a_fallback_the_provider_does_not_serve_is_left_out(
    monkeypatch: pytest.MonkeyPatch, recorder_factory: Any, clock: Any
) -> None:
    # Both keys, no config: chatgpt-image-latest routes to OpenAI, then Runware, which has no AIR id for it.
    import httpx

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-both-keys-0000000000")
    monkeypatch.setenv("RUNWARE_API_KEY", "rw-test-both-keys-00000000")
    recorder = recorder_factory(httpx.Response(200, json={"created": 1, "data": [{"b64_json": PNG}]}))
    client = imageshim.OpenAI(http_client=recorder.client(), clock=clock)
    with pytest.warns(imageshim.ModelDeprecationWarning, match="2026-12-01"):
        resp = client.images.generate(model="chatgpt-image-latest", prompt="a fox", size="1024x1024")
    assert resp.imageshim.route == "openai:chatgpt-image-latest"


# ----- money rules, sync and async alike ------------------------------------------------------------------
def _generate(client: Any, asynchronous: bool, **kwargs: Any) -> Any:
    if asynchronous:
        import asyncio

        return asyncio.run(client.images.generate(**kwargs))
    return client.images.generate(**kwargs)


class CannotRecover(Scripted):
    name: ClassVar[str] = "blind"
    recovery_reserve: ClassVar[float] = 0.0


def _blind_client(config: dict[str, Any], clock: Any, asynchronous: bool) -> Any:
    registry = AdapterRegistry(entry_points=False)
    registry.register("blind", CannotRecover)
    registry.register("backup", type("Backup", (Scripted,), {"name": "backup"}))
    cls = imageshim.AsyncOpenAI if asynchronous else imageshim.OpenAI
    return cls(config={"retry": {"initial_backoff": 0.001}, **config}, registry=registry, clock=clock)


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_a_lost_reply_that_cannot_be_looked_up_is_reported_never_resent(
    scripted: type[Scripted], clock: Any, asynchronous: bool
) -> None:
    scripted.script = [_raise(imageshim.APITimeoutError("blind: read timed out", provider="blind"))]
    client = _blind_client(
        {"routes": {"*": ["blind:gpt-image-2", "backup:gpt-image-2"]}}, clock, asynchronous
    )
    with pytest.raises(imageshim.ResultUnknownError) as caught:
        _generate(client, asynchronous, model="gpt-image-2", prompt="a fox")
    assert scripted.log == ["generate gpt-image-2 timeout=False"]  # once, and never to the backup either
    (task_id,) = caught.value.task_ids
    assert task_id in caught.value.message
    assert not caught.value.retryable


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_a_request_that_never_left_is_retried_with_fresh_ids(
    scripted: type[Scripted], clock: Any, asynchronous: bool
) -> None:
    ids: list[str] = []

    def refused(calls: Sequence[ImageCall]) -> AdapterResult:
        ids.append(calls[0].call_id)
        raise imageshim.APIConnectionError("connect refused", provider="blind", reply_lost=False)

    def ok(calls: Sequence[ImageCall]) -> AdapterResult:
        ids.append(calls[0].call_id)
        return _ok(calls)

    scripted.script = [refused, ok]
    client = _blind_client({"routes": {"*": ["blind:gpt-image-2"]}}, clock, asynchronous)
    resp = _generate(client, asynchronous, model="gpt-image-2", prompt="a fox")
    assert len(resp.data) == 1
    assert len(set(ids)) == 2


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_tasks_still_unknown_when_the_budget_is_spent_are_named(
    scripted: type[Scripted], clock: Any, asynchronous: bool, fake_time: FakeTime
) -> None:
    scripted.script = [_raise(imageshim.APITimeoutError("scripted: read timed out", provider="scripted"))]
    scripted.recovered = None  # never any word of the task
    client = _client({"routes": {"*": ["scripted:gpt-image-2"]}}, clock, asynchronous=asynchronous)
    started = fake_time.now
    with pytest.raises(imageshim.ResultUnknownError) as caught:
        _generate(client, asynchronous, model="gpt-image-2", prompt="a fox")
    assert [e for e in scripted.log if e.startswith("generate")] == ["generate gpt-image-2 timeout=False"]
    assert len([e for e in scripted.log if e.startswith("recover")]) > 1
    assert fake_time.now - started <= Scripted.recovery_reserve
    assert caught.value.task_ids
    assert caught.value.task_ids[0] in caught.value.message


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize(
    "image",
    [
        GeneratedImage(b64_json="PGh0bWw+"),
        GeneratedImage(b64_json="not base64 at all!"),
        GeneratedImage(url="data:image/png;base64,PGh0bWw+"),
        GeneratedImage(url="javascript:alert(1)"),
    ],
    ids=["html bytes", "not base64", "html data uri", "script url"],
)
def test_bytes_that_are_not_an_image_are_a_502_never_passed_on(
    scripted: type[Scripted], clock: Any, asynchronous: bool, image: GeneratedImage
) -> None:
    scripted.script = [lambda calls: AdapterResult(images=[image])]
    client = _client(
        {"routes": {"*": ["scripted:gpt-image-2", "backup:gpt-image-2"]}}, clock, asynchronous=asynchronous
    )
    with pytest.raises(imageshim.InternalServerError) as caught:
        _generate(client, asynchronous, model="gpt-image-2", prompt="a fox")
    assert (caught.value.status_code, caught.value.code) == (502, "invalid_image_data")
    assert not caught.value.reply_lost  # nothing to recover: it answered, wrongly
    assert len(scripted.log) == 1  # not retried, no fallback: it was billed


def test_one_bad_image_among_good_ones_is_a_partial_result(scripted: type[Scripted], clock: Any) -> None:
    scripted.script = [
        lambda calls: AdapterResult(
            images=[GeneratedImage(b64_json=PNG), GeneratedImage(b64_json="PGh0bWw+")]
        )
    ]
    client = _client({"routes": {"*": ["scripted:gpt-image-2"]}}, clock)
    with pytest.warns(imageshim.OptionMappedWarning, match="1 of 2 images arrived"):
        resp = client.images.generate(model="gpt-image-2", prompt="a fox", n=2)
    assert [d.b64_json for d in resp.data] == [PNG]
    assert resp.imageshim.failures[0]["code"] == "invalid_image_data"


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_batches_run_concurrently_up_to_the_same_limit_on_both(clock: Any, asynchronous: bool) -> None:
    import threading

    state = {"now": 0, "peak": 0}
    lock = threading.Lock()
    gate = threading.Barrier(2, timeout=5)

    class Wide(Scripted):
        name: ClassVar[str] = "wide"
        concurrent_requests: ClassVar[int] = 2

        def generate(self, calls: Sequence[ImageCall], spec: ModelSpec) -> AdapterResult:
            with lock:
                state["now"] += 1
                state["peak"] = max(state["peak"], state["now"])
            gate.wait()  # two at once, or this times out
            with lock:
                state["now"] -= 1
            return _ok(calls)

        async def agenerate(self, calls: Sequence[ImageCall], spec: ModelSpec) -> AdapterResult:
            import asyncio

            with lock:
                state["now"] += 1
                state["peak"] = max(state["peak"], state["now"])
            await asyncio.sleep(0.01)
            with lock:
                state["now"] -= 1
            return _ok(calls)

    registry = AdapterRegistry(entry_points=False)
    registry.register("wide", Wide)
    cls = imageshim.AsyncOpenAI if asynchronous else imageshim.OpenAI
    client = cls(
        config={"routes": {"*": ["wide:dall-e-3"]}, "lifecycle": {"on_retired": "allow"}},
        registry=registry,
        clock=clock,
    )
    with pytest.warns(imageshim.ImageShimWarning):
        resp = _generate(client, asynchronous, model="dall-e-3", prompt="a fox", n=4)
    assert len(resp.data) == 4
    assert state["peak"] == 2  # the adapter's limit, not 1 and not 4


def test_an_adapter_without_poll_reports_a_lost_reply_unknown(scripted: type[Scripted], clock: Any) -> None:
    """An adapter written for the old recover hook keeps time for recovery but has no poll: its lost reply
    is reported unknown (never re-sent), not a crash."""

    class Legacy(ImageAdapter):
        name: ClassVar[str] = "legacy"
        recovery_reserve: ClassVar[float] = 8.0
        sent: ClassVar[int] = 0

        def generate(self, calls: Sequence[ImageCall], spec: ModelSpec) -> AdapterResult:
            Legacy.sent += 1
            raise imageshim.APITimeoutError("legacy: read timed out", provider="legacy")

        async def agenerate(self, calls: Sequence[ImageCall], spec: ModelSpec) -> AdapterResult:
            return self.generate(calls, spec)

    registry = AdapterRegistry(entry_points=False)
    registry.register("legacy", Legacy)
    client = imageshim.OpenAI(
        config={"routes": {"*": ["legacy:gpt-image-2"]}}, registry=registry, clock=clock
    )
    with pytest.raises(imageshim.ResultUnknownError):
        client.images.generate(model="gpt-image-2", prompt="a fox")
    assert Legacy.sent == 1
