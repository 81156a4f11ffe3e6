"""Budgets per client key (``[gateway.budgets]``): the gateway in this process (uvicorn on 127.0.0.1, an
injected wall clock for the UTC windows) and real ``imageshim serve`` processes, against loopback fake
providers that count (and bill) every generation. The fake Runware reports a cost that differs from the
catalog's estimate, so a key charged the estimate instead of the reported cost is told apart."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.faults.server import PNG, Conn, FaultServer, bad_image, reset, status
from tests.frontends.gateway.serving import gateway_process

from imageshim._core.config import GatewayBudgets, KeyBudget, load_config
from imageshim._core.errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    BadRequestError,
    ConfigurationError,
    InternalServerError,
    MissingAPIKeyError,
    PartialResultError,
    PermissionDeniedError,
    RateLimitError,
    ResultUnknownError,
)
from imageshim._core.request import request_from_kwargs
from imageshim._core.response import Attempt, Image, ImagesResponse, ShimReport
from imageshim._frontends.engine import Engine
from imageshim._frontends.gateway import create_app
from imageshim._frontends.gateway.budgets import (
    Budgets,
    Hold,
    Limits,
    Refusal,
    charged,
    micro,
    never_ran,
    usd,
    windows,
)
from imageshim._frontends.gateway.budgets_local import LocalLedger
from imageshim._frontends.gateway.record import client_hash, hash_salt

KEY_A, KEY_B = "sk-budget-client-a-0123456789", "sk-budget-client-b-0123456789"
RUNWARE_KEY = "rw-not-a-real-key-budgets-7c1f"
OPENAI_KEY = "sk-not-a-real-key-budgets-5d2e"
#: what the fake Runware reports it charged for one image (the catalog estimates otherwise)
COST = 0.0421
LABEL_A = client_hash(KEY_A, hash_salt([KEY_A, KEY_B]))
LABEL_B = client_hash(KEY_B, hash_salt([KEY_A, KEY_B]))


def _body(prompt: str = "a lighthouse at dusk") -> dict[str, Any]:
    return {"model": "dall-e-3", "prompt": prompt, "size": "1024x1024", "response_format": "b64_json"}


def _at(*when: int) -> float:
    return datetime(*when, tzinfo=timezone.utc).timestamp()


class Wall:
    """The gateway's wall clock (Unix seconds), moved by the test."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# ----- fakes -------------------------------------------------------------------------------------------
def _runware(cost: float = COST, gate: threading.Event | None = None) -> Callable[[Conn], None]:
    """A Runware reply that reports ``cost`` per image (after ``gate`` opens, when given)."""

    def act(conn: Conn) -> None:
        if gate is not None:
            gate.wait(30)
        items = []
        for task in conn.json():
            item = {
                "taskType": "imageInference",
                "taskUUID": task["taskUUID"],
                "imageUUID": str(uuid.uuid4()),
                "cost": cost,
                "status": "success",
                "imageBase64Data": PNG,
            }
            conn.server.finished[task["taskUUID"]] = item
            items.append(item)
        conn.server.billed += len(items)
        conn.send(200, json.dumps({"data": items}).encode())

    return act


@pytest.fixture
def runware() -> Iterator[FaultServer]:
    server = FaultServer("runware")
    yield server
    server.close()


@pytest.fixture
def provider() -> Iterator[FaultServer]:
    server = FaultServer("openai")
    yield server
    server.close()


def _config(server: FaultServer, **budgets: Any) -> dict[str, Any]:
    name = server.provider
    return {
        "routes": {"*": [f"{name}:gpt-image-2"]},
        "providers": {
            name: {
                "api_key": RUNWARE_KEY if name == "runware" else OPENAI_KEY,
                "base_url": server.base_url,
                "timeout": 2.0,
            }
        },
        "retry": {"max_retries": 0},
        "gateway": {"budgets": budgets},
    }


def _estimate(config: dict[str, Any], body: dict[str, Any], clock: Any) -> float:
    """The plan's estimate for ``body``: what the gateway reserves and puts in the header."""
    plan = Engine(config, clock=clock).plan(request_from_kwargs(dict(body)))
    estimate = plan.targets[0].estimate
    assert estimate is not None, "the catalog prices this request"
    return estimate.usd


def _post(base: str, body: dict[str, Any], key: str = KEY_A, **headers: str) -> httpx.Response:
    return httpx.post(
        f"{base}/v1/images/generations",
        json=body,
        headers={"Authorization": f"Bearer {key}", **headers},
        timeout=30,
    )


def _metric(base: str, name: str, **labels: str) -> float:
    text = httpx.get(f"{base}/metrics", timeout=5).text
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


