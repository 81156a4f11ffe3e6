"""Keys never leave in an error field, a header, a reply or a log line: provider values are redacted when an
error is built, and the gateway's client keys are registered secrets."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

import imageshim
from imageshim._core.errors import APIError, InternalServerError, ModelRetiredError, register_secret
from imageshim._frontends.engine import Engine
from imageshim._frontends.gateway import create_app
from imageshim._frontends.wire import WireHandler

CONFIG = {"routes": {"*": ["mock:gpt-image-2"]}}
GENERATIONS = "/v1/images/generations"
BODY = json.dumps({"model": "gpt-image-2", "prompt": "an otter"}).encode()


def _secret(prefix: str) -> str:
    """A fresh secret per test (registration is process-wide) that is not key-shaped: only its
    registration can catch it."""
    return f"{prefix}-{uuid.uuid4().hex}"


@pytest.mark.parametrize("cls", [APIError, InternalServerError])
def test_provider_fields_are_redacted_when_the_error_is_built(cls: type[APIError]) -> None:
    secret = _secret("prov")
    register_secret(secret)
    shaped = "sk-proj-abcdefghijklmnop0123"  # never registered: caught by its shape
    error = cls(
        "failed",
        request_id=secret,
        code=f"code {shaped}",
        param=f"param-{secret}",
        body={"error": {"id": secret}},
    )
    for value in (error.request_id, error.code, error.param, json.dumps(error.body), repr(error)):
        assert secret not in str(value)
        assert shaped not in str(value)
    assert error.request_id == "[REDACTED]"
    assert error.code == "code [REDACTED]"
    assert error.param == "param-[REDACTED]"


def test_fields_without_secrets_are_kept_as_they_came() -> None:
    error = ModelRetiredError("dall-e-3", shutdown_on=None, successor="gpt-image-2", request_id="req_123")
    assert (error.code, error.param, error.request_id) == ("model_retired", "model", "req_123")
    assert APIError("x", code=None).code is None


@pytest.mark.parametrize("where", ["x-request-id", "code", "param"])
def test_a_provider_echoing_its_key_never_reaches_a_wire_client(where: str, clock: Any) -> None:
    key = _secret("openai-key")  # registered by the engine when it loads the config

    def reply(request: httpx.Request) -> httpx.Response:
        error = {"message": "Incorrect API key provided.", "type": "invalid_request_error", "code": None}
        error["param" if where == "param" else "code"] = key if where != "x-request-id" else "invalid_api_key"
        return httpx.Response(401, json={"error": error}, headers={"x-request-id": key})

    engine = Engine(
        {"routes": {"*": ["openai:gpt-image-2"]}, "providers": {"openai": {"api_key": key}}},
        http_client=httpx.Client(transport=httpx.MockTransport(reply)),
        clock=clock,
    )
    wire = WireHandler(engine).handle("POST", GENERATIONS, BODY)
    assert wire.status == 401, wire.body
    assert key not in json.dumps(wire.headers)
    assert key.encode() not in wire.body
    assert wire.headers["x-imageshim-provider-request-id"] == "[REDACTED]"


def test_an_adapter_error_holding_the_key_is_redacted_in_the_header(clock: Any, imageshim_mock: Any) -> None:
    key = _secret("provider-key")
    register_secret(key)  # as an adapter registers the key it holds
    imageshim_mock.fail_next(
        InternalServerError("upstream failed", provider="mock", request_id=key, code=key, retryable=False)
    )
    wire = WireHandler(Engine(CONFIG, clock=clock)).handle("POST", GENERATIONS, BODY)
    assert wire.status == 500
    assert key not in json.dumps(wire.headers)
    assert key.encode() not in wire.body
    assert wire.headers["x-imageshim-provider-request-id"] == "[REDACTED]"


@pytest.mark.parametrize("source", ["argument", "IMAGESHIM_GATEWAY_KEYS"])
def test_a_client_key_never_appears_in_a_gateway_reply_or_log_line(
    source: str,
    clock: Any,
    imageshim_mock: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    key = _secret("gw-client")
    if source == "argument":
        app = create_app(CONFIG, keys=[key], clock=clock)
    else:
        monkeypatch.setenv("IMAGESHIM_GATEWAY_KEYS", f"another-key-0001, {key}")
        app = create_app(CONFIG, clock=clock)
    auth = {"Authorization": f"Bearer {key}"}
    with TestClient(app) as client, caplog.at_level(logging.DEBUG, logger="imageshim"):
        # A client that pastes its key where a value goes: the 400 quotes the value.
        echoed = client.post(
            GENERATIONS, json={"model": "gpt-image-2", "prompt": "x", "quality": key}, headers=auth
        )
        # A bug whose exception holds the key: the 500 is logged with its traceback.
        imageshim_mock.fail_next(RuntimeError(f"adapter bug near {key}"))
        crashed = client.post(GENERATIONS, json={"model": "gpt-image-2", "prompt": "x"}, headers=auth)
    assert echoed.status_code == 400
    assert echoed.json()["error"]["param"] == "quality"
    assert "[REDACTED]" in echoed.json()["error"]["message"]
    assert crashed.status_code == 500
    for reply in (echoed, crashed):
        assert key not in reply.text
        assert key not in json.dumps(dict(reply.headers))
    logged = [r.getMessage() for r in caplog.records]
    assert any("Traceback" in m for m in logged)
    assert all(key not in m for m in logged)


def test_the_native_client_error_carries_no_key(clock: Any, imageshim_mock: Any) -> None:
    key = _secret("native")
    register_secret(key)
    imageshim_mock.fail_next(imageshim.BadRequestError("refused", provider="mock", request_id=key, param=key))
    with pytest.raises(imageshim.BadRequestError) as info:
        imageshim.OpenAI(config=CONFIG, clock=clock).images.generate(model="gpt-image-2", prompt="x")
    assert info.value.request_id == "[REDACTED]"
    assert info.value.param == "[REDACTED]"
