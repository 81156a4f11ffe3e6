"""The gateway as a real server on 127.0.0.1, started and stopped by the tests."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

import imageshim
from imageshim._frontends.gateway import _is_loopback, create_app, serve
from imageshim._frontends.hosted import HostedImages
from imageshim_adapters.mock.images import png_size

KEY = "gw-test-key-123456"
CONFIG = {"routes": {"*": ["mock:gpt-image-2"]}}


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def gateway(clock: Any, fake_time: FakeTime, serve_app: Any) -> Iterator[str]:
    app = create_app(CONFIG, keys=[KEY], clock=clock, max_body_bytes=4096, hosted=HostedImages(now=fake_time))
    with serve_app(app) as base:
        yield base


@pytest.fixture
def sdks() -> Iterator[Callable[..., openai.OpenAI]]:
    """openai.OpenAI clients, closed after the test (no pooled socket is left to the garbage collector)."""
    made: list[openai.OpenAI] = []

    def make(**kwargs: Any) -> openai.OpenAI:
        made.append(openai.OpenAI(max_retries=0, **kwargs))
        return made[-1]

    yield make
    for client in made:
        client.close()


def _auth(key: str = KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_sdk_through_the_gateway_gets_hosted_urls(
    sdks: Callable[..., openai.OpenAI], gateway: str, fake_time: FakeTime
) -> None:
    sdk = sdks(api_key=KEY, base_url=f"{gateway}/v1")
    resp = sdk.images.generate(
        model="dall-e-3", prompt="otter", size="1792x1024", quality="hd", style="vivid"
    )
    url = resp.data[0].url
    assert url is not None
    assert url.startswith(f"{gateway}/v1/imageshim/images/")
    assert url.endswith(".png")
    image = httpx.get(url)
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/png"
    assert png_size(image.content) == (1792, 1024)
    fake_time.now += 3601  # OpenAI's URLs last 60 minutes; so do ours
    expired = httpx.get(url)
    assert expired.status_code == 404
    assert expired.json()["error"]["code"] == "image_expired"


def test_b64_and_warning_header(gateway: str) -> None:
    reply = httpx.post(
        f"{gateway}/v1/images/generations",
        json={"model": "gpt-image-2", "prompt": "x", "style": "natural"},
        headers=_auth(),
    )
    assert reply.status_code == 200
    assert png_size(base64.b64decode(reply.json()["data"][0]["b64_json"])) == (1024, 1024)
    assert "OptionDroppedWarning" in reply.headers["x-imageshim-warnings"]
    assert reply.headers["x-imageshim-route"] == "mock:gpt-image-2"


def test_auth_is_required(sdks: Callable[..., openai.OpenAI], gateway: str) -> None:
    for headers in ({}, _auth("wrong-key"), {"Authorization": KEY}):
        reply = httpx.post(f"{gateway}/v1/images/generations", json={"prompt": "x"}, headers=headers)
        assert reply.status_code == 401
        assert reply.json()["error"]["code"] == "invalid_api_key"
    sdk = sdks(api_key="wrong", base_url=f"{gateway}/v1")
    with pytest.raises(openai.AuthenticationError):
        sdk.images.generate(model="gpt-image-2", prompt="x")


def test_models_lists_the_catalog_with_lifecycle(gateway: str) -> None:
    reply = httpx.get(f"{gateway}/v1/models", headers=_auth())
    rows = {m["id"]: m for m in reply.json()["data"]}
    assert rows["dall-e-3"]["status"] == "retired"
    assert rows["dall-e-3"]["successor"] == "gpt-image-2"
    assert rows["gpt-image-1.5"]["days_left"] == 7
    assert rows["gpt-image-2"]["status"] == "active"


def test_body_limit_and_unknown_paths(gateway: str) -> None:
    big = httpx.post(f"{gateway}/v1/images/generations", json={"prompt": "x" * 5000}, headers=_auth())
    assert big.status_code == 413
    missing = httpx.post(f"{gateway}/v1/chat/completions", json={}, headers=_auth())
    assert missing.status_code == 404
    assert "imageshim serves" in missing.json()["error"]["message"]


def test_bad_request_and_rate_limit_keep_openai_shapes(
    sdks: Callable[..., openai.OpenAI], gateway: str, imageshim_mock: Any
) -> None:
    sdk = sdks(api_key=KEY, base_url=f"{gateway}/v1")
    with pytest.raises(openai.BadRequestError) as info:
        sdk.images.generate(model="gpt-image-2", prompt="x", size="big")
    assert info.value.param == "size"
    imageshim_mock.fail_next(429, times=3)
    with pytest.raises(openai.RateLimitError) as limited:
        sdk.images.generate(model="gpt-image-2", prompt="x")
    assert limited.value.response.headers["retry-after"] == "1"


def test_refuses_to_serve_without_keys_off_loopback() -> None:
    with pytest.raises(imageshim.ConfigurationError, match="IMAGESHIM_GATEWAY_KEYS"):
        serve(host="0.0.0.0", port=0)
    assert _is_loopback("127.0.0.1")
    assert _is_loopback("::1")
    assert _is_loopback("localhost")
    assert not _is_loopback("10.0.0.1")


def test_hosted_store_is_bounded() -> None:
    png, jpeg = b"\x89PNG\r\n\x1a\n1", b"\xff\xd8\xff456789"
    store = HostedImages(max_bytes=12)
    first = store.put(png, "image/png")
    second = store.put(jpeg, "image/jpeg")
    assert second.endswith(".jpg")
    assert store.get(first) is None  # evicted: over the byte cap
    assert store.get(second) == (jpeg, "image/jpeg")


# ----- hosted URLs whatever [mapping] url says; the public base URL -------------------------------------
URL = {"response_format": "url"}


@pytest.mark.parametrize("mode", ["file", "error", "data-uri"])
def test_the_gateway_hosts_urls_whatever_mapping_url_says(
    serve_app: Any, mode: str, clock: Any, tmp_path: Path
) -> None:
    config = {**CONFIG, "mapping": {"url": mode, "url_dir": str(tmp_path / "images")}}
    with serve_app(create_app(config, keys=[KEY], clock=clock)) as base:
        reply = httpx.post(
            f"{base}/v1/images/generations",
            json={"model": "gpt-image-2", "prompt": "x", **URL},
            headers=_auth(),
        )
        assert reply.status_code == 200, reply.text
        url = reply.json()["data"][0]["url"]
        assert url.startswith(f"{base}/v1/imageshim/images/")
        assert png_size(httpx.get(url).content) == (1024, 1024)
    assert not (tmp_path / "images").exists()  # nothing written on the server's disk


def test_hosted_urls_ignore_the_host_header(gateway: str) -> None:
    reply = httpx.post(
        f"{gateway}/v1/images/generations",
        json={"model": "gpt-image-2", "prompt": "x", **URL},
        headers={**_auth(), "Host": "evil.example"},
    )
    assert reply.json()["data"][0]["url"].startswith(f"{gateway}/v1/imageshim/images/")


def test_public_url_sets_the_hosted_url_base(serve_app: Any, clock: Any) -> None:
    app = create_app(CONFIG, keys=[KEY], clock=clock, public_url="https://img.example.com/shim/v1/")
    with serve_app(app) as base:
        reply = httpx.post(
            f"{base}/v1/images/generations",
            json={"model": "gpt-image-2", "prompt": "x", **URL},
            headers=_auth(),
        )
        assert reply.json()["data"][0]["url"].startswith("https://img.example.com/shim/v1/imageshim/images/")
        missing = httpx.post(f"{base}/images/generations", json={"prompt": "x"}, headers=_auth())
        assert "https://img.example.com/shim/v1" in missing.json()["error"]["message"]


@pytest.mark.parametrize("bad", ["img.example.com", "ftp://img.example.com", "https://", "https://x/?a=1"])
def test_a_public_url_must_be_absolute_http(bad: str) -> None:
    with pytest.raises(imageshim.ConfigurationError, match="public URL"):
        create_app(CONFIG, keys=[KEY], public_url=bad)
    with pytest.raises(imageshim.ConfigurationError, match="public URL"):
        serve(public_url=bad)


# ----- routing, headers, error shapes -------------------------------------------------------------------
def test_a_base_url_without_v1_gets_a_404_naming_the_right_one(
    sdks: Callable[..., openai.OpenAI], gateway: str
) -> None:
    sdk = sdks(api_key=KEY, base_url=gateway)  # forgot the /v1
    with pytest.raises(openai.NotFoundError) as info:
        sdk.images.generate(model="gpt-image-2", prompt="x")
    assert info.value.code == "unknown_url"
    assert f"Use the base URL {gateway}/v1" in info.value.message
    for method, path in [
        ("POST", "/v1/images/generations/"),
        ("POST", "/v1/foo/images/generations"),
        ("GET", "/v1/images/generations"),
        ("POST", "/v1/models"),
    ]:
        reply = httpx.request(method, f"{gateway}{path}", json={"prompt": "x"}, headers=_auth())
        assert reply.status_code == 404, path
        assert reply.json()["error"]["code"] == "unknown_url"
        message = reply.json()["error"]["message"]
        assert "POST /v1/images/generations and POST /v1/images/edits" in message
        assert "GET /v1/models" in message
        # A served route behind a prefix is a base URL mistake (the hint names the right one); anything
        # else under /v1 is just not implemented.
        assert ("Use the base URL" in message) is (path == "/v1/foo/images/generations")


def test_every_reply_has_a_request_id_and_errors_are_not_retried(gateway: str) -> None:
    models = httpx.get(f"{gateway}/v1/models", headers=_auth())
    assert models.headers["x-request-id"].startswith("req_")
    denied = httpx.get(f"{gateway}/v1/models")
    assert denied.status_code == 401
    assert denied.json()["error"]["type"] == "invalid_request_error"  # what OpenAI sends for a bad key
    assert denied.headers["x-should-retry"] == "false"


def test_a_literal_extra_body_is_refused(gateway: str, imageshim_mock: Any) -> None:
    reply = httpx.post(
        f"{gateway}/v1/images/generations",
        json={"model": "gpt-image-2", "prompt": "x", "extra_body": {"n": 5}},
        headers=_auth(),
    )
    assert reply.status_code == 400
    assert reply.json()["error"]["param"] == "extra_body"
    assert reply.json()["error"]["code"] == "unknown_parameter"
    assert imageshim_mock.calls == []


def test_deeply_nested_json_and_crashes_are_json_errors(
    serve_app: Any, clock: Any, caplog: pytest.LogCaptureFixture, imageshim_mock: Any
) -> None:
    secret = "sk-gateway-crash-0123456789abcdef"

    class Broken(HostedImages):
        def host_data_uris(self, body: bytes, base_url: str) -> bytes:
            raise RuntimeError(f"bug near {secret}")

    with serve_app(create_app(CONFIG, keys=[KEY], clock=clock, hosted=Broken())) as base:
        nested = httpx.post(f"{base}/v1/images/generations", content=b"[" * 100_000, headers=_auth())
        assert nested.status_code == 400
        assert nested.json()["error"]["message"] == "We could not parse the JSON body of your request."
        with caplog.at_level("ERROR", logger="imageshim"):
            crashed = httpx.post(
                f"{base}/v1/images/generations", json={"model": "gpt-image-2", "prompt": "x"}, headers=_auth()
            )
            imageshim_mock.fail_next(RuntimeError(f"adapter bug near {secret}"))
            wire_crash = httpx.post(
                f"{base}/v1/images/generations", json={"model": "gpt-image-2", "prompt": "x"}, headers=_auth()
            )
    for reply in (crashed, wire_crash):
        assert reply.status_code == 500
        assert reply.headers["content-type"] == "application/json"
        assert reply.json()["error"]["code"] == "imageshim_internal_error"
        assert secret not in reply.text
    logged = [r.getMessage() for r in caplog.records if r.name == "imageshim" and r.levelname == "ERROR"]
    assert len(logged) == 2
    assert all("Traceback" in m and secret not in m and "[REDACTED]" in m for m in logged)


def test_a_failed_request_still_reports_and_logs_its_warnings(
    gateway: str, imageshim_mock: Any, caplog: pytest.LogCaptureFixture
) -> None:
    imageshim_mock.fail_next(imageshim.BadRequestError("refused", code="moderation_blocked", provider="mock"))
    with caplog.at_level("WARNING", logger="imageshim"):
        reply = httpx.post(
            f"{gateway}/v1/images/generations",
            json={"model": "gpt-image-2", "prompt": "x", "style": "vivid"},
            headers=_auth(),
        )
    assert reply.status_code == 400
    assert reply.json()["error"]["code"] == "moderation_blocked"
    assert "OptionDroppedWarning" in reply.headers["x-imageshim-warnings"]
    logged = [r.getMessage() for r in caplog.records if r.name == "imageshim"]
    assert any(m.startswith("OptionDroppedWarning:") and "style" in m for m in logged)


@pytest.mark.parametrize(
    "body", [{"model": "dall-e-3"}, {"response_format": "url"}, {}], ids=["dall-e-3", "url", "no model"]
)
def test_a_streamed_reply_carries_every_image_the_json_reply_would(
    serve_app: Any, clock: Any, body: dict[str, Any]
) -> None:
    with serve_app(create_app(CONFIG, keys=[KEY], clock=clock)) as base:
        reply = httpx.post(
            f"{base}/v1/images/generations",
            json={"prompt": "x", "stream": True, "n": 2, **body},
            headers=_auth(),
            timeout=30,
        )
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/event-stream")
    events = [json.loads(line[6:]) for line in reply.text.splitlines() if line.startswith("data: ")]
    assert len(events) == 2
    for event in events:
        assert base64.b64decode(event["b64_json"])[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_url_warning_says_the_gateway_hosts_the_image(serve_app: Any, clock: Any) -> None:
    with serve_app(create_app(CONFIG, keys=[KEY], clock=clock)) as base:
        reply = httpx.post(
            f"{base}/v1/images/generations",
            json={"model": "gpt-image-2", "prompt": "x", "response_format": "url"},
            headers=_auth(),
            timeout=30,
        )
    assert reply.json()["data"][0]["url"].startswith(base)
    (warning,) = json.loads(reply.headers["x-imageshim-warnings"])
    assert "hosted by the imageshim gateway" in warning["message"]
    assert "data: URIs" not in warning["message"]