def _assert_insufficient_quota(reply: httpx.Response) -> str:
    assert reply.status_code == 429
    assert reply.headers["x-should-retry"] == "false"
    error = reply.json()["error"]
    assert set(reply.json()) == {"error"}
    assert (error["type"], error["param"], error["code"]) == (
        "insufficient_quota",
        None,
        "insufficient_quota",
    )
    message: str = error["message"]
    return message


def _app(config: dict[str, Any], clock: Any, wall: Wall | None = None, **kwargs: Any) -> Any:
    return create_app(config, keys=[KEY_A, KEY_B], clock=clock, wall=wall or Wall(time.time()), **kwargs)


# ----- charged, refused, shown -------------------------------------------------------------------------
def test_a_key_is_charged_the_reported_cost_then_refused_with_insufficient_quota(
    runware: FaultServer, clock: Any, serve_app: Any
) -> None:
    runware.script.extend([_runware(), _runware()])
    first, second = _body("a lighthouse at dusk"), _body("a lighthouse at dawn")
    probe = _config(runware)
    estimate = _estimate(probe, first, clock)
    assert abs(estimate - COST) > 1e-6  # the fake's cost is told apart from the estimate
    # the first fits; after it is charged COST, the second's estimate does not
    budget = round(COST + _estimate(probe, second, clock) - 0.001, 6)
    config = _config(runware, usd_per_day=budget)
    with serve_app(_app(config, clock)) as base:
        ok = _post(base, first)
        assert ok.status_code == 200
        assert ok.headers["x-imageshim-cost-usd"] == f"{COST:.6f}"
        assert ok.headers["x-imageshim-estimate-usd"] == f"{estimate:.6f}"
        assert _metric(base, "imageshim_budget_spent_usd", client=LABEL_A, window="day") == pytest.approx(
            COST
        )
        assert _metric(base, "imageshim_budget_reserved_usd", client=LABEL_A, window="day") == 0
        refused = _post(base, second)
        message = _assert_insufficient_quota(refused)
        assert runware.count("generate") == 1  # nothing was sent for the refused request
        assert refused.headers["x-imageshim-estimate-usd"] == f"{_estimate(probe, second, clock):.6f}"
        assert refused.headers["x-imageshim-budget-window"] == "day"
        estimated = _estimate(probe, second, clock)
        for part in (LABEL_A, "UTC day", usd(micro(budget)), usd(micro(COST)), usd(micro(estimated))):
            assert part in message
        assert "Nothing was sent to the provider" in message
        assert "The budget resets at " in message
        assert KEY_A not in message
        other = _post(base, second, key=KEY_B)  # another key has its own budget
        assert other.status_code == 200
        assert _metric(base, "imageshim_budget_refusals_total", client=LABEL_A, window="day") == 1
        assert KEY_A not in httpx.get(f"{base}/metrics", timeout=5).text
    assert runware.count("generate") == 2


def test_the_openai_sdk_raises_rate_limit_error_without_retrying(
    runware: FaultServer, clock: Any, serve_app: Any
) -> None:
    runware.script.append(_runware())
    config = _config(runware, usd_per_month=round(COST * 1.5, 6))
    sent: list[str] = []
    http = httpx.Client(event_hooks={"request": [lambda request: sent.append(request.url.path)]})
    with serve_app(_app(config, clock)) as base:
        sdk = openai.OpenAI(api_key=KEY_A, base_url=f"{base}/v1", max_retries=3, http_client=http)
        try:
            sdk.images.generate(**_body("first"))
            with pytest.raises(openai.RateLimitError) as caught:
                sdk.images.generate(**_body("second"))
        finally:
            sdk.close()
    assert caught.value.code == "insufficient_quota"
    assert caught.value.type == "insufficient_quota"
    assert "UTC month" in caught.value.message
    assert sent == ["/v1/images/generations"] * 2  # the refusal was not retried
    assert runware.count("generate") == 1


def test_concurrent_requests_cannot_spend_past_the_budget(
    runware: FaultServer, clock: Any, serve_app: Any
) -> None:
    gate = threading.Event()
    runware.script.extend(_runware(gate=gate) for _ in range(8))
    bodies = [_body(f"prompt {i}") for i in range(8)]  # the same length: the same estimate
    estimate = _estimate(_config(runware), bodies[0], clock)
    config = _config(runware, usd_per_day=round(3.5 * estimate, 6))  # three reservations fit, not four
    with serve_app(_app(config, clock)) as base, concurrent.futures.ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(_post, base, body) for body in bodies]
        deadline = time.monotonic() + 20
        # every request is either answered or waiting at the provider: then the provider answers
        while sum(f.done() for f in futures) + runware.count("generate") < 8:
            assert time.monotonic() < deadline, "requests neither answered nor sent"
            time.sleep(0.02)
        gate.set()
        replies = [f.result() for f in futures]
    assert sorted(r.status_code for r in replies) == [200] * 3 + [429] * 5
    assert runware.count("generate") == 3
    assert runware.billed == 3


