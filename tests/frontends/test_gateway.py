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
from imageshim._frontends.gateway import create_app, is_loopback, serve
from imageshim._frontends.gateway.store import MemoryStore, Stored
from imageshim_adapters.mock.images import png_size

KEY = "gw-test-key-123456"
OTHER_KEY = "gw-test-key-654321"
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
    app = create_app(CONFIG, keys=[KEY], clock=clock, max_body_bytes=4096, store=MemoryStore(now=fake_time))
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
    assert is_loopback("127.0.0.1")
    assert is_loopback("::1")
    assert is_loopback("[::1]")
    assert is_loopback("localhost")
    assert not is_loopback("10.0.0.1")
    assert not is_loopback("example.com")


def test_body_limits_come_from_the_gateway_table_unless_given(serve_app: Any, clock: Any) -> None:
    config = {**CONFIG, "gateway": {"max_body_bytes": 2048}}
    body = {"model": "gpt-image-2", "prompt": "x" * 3000}
    with serve_app(create_app(config, keys=[KEY], clock=clock)) as base:
        too_big = httpx.post(f"{base}/v1/images/generations", json=body, headers=_auth())
    assert too_big.status_code == 413
    assert "2048 bytes" in too_big.json()["error"]["message"]
    with serve_app(create_app(config, keys=[KEY], clock=clock, max_body_bytes=8192)) as base:
        allowed = httpx.post(f"{base}/v1/images/generations", json=body, headers=_auth(), timeout=30)
    assert allowed.status_code == 200, allowed.text


# ----- a full image store: no client's image is evicted early ------------------------------------------
def _generate(base: str, prompt: str, key: str = KEY, **extra: Any) -> httpx.Response:
    body = {"model": "gpt-image-2", "prompt": prompt, "response_format": "url", **extra}
    return httpx.post(f"{base}/v1/images/generations", json=body, headers=_auth(key), timeout=30)


def _image_sizes(serve_app: Any, clock: Any, prompt: str, n: int = 1) -> list[int]:
    """The sizes of the PNGs the mock makes for ``prompt`` (deterministic), measured through a gateway of its
    own."""
    with serve_app(create_app(CONFIG, keys=[KEY], clock=clock)) as base:
        reply = _generate(base, prompt, response_format="b64_json", n=n)
    assert reply.status_code == 200, reply.text
    return [len(base64.b64decode(item["b64_json"])) for item in reply.json()["data"]]


def test_a_full_share_of_the_store_is_a_503_before_generating_not_an_eviction(
    serve_app: Any, clock: Any, fake_time: FakeTime, imageshim_mock: Any
) -> None:
    (size,) = _image_sizes(serve_app, clock, "first")
    imageshim_mock.reset()
    # Room for exactly one image per client key: once it is held, the key's share is full.
    store = MemoryStore(now=fake_time, max_bytes_per_key=size)
    app = create_app(CONFIG, keys=[KEY, OTHER_KEY], clock=clock, store=store, now=fake_time)
    with serve_app(app) as base:
        first = _generate(base, "first")
        assert first.status_code == 200, first.text
        first_url = first.json()["data"][0]["url"]
        assert first_url.startswith(f"{base}/v1/imageshim/images/")
        assert store.bytes_used() == size
        calls = len(imageshim_mock.calls)

        full = _generate(base, "second")  # another body: not a repeat of the first
        assert full.status_code == 503, full.text
        assert full.headers["content-type"] == "application/json"
        error = full.json()["error"]
        assert error["code"] == "hosted_store_full"
        assert error["type"] == "server_error"
        assert "b64_json" in error["message"]
        assert full.headers["retry-after"] == "3600"  # when the first image expires
        assert full.headers["x-should-retry"] == "true"
        assert len(imageshim_mock.calls) == calls  # refused before anything was generated (or paid)

        # The first image is not evicted to make room, and another client key still gets its URL.
        assert httpx.get(first_url).content[:8] == b"\x89PNG\r\n\x1a\n"
        other = _generate(base, "second", key=OTHER_KEY)
        assert other.status_code == 200, other.text
        other_url = other.json()["data"][0]["url"]
        assert other_url.startswith(f"{base}/v1/imageshim/images/")
        assert httpx.get(other_url).status_code == 200
        assert httpx.get(first_url).status_code == 200

        # Once the first image has expired, the key has room again (the same image: the same size).
        fake_time.now += 3601
        assert httpx.get(first_url).status_code == 404
        again = _generate(base, "first")
        assert again.status_code == 200, again.text
        assert again.headers["x-imageshim-intent"] == "new"  # past the retry window: generated again
        again_url = again.json()["data"][0]["url"]
        assert again_url.startswith(f"{base}/v1/imageshim/images/")
        assert again_url != first_url


