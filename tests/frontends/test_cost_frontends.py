"""Cost policies through the ways in: the native client (sync and async) and the in-process transport
(the real openai SDK), on the mock and on loopback fakes of OpenAI and Runware.

Each policy is decided once in planning, so each way in must show it the same way: the estimate beside
the cost charged, the cap refusing before any request (nothing reaches the mock or the fake), price
parity's quality and warning, cheapest-first's order.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from tests.faults import server as fake

import imageshim
from imageshim._frontends.transport import openai_http_client

KEYS = {"openai": "fake-openai-test-key-0123", "runware": "rw-test-key-0123456789"}
PROMPT = "a lighthouse at dusk"  # 20 bytes: 5 prompt tokens


@pytest.fixture(params=["openai", "runware"])
def provider(request: pytest.FixtureRequest) -> Iterator[fake.FaultServer]:
    srv = fake.FaultServer(provider=request.param)
    yield srv
    srv.close()


def _loopback(srv: fake.FaultServer, **extra: Any) -> dict[str, Any]:
    return {
        "routes": {"*": [f"{srv.provider}:gpt-image-2"]},
        "providers": {srv.provider: {"api_key": KEYS[srv.provider], "base_url": srv.base_url, "timeout": 10}},
        "retry": {"max_retries": 0},
        **extra,
    }


def _mock(**extra: Any) -> dict[str, Any]:
    return {"routes": {"*": ["mock:gpt-image-2"]}, **extra}


def _sdk(config: dict[str, Any], clock: Any) -> openai.OpenAI:
    return openai.OpenAI(api_key="unused", max_retries=0, http_client=openai_http_client(config, clock=clock))


# ----- the estimate beside the cost ---------------------------------------------------------------------
def test_native_mock_reports_the_estimate_and_what_the_same_call_would_cost(
    imageshim_mock: Any, clock: Any
) -> None:
    client = imageshim.OpenAI(config=_mock(), clock=clock)
    resp = client.images.generate(model="gpt-image-2", prompt=PROMPT, size="1536x1024", quality="medium", n=2)
    report = resp.imageshim
    assert report.estimate_usd == pytest.approx(2 * (1372 * 30e-6 + 5 * 5e-6))
    assert report.cost_usd == report.estimate_usd  # the mock's usage is what the estimate assumes
    assert resp.usage is not None
    assert resp.usage.output_tokens == 2 * 1372
    assert report.estimate_source is not None
    assert "1372 image output tokens + ~5 prompt tokens per image" in report.estimate_source
    dumped = resp.model_dump()["imageshim"]
    assert dumped["estimate_usd"] == report.estimate_usd
    assert dumped["estimate_source"] == report.estimate_source
    assert len(imageshim_mock.calls) == 1


def test_native_mock_dalle3_is_priced_per_image(imageshim_mock: Any, clock: Any) -> None:
    config = {"routes": {"*": ["mock:dall-e-3"]}, "lifecycle": {"on_retired": "allow"}}
    client = imageshim.OpenAI(config=config, clock=clock)
    with pytest.warns(imageshim.ModelRetiredWarning):
        resp = client.images.generate(model="dall-e-3", prompt=PROMPT, size="1792x1024", quality="hd")
    assert (resp.imageshim.estimate_usd, resp.imageshim.cost_usd) == (0.12, 0.12)


def test_native_loopback_reports_the_estimate(provider: fake.FaultServer, clock: Any) -> None:
    client = imageshim.OpenAI(config=_loopback(provider), clock=clock)
    resp = client.images.generate(model="gpt-image-2", prompt=PROMPT, size="1024x1024", quality="high")
    assert resp.imageshim.estimate_usd == pytest.approx(7024 * 30e-6 + 5 * 5e-6)
    if provider.provider == "runware":  # the fake charges $0.05 per image, reported with includeCost
        assert (resp.imageshim.cost_usd, resp.imageshim.cost_source) == (0.05, "provider")
    else:  # the fake reports no usage: the cost is the catalog's estimate, and says so
        assert resp.imageshim.cost_usd == resp.imageshim.estimate_usd
        assert resp.imageshim.cost_source is not None
        assert resp.imageshim.cost_source.startswith("estimate from the catalog's token prices")
    assert provider.count("generate") == 1


def _runware_reporting(cost: Any) -> Any:
    """A Runware reply whose images report ``cost`` (as JSON writes it: NaN and Infinity included)."""

    def act(conn: fake.Conn) -> None:
        items = [
            {
                "taskType": "imageInference",
                "taskUUID": task["taskUUID"],
                "imageUUID": "5d1b3c6e-0000-4000-8000-000000000001",
                "cost": cost,
                "status": "success",
                "imageBase64Data": fake.PNG,
            }
            for task in conn.json()
        ]
        conn.send(200, json.dumps({"data": items}).encode())

    return act


@pytest.mark.parametrize("cost", [math.nan, math.inf, -0.5, "NaN", "Infinity", 1e300])
def test_a_reported_cost_that_is_not_a_price_is_replaced_by_the_estimate(
    cost: Any, clock: Any, caplog: pytest.LogCaptureFixture
) -> None:
    srv = fake.FaultServer(provider="runware")
    srv.script.append(_runware_reporting(cost))
    try:
        client = imageshim.OpenAI(config=_loopback(srv), clock=clock)
        with caplog.at_level("WARNING", logger="imageshim"):
            resp = client.images.generate(model="gpt-image-2", prompt=PROMPT, size="1024x1024", quality="low")
        srv.script.append(_runware_reporting(cost))
        raw = _sdk(_loopback(srv), clock).images.with_raw_response.generate(
            model="gpt-image-2", prompt=PROMPT, size="1024x1024", quality="low"
        )
    finally:
        srv.close()
    report = resp.imageshim
    assert report.estimate_usd == pytest.approx(196 * 30e-6 + 5 * 5e-6)
    assert report.cost_usd == report.estimate_usd
    assert report.cost_source is not None
    assert report.cost_source.startswith("estimate from the catalog's token prices")
    assert "runware:gpt-image-2 reported a cost of" in caplog.text
    assert "which is not a price; the estimate is used instead" in caplog.text
    assert raw.headers["x-imageshim-cost-usd"] == f"{report.estimate_usd:.6f}"  # the transport's header too


# ----- the cap ------------------------------------------------------------------------------------------
def test_native_mock_refuses_over_the_cap_and_sends_nothing(imageshim_mock: Any, clock: Any) -> None:
    client = imageshim.OpenAI(config=_mock(budget={"max_usd_per_call": 0.1}), clock=clock)
    with pytest.raises(imageshim.BudgetExceededError) as info:
        client.images.generate(model="gpt-image-2", prompt=PROMPT, size="1024x1024", quality="high")
    assert info.value.fits == {"quality": "medium", "size": "1024x1024", "estimate_usd": 0.052705}
    assert imageshim_mock.calls == []
    # the setting it names fits, and is served
    resp = client.images.generate(model="gpt-image-2", prompt=PROMPT, size="1024x1024", quality="medium")
    assert resp.imageshim.estimate_usd == 0.052705
    assert len(imageshim_mock.calls) == 1


def test_native_loopback_refuses_over_the_cap_and_sends_nothing(
    provider: fake.FaultServer, clock: Any
) -> None:
    client = imageshim.OpenAI(config=_loopback(provider, budget={"max_usd_per_call": 0.1}), clock=clock)
    with pytest.raises(imageshim.BudgetExceededError):
        client.images.generate(model="gpt-image-2", prompt=PROMPT, size="1024x1024", quality="high")
    assert provider.requests == []


def test_async_native_refuses_over_the_cap_and_sends_nothing(provider: fake.FaultServer, clock: Any) -> None:
    async def go() -> None:
        async with imageshim.AsyncOpenAI(
            config=_loopback(provider, budget={"max_usd_per_call": 0.1}), clock=clock
        ) as client:
            await client.images.generate(model="gpt-image-2", prompt=PROMPT, size="1024x1024", quality="high")

    with pytest.raises(imageshim.BudgetExceededError):
        asyncio.run(go())
    assert provider.requests == []


@pytest.mark.parametrize("where", ["mock", "loopback"])
def test_transport_refuses_over_the_cap_with_the_sdks_400(
    where: str, provider: fake.FaultServer, imageshim_mock: Any, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    if where == "loopback":
        monkeypatch.delenv("IMAGESHIM_ADAPTER")  # imageshim_mock routes everything to the mock otherwise
    config = _loopback(provider) if where == "loopback" else _mock()
    sdk = _sdk({**config, "budget": {"max_usd_per_call": 0.1}}, clock)
    with pytest.raises(openai.BadRequestError) as info:
        sdk.images.generate(model="gpt-image-2", prompt=PROMPT, size="1024x1024", quality="high")
    assert info.value.status_code == 400
    assert info.value.code == "budget_exceeded"
    assert info.value.param == "quality"
    assert info.value.response.headers["x-imageshim-estimate-usd"] == "0.210745"  # the refused estimate
    assert "above [budget] max_usd_per_call = $0.1000" in info.value.message
    assert "Cheapest setting that fits: quality='medium'" in info.value.message
    assert provider.requests == []
    assert imageshim_mock.calls == []


def test_an_edits_input_images_count_against_the_cap(imageshim_mock: Any, clock: Any) -> None:
    # The audit's edit: 16 inputs at low quality. Without its inputs it is estimated at about $0.006 and
    # passes a $0.01 cap; at 1,536 image-input tokens each it is about $0.20.
    client = imageshim.OpenAI(config=_mock(budget={"max_usd_per_call": 0.01}), clock=clock)
    images = [_png(64 + i) for i in range(16)]
    with pytest.raises(imageshim.BudgetExceededError) as info:
        client.images.edit(image=images, prompt=PROMPT, model="gpt-image-2", quality="low", size="1024x1024")
    assert info.value.estimate_usd == pytest.approx(196 * 30e-6 + 5 * 5e-6 + 16 * 1536 * 8e-6, abs=1e-6)
    assert info.value.fits is None  # the inputs cost more than the cap at every setting
    assert imageshim_mock.calls == []
    resp = client.images.generate(model="gpt-image-2", prompt=PROMPT, quality="low", size="1024x1024")
    assert resp.imageshim.estimate_usd is not None
    assert resp.imageshim.estimate_usd < 0.01  # the same call without inputs fits
    assert len(imageshim_mock.calls) == 1


def _png(width: int) -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (width, 64), (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


def test_an_unpriced_call_under_a_cap_is_refused_everywhere(imageshim_mock: Any, clock: Any) -> None:
    config = {"routes": {"*": ["mock:gpt-image-2.5-flare"]}, "budget": {"max_usd_per_call": 1.0}}
    with pytest.raises(imageshim.BudgetExceededError, match=r"\[\[models\]\]"):
        imageshim.OpenAI(config=config, clock=clock).images.generate(
            model="gpt-image-2.5-flare", prompt=PROMPT
        )
    with pytest.raises(openai.BadRequestError) as info:
        _sdk(config, clock).images.generate(model="gpt-image-2.5-flare", prompt=PROMPT)
    assert info.value.code == "budget_exceeded"
    assert imageshim_mock.calls == []


# ----- price parity -------------------------------------------------------------------------------------
PARITY = {"mapping": {"quality": "price-parity"}}


def _parity(caught: Any) -> str:
    (reason,) = [str(w.message) for w in caught if "price parity" in str(w.message)]
    assert isinstance(caught[0].message, imageshim.ImageShimWarning)
    return reason


def test_native_mock_parity(imageshim_mock: Any, clock: Any) -> None:
    client = imageshim.OpenAI(config=_mock(**PARITY), clock=clock)
    with pytest.warns(imageshim.ImageShimWarning) as caught:
        resp = client.images.generate(model="dall-e-3", prompt=PROMPT, size="1024x1024", quality="hd")
    assert "about $0.0527 on mock:gpt-image-2, against $0.0800 that dall-e-3 charged" in _parity(caught)
    assert imageshim_mock.calls[0].quality == "medium"
    assert resp.imageshim.cost_usd == resp.imageshim.estimate_usd == 0.052705


def test_native_loopback_parity(provider: fake.FaultServer, clock: Any) -> None:
    client = imageshim.OpenAI(config=_loopback(provider, **PARITY), clock=clock)
    with pytest.warns(imageshim.ImageShimWarning) as caught:
        resp = client.images.generate(model="dall-e-3", prompt=PROMPT, size="1792x1024", quality="hd")
    assert f"on {provider.provider}:gpt-image-2, against $0.1200" in _parity(caught)
    ((_, sent),) = provider.requests
    quality = sent["quality"] if provider.provider == "openai" else sent[0]["settings"]["quality"]
    assert quality == "medium"  # high would be $0.1519, over DALL·E 3's $0.12
    assert resp.imageshim.estimate_usd == pytest.approx(1243 * 30e-6 + 5 * 5e-6)


def test_transport_parity(imageshim_mock: Any, clock: Any) -> None:
    sdk = _sdk(_mock(**PARITY), clock)
    with pytest.warns(imageshim.ImageShimWarning) as caught:
        resp = sdk.images.generate(model="dall-e-3", prompt=PROMPT, size="1024x1024", quality="standard")
    assert resp.quality is not None
    assert imageshim_mock.calls[0].quality == "low"  # medium would be $0.0527, over DALL·E 3's $0.04
    assert "against $0.0400 that dall-e-3 charged for standard 1024x1024" in _parity(caught)


# ----- cheapest first -----------------------------------------------------------------------------------
CHEAPEST = {
    "routes": {"*": ["mock:gpt-image-2", "mock:dall-e-3"]},
    "routing": {"prefer": "cheapest"},
    "lifecycle": {"on_retired": "allow"},
}


def test_native_mock_cheapest_first(imageshim_mock: Any, clock: Any) -> None:
    client = imageshim.OpenAI(config=CHEAPEST, clock=clock)
    with pytest.warns(imageshim.ModelRetiredWarning):
        resp = client.images.generate(model="dall-e-3", prompt=PROMPT, size="1792x1024", quality="hd")
    assert resp.imageshim.route == "mock:dall-e-3"  # $0.12 against gpt-image-2 high's $0.1519
    assert [c.target for c in imageshim_mock.calls] == ["mock:dall-e-3"]


def test_native_mock_cheapest_falls_back_on_failure(imageshim_mock: Any, clock: Any) -> None:
    imageshim_mock.fail_next(500)
    client = imageshim.OpenAI(config={**CHEAPEST, "retry": {"max_retries": 0}}, clock=clock)
    with pytest.warns(imageshim.ImageShimWarning):
        resp = client.images.generate(model="dall-e-3", prompt=PROMPT, size="1792x1024", quality="hd")
    assert [c.target for c in imageshim_mock.calls] == ["mock:dall-e-3", "mock:gpt-image-2"]
    assert resp.imageshim.route == "mock:gpt-image-2"
    assert resp.imageshim.estimate_usd == pytest.approx(5063 * 30e-6 + 5 * 5e-6)


def test_transport_cheapest_first(imageshim_mock: Any, clock: Any) -> None:
    sdk = _sdk(CHEAPEST, clock)
    with pytest.warns(imageshim.ImageShimWarning):
        raw = sdk.images.with_raw_response.generate(
            model="dall-e-3", prompt=PROMPT, size="1792x1024", quality="hd"
        )
    assert raw.headers["x-imageshim-route"] == "mock:dall-e-3"
    assert float(raw.headers["x-imageshim-cost-usd"]) == 0.12


def test_native_loopback_cheapest_first(clock: Any) -> None:
    servers = {name: fake.FaultServer(provider=name) for name in ("openai", "runware")}
    try:
        config = {
            "routes": {"*": ["openai:gpt-image-2", "runware:dall-e-3"]},
            "routing": {"prefer": "cheapest"},
            "lifecycle": {"on_retired": "allow"},
            "providers": {
                name: {"api_key": KEYS[name], "base_url": srv.base_url} for name, srv in servers.items()
            },
        }
        client = imageshim.OpenAI(config=config, clock=clock)
        with pytest.warns(imageshim.ModelRetiredWarning):
            resp = client.images.generate(model="dall-e-3", prompt=PROMPT, size="1792x1024", quality="hd")
        # Runware's DALL·E 3 at $0.12 before OpenAI's GPT Image 2 at $0.1519 (high, 1792x1024)
        assert resp.imageshim.route == "runware:dall-e-3"
        assert resp.imageshim.estimate_usd == 0.12
        assert [servers["openai"].count("generate"), servers["runware"].count("generate")] == [0, 1]
    finally:
        for srv in servers.values():
            srv.close()


def test_the_mock_charges_an_edits_input_images_as_the_estimate_does(imageshim_mock: Any, clock: Any) -> None:
    client = imageshim.OpenAI(config=_mock(), clock=clock)
    images = [_png(64 + i) for i in range(3)]
    resp = client.images.edit(
        image=images, prompt=PROMPT, model="gpt-image-2", quality="low", size="1024x1024"
    )
    assert resp.imageshim.estimate_usd == pytest.approx(196 * 30e-6 + 5 * 5e-6 + 3 * 1536 * 8e-6, abs=1e-6)
    assert resp.imageshim.cost_usd == resp.imageshim.estimate_usd  # what the same edit would cost


# ----- the same policies through the gateway ------------------------------------------------------------
GATEWAY_KEY = "sk-not-a-real-key-gateway-cost-0001"


def _gateway_post(serve_app: Any, config: dict[str, Any], clock: Any, body: dict[str, Any]) -> httpx.Response:
    from imageshim._frontends.gateway import create_app

    with serve_app(create_app(config, keys=[GATEWAY_KEY], clock=clock)) as base:
        return httpx.post(
            f"{base}/v1/images/generations",
            json={"prompt": PROMPT, "response_format": "b64_json", **body},
            headers={"Authorization": f"Bearer {GATEWAY_KEY}"},
            timeout=30,
        )


def test_gateway_parity(imageshim_mock: Any, clock: Any, serve_app: Any) -> None:
    reply = _gateway_post(
        serve_app, _mock(**PARITY), clock, {"model": "dall-e-3", "size": "1024x1024", "quality": "hd"}
    )
    assert reply.status_code == 200, reply.text
    assert imageshim_mock.calls[0].quality == "medium"  # high would cost more than DALL·E 3 hd's $0.08
    assert reply.headers["x-imageshim-estimate-usd"] == "0.052705"


def test_gateway_cheapest_first(imageshim_mock: Any, clock: Any, serve_app: Any) -> None:
    reply = _gateway_post(
        serve_app, CHEAPEST, clock, {"model": "dall-e-3", "size": "1792x1024", "quality": "hd"}
    )
    assert reply.status_code == 200, reply.text
    assert [c.target for c in imageshim_mock.calls] == ["mock:dall-e-3"]  # $0.12 against $0.1519
    assert reply.headers["x-imageshim-model"] == "dall-e-3"