def test_the_estimate_header_is_the_plans_estimate(runware: FaultServer, clock: Any, serve_app: Any) -> None:
    runware.script.append(_runware())
    config = _config(runware)  # no budget: the header is there anyway
    body = {**_body(), "size": "1024x1536", "n": 1}
    with serve_app(_app(config, clock)) as base:
        reply = _post(base, body)
    assert reply.status_code == 200
    assert reply.headers["x-imageshim-estimate-usd"] == f"{_estimate(config, body, clock):.6f}"


def test_the_estimate_and_budget_headers_are_exposed_to_pages(
    runware: FaultServer, clock: Any, serve_app: Any
) -> None:
    runware.script.append(_runware())
    config = _config(runware, usd_per_day=COST / 2)
    config["gateway"]["cors_origins"] = ["https://app.example"]
    with serve_app(_app(config, clock)) as base:
        refused = _post(base, _body(), Origin="https://app.example")
    exposed = refused.headers["access-control-expose-headers"].split(",")
    assert {"x-imageshim-estimate-usd", "x-imageshim-cost-usd", "x-imageshim-budget-resets-at"} <= {
        h.strip() for h in exposed
    }


# ----- the money rule ----------------------------------------------------------------------------------
def test_a_failure_that_never_ran_releases_its_reservation(
    provider: FaultServer, clock: Any, serve_app: Any
) -> None:
    provider.script.append(status(400))  # the provider refused it: nothing was made
    first, second = _body("first attempt"), _body("second attempt")
    config = _config(provider, usd_per_day=round(1.5 * _estimate(_config(provider), first, clock), 6))
    with serve_app(_app(config, clock)) as base:
        failed = _post(base, first)
        assert failed.status_code == 400
        assert _metric(base, "imageshim_budget_spent_usd", client=LABEL_A, window="day") == 0
        assert _metric(base, "imageshim_budget_reserved_usd", client=LABEL_A, window="day") == 0
        assert _post(base, second).status_code == 200  # the refund left room for it
    assert provider.count("generate") == 2


def test_a_result_unknown_is_charged_its_reservation(
    provider: FaultServer, clock: Any, serve_app: Any
) -> None:
    provider.script.append(reset)  # sent, then the connection died: whether it was billed is unknown
    first, second = _body("first attempt"), _body("second attempt")
    estimate = _estimate(_config(provider), first, clock)
    config = _config(provider, usd_per_day=round(1.5 * estimate, 6))
    with serve_app(_app(config, clock)) as base:
        lost = _post(base, first)
        assert lost.json()["error"]["code"] == "result_unknown"
        assert _metric(base, "imageshim_budget_spent_usd", client=LABEL_A, window="day") == pytest.approx(
            estimate
        )
        _assert_insufficient_quota(_post(base, second))
    assert provider.count("generate") == 1


def test_a_replay_or_a_joined_duplicate_is_not_charged_again(
    runware: FaultServer, clock: Any, serve_app: Any
) -> None:
    gate = threading.Event()
    runware.script.extend([_runware(), _runware(gate=gate)])
    body = _body()
    estimate = _estimate(_config(runware), body, clock)
    config = _config(runware, usd_per_day=round(COST + estimate - 0.001, 6))  # room for one generation
    with serve_app(_app(config, clock)) as base:
        # an Idempotency-Key's repeat gets the stored reply, once the budget has no room for another
        first = _post(base, body, **{"Idempotency-Key": "order-1"})
        again = _post(base, body, **{"Idempotency-Key": "order-1"})
        assert first.status_code == again.status_code == 200
        assert again.headers["idempotent-replayed"] == "true"
        assert again.json() == first.json()
        _assert_insufficient_quota(_post(base, _body("something new")))
        # duplicates without a key join the generation in flight; a marked retry replays it
        with concurrent.futures.ThreadPoolExecutor(3) as pool:
            duplicates = [pool.submit(_post, base, body, KEY_B) for _ in range(3)]
            deadline = time.monotonic() + 20
            while runware.count("generate") < 2:
                assert time.monotonic() < deadline, "the generation did not start"
                time.sleep(0.02)
            gate.set()
            replies = [f.result() for f in duplicates]
        retried = _post(base, body, KEY_B, **{"x-stainless-retry-count": "1"})
        assert [r.status_code for r in replies] == [200] * 3
        assert sorted(r.headers["x-imageshim-intent"] for r in replies).count("new") == 1
        assert retried.status_code == 200
        assert retried.headers["x-imageshim-intent"] == "replayed"
        for label in (LABEL_A, LABEL_B):
            spent = _metric(base, "imageshim_budget_spent_usd", client=label, window="day")
            assert spent == pytest.approx(COST)
    assert runware.count("generate") == 2