def test_an_image_that_no_longer_fits_is_returned_inline_with_a_warning(
    serve_app: Any, clock: Any, fake_time: FakeTime
) -> None:
    sizes = _image_sizes(serve_app, clock, "pair", n=2)
    # Room for either image but not both: the request is admitted and generated, then the second image of
    # the reply does not fit. It was paid for: it comes back inline, not dropped.
    store = MemoryStore(now=fake_time, max_bytes_per_key=max(sizes))
    with serve_app(create_app(CONFIG, keys=[KEY], clock=clock, store=store)) as base:
        reply = _generate(base, "pair", n=2)
        assert reply.status_code == 200, reply.text
        hosted, inline = (item["url"] for item in reply.json()["data"])
        assert hosted.startswith(f"{base}/v1/imageshim/images/")
        assert httpx.get(hosted).content[:8] == b"\x89PNG\r\n\x1a\n"
    assert inline.startswith("data:image/png;base64,")
    assert len(base64.b64decode(inline.partition(",")[2])) == sizes[1]
    assert store.bytes_used() == sizes[0]
    messages = [w["message"] for w in json.loads(reply.headers["x-imageshim-warnings"])]
    inline_warnings = [m for m in messages if "returned inline as data: URIs, not hosted URLs" in m]
    assert len(inline_warnings) == 1, messages
    assert inline_warnings[0].startswith("1 image(s)")


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

    class Broken(MemoryStore):
        def put(self, owner: str, data: bytes, media_type: str) -> Stored:
            raise RuntimeError(f"bug near {secret}")

    with serve_app(create_app(CONFIG, keys=[KEY], clock=clock, store=Broken())) as base:
        nested = httpx.post(f"{base}/v1/images/generations", content=b"[" * 100_000, headers=_auth())
        assert nested.status_code == 400
        assert nested.json()["error"]["message"] == "We could not parse the JSON body of your request."
        with caplog.at_level("ERROR", logger="imageshim"):
            # A URL reply puts the image into the (broken) store: the gateway's own code crashes.
            crashed = httpx.post(
                f"{base}/v1/images/generations",
                json={"model": "gpt-image-2", "prompt": "x", "response_format": "url"},
                headers=_auth(),
            )
            # A base64 reply never touches the store: here the adapter crashes.
            imageshim_mock.fail_next(RuntimeError(f"adapter bug near {secret}"))
            wire_crash = httpx.post(
                f"{base}/v1/images/generations", json={"model": "gpt-image-2", "prompt": "x"}, headers=_auth()
            )
    for reply in (crashed, wire_crash):
        assert reply.status_code == 500
        assert reply.headers["content-type"] == "application/json"
        assert reply.json()["error"]["code"] == "imageshim_internal_error"
        assert reply.json()["error"]["type"] == "server_error"
        assert secret not in reply.text
        assert reply.headers["x-request-id"].startswith("req_")
    logged = [r.getMessage() for r in caplog.records if r.name == "imageshim" and r.levelname == "ERROR"]
    assert len(logged) == 2
    assert all("Traceback" in m and secret not in m and "[REDACTED]" in m for m in logged)
    assert "RuntimeError: bug near [REDACTED]" in logged[0]
    assert "RuntimeError: adapter bug near [REDACTED]" in logged[1]
    every_line = "\n".join(r.getMessage() for r in caplog.records)
    assert secret not in every_line


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
    assert warning["category"] == "OptionMappedWarning"
    assert warning["setting"] == "response_format"
    assert (
        "URLs are hosted by this imageshim gateway in its memory for 60 minutes (lost if it restarts)"
        in warning["message"]
    )
    assert "data: URIs" not in warning["message"]
