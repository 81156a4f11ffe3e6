"""The adapters' shared HTTP boundary: Retry-After in every form (and garbage), error pages that are
not JSON keep their status class, and a reply's unreadable usage never costs the caller its images."""

from __future__ import annotations

import asyncio
import datetime
import email.utils
import socket
import time
from typing import Any

import httpx
import pytest
from tests.faults.transport_server import TransportServer

import imageshim
from imageshim._core.errors import register_secret
from imageshim._plumbing import pool as _pool
from imageshim._plumbing.http import (
    EXCERPT_CHARS,
    HTTPReply,
    _Progress,
    apost,
    excerpt,
    map_transport_errors,
    parse_json,
    post,
    request_id,
    retry_after,
)


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
    reply = {"created": 1, "data": [{"b64_json": "iVBORw0KGgo="}], "usage": usage}
    recorder = recorder_factory(httpx.Response(200, json=reply))
    config = {
        "routes": {"*": ["openai:gpt-image-2"]},
        "providers": {"openai": {"api_key": "sk-test-usage-000000"}},
    }
    client = imageshim.OpenAI(config=config, http_client=recorder.client(), clock=clock)
    resp = client.images.generate(model="gpt-image-2", prompt="a fox")
    assert resp.data[0].b64_json == "iVBORw0KGgo="
    assert resp.model_dump()["data"][0]["b64_json"] == "iVBORw0KGgo="
    cost = resp.imageshim.cost_usd
    assert cost is None or cost >= 0


@pytest.mark.parametrize(
    ("status", "lost"), [(502, True), (504, True), (524, True), (500, False), (503, False)]
)
def test_a_proxy_timeout_page_may_have_run(status: int, lost: bool) -> None:
    with pytest.raises(imageshim.InternalServerError) as caught:
        parse_json(HTTPReply(status, httpx.Headers(), b"<html>gateway timeout</html>"), "runware")
    assert caught.value.reply_lost is lost


# ----- transport failures: was the request sent? ------------------------------------------------------
NOT_SENT = [
    httpx.ConnectError("refused"),
    httpx.ConnectTimeout("slow connect"),
    httpx.PoolTimeout("pool full"),
    httpx.WriteError("broken pipe"),
    httpx.WriteTimeout("slow write"),
    httpx.UnsupportedProtocol("ftp"),
    httpx.ProxyError("proxy said no"),
]
SENT = [
    httpx.ReadTimeout("slow reply"),
    httpx.ReadError("reset"),
    httpx.RemoteProtocolError("peer closed connection without sending complete message body"),
]


@pytest.mark.parametrize(("exc", "lost"), [(e, False) for e in NOT_SENT] + [(e, True) for e in SENT])
def test_transport_errors_say_whether_the_request_was_sent(exc: httpx.HTTPError, lost: bool) -> None:
    with pytest.raises(imageshim.APIConnectionError) as caught, map_transport_errors("openai"):
        raise exc
    error = caught.value
    assert error.reply_lost is lost
    assert isinstance(error, imageshim.APITimeoutError) is isinstance(exc, httpx.TimeoutException)
    assert ("its reply was lost" in str(error)) is lost
    assert ("nothing was sent" in str(error)) is not lost
    assert error.__cause__ is exc


def test_a_failure_before_the_request_was_fully_written_is_not_a_lost_reply() -> None:
    progress = _Progress(10.0)
    progress.trace("http11.send_request_headers.started", {})  # and never send_request_body.complete
    with pytest.raises(imageshim.APIConnectionError) as caught, map_transport_errors("openai", progress):
        raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
    assert caught.value.reply_lost is False


# ----- redaction --------------------------------------------------------------------------------------
KEY = "sk-straddle-0123456789abcdefghijklmnop"
SECRET = "NotKeyShaped0123456789abcdefXYZ"


def _pieces(secret: str) -> list[str]:
    return [secret[i : i + 8] for i in range(len(secret) - 7)]


@pytest.mark.parametrize("secret", [KEY, SECRET])
@pytest.mark.parametrize("start", range(170, 215, 3))
@pytest.mark.parametrize("padding", ["x", "x" + " " * 40])
def test_a_key_straddling_the_excerpt_cut_does_not_leak_even_in_part(
    secret: str, start: int, padding: str
) -> None:
    register_secret(SECRET)
    # ``padding`` with runs of spaces: whitespace collapses, so the key moves towards the cut
    words = ["w" * 9] * 60
    text = " ".join(words)[:start] + " " + secret + " " + padding * 20 + " tail"
    shown = excerpt(text.encode())
    assert not [piece for piece in _pieces(secret) if piece in shown], shown
    assert len(shown) <= EXCERPT_CHARS + 3


def test_excerpt_keeps_short_bodies_and_marks_cut_ones() -> None:
    assert excerpt(b"  a\n b  ") == "a b"
    assert excerpt("y" * 500).endswith("...")
    assert len(excerpt("y " * 500)) == EXCERPT_CHARS + 3


def test_request_id_is_redacted() -> None:
    register_secret(SECRET)
    assert request_id(httpx.Headers({"x-request-id": f"req_{KEY}"})) == "req_[REDACTED]"
    assert request_id(httpx.Headers({"request-id": SECRET})) == "[REDACTED]"
    assert request_id(httpx.Headers({})) is None


# ----- total time -------------------------------------------------------------------------------------
TOTAL = 1.0


def _post(mode: str, client: Any, url: str) -> None:
    """post() (sync) or apost() (async) with ``client``, closing it after."""
    if mode == "sync":
        with client:
            post(client, url, provider="openai", total=TOTAL, json={"prompt": "x"})
        return

    async def go() -> None:
        async with client:
            await apost(client, url, provider="openai", total=TOTAL, json={"prompt": "x"})

    asyncio.run(go())


def _clients(mode: str) -> list[Any]:
    if mode == "sync":
        return [_pool.http_client(httpx.Timeout(30)), httpx.Client(timeout=30)]
    return [_pool.async_http_client(httpx.Timeout(30)), httpx.AsyncClient(timeout=30)]


@pytest.mark.parametrize("which", [0, 1], ids=["own client", "injected client"])
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_trickling_reply_ends_within_the_total_time(mode: str, which: int) -> None:
    # Headers at 0.9 x total, then a byte every 0.9 x total: every read is short, only the total grows.
    with TransportServer("openai", headers_after=0.9 * TOTAL, trickle_every=0.9 * TOTAL) as srv:
        client = _clients(mode)[which]
        started = time.monotonic()
        with pytest.raises(imageshim.APITimeoutError) as caught:
            _post(mode, client, srv.url)
        elapsed = time.monotonic() - started
    assert elapsed < TOTAL + 0.5
    assert caught.value.reply_lost is True
    assert "its reply was lost" in str(caught.value)


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_refused_connection_is_safe_to_send_again(mode: str) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/v1/images/generations"  # nobody listens
    client = _clients(mode)[0]
    with pytest.raises(imageshim.APIConnectionError) as caught:
        _post(mode, client, url)
    assert caught.value.reply_lost is False
    assert "nothing was sent" in str(caught.value)