def _unpriced(model: str) -> dict[str, Any]:
    """A [[models]] entry that takes every price of ``model`` away."""
    return {"id": model, "price_per_image": {}, "price_per_token": {}, "output_tokens": {}}


def test_under_a_budget_a_request_without_a_price_is_refused_before_anything_is_sent(
    provider: FaultServer, clock: Any, serve_app: Any
) -> None:
    config = {**_config(provider, usd_per_day=10.0), "models": [_unpriced("gpt-image-2")]}
    unbudgeted = {**_config(provider), "models": [_unpriced("gpt-image-2")]}
    with serve_app(_app(config, clock)) as base:
        refused = _post(base, _body())
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "cost_unknown"
    assert "x-imageshim-estimate-usd" not in refused.headers
    assert provider.count("generate") == 0
    with serve_app(_app(unbudgeted, clock)) as base:  # without a budget, an unknown price is no reason
        assert _post(base, _body()).status_code == 200
    assert provider.count("generate") == 1


def test_a_fallback_is_held_at_its_own_price_and_one_without_a_price_is_left_out(
    provider: FaultServer, clock: Any, serve_app: Any
) -> None:
    body = _body()
    route = {"*": ["openai:gpt-image-2", "openai:gpt-image-2.5-flare"]}
    dear = {"id": "gpt-image-2.5-flare", "price_per_image": {"medium": {"1024x1024": 0.5}}}
    config = {**_config(provider, usd_per_day=0.3), "routes": route, "models": [dear]}
    assert _estimate(config, body, clock) < 0.3  # the first target alone would fit
    with serve_app(_app(config, clock)) as base:
        message = _assert_insufficient_quota(_post(base, body))
    assert "$0.50" in message  # the fallback may serve it: its price is what is held
    assert "more than the whole budget" in message
    first = usd(micro(_estimate(config, body, clock)))
    assert (
        "this request's reservation, $0.50 (the reservation covers the dearest fallback of the route, "
        f"openai:gpt-image-2.5-flare, which may serve the request if openai:gpt-image-2 (estimated at {first}) "
        "fails), is more than the whole budget"
    ) in message
    assert "The operator can take the dearer fallback out of the route." in message
    assert provider.count("generate") == 0
    provider.script.append(status(503))
    unpriced = {
        **_config(provider, usd_per_day=10.0),
        "routes": route,
        "models": [_unpriced("gpt-image-2.5-flare")],
    }
    with serve_app(_app(unpriced, clock)) as base:
        failed = _post(base, body)
    assert failed.status_code == 503  # the first target failed; the unpriced fallback was not tried
    assert provider.count("generate") == 1
    assert provider.requests[0][1]["model"] == "gpt-image-2"


@pytest.mark.parametrize("name", ["openai", "runware"])
def test_a_generation_billed_for_bytes_that_are_not_an_image_is_charged(
    name: str, clock: Any, serve_app: Any
) -> None:
    # The provider made (and billed) the image; its bytes are not an image, so the caller gets a 502
    # invalid_image_data. The key is charged the estimate: nothing else came back to price it by.
    server = FaultServer(name)
    try:
        server.script.append(bad_image)
        first, second = _body("first attempt"), _body("second attempt")
        estimate = _estimate(_config(server), first, clock)
        config = _config(server, usd_per_day=round(1.5 * estimate, 6))
        with serve_app(_app(config, clock)) as base:
            failed = _post(base, first)
            assert failed.status_code == 502
            assert failed.json()["error"]["code"] == "invalid_image_data"
            spent = _metric(base, "imageshim_budget_spent_usd", client=LABEL_A, window="day")
            assert spent == pytest.approx(estimate)
            assert _metric(base, "imageshim_budget_reserved_usd", client=LABEL_A, window="day") == 0
            _assert_insufficient_quota(_post(base, second))  # no room left for a second one
        assert server.count("generate") == 1
    finally:
        server.close()


def test_a_cost_the_provider_reports_that_is_not_a_price_is_never_charged(
    runware: FaultServer, clock: Any, serve_app: Any
) -> None:
    runware.script.extend([_runware(cost=float("nan")), _runware(cost=float("inf"))])
    bodies = [_body("prompt 1"), _body("prompt 2")]  # the same length: the same estimate
    estimate = _estimate(_config(runware), bodies[0], clock)
    config = _config(runware, usd_per_day=10.0)
    with serve_app(_app(config, clock)) as base:
        for generations, body in enumerate(bodies, start=1):
            reply = _post(base, body)
            assert reply.status_code == 200
            assert reply.headers["x-imageshim-cost-usd"] == f"{estimate:.6f}"  # not nan, not inf
            spent = _metric(base, "imageshim_budget_spent_usd", client=LABEL_A, window="day")
            assert spent == pytest.approx(generations * estimate)
            assert _metric(base, "imageshim_budget_reserved_usd", client=LABEL_A, window="day") == 0


