"""The real openai SDK, served in-process by imageshim.openai_http_client()."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import openai
import pytest

import imageshim
from imageshim._transport import async_openai_http_client, http_module_for_openai, openai_http_client
from imageshim_adapters._images import png_size

MOCK = {"routes": {"*": ["mock:gpt-image-2"]}}


@pytest.fixture
def sdk(clock: Any) -> openai.OpenAI:
    return openai.OpenAI(api_key="unused", max_retries=0, http_client=openai_http_client(MOCK, clock=clock))


def test_the_client_type_matches_the_installed_sdk() -> None:
    module = http_module_for_openai()
    expected = "httpx2" if int(openai.__version__.split(".")[0]) >= 3 else "httpx"
    assert module.__name__ == expected
    assert isinstance(openai_http_client(MOCK), module.Client)


def test_dalle3_call_returns_the_sdk_response_with_a_url(sdk: openai.OpenAI) -> None:
    with pytest.warns(imageshim.ImageShimWarning) as caught:
        resp = sdk.images.generate(
            model="dall-e-3",
            prompt="otter",
            size="1792x1024",
            quality="hd",
            style="vivid",
            response_format="url",
        )
    assert type(resp).__module__.startswith("openai.")
    url = resp.data[0].url
    assert url is not None
    assert url.startswith("data:image/png;base64,")
    assert png_size(base64.b64decode(url.partition(",")[2])) == (1792, 1024)
    assert resp.size == "1792x1024"
    assert resp.quality == "high"
    kinds = {type(w.message) for w in caught}
    assert kinds == {
        imageshim.ModelRetiredWarning,
        imageshim.OptionMappedWarning,
        imageshim.OptionDroppedWarning,
    }


def test_b64_json_call(sdk: openai.OpenAI) -> None:
    with pytest.warns(imageshim.ModelRetiredWarning):
        resp = sdk.images.generate(model="dall-e-3", prompt="otter", response_format="b64_json")
    assert resp.data[0].url is None
    assert png_size(base64.b64decode(resp.data[0].b64_json or "")) == (1024, 1024)


def test_bad_request_raises_the_sdk_error_with_code_and_param(sdk: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        sdk.images.generate(model="gpt-image-2", prompt="x", quality="ultra")
    assert info.value.status_code == 400
    assert info.value.code == "invalid_value"
    assert info.value.param == "quality"


def test_unknown_body_field_is_unknown_parameter(sdk: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        sdk.images.generate(model="gpt-image-2", prompt="x", extra_body={"seed": 3})
    assert info.value.code == "unknown_parameter"
    assert info.value.param == "seed"


def test_provider_429_raises_the_sdk_rate_limit_error(sdk: openai.OpenAI, imageshim_mock: Any) -> None:
    imageshim_mock.fail_next(
        imageshim.RateLimitError("slow down", retry_after=0.0, code="rate_limit_exceeded"), times=3
    )
    with pytest.raises(openai.RateLimitError) as info:
        sdk.images.generate(model="gpt-image-2", prompt="x")
    assert info.value.code == "rate_limit_exceeded"
    assert info.value.response.headers["x-should-retry"] == "false"
    assert info.value.response.headers["retry-after"] == "1"
    assert len(imageshim_mock.calls) == 3  # the shim retried twice; the SDK did not retry again


def test_other_endpoints_get_a_clear_404(sdk: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        sdk.models.list()
    assert "imageshim serves POST /v1/images/generations" in str(info.value)


def test_streaming_emits_the_completed_event(sdk: openai.OpenAI) -> None:
    events = list(sdk.images.generate(model="gpt-image-2", prompt="otter", size="1024x1536", stream=True))
    assert [e.type for e in events] == ["image_generation.completed"]
    assert events[0].size == "1024x1536"
    assert png_size(base64.b64decode(events[0].b64_json)) == (1024, 1536)


def test_streaming_a_dalle_target_is_a_clear_400(clock: Any) -> None:
    config = {"routes": {"*": ["mock:dall-e-3"]}, "lifecycle": {"on_retired": "allow"}}
    sdk = openai.OpenAI(api_key="unused", max_retries=0, http_client=openai_http_client(config, clock=clock))
    with pytest.raises(openai.BadRequestError) as info:
        sdk.images.generate(model="dall-e-3", prompt="x", stream=True)
    assert info.value.param == "stream"


def test_warnings_travel_in_a_header(clock: Any) -> None:
    client = openai_http_client(MOCK, clock=clock)
    with pytest.warns(imageshim.OptionDroppedWarning):
        reply = client.post(
            "/images/generations", json={"model": "gpt-image-2", "prompt": "x", "style": "vivid"}
        )
    assert reply.status_code == 200
    assert reply.headers["x-imageshim-route"] == "mock:gpt-image-2"
    warnings = json.loads(reply.headers["x-imageshim-warnings"])
    assert warnings == [
        {"category": "OptionDroppedWarning", "setting": "style", "message": warnings[0]["message"]}
    ]
    assert reply.headers["x-request-id"].startswith("req_")


def test_the_httpx_flavour_for_openai_1_and_2(clock: Any) -> None:
    client = openai_http_client(MOCK, clock=clock, http_module=httpx)
    assert isinstance(client, httpx.Client)
    reply = client.post("/images/generations", json={"model": "gpt-image-2", "prompt": "x", "n": 2})
    assert reply.status_code == 200
    assert len(reply.json()["data"]) == 2
    assert "imageshim" not in reply.json()


@pytest.mark.anyio
async def test_async_sdk(clock: Any) -> None:
    sdk = openai.AsyncOpenAI(
        api_key="unused", max_retries=0, http_client=async_openai_http_client(MOCK, clock=clock)
    )
    with pytest.warns(imageshim.ModelRetiredWarning):
        resp = await sdk.images.generate(model="dall-e-3", prompt="otter", response_format="b64_json")
    assert resp.data[0].b64_json
    with pytest.raises(openai.BadRequestError):
        await sdk.images.generate(model="gpt-image-2", prompt="x", n=11)
