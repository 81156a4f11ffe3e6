"""The drop-in and the gateway against a real provider on 127.0.0.1 (not the mock): HTTP 429s with and
without Retry-After, unusable 200 replies, and a real ``imageshim serve`` process shut down with SIGTERM
while a request is in flight. Every server is started and stopped here, with bounded waits."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from imageshim._frontends.gateway import create_app
from imageshim._frontends.transport import openai_http_client

KEY = "sk-not-a-real-key-loopback-qzjx7vw"
PNG_B64 = "iVBORw0KGgoAAAANSUhEUg=="
Reply = tuple[int, bytes, dict[str, str], float]  # status, body, headers, delay before answering


class Provider:
    """An OpenAI-wire provider on 127.0.0.1 answering from a script (then 200 with one image)."""

    def __init__(self) -> None:
        self.script: list[Reply] = []
        self.bodies: list[Any] = []
        self.received = threading.Event()
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                provider.bodies.append(json.loads(self.rfile.read(length)))
                provider.received.set()
                ok = json.dumps({"created": 1, "data": [{"b64_json": PNG_B64}]}).encode()
                status, body, headers, delay = provider.script.pop(0) if provider.script else (200, ok, {}, 0)
                time.sleep(delay)
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05})
        self.thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def config(self, **retry: Any) -> dict[str, Any]:
        return {
            "routes": {"*": ["openai:gpt-image-2"]},
            "providers": {"openai": {"api_key": KEY, "base_url": self.base_url, "timeout": 10}},
            "retry": {"max_retries": 0, **retry},
        }

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)
        assert not self.thread.is_alive()


@pytest.fixture
def provider() -> Iterator[Provider]:
    server = Provider()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def closing() -> Iterator[Callable[[Any], Any]]:
    """Closes what the test registers (SDK clients, provider clients) when it ends."""
    opened: list[Any] = []
    yield lambda thing: opened.append(thing) or thing
    for thing in opened:
        thing.close()


def _rate_limited(retry_after: str | None) -> Reply:
    body = {
        "error": {
            "message": "Rate limit reached",
            "type": "requests",
            "param": None,
            "code": "rate_limit_exceeded",
        }
    }
    return 429, json.dumps(body).encode(), {"retry-after": retry_after} if retry_after else {}, 0


def _dropin(provider: Provider, clock: Any, closing: Callable[[Any], Any], **retry: Any) -> openai.OpenAI:
    to_provider = closing(httpx.Client())
    client = openai_http_client(provider.config(**retry), clock=clock, provider_http_client=to_provider)
    sdk: openai.OpenAI = closing(openai.OpenAI(api_key="unused", max_retries=2, http_client=client))
    return sdk


# ----- drop-in --------------------------------------------------------------------------------------------
def test_dropin_provider_429_with_retry_after(
    closing: Callable[[Any], Any], provider: Provider, clock: Any
) -> None:
    provider.script.append(_rate_limited("7"))
    with pytest.raises(openai.RateLimitError) as info:
        _dropin(provider, clock, closing).images.generate(model="gpt-image-2", prompt="x")
    headers = info.value.response.headers
    assert headers["retry-after"] == "7"
    assert headers["x-should-retry"] == "false"  # the shim's retry policy already ran: no SDK retries
    assert info.value.code == "rate_limit_exceeded"
    assert info.value.type == "requests"
    assert len(provider.bodies) == 1
    assert KEY not in str(info.value)
    assert KEY not in str(info.value.body)


def test_dropin_provider_429_without_retry_after(
    closing: Callable[[Any], Any], provider: Provider, clock: Any
) -> None:
    provider.script += [_rate_limited(None), _rate_limited(None)]
    with pytest.raises(openai.RateLimitError) as info:
        _dropin(provider, clock, closing, max_retries=1, initial_backoff=0.01).images.generate(
            model="gpt-image-2", prompt="x"
        )
    assert "retry-after" not in info.value.response.headers
    assert info.value.response.headers["x-should-retry"] == "false"
    assert len(provider.bodies) == 2  # retried once by the shim, not again by the SDK


def test_dropin_retries_a_429_then_succeeds(
    closing: Callable[[Any], Any], provider: Provider, clock: Any
) -> None:
    provider.script.append(_rate_limited("0"))
    resp = _dropin(provider, clock, closing, max_retries=1).images.generate(model="gpt-image-2", prompt="x")
    assert resp.data[0].b64_json == PNG_B64
    assert len(provider.bodies) == 2


@pytest.mark.parametrize("body", [b"<html>proxy</html>", b'{"data": {}}', b'{"created": 1, "data": []}'])
def test_dropin_unusable_200_is_a_502(
    closing: Callable[[Any], Any], provider: Provider, clock: Any, body: bytes
) -> None:
    provider.script.append((200, body, {}, 0))
    with pytest.raises(openai.InternalServerError) as info:
        _dropin(provider, clock, closing).images.generate(model="gpt-image-2", prompt="x")
    assert info.value.status_code == 502
    assert info.value.type == "server_error"
    assert len(provider.bodies) == 1


# ----- gateway --------------------------------------------------------------------------------------------
@pytest.fixture
def gateway(provider: Provider, clock: Any, serve_app: Any) -> Iterator[str]:
    with serve_app(create_app(provider.config(), keys=[], clock=clock)) as base:
        yield f"{base}/v1"


def test_gateway_unusable_200_is_a_502(
    closing: Callable[[Any], Any], gateway: str, provider: Provider
) -> None:
    provider.script.append((200, b"<html>proxy</html>", {}, 0))
    sdk = closing(openai.OpenAI(api_key="any", base_url=gateway, max_retries=2))
    with pytest.raises(openai.InternalServerError) as info:
        sdk.images.generate(model="gpt-image-2", prompt="x")
    assert info.value.status_code == 502
    assert "HTTP 200 with a body that is not JSON" in info.value.message
    assert len(provider.bodies) == 1


def test_gateway_provider_429(closing: Callable[[Any], Any], gateway: str, provider: Provider) -> None:
    provider.script.append(_rate_limited("4"))
    sdk = closing(openai.OpenAI(api_key="any", base_url=gateway, max_retries=2))
    with pytest.raises(openai.RateLimitError) as info:
        sdk.images.generate(model="gpt-image-2", prompt="x")
    assert info.value.response.headers["retry-after"] == "4"
    assert len(provider.bodies) == 1


# ----- a real `imageshim serve`, shut down with SIGTERM -------------------------------------------------
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.mark.skipif(sys.platform == "win32", reason="SIGTERM is POSIX")
def test_sigterm_finishes_the_request_in_flight(provider: Provider, tmp_path: Path) -> None:
    ok = json.dumps({"created": 1, "data": [{"b64_json": PNG_B64}]}).encode()
    provider.script.append((200, ok, {}, 1.5))  # the provider takes 1.5 s: SIGTERM arrives meanwhile
    config = tmp_path / "imageshim.toml"
    config.write_text(
        '[routes]\n"*" = ["openai:gpt-image-2"]\n[retry]\nmax_retries = 0\n'
        f'[providers.openai]\napi_key = "{KEY}"\nbase_url = "{provider.base_url}"\n'
    )
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IMAGESHIM_", "OPENAI_"))}
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "imageshim", "serve", "--port", str(port), "--config", str(config)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 20
        while True:
            assert process.poll() is None, (tmp_path / "serve.log").read_text()
            assert time.monotonic() < deadline, "imageshim serve did not start"
            try:
                if httpx.get(f"{base}/models", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.05)
        result: dict[str, Any] = {}

        def generate() -> None:
            try:
                result["reply"] = httpx.post(
                    f"{base}/images/generations", json={"model": "gpt-image-2", "prompt": "x"}, timeout=20
                )
            except httpx.HTTPError as exc:  # pragma: no cover - reported by the assertion below
                result["reply"] = exc

        client = threading.Thread(target=generate)
        client.start()
        assert provider.received.wait(10), "the request did not reach the provider"
        process.send_signal(signal.SIGTERM)
        client.join(timeout=20)
        assert not client.is_alive()
        reply = result["reply"]
        assert isinstance(reply, httpx.Response), reply
        assert reply.status_code == 200
        assert reply.json()["data"][0]["b64_json"] == PNG_B64
        # A clean drain (the request in flight answered, the lifespan finished) is a clean exit: status 0,
        # not the signal raised again (a second signal is what exits at once, with 128 + its number).
        assert process.wait(timeout=20) == 0
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{base}/models", timeout=1)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        log.close()
    output = (tmp_path / "serve.log").read_text()
    assert "draining: 1 requests in flight" in output  # SIGTERM came while the request was in flight
    assert "Application shutdown complete" in output  # the lifespan closed the provider connections
    assert KEY not in output
