"""Execution decisions with a scripted adapter: recovery after a lost reply, whatever retries are left;
a provider's "no such model" becomes ModelRetiredError only for a model past shutdown; fallbacks."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import pytest

import imageshim
from imageshim import AdapterRegistry, AdapterResult, GeneratedImage, ImageAdapter, ImageCall, ModelSpec

Step = Callable[[Sequence[ImageCall]], AdapterResult]


class Scripted(ImageAdapter):
    """Answers each generate with the next step of ``script``; ``recover`` answers from ``recovered``."""

    name: ClassVar[str] = "scripted"
    script: ClassVar[list[Step]] = []
    recovered: ClassVar[AdapterResult | None] = None
    log: ClassVar[list[str]] = []

    def generate(self, calls: Sequence[ImageCall], spec: ModelSpec) -> AdapterResult:
        self.log.append(f"generate {spec.id} timeout={calls[0].timeout is not None}")
        return self.script.pop(0)(calls)

    async def agenerate(self, calls: Sequence[ImageCall], spec: ModelSpec) -> AdapterResult:
        return self.generate(calls, spec)

    def recover(self, calls: Sequence[ImageCall], spec: ModelSpec) -> AdapterResult | None:
        self.log.append(f"recover timeout={calls[0].timeout is not None}")
        return self.recovered

    async def arecover(self, calls: Sequence[ImageCall], spec: ModelSpec) -> AdapterResult | None:
        return self.recover(calls, spec)


def _ok(calls: Sequence[ImageCall]) -> AdapterResult:
    return AdapterResult(images=[GeneratedImage(b64_json="aW1n") for _ in range(calls[0].n)])


def _raise(error: imageshim.APIError) -> Step:
    def step(calls: Sequence[ImageCall]) -> AdapterResult:
        raise error

    return step


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
    scripted.recovered = AdapterResult(images=[GeneratedImage(b64_json="cmVjb3ZlcmVk")])
    client = _client(
        {"routes": {"*": ["scripted:gpt-image-2"]}, "providers": {"scripted": {"max_retries": 0}}}, clock
    )
    resp = client.images.generate(model="gpt-image-2", prompt="a fox")
    assert resp.data[0].b64_json == "cmVjb3ZlcmVk"
    assert scripted.log == ["generate gpt-image-2 timeout=False", "recover timeout=False"]
    assert [(a.outcome, a.recovered) for a in resp.imageshim.attempts] == [
        ("APITimeoutError", False),
        ("ok", True),
    ]


def test_recovery_is_bounded_by_the_deadline(scripted: type[Scripted], clock: Any) -> None:
    scripted.script = [_raise(imageshim.APIConnectionError("scripted: reset", provider="scripted"))]
    scripted.recovered = AdapterResult(images=[GeneratedImage(b64_json="aW1n")])
    client = _client({"routes": {"*": ["scripted:gpt-image-2"]}, "retry": {"deadline": 30}}, clock)
    client.images.generate(model="gpt-image-2", prompt="a fox")
    assert scripted.log[-1] == "recover timeout=True"  # the calls it polls for carry what is left


def test_an_unreadable_reply_is_recovered_too(scripted: type[Scripted], clock: Any) -> None:
    scripted.script = [_raise(imageshim.APIError("scripted: HTTP 200 reply is malformed", status_code=200))]
    scripted.recovered = AdapterResult(images=[GeneratedImage(b64_json="aW1n")])
    client = _client({"routes": {"*": ["scripted:gpt-image-2"]}}, clock)
    assert client.images.generate(model="gpt-image-2", prompt="a fox").data[0].b64_json == "aW1n"


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
    scripted.recovered = AdapterResult(images=[GeneratedImage(b64_json="aW1n")])
    client = _client(
        {"routes": {"*": ["scripted:gpt-image-2"]}, "providers": {"scripted": {"max_retries": 0}}},
        clock,
        asynchronous=True,
    )
    resp = await client.images.generate(model="gpt-image-2", prompt="a fox")
    assert resp.data[0].b64_json == "aW1n"

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
