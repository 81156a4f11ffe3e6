"""The adapters' shared HTTP boundary: Retry-After in every form (and garbage), error pages that are
not JSON keep their status class, and a reply's unreadable usage never costs the caller its images."""

from __future__ import annotations

import datetime
import email.utils
from typing import Any

import httpx
import pytest

import imageshim
from imageshim_adapters._http import HTTPReply, parse_json, retry_after


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "3"}, 3.0),
        ({"retry-after": "0.5"}, 0.5),
        ({"retry-after": "-5"}, 0.0),
        ({"retry-after-ms": "1500", "retry-after": "9"}, 1.5),
        ({"retry-after-ms": "soon", "retry-after": "2"}, 2.0),
        ({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0.0),  # in the past: now
        ({"retry-after": "Thu, 99 Foo"}, None),
        ({"retry-after": ""}, None),
        ({"retry-after": "nan"}, None),
        ({"retry-after": "inf"}, None),
        ({"retry-after-ms": "1e400"}, None),
        ({}, None),
    ],
)
def test_retry_after(headers: dict[str, str], expected: float | None) -> None:
    assert retry_after(httpx.Headers(headers)) == expected


def test_retry_after_http_date_in_the_future() -> None:
    when = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=30)
    seconds = retry_after(httpx.Headers({"retry-after": email.utils.format_datetime(when, usegmt=True)}))
    assert seconds is not None
    assert 25 <= seconds <= 31


@pytest.mark.parametrize(
    ("status", "cls", "retryable"),
    [
        (401, imageshim.AuthenticationError, False),
        (402, imageshim.PermissionDeniedError, False),
        (403, imageshim.PermissionDeniedError, False),
        (404, imageshim.NotFoundError, False),
        (429, imageshim.RateLimitError, True),
        (502, imageshim.InternalServerError, True),
        (503, imageshim.InternalServerError, True),
    ],
)
def test_error_pages_that_are_not_json_keep_their_class(status: int, cls: type, retryable: bool) -> None:
    reply = HTTPReply(
        status, httpx.Headers({"x-request-id": "req_1", "retry-after": "2"}), b"<html>no</html>"
    )
    with pytest.raises(cls) as caught:
        parse_json(reply, "openai")
    error = caught.value
    assert error.status_code == status
    assert error.retryable is retryable
    assert error.request_id == "req_1"
    assert "<html>no</html>" in str(error)


@pytest.mark.parametrize("body", [b"<html>ok</html>", b"\xff\xfe", b"[" * 100_000, b""])
def test_a_2xx_body_that_is_not_json_is_an_api_error(body: bytes) -> None:
    with pytest.raises(imageshim.APIError) as caught:
        parse_json(HTTPReply(200, httpx.Headers(), body), "runware")
    assert type(caught.value) is imageshim.APIError
    assert caught.value.status_code == 200


@pytest.mark.parametrize(
    "usage",
    [
        {"input_tokens": 5, "input_tokens_details": {"text_tokens": 5, "cached_tokens": None}},
        {"input_tokens": 5, "output_tokens": 7, "output_tokens_details": {"nested": {"a": 1}}},
        {"input_tokens": "many", "output_tokens": None},
        {"input_tokens": True},
        # these reach the cost estimate (output tokens present) with details it cannot count
        {"input_tokens": 5, "output_tokens": 7, "input_tokens_details": {"image_tokens": None}},
        {"input_tokens": 5, "output_tokens": 7, "input_tokens_details": {"text_tokens": None}},
        {"input_tokens": 5, "output_tokens": 7, "input_tokens_details": {"image_tokens": "5"}},
    ],
)
def test_odd_usage_never_loses_the_images(usage: dict[str, Any], recorder_factory: Any, clock: Any) -> None:
    reply = {"created": 1, "data": [{"b64_json": "aW1n"}], "usage": usage}
    recorder = recorder_factory(httpx.Response(200, json=reply))
    config = {
        "routes": {"*": ["openai:gpt-image-2"]},
        "providers": {"openai": {"api_key": "sk-test-usage-000000"}},
    }
    client = imageshim.OpenAI(config=config, http_client=recorder.client(), clock=clock)
    resp = client.images.generate(model="gpt-image-2", prompt="a fox")
    assert resp.data[0].b64_json == "aW1n"
    assert resp.model_dump()["data"][0]["b64_json"] == "aW1n"
    cost = resp.imageshim.cost_usd
    assert cost is None or cost >= 0


@pytest.mark.parametrize(
    ("status", "lost"), [(502, True), (504, True), (524, True), (500, False), (503, False)]
)
def test_a_proxy_timeout_page_may_have_run(status: int, lost: bool) -> None:
    with pytest.raises(imageshim.InternalServerError) as caught:
        parse_json(HTTPReply(status, httpx.Headers(), b"<html>gateway timeout</html>"), "runware")
    assert caught.value.reply_lost is lost