def test_an_edits_input_images_are_held_against_the_budget(clock: Any, serve_app: Any) -> None:
    # The audit's edits: 16 inputs at low quality, under a $0.05 budget. Priced without their inputs they
    # reserved $0.0059 each and all got through; each is about $0.20 with them, more than the budget.
    config = {"routes": {"*": ["mock:gpt-image-2"]}, "gateway": {"budgets": {"usd_per_day": 0.05}}}
    images = [("image[]", (f"{i}.png", _png(64 + i), "image/png")) for i in range(16)]
    with serve_app(_app(config, clock)) as base:
        edit = httpx.post(
            f"{base}/v1/images/edits",
            data={"prompt": "a collage", "model": "gpt-image-2", "quality": "low", "size": "1024x1024"},
            files=images,
            headers={"Authorization": f"Bearer {KEY_A}"},
            timeout=30,
        )
        message = _assert_insufficient_quota(edit)
        assert "more than the whole budget" in message
        assert float(edit.headers["x-imageshim-estimate-usd"]) == pytest.approx(
            196 * 30e-6 + 3 * 5e-6 + 16 * 1536 * 8e-6, abs=1e-6
        )
        one = httpx.post(
            f"{base}/v1/images/edits",
            data={"prompt": "a collage", "model": "gpt-image-2", "quality": "low", "size": "1024x1024"},
            files=images[:1],
            headers={"Authorization": f"Bearer {KEY_A}"},
            timeout=30,
        )
        assert one.status_code == 200, one.text  # one input fits


