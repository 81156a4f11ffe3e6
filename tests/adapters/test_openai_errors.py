"""Every error shape in research/openai.md's table, and malformed replies, mapped onto the shim's errors."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

import imageshim

KEY = "sk-test-abcdefghijklmnopqrstuvwxyz"


def _error(
    status: int, message: str, type_: str | None, code: str | None, param: str | None = None, **headers: str
):
    body = {"error": {"message": message, "type": type_, "param": param, "code": code}}
    return httpx.Response(status, json=body, headers={"x-request-id": "req_123", **headers})


CASES = [
    # (response, error class, code, param, retryable)
    (
        _error(
            400,
            "Unknown parameter: 'response_format'.",
            "invalid_request_error",
            "unknown_parameter",
            "response_format",
        ),
        imageshim.BadRequestError,
        "unknown_parameter",
        "response_format",
        False,
    ),
    (
        _error(
            400,
            "Invalid value: '1254x836'. Supported values are: '1024x1024'.",
            "invalid_request_error",
            "invalid_value",
            "size",
        ),
        imageshim.BadRequestError,
        "invalid_value",
        "size",
        False,
    ),
    (
        _error(
            400,
            "Invalid size '1792x936'. Width and height must both be divisible by 16.",
            "invalid_request_error",
            None,
            "size",
        ),
        imageshim.BadRequestError,
        None,
        "size",
        False,
    ),
    (
        _error(
            400,
            "Your request was rejected as a result of our safety system.",
            "invalid_request_error",
            "content_policy_violation",
        ),
        imageshim.BadRequestError,
        "content_policy_violation",
        None,
        False,
    ),
    (
        _error(
            400,
            "Your request was rejected by the safety system. safety_violations=[sexual].",
            "image_generation_user_error",
            "moderation_blocked",
        ),
        imageshim.BadRequestError,
        "moderation_blocked",
        None,
        False,
    ),
    (
        _error(401, f"Incorrect API key provided: {KEY}.", "invalid_request_error", "invalid_api_key"),
        imageshim.AuthenticationError,
        "invalid_api_key",
        None,
        False,
    ),
    (
        _error(
            403,
            "Your organization must be verified to use the model `gpt-image-2`.",
            "invalid_request_error",
            None,
        ),
        imageshim.PermissionDeniedError,
        None,
        None,
        False,
    ),
    (
        _error(
            404,
            "The model `gpt-image-2` does not exist or you do not have access to it.",
            "invalid_request_error",
            "model_not_found",
            "model",
        ),
        imageshim.NotFoundError,
        "model_not_found",
        "model",
        False,
    ),
    (
        _error(
            429,
            "Rate limit reached for gpt-image-2 on images per min (IPM).",
            "requests",
            "rate_limit_exceeded",
            **{"retry-after": "7"},
        ),
        imageshim.RateLimitError,
        "rate_limit_exceeded",
        None,
        True,
    ),
    (
        _error(429, "You exceeded your current quota.", "insufficient_quota", "insufficient_quota"),
        imageshim.RateLimitError,
        "insufficient_quota",
        None,
        False,
    ),
    (
        _error(500, "The server had an error while processing your request.", "server_error", None),
        imageshim.InternalServerError,
        None,
        None,
        True,
    ),
    (
        _error(
            503, "The engine is currently overloaded.", "server_error", None, **{"retry-after-ms": "1500"}
        ),
        imageshim.InternalServerError,
        None,
        None,
        True,
    ),
]


def _client(response: httpx.Response, recorder_factory: Any, clock: Any, model: str = "gpt-image-2") -> Any:
    recorder = recorder_factory(response)
    config = {
        "routes": {"*": [f"openai:{model}"]},
        "providers": {"openai": {"api_key": KEY}},
        "retry": {"max_retries": 0},
        "lifecycle": {"on_retired": "allow"},
    }
    return imageshim.OpenAI(config=config, http_client=recorder.client(), clock=clock), recorder


@pytest.mark.parametrize(("response", "cls", "code", "param", "retryable"), CASES)
def test_error_shapes(
    response: httpx.Response,
    cls: type,
    code: str | None,
    param: str | None,
    retryable: bool,
    recorder_factory: Any,
    clock: Any,
) -> None:
    client, _ = _client(response, recorder_factory, clock)
    with pytest.raises(cls) as info:
        client.images.generate(model="gpt-image-2", prompt="x")
    error = info.value
    assert type(error) is cls
    assert error.status_code == response.status_code
    assert error.code == code
    assert error.param == param
    assert error.provider == "openai"
    assert error.request_id == "req_123"
    assert error.retryable is retryable
    assert KEY not in str(error)
    assert KEY not in repr(error)


def test_retry_after_headers(recorder_factory: Any, clock: Any) -> None:
    seconds = _error(429, "slow", "requests", "rate_limit_exceeded", **{"retry-after": "7"})
    millis = _error(503, "busy", "server_error", None, **{"retry-after-ms": "1500"})
    for response, expected in ((seconds, 7.0), (millis, 1.5)):
        client, _ = _client(response, recorder_factory, clock)
        with pytest.raises(imageshim.APIStatusError) as info:
            client.images.generate(model="gpt-image-2", prompt="x")
        assert info.value.retry_after == expected


def test_retired_model_reply_names_the_successor(recorder_factory: Any, clock: Any) -> None:
    response = _error(
        404,
        "The model `dall-e-3` has been deprecated, learn more here: https://platform.openai.com/docs/deprecations",
        "invalid_request_error",
        "model_not_found",
        "model",
    )
    client, _ = _client(response, recorder_factory, clock, model="dall-e-3")
    with pytest.warns(imageshim.ModelRetiredWarning), pytest.raises(imageshim.ModelRetiredError) as info:
        client.images.generate(model="dall-e-3", prompt="x")
    assert info.value.successor == "gpt-image-2"
    assert info.value.status_code == 404
    assert isinstance(info.value, imageshim.BadRequestError)


@pytest.mark.parametrize(
    ("response", "fragment"),
    [
        (httpx.Response(200, content=b"<html>upstream gateway</html>"), "not JSON"),
        (httpx.Response(502, content=b"Bad Gateway"), "not JSON"),
        (httpx.Response(200, json={"created": 1}), "malformed"),
        (httpx.Response(200, json={"created": 1, "data": []}), "no image"),
        (httpx.Response(200, json={"created": 1, "data": [{"b64_json": None}]}), "no image"),
        (httpx.Response(200, json=[1, 2, 3]), "malformed"),
        (
            httpx.Response(200, json={"error": {"message": "late failure", "type": "server_error"}}),
            "late failure",
        ),
        (httpx.Response(500, json={"error": "just a string"}), "just a string"),
    ],
)
def test_malformed_replies_are_typed_errors(
    response: httpx.Response, fragment: str, recorder_factory: Any, clock: Any
) -> None:
    client, _ = _client(response, recorder_factory, clock)
    with pytest.raises(imageshim.APIError, match=fragment) as info:
        client.images.generate(model="gpt-image-2", prompt="x")
    assert info.value.status_code == response.status_code or response.status_code == 200


def test_x_should_retry_is_honoured(recorder_factory: Any, clock: Any) -> None:
    recorder = recorder_factory(_error(500, "no", "server_error", None, **{"x-should-retry": "false"}))
    config = {
        "routes": {"*": ["openai:gpt-image-2"]},
        "providers": {"openai": {"api_key": KEY}},
        "retry": {"max_retries": 2, "initial_backoff": 0.0},
    }
    client = imageshim.OpenAI(config=config, http_client=recorder.client(), clock=clock)
    with pytest.raises(imageshim.InternalServerError) as info:
        client.images.generate(model="gpt-image-2", prompt="x")
    assert info.value.retryable is False
    assert len(recorder.requests) == 1
