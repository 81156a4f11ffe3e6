"""The gateway as a real server on 127.0.0.1, started and stopped by the tests."""

from __future__ import annotations

import base64
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
import uvicorn

import imageshim
from imageshim._gateway import _is_loopback, create_app, serve
from imageshim._hosted import HostedImages
from imageshim_adapters._images import png_size

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
def gateway(clock: Any, fake_time: FakeTime) -> Iterator[str]:
    app = create_app(CONFIG, keys=[KEY], clock=clock, max_body_bytes=4096, hosted=HostedImages(now=fake_time))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "gateway did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        assert not thread.is_alive()


def _auth(key: str = KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_sdk_through_the_gateway_gets_hosted_urls(gateway: str, fake_time: FakeTime) -> None:
    sdk = openai.OpenAI(api_key=KEY, base_url=f"{gateway}/v1", max_retries=0)
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


def test_auth_is_required(gateway: str) -> None:
    for headers in ({}, _auth("wrong-key"), {"Authorization": KEY}):
        reply = httpx.post(f"{gateway}/v1/images/generations", json={"prompt": "x"}, headers=headers)
        assert reply.status_code == 401
        assert reply.json()["error"]["code"] == "invalid_api_key"
    sdk = openai.OpenAI(api_key="wrong", base_url=f"{gateway}/v1", max_retries=0)
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


def test_bad_request_and_rate_limit_keep_openai_shapes(gateway: str, imageshim_mock: Any) -> None:
    sdk = openai.OpenAI(api_key=KEY, base_url=f"{gateway}/v1", max_retries=0)
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
    store = HostedImages(max_bytes=10)
    first = store.put(b"123456", "image/png")
    second = store.put(b"abcdef", "image/jpeg")
    assert second.endswith(".jpg")
    assert store.get(first) is None  # evicted: over the byte cap
    assert store.get(second) == (b"abcdef", "image/jpeg")