def _png(width: int) -> bytes:
    import io

    from PIL import Image as PILImage

    out = io.BytesIO()
    PILImage.new("RGB", (width, 64), (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


def test_a_cap_refusal_through_the_gateway_carries_the_estimate(
    provider: FaultServer, clock: Any, serve_app: Any
) -> None:
    body = {**_body(), "model": "gpt-image-2", "quality": "high"}
    config = {**_config(provider), "budget": {"max_usd_per_call": 0.1}}
    estimate = _estimate(_config(provider), body, clock)
    with serve_app(_app(config, clock)) as base:
        refused = _post(base, body)
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "budget_exceeded"
    assert refused.headers["x-imageshim-estimate-usd"] == f"{estimate:.6f}"
    assert provider.count("generate") == 0


class _BrokenWall(Wall):
    """A wall clock that fails while ``broken``: reserving a budget then raises, after the claim."""

    broken = False

    def __call__(self) -> float:
        if self.broken:
            raise RuntimeError("the wall clock failed")
        return self.now


def test_a_failure_while_admitting_gives_the_claim_up(
    runware: FaultServer, clock: Any, serve_app: Any
) -> None:
    runware.script.extend([_runware(), _runware()])
    wall = _BrokenWall(time.time())
    config = _config(runware, usd_per_day=10.0)
    config["gateway"]["max_concurrency_per_key"] = 1
    first, other = _body("first"), _body("other")
    with serve_app(_app(config, clock, wall)) as base:
        wall.broken = True
        crashed = _post(base, first)
        assert crashed.status_code == 500
        wall.broken = False
        # the key's one concurrency slot was given back ...
        assert _post(base, other).status_code == 200
        # ... and a repeat of the same body starts afresh instead of joining a generation that never runs
        repeat = _post(base, first)
        assert repeat.status_code == 200
        assert repeat.headers["x-imageshim-intent"] == "new"
        assert _metric(base, "imageshim_budget_reserved_usd", client=LABEL_A, window="day") == 0
    assert runware.count("generate") == 2


def _outcome(cost: float | None, images: int = 1, failures: tuple[str, ...] = ()) -> ImagesResponse:
    report = ShimReport.model_construct(
        route="openai:gpt-image-2",
        requested_model="dall-e-3",
        cost_usd=cost,
        failures=[{"error": name, "message": "x", "status_code": None} for name in failures],
    )
    return ImagesResponse.model_construct(created=0, data=[Image() for _ in range(images)], imageshim=report)


def test_the_money_rule_for_every_way_a_generation_ends(clock: Any) -> None:
    config = {"routes": {"*": ["openai:gpt-image-2"]}, "providers": {"openai": {"api_key": OPENAI_KEY}}}
    plan = Engine(config, clock=clock).plan(request_from_kwargs(_body()))
    estimate = plan.targets[0].estimate
    assert estimate is not None
    held = 1.0  # what the generation reserved (above the estimate: told apart from it)
    assert charged(held, plan, _outcome(0.07), None) == 0.07  # the cost charged
    # no cost, or a reported 0 for images that came: the estimate (UNCERTAIN: the safe side)
    assert charged(held, plan, _outcome(None), None) == estimate.usd
    assert charged(held, plan, _outcome(0.0), None) == estimate.usd
    # some calls of a split request lost their replies: at least what was held
    assert charged(held, plan, _outcome(0.07, failures=("ResultUnknownError",)), None) == held
    assert charged(held, plan, _outcome(0.07, failures=("RateLimitError",)), None) == 0.07
    partial = PartialResultError("1 of 2", response=_outcome(0.07), failures=[])
    assert charged(held, plan, None, partial) == 0.07
    # never ran: released
    assert charged(held, plan, None, RateLimitError("no", provider="openai")) == 0.0
    assert charged(held, plan, None, APIConnectionError(provider="openai", reply_lost=False)) == 0.0
    assert charged(held, plan, None, MissingAPIKeyError("openai", "OPENAI_API_KEY")) == 0.0
    # result unknown: the whole reservation
    unknown = ResultUnknownError("lost", task_ids=["t"], provider="openai")
    assert charged(held, plan, None, unknown) == held
    assert charged(held, plan, None, APITimeoutError(provider="openai", reply_lost=True)) == held
    assert charged(held, plan, None, RuntimeError("a crash")) == held


def test_only_a_generation_known_not_to_have_run_is_free(clock: Any) -> None:
    config = {"routes": {"*": ["openai:gpt-image-2"]}, "providers": {"openai": {"api_key": OPENAI_KEY}}}
    plan = Engine(config, clock=clock).plan(request_from_kwargs(_body()))
    estimate = plan.targets[0].estimate
    assert estimate is not None
    held = 1.0

    def answered(error: APIError) -> APIError:
        error.attempts = [Attempt("openai:gpt-image-2", "partial", 1.0)]
        return error

    # the provider answered and billed: bytes that are not an image, a 5xx it does not retry
    bad_bytes = InternalServerError(
        "openai:gpt-image-2 returned image data that is not a usable image",
        status_code=502,
        code="invalid_image_data",
        provider="openai",
        retryable=False,
    )
    final_500 = InternalServerError("boom", provider="openai", retryable=False)
    for billed in (bad_bytes, final_500):
        assert not never_ran(billed)
        assert charged(held, plan, None, answered(billed)) == estimate.usd
    unattributed = InternalServerError(
        "boom", provider="openai", retryable=False
    )  # no attempt names a target
    assert charged(held, plan, None, unattributed) == held
    # known not to have run: refused with a 4xx, nothing sent, or what the policy would send again
    nothing_sent = APITimeoutError("deadline passed, nothing was sent", provider="openai", reply_lost=False)
    for free in (
        BadRequestError("moderation", provider="openai"),
        PermissionDeniedError("no credits", status_code=402, provider="openai"),
        RateLimitError("slow down", provider="openai"),
        nothing_sent,
        InternalServerError("returned no images", status_code=502, retryable=True, provider="openai"),
        APIError("task(s) did not run", provider="openai", retryable=True, reply_lost=False),
        BadRequestError("Invalid value for 'size'"),  # the shim's own, before any I/O
    ):
        assert never_ran(free), free
        assert charged(held, plan, None, answered(free)) == 0.0
    assert not never_ran(None)
    assert not never_ran(RuntimeError("a crash"))


# ----- windows -----------------------------------------------------------------------------------------
def test_the_day_and_the_month_roll_over_on_the_injected_clock(
    provider: FaultServer, clock: Any, serve_app: Any
) -> None:
    body = _body()
    estimate = _estimate(_config(provider), body, clock)
    # one generation a day, two a month (the openai fake reports no cost: each is charged its estimate)
    config = _config(provider, usd_per_day=round(1.5 * estimate, 6), usd_per_month=round(2.5 * estimate, 6))
    wall = Wall(_at(2026, 11, 28, 12))
    with serve_app(_app(config, clock, wall)) as base:

        def ask(prompt: str) -> httpx.Response:
            return _post(base, _body(prompt))

        assert ask("one").status_code == 200
        refused = ask("two")
        assert "UTC day 2026-11-28" in _assert_insufficient_quota(refused)
        assert refused.headers["x-imageshim-budget-resets-at"] == "Sun, 29 Nov 2026 00:00:00 GMT"
        wall.now = _at(2026, 11, 29, 0, 0, 1)  # a new day
        assert ask("three").status_code == 200
        wall.now = _at(2026, 11, 30, 9)  # a new day, but the month's budget is spent
        refused = ask("four")
        assert "UTC month 2026-11" in _assert_insufficient_quota(refused)
        assert refused.headers["x-imageshim-budget-window"] == "month"
        assert refused.headers["x-imageshim-budget-resets-at"] == "Tue, 01 Dec 2026 00:00:00 GMT"
        wall.now = _at(2026, 12, 1)  # a new month
        assert ask("five").status_code == 200
    assert provider.count("generate") == 3


def test_windows_are_utc_calendar_days_and_months() -> None:
    day, month = windows(_at(2026, 12, 31, 23, 59, 59))
    assert (day.ident, month.ident) == ("2026-12-31", "2026-12")
    assert day.resets_at == month.resets_at == _at(2027, 1, 1)
    assert (day.starts_at, month.starts_at) == (_at(2026, 12, 31), _at(2026, 12, 1))


# ----- overrides and configuration --------------------------------------------------------------------
def test_an_override_by_label_replaces_the_default_for_that_key(
    runware: FaultServer, clock: Any, serve_app: Any
) -> None:
    runware.script.extend([_runware(), _runware()])
    config = _config(runware, usd_per_day=0.001, keys={LABEL_B: {"usd_per_day": 1.0}})
    with serve_app(_app(config, clock)) as base:
        _assert_insufficient_quota(_post(base, _body()))
        assert _post(base, _body(), key=KEY_B).status_code == 200
    assert runware.count("generate") == 1


def test_a_raw_key_in_the_budgets_is_refused_without_being_shown() -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_config({"gateway": {"budgets": {"keys": {KEY_A: {"usd_per_day": 1.0}}}}})
    assert KEY_A not in str(caught.value)
    assert "gateway.budgets.keys" in str(caught.value)
    loaded = load_config(
        {"gateway": {"budgets": {"usd_per_day": 2, "keys": {LABEL_A: {"usd_per_month": 9}}}}}
    )
    assert loaded.gateway.budgets == GatewayBudgets(
        usd_per_day=2.0, keys={LABEL_A: KeyBudget(usd_per_month=9.0)}
    )


def test_startup_names_each_keys_label_and_warns_about_what_weakens_the_budgets(
    runware: FaultServer, clock: Any, caplog: pytest.LogCaptureFixture
) -> None:
    stray = "0123456789ab"  # a label no accepted key has
    config = _config(
        runware, usd_per_day=2.0, keys={LABEL_B: {"usd_per_month": 9.0}, stray: {"usd_per_day": 1}}
    )
    with caplog.at_level("INFO", logger="imageshim"):
        _app(config, clock)
    text = caplog.text
    assert f"client key 1 of IMAGESHIM_GATEWAY_KEYS (label {LABEL_A}): $2.00 per UTC day" in text
    assert (
        f"client key 2 of IMAGESHIM_GATEWAY_KEYS (label {LABEL_B}): $2.00 per UTC day, $9.00 per UTC month"
        in text
    )
    assert f"no accepted key has: {stray}" in text
    assert "IMAGESHIM_CLIENT_HASH_SALT" in text  # labels derived from the key list
    assert "kept in this process's memory" in text  # the memory store: a restart forgets
    assert KEY_A not in text
    assert KEY_B not in text


def test_serve_flags_keep_the_budgets() -> None:
    from imageshim._frontends.gateway.main import _with_overrides

    loaded = load_config(
        {"gateway": {"budgets": {"usd_per_day": 2, "keys": {LABEL_A: {"usd_per_month": 9}}}}}
    )
    assert _with_overrides(loaded, {"ttl_seconds": 60}).gateway.budgets == loaded.gateway.budgets


# ----- the embedded ledger -----------------------------------------------------------------------------
def test_the_local_ledger_reserves_atomically_and_keeps_its_sums_across_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "hosted.budgets"
    wall = Wall(_at(2026, 11, 27, 10))
    limits = Limits(day=micro(1.0), month=None)

    async def first_process() -> list[Hold | Refusal]:
        budgets = Budgets(GatewayBudgets(usd_per_day=1.0), LocalLedger(path), wall=wall)
        held = await asyncio.gather(*(budgets.reserve(LABEL_A, 0.3, limits) for _ in range(5)))
        holds = [h for h in held if isinstance(h, Hold)]
        await budgets.settle(holds[0], 0.25)  # one finished; the others were in flight at the stop
        return held

    held = asyncio.run(first_process())
    assert [type(h).__name__ for h in held] == ["Hold"] * 3 + ["Refusal"] * 2
    assert LABEL_A in path.read_text()
    assert KEY_A not in path.read_text()

    async def second_process() -> tuple[Any, Any]:
        budgets = Budgets(GatewayBudgets(usd_per_day=1.0), LocalLedger(path), wall=wall)
        # in flight when the first process stopped: unknown results, counted as spent
        return await budgets.tally(LABEL_A), await budgets.reserve(LABEL_A, 0.2, limits)

    tally, after = asyncio.run(second_process())
    assert (tally.day_spent, tally.day_reserved) == (micro(0.25 + 0.6), 0)
    assert isinstance(after, Refusal)


def test_the_local_ledger_applies_a_reservation_and_a_settlement_once() -> None:
    # As the shared ledger: a reservation or settlement applied again (a retry) is a no-op.
    day, month = windows(_at(2026, 11, 27, 10))
    limits = Limits(day=300, month=None)

    async def go() -> tuple[Any, ...]:
        ledger = LocalLedger()
        a = await ledger.reserve(LABEL_A, 100, limits, day, month, "hold-a")
        again = await ledger.reserve(LABEL_A, 100, limits, day, month, "hold-a")
        b = await ledger.reserve(LABEL_A, 100, limits, day, month, "hold-b")
        assert isinstance(a, Hold)
        assert isinstance(b, Hold)
        after_reserving = await ledger.tally(LABEL_A, day, month)
        await ledger.settle(a, 0)
        await ledger.settle(a, 0)  # a replay must not release b's reservation
        after_release = await ledger.tally(LABEL_A, day, month)
        await ledger.settle(b, 100)
        await ledger.settle(b, 100)  # nor charge b twice
        return again == a, after_reserving, after_release, await ledger.tally(LABEL_A, day, month)

    same, reserving, released, settled = asyncio.run(go())
    assert same
    assert (reserving.day_spent, reserving.day_reserved) == (0, 200)
    assert (released.day_spent, released.day_reserved) == (0, 100)
    assert (settled.day_spent, settled.day_reserved) == (100, 0)


def test_an_unreadable_budgets_file_stops_the_gateway_from_starting(tmp_path: Path) -> None:
    path = tmp_path / "hosted.budgets"
    path.write_text("{not json")
    with pytest.raises(ConfigurationError, match="budgets file"):
        LocalLedger(path)


# ----- real imageshim serve processes -----------------------------------------------------------------
_posix = pytest.mark.skipif(not hasattr(signal, "SIGTERM"), reason="POSIX signals")


@_posix
def test_a_served_gateway_refuses_a_spent_key_and_the_sdk_does_not_retry(
    runware: FaultServer, tmp_path: Path, clock: Any
) -> None:
    runware.script.extend([_runware(), _runware()])
    probe = _config(runware)
    budget = round(COST + _estimate(probe, _body("two"), clock) - 0.001, 6)
    config = _config(runware, usd_per_day=budget)
    env = {"IMAGESHIM_GATEWAY_KEYS": f"{KEY_A},{KEY_B}"}
    sent: list[str] = []
    http = httpx.Client(event_hooks={"request": [lambda request: sent.append(request.url.path)]})
    with gateway_process(tmp_path, config, env=env) as gw:
        sdk = openai.OpenAI(api_key=KEY_A, base_url=gw.base_url, max_retries=2, http_client=http)
        try:
            ok = sdk.images.with_raw_response.generate(**_body("one"))
            assert ok.headers["x-imageshim-cost-usd"] == f"{COST:.6f}"
            assert ok.headers["x-imageshim-estimate-usd"] == f"{_estimate(probe, _body('one'), clock):.6f}"
            with pytest.raises(openai.RateLimitError) as caught:
                sdk.images.generate(**_body("two"))
        finally:
            sdk.close()
        spent = _metric(gw.origin, "imageshim_budget_spent_usd", client=LABEL_A, window="day")
        log = gw.log()
    assert caught.value.code == "insufficient_quota"
    assert sent == ["/v1/images/generations"] * 2
    assert runware.count("generate") == 1
    assert spent == pytest.approx(COST)
    assert f"label {LABEL_A}" in log  # the operator learns each key's label at startup
    assert KEY_A not in log


@_posix
def test_a_budget_survives_a_restart_with_the_file_store(
    runware: FaultServer, tmp_path: Path, clock: Any
) -> None:
    runware.script.extend([_runware(), _runware()])
    budget = round(COST + _estimate(_config(runware), _body("two"), clock) - 0.001, 6)
    config = _config(runware, usd_per_day=budget)
    config["gateway"].update(store="file", store_dir=str(tmp_path / "hosted"))
    env = {"IMAGESHIM_GATEWAY_KEYS": f"{KEY_A},{KEY_B}"}
    with gateway_process(tmp_path, config, env=env) as gw:
        assert _post(gw.origin, _body("one")).status_code == 200
    kept = (tmp_path / "hosted.budgets").read_text()
    assert LABEL_A in kept
    assert KEY_A not in kept
    with gateway_process(tmp_path, config, env=env) as gw:
        message = _assert_insufficient_quota(_post(gw.origin, _body("two")))
    assert usd(micro(COST)) in message
    assert runware.count("generate") == 1
