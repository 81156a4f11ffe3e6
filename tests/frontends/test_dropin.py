"""The real openai SDK, served in-process by imageshim.openai_http_client()."""

from __future__ import annotations

import base64
import json
import sys
import time
from typing import Any

import httpx
import openai
import pytest

import imageshim
from imageshim._frontends.transport import (
    async_openai_http_client,
    http_module_for_openai,
    openai_http_client,
)
from imageshim_adapters.mock.images import png_size

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
    with pytest.warns(imageshim.ImageShimWarning) as caught:
        resp = sdk.images.generate(model="dall-e-3", prompt="otter", response_format="b64_json")
    assert imageshim.ModelRetiredWarning in {type(w.message) for w in caught}
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
        sdk.embeddings.create(model="text-embedding-3-small", input="x")
    assert "imageshim serves POST /v1/images/generations" in str(info.value)


def test_streaming_emits_the_completed_event(sdk: openai.OpenAI) -> None:
    events = list(sdk.images.generate(model="gpt-image-2", prompt="otter", size="1024x1536", stream=True))
    assert [e.type for e in events] == ["image_generation.completed"]
    assert events[0].size == "1024x1536"
    assert png_size(base64.b64decode(events[0].b64_json)) == (1024, 1536)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"model": "dall-e-3"},  # DALL·E's default format is url
        {"model": "gpt-image-2", "response_format": "url"},
        {},  # no model: the API's default (dall-e-2), whose default format is url
    ],
    ids=["dall-e-3", "explicit url", "no model"],
)
def test_a_stream_carries_the_image_whatever_the_response_format(
    sdk: openai.OpenAI, kwargs: dict[str, Any]
) -> None:
    with pytest.warns(imageshim.ImageShimWarning):
        events = list(sdk.images.generate(prompt="otter", size="1024x1024", stream=True, **kwargs))
    assert [e.type for e in events] == ["image_generation.completed"]
    assert events[0].b64_json  # the generated image is in the stream, never null
    assert png_size(base64.b64decode(events[0].b64_json)) == (1024, 1024)


@pytest.mark.anyio
async def test_a_stream_carries_the_image_async(clock: Any) -> None:
    client = openai.AsyncOpenAI(
        api_key="unused", max_retries=0, http_client=async_openai_http_client(MOCK, clock=clock)
    )
    with pytest.warns(imageshim.ImageShimWarning):
        stream = await client.images.generate(model="dall-e-3", prompt="otter", stream=True)
    events = [e async for e in stream]
    assert png_size(base64.b64decode(events[0].b64_json)) == (1024, 1024)


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
    with pytest.warns(imageshim.ImageShimWarning) as caught:
        resp = await sdk.images.generate(model="dall-e-3", prompt="otter", response_format="b64_json")
    assert imageshim.ModelRetiredWarning in {type(w.message) for w in caught}
    assert resp.data[0].b64_json
    with pytest.raises(openai.BadRequestError):
        await sdk.images.generate(model="gpt-image-2", prompt="x", n=11)


# ----- error paths on the wire --------------------------------------------------------------------------
PROVIDER_KEY = "sk-not-a-real-key-dropin-qzjx7vw"
OPENAI_ROUTE = {
    "routes": {"*": ["openai:gpt-image-2"]},
    "providers": {"openai": {"api_key": PROVIDER_KEY}},
    "retry": {"max_retries": 0},
}
UNUSABLE_200 = {
    "not JSON": b"<html>a captive portal</html>",
    "wrong shape": b'{"data": "nope"}',
    "no image": b'{"created": 1, "data": []}',
}


