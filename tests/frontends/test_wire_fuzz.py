"""Fuzzing the shared wire handler with arbitrary bodies: the only outcomes are a 200 with an OpenAI
``ImagesResponse`` (or its event stream) and a 4xx/5xx OpenAI error body; nothing ever raises."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imageshim._frontends.engine import Engine
from imageshim._frontends.wire import WireHandler, WireResponse

FIELDS = [
    "prompt",
    "model",
    "n",
    "size",
    "quality",
    "style",
    "response_format",
    "user",
    "background",
    "moderation",
    "output_format",
    "output_compression",
    "stream",
    "partial_images",
    "safety_identifier",
    "extra_body",
]
PLAUSIBLE = st.sampled_from(
    ["gpt-image-2", "dall-e-3", "dall-e-2", "1024x1024", "1024x1536", "auto", "url", "b64_json", "hd", "png"]
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=False),
    st.text(max_size=12),
    PLAUSIBLE,
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)
REQUESTS = st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=8), JSON, max_size=6)
BODIES = st.one_of(
    REQUESTS.map(lambda d: json.dumps(d).encode()),
    st.fixed_dictionaries(
        {"prompt": st.text(min_size=1, max_size=20)}, optional={"n": st.integers(1, 2)}
    ).map(lambda d: json.dumps(d).encode()),
    JSON.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=64),
    st.integers(1, 5000).map(lambda depth: b"[" * depth + b"]" * depth),
    st.integers(1, 5000).map(lambda depth: b'{"prompt": "x", "user": ' + b"[" * depth + b"]" * depth + b"}"),
)


@pytest.fixture(scope="module")
def handler() -> WireHandler:
    return WireHandler(Engine({"routes": {"*": ["mock:gpt-image-2"]}}), max_body_bytes=1 << 16)


def _check(reply: WireResponse) -> None:
    assert reply.headers["x-request-id"].startswith("req_")
    if reply.status == 200:
        if reply.headers["content-type"] == "text/event-stream":
            assert reply.body.startswith(b"event: image_generation.completed\n")
            return
        openai.types.ImagesResponse.model_validate(reply.json())
        return
    assert 400 <= reply.status < 600
    assert reply.headers["content-type"] == "application/json"
    assert reply.headers["x-should-retry"] == "false"
    error = reply.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert isinstance(error["message"], str)
    assert error["message"]


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=BODIES)
def test_any_body_gets_an_openai_shaped_reply(handler: WireHandler, body: bytes) -> None:
    _check(handler.handle("POST", "/v1/images/generations", body))


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(method=st.sampled_from(["GET", "POST", "PUT", "DELETE"]), path=st.text(max_size=30), body=BODIES)
def test_any_path_gets_an_openai_shaped_reply(
    handler: WireHandler, method: str, path: str, body: bytes
) -> None:
    reply = handler.handle(method, f"/{path}", body)
    _check(reply)
    if f"/{path}".split("?", 1)[0] != "/v1/images/generations" or method != "POST":
        assert reply.status == 404


def test_the_async_handler_agrees(handler: WireHandler) -> None:
    import asyncio

    bodies: list[Any] = [b"[" * 100_000, b'{"prompt": "x", "extra_body": {}}', b"\xff", b'{"prompt": "x"}']
    for body in bodies:
        sync = handler.handle("POST", "/v1/images/generations", body)
        asyn = asyncio.run(handler.ahandle("POST", "/v1/images/generations", body))
        _check(asyn)
        assert (sync.status, sync.json().get("error", {}).get("code")) == (
            asyn.status,
            asyn.json().get("error", {}).get("code"),
        )