def _provider(status: int, body: bytes, seen: list[httpx.Request] | None = None) -> httpx.Client:
    def answer(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        return httpx.Response(status, content=body, headers={"content-type": "application/json"})

    return httpx.Client(transport=httpx.MockTransport(answer))


@pytest.mark.parametrize("body", UNUSABLE_200.values(), ids=list(UNUSABLE_200))
def test_an_unusable_200_reply_raises_a_502_in_the_sdk(body: bytes, clock: Any) -> None:
    client = openai_http_client(OPENAI_ROUTE, clock=clock, provider_http_client=_provider(200, body))
    sdk = openai.OpenAI(api_key="unused", max_retries=2, http_client=client)
    with pytest.raises(openai.InternalServerError) as info:
        sdk.images.generate(model="gpt-image-2", prompt="x")
    assert info.value.status_code == 502
    assert info.value.type == "server_error"
    assert "HTTP 200" in info.value.message
    assert info.value.response.headers["x-should-retry"] == "false"


def test_a_literal_extra_body_field_is_an_unknown_parameter(sdk: openai.OpenAI) -> None:
    # The SDK merges extra_body into the top level: only a hand-made body has an "extra_body" field,
    # and the adapters must never see it (it could override the model, n, a webhook URL...).
    with pytest.raises(openai.BadRequestError) as info:
        sdk.images.generate(model="gpt-image-2", prompt="x", extra_body={"extra_body": {"n": 5}})
    assert info.value.code == "unknown_parameter"
    assert info.value.param == "extra_body"
    assert info.value.body == {
        "message": "Unknown parameter: 'extra_body'.",
        "type": "invalid_request_error",
        "param": "extra_body",
        "code": "unknown_parameter",
    }


def test_the_sdk_timeout_bounds_each_provider_call(clock: Any) -> None:
    seen: list[httpx.Request] = []
    ok = b'{"created": 1, "data": [{"b64_json": "iVBORw0KGgo="}]}'
    config = {**OPENAI_ROUTE, "providers": {"openai": {"api_key": PROVIDER_KEY, "timeout": 40}}}
    client = openai_http_client(config, clock=clock, provider_http_client=_provider(200, ok, seen))
    sdk = openai.OpenAI(api_key="unused", max_retries=0, http_client=client)
    sdk.images.generate(model="gpt-image-2", prompt="x", timeout=1.5)
    assert 1.0 < seen[-1].extensions["timeout"]["read"] <= 1.5  # what is left of the SDK's 1.5 s
    sdk.images.generate(model="gpt-image-2", prompt="x")  # the SDK's default 600 s: the provider's 40 s
    assert seen[-1].extensions["timeout"]["read"] == 40
    sdk.with_options(timeout=http_module_for_openai().Timeout(None)).images.generate(
        model="gpt-image-2", prompt="x"
    )
    assert seen[-1].extensions["timeout"]["read"] == 40


def test_the_sdk_timeout_bounds_the_shims_retries_too(clock: Any) -> None:
    # A provider that keeps answering 503: the shim's retries (backoff 0.5 s, then 1 s) must not outlive
    # the SDK's timeout, which cannot abort a transport running in its own process.
    seen: list[httpx.Request] = []
    busy = b'{"error": {"message": "overloaded", "type": "server_error"}}'
    client = openai_http_client(OPENAI_ROUTE, clock=clock, provider_http_client=_provider(503, busy, seen))
    sdk = openai.OpenAI(api_key="unused", max_retries=0, http_client=client)
    started = time.monotonic()
    with pytest.raises(openai.InternalServerError):
        sdk.images.generate(model="gpt-image-2", prompt="x", timeout=0.7)
    assert time.monotonic() - started < 0.7
    assert 1 <= len(seen) <= 2


def test_a_deeply_nested_body_is_a_400_not_a_crash(clock: Any) -> None:
    client = openai_http_client(MOCK, clock=clock)
    reply = client.post("/images/generations", content=b"[" * 100_000)
    assert reply.status_code == 400
    assert reply.json()["error"]["message"] == "We could not parse the JSON body of your request."


def test_an_unexpected_exception_is_a_logged_500(
    sdk: openai.OpenAI, imageshim_mock: Any, caplog: pytest.LogCaptureFixture
) -> None:
    imageshim_mock.fail_next(RuntimeError(f"bug near {PROVIDER_KEY}"))
    with caplog.at_level("ERROR", logger="imageshim"), pytest.raises(openai.InternalServerError) as info:
        sdk.images.generate(model="gpt-image-2", prompt="x")
    assert info.value.status_code == 500
    assert info.value.code == "imageshim_internal_error"
    assert PROVIDER_KEY not in str(info.value.body)
    (record,) = [r for r in caplog.records if r.name == "imageshim" and r.levelname == "ERROR"]
    logged = record.getMessage()
    assert "Traceback" in logged
    assert "RuntimeError: bug near [REDACTED]" in logged
    assert PROVIDER_KEY not in logged


def test_configuration_errors_are_not_retried_by_the_sdk(clock: Any) -> None:
    client = openai_http_client({"routes": {"*": ["openai:gpt-image-2"]}}, clock=clock)  # no key
    calls: list[str] = []
    handle = client._transport.handler.handle

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(args[1])
        return handle(*args, **kwargs)

    client._transport.handler.handle = counting
    sdk = openai.OpenAI(api_key="unused", http_client=client)  # the SDK's default: 2 retries
    with pytest.raises(openai.APIStatusError) as info:
        sdk.images.generate(model="gpt-image-2", prompt="x")
    assert info.value.status_code == 424  # a 4xx: clients that retry 5xx by status do not repeat it
    assert info.value.code == "imageshim_configuration_error"
    assert "OPENAI_API_KEY" in info.value.message
    assert info.value.response.headers["x-should-retry"] == "false"
    assert len(calls) == 1


@pytest.mark.parametrize(
    ("base_url", "served"),
    [
        ("http://shim.local", False),  # forgot the /v1
        ("http://shim.local/v1/extra", False),
        ("https://api.openai.com/v1", True),
        ("http://proxy.local/openai/v1", True),  # in-process, any base URL ending in /v1 is served
    ],
)
def test_only_a_base_url_ending_in_v1_is_served(base_url: str, served: bool, clock: Any) -> None:
    sdk = openai.OpenAI(
        api_key="unused", base_url=base_url, max_retries=0, http_client=openai_http_client(MOCK, clock=clock)
    )
    if served:
        assert sdk.images.generate(model="gpt-image-2", prompt="x").data
        return
    with pytest.raises(openai.NotFoundError) as info:
        sdk.images.generate(model="gpt-image-2", prompt="x")
    assert info.value.code == "unknown_url"
    assert "must end in /v1" in info.value.message


def test_odd_paths_and_methods_get_the_404(clock: Any) -> None:
    client = openai_http_client(MOCK, clock=clock)
    for method, path in [
        ("POST", "http://imageshim.local/v1/foo/images/generations"),
        ("POST", "http://imageshim.local/v1/images/generations/"),
        ("GET", "http://imageshim.local/v1/images/generations"),
        ("POST", "http://imageshim.local/v1/images/edits/extra"),
        ("DELETE", "http://imageshim.local/v1/images/variations"),
    ]:
        reply = client.request(method, path, json={"prompt": "x"})
        assert reply.status_code == 404, path
        assert reply.json()["error"]["code"] == "unknown_url"
        assert reply.headers["x-should-retry"] == "false"


def test_error_types_are_openai_s(sdk: openai.OpenAI, imageshim_mock: Any) -> None:
    imageshim_mock.fail_next(
        imageshim.AuthenticationError("bad key", provider="mock", code="invalid_api_key")
    )
    with pytest.raises(openai.AuthenticationError) as denied:
        sdk.images.generate(model="gpt-image-2", prompt="x")
    assert denied.value.type == "invalid_request_error"
    imageshim_mock.fail_next(imageshim.RateLimitError("quota", code="insufficient_quota", retryable=False))
    with pytest.raises(openai.RateLimitError) as quota:
        sdk.images.generate(model="gpt-image-2", prompt="x")
    assert quota.value.type == "insufficient_quota"
    assert "retry-after" not in quota.value.response.headers  # no wait known: none invented
    imageshim_mock.fail_next(imageshim.RateLimitError("slow", retry_after=2.2, retryable=False))
    with pytest.raises(openai.RateLimitError) as limited:
        sdk.images.generate(model="gpt-image-2", prompt="x")
    assert limited.value.type == "requests"
    assert limited.value.response.headers["retry-after"] == "3"


def test_decided_warnings_travel_on_error_replies_too(sdk: openai.OpenAI, imageshim_mock: Any) -> None:
    imageshim_mock.fail_next(imageshim.BadRequestError("refused", code="moderation_blocked", provider="mock"))
    with pytest.warns(imageshim.OptionDroppedWarning), pytest.raises(openai.BadRequestError) as info:
        sdk.images.generate(model="gpt-image-2", prompt="x", style="vivid")
    sent = json.loads(info.value.response.headers["x-imageshim-warnings"])
    assert [w["setting"] for w in sent] == ["style"]


def test_partial_error_policy_is_a_502_partial_result(imageshim_mock: Any, clock: Any) -> None:
    config = {
        "routes": {"*": ["mock:dall-e-3"]},
        "lifecycle": {"on_retired": "allow"},
        "retry": {"partial": "error"},
    }
    sdk = openai.OpenAI(api_key="unused", max_retries=0, http_client=openai_http_client(config, clock=clock))
    imageshim_mock.fail_next(imageshim.BadRequestError("blocked", code="content_policy_violation"))
    with (
        pytest.warns(imageshim.ImageShimWarning) as caught,
        pytest.raises(openai.InternalServerError) as info,
    ):
        sdk.images.generate(model="dall-e-3", prompt="a fox", n=3, response_format="b64_json")
    assert info.value.status_code == 502
    assert info.value.code == "partial_result"
    assert "2 of 3 images arrived" in info.value.message
    assert any("2 of 3 images arrived" in str(w.message) for w in caught)
    assert "2 of 3 images arrived" in info.value.response.headers["x-imageshim-warnings"]
    assert len(imageshim_mock.calls) == 3


def test_in_process_warnings_point_at_the_callers_line(sdk: openai.OpenAI) -> None:
    line = sys._getframe().f_lineno + 2
    with pytest.warns(imageshim.ImageShimWarning) as caught:
        sdk.images.generate(model="dall-e-3", prompt="otter")  # the line the warnings name
    assert {(w.filename, w.lineno) for w in caught} == {(__file__, line)}


@pytest.mark.anyio
async def test_in_process_async_warnings_point_at_the_callers_line(clock: Any) -> None:
    client = openai.AsyncOpenAI(
        api_key="unused", max_retries=0, http_client=async_openai_http_client(MOCK, clock=clock)
    )
    line = sys._getframe().f_lineno + 2
    with pytest.warns(imageshim.ImageShimWarning) as caught:
        await client.images.generate(model="dall-e-3", prompt="otter")  # the line the warnings name
    assert {(w.filename, w.lineno) for w in caught} == {(__file__, line)}


def test_with_streaming_response_hands_over_an_unread_body(sdk: openai.OpenAI) -> None:
    with sdk.images.with_streaming_response.generate(model="gpt-image-2", prompt="otter") as response:
        assert not response.http_response.is_stream_consumed
        body = b"".join(response.iter_bytes())
    assert json.loads(body)["data"][0]["b64_json"]


def test_a_warning_made_an_error_is_a_reply_httpx_sdks_do_not_retry(clock: Any, imageshim_mock: Any) -> None:
    """pytest here runs with filterwarnings=error: the retirement warning becomes an error after the image
    was made. openai 1.x/2.x retry any exception from a transport (a new generation each time): for them it
    is a 400 with x-should-retry: false, and the mock was called once."""
    client = openai_http_client(MOCK, clock=clock, http_module=httpx)
    reply = client.post("/images/generations", json={"model": "dall-e-3", "prompt": "otter"})
    assert reply.status_code == 400
    assert reply.json()["error"]["code"] == "warning_as_error"
    assert reply.headers["x-should-retry"] == "false"
    assert len(imageshim_mock.calls) == 1
