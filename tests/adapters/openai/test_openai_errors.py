"""Every error shape in research/openai.md's table, and malformed replies, mapped onto the shim's errors.

Rows marked "pattern" follow OpenAI's usual wording where the source gives only the code (openai.md §3).
``model_unavailable`` is set only for a 400/404 that says OpenAI does not serve the model; the core decides
whether that means retired (adapters raise no ModelRetiredError of their own).
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

import imageshim
from imageshim import ModelSpec, ProviderSettings, builtin_catalog
from imageshim._core.adapter import ImageCall
from imageshim_adapters.openai import OpenAIAdapter

KEY = "sk-test-abcdefghijklmnopqrstuvwxyz"


def _error(
    status: int,
    message: str,
    type_: str | None,
    code: str | None,
    param: str | None = None,
    extra: dict[str, Any] | None = None,
    **headers: str,
) -> httpx.Response:
    body = {"error": {"message": message, "type": type_, "param": param, "code": code, **(extra or {})}}
    return httpx.Response(status, json=body, headers={"x-request-id": "req_123", **headers})


MODERATION_DETAILS = {"moderation_stage": "output", "categories": ["sexual"]}
RETIRED_MESSAGE = (
    "The model `dall-e-3` has been deprecated, learn more here: https://platform.openai.com/docs/deprecations"
)


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
    (  # style sent to a GPT image model (jsboige/CoursIA#4230; message: pattern)
        _error(400, "Unknown parameter: 'style'.", "invalid_request_error", "unknown_parameter", "style"),
        imageshim.BadRequestError,
        "unknown_parameter",
        "style",
        False,
    ),
    (  # quality=hd on a GPT image model (jsboige/CoursIA#4290; message: pattern)
        _error(
            400,
            "Invalid value: 'hd'. Supported values are: 'low', 'medium', 'high', and 'auto'.",
            "invalid_request_error",
            "invalid_value",
            "quality",
        ),
        imageshim.BadRequestError,
        "invalid_value",
        "quality",
        False,
    ),
    (  # gpt-image-2 before the August 2026 transparency preview (Wei-Shaw/sub2api#7150)
        _error(
            400,
            "Transparent background is not supported for this model.",
            "image_generation_user_error",
            "invalid_value",
        ),
        imageshim.BadRequestError,
        "invalid_value",
        None,
        False,
    ),
    (  # SDK 3.x deprecates `user`: a warning about a parameter, not about the model (defect: was "retired")
        _error(
            400,
            "The 'user' parameter is deprecated; use 'safety_identifier'.",
            "invalid_request_error",
            None,
            "user",
        ),
        imageshim.BadRequestError,
        None,
        "user",
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
            extra={"moderation_details": MODERATION_DETAILS},
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


def _fresh(response: httpx.Response) -> httpx.Response:
    """A new response with the same status, headers and body (each test reads its own)."""
    return httpx.Response(response.status_code, content=response.content, headers=response.headers)


def _check(
    error: imageshim.APIError, response: httpx.Response, cls: type, code: str | None, param: str | None
) -> None:
    assert type(error) is cls
    assert error.status_code == response.status_code
    assert error.code == code
    assert error.param == param
    assert error.provider == "openai"
    assert error.request_id == "req_123"
    # Only "the model does not exist" is about the model; every other refusal is about the request.
    assert error.model_unavailable is (code == "model_not_found")
    assert KEY not in str(error)
    assert KEY not in repr(error)


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
    client, _ = _client(_fresh(response), recorder_factory, clock)
    with pytest.raises(cls) as info:
        client.images.generate(model="gpt-image-2", prompt="x")
    _check(info.value, response, cls, code, param)
    assert info.value.retryable is retryable


@pytest.mark.anyio
@pytest.mark.parametrize(("response", "cls", "code", "param", "retryable"), CASES)
async def test_error_shapes_async(
    response: httpx.Response,
    cls: type,
    code: str | None,
    param: str | None,
    retryable: bool,
    recorder_factory: Any,
    clock: Any,
) -> None:
    recorder = recorder_factory(_fresh(response))
    config = {
        "routes": {"*": ["openai:gpt-image-2"]},
        "providers": {"openai": {"api_key": KEY}},
        "retry": {"max_retries": 0},
    }
    client = imageshim.AsyncOpenAI(config=config, http_client=recorder.async_client(), clock=clock)
    with pytest.raises(cls) as info:
        await client.images.generate(model="gpt-image-2", prompt="x")
    _check(info.value, response, cls, code, param)
    assert info.value.retryable is retryable
    assert len(recorder.requests) == 1


def test_moderation_details_are_kept(recorder_factory: Any, clock: Any) -> None:
    response = _error(
        400,
        "Your request was rejected by the safety system. If you believe this is an error, contact us at "
        "help.openai.com and include the request ID req_123. safety_violations=[sexual].",
        "image_generation_user_error",
        "moderation_blocked",
        extra={"moderation_details": MODERATION_DETAILS},
    )
    client, recorder = _client(response, recorder_factory, clock)
    with pytest.raises(imageshim.BadRequestError) as info:
        client.images.generate(model="gpt-image-2", prompt="x")
    assert info.value.body["moderation_details"] == MODERATION_DETAILS
    assert "safety_violations=[sexual]" in info.value.message
    assert info.value.retryable is False
    assert len(recorder.requests) == 1


# DALL·E 3's own refusals, read from a dall-e-3 target (on_retired = "allow" sends it as it is).
DALLE3_CASES = [
    (  # 256x256 sent to dall-e-3 (redevrx/chat_gpt_sdk#93)
        _error(400, "The size is not supported by this model.", "invalid_request_error", "invalid_size"),
        "invalid_size",
    ),
    (  # n > 1 (HemulGM/DelphiOpenAI#38; exact wording not verified in openai.md)
        _error(400, "You must provide n=1 for this model.", "invalid_request_error", None),
        None,
    ),
]


@pytest.mark.parametrize(("response", "code"), DALLE3_CASES)
def test_dalle3_refusals(
    response: httpx.Response, code: str | None, recorder_factory: Any, clock: Any
) -> None:
    client, recorder = _client(response, recorder_factory, clock, model="dall-e-3")
    with pytest.warns(imageshim.ModelRetiredWarning), pytest.raises(imageshim.BadRequestError) as info:
        client.images.generate(model="dall-e-3", prompt="x")
    _check(info.value, response, imageshim.BadRequestError, code, None)
    assert info.value.retryable is False
    assert recorder.json()["model"] == "dall-e-3"


def test_retry_after_headers(recorder_factory: Any, clock: Any) -> None:
    seconds = _error(429, "slow", "requests", "rate_limit_exceeded", **{"retry-after": "7"})
    millis = _error(503, "busy", "server_error", None, **{"retry-after-ms": "1500"})
    for response, expected in ((seconds, 7.0), (millis, 1.5)):
        client, _ = _client(response, recorder_factory, clock)
        with pytest.raises(imageshim.APIStatusError) as info:
            client.images.generate(model="gpt-image-2", prompt="x")
        assert info.value.retry_after == expected


def _adapter(response: httpx.Response, recorder_factory: Any) -> tuple[OpenAIAdapter, Any]:
    recorder = recorder_factory(response)
    settings = ProviderSettings("openai", api_key=KEY)
    adapter = OpenAIAdapter(
        settings, http_client=recorder.client(), async_http_client=recorder.async_client()
    )
    return adapter, recorder


def _spec(model: str) -> ModelSpec:
    spec = builtin_catalog().get(model)
    assert spec is not None
    return spec


# (status, message, code, param, error class, model_unavailable)
UNAVAILABLE_CASES = [
    (404, RETIRED_MESSAGE, "model_not_found", None, imageshim.NotFoundError, True),
    # the form observed for dall-e-3 after 2026-05-12: a 400 (jsboige/CoursIA#4290), body as predicted
    (400, RETIRED_MESSAGE, "model_not_found", None, imageshim.BadRequestError, True),
    (400, "The model `dall-e-3` has been retired.", None, "model", imageshim.BadRequestError, True),
    (
        404,
        "The model `x` does not exist or you do not have access to it.",
        "model_not_found",
        "model",
        imageshim.NotFoundError,
        True,
    ),
    # a retirement word about another parameter, or with nothing naming the model: about the request
    (
        400,
        "The 'user' parameter is deprecated; use 'safety_identifier'.",
        None,
        "user",
        imageshim.BadRequestError,
        False,
    ),
    (400, RETIRED_MESSAGE, None, None, imageshim.BadRequestError, False),
    (400, "This size is no longer supported.", "invalid_value", "size", imageshim.BadRequestError, False),
    # not 400/404: access, not existence
    (
        403,
        "You have no access to model `x`.",
        "model_not_found",
        "model",
        imageshim.PermissionDeniedError,
        False,
    ),
    # moderation is decided first, whatever the message says
    (
        400,
        "Rejected by the safety system: this model no longer accepts the prompt.",
        "moderation_blocked",
        "model",
        imageshim.BadRequestError,
        False,
    ),
]


@pytest.mark.parametrize("model", ["dall-e-3", "gpt-image-1.5", "gpt-image-2"])
@pytest.mark.parametrize(("status", "message", "code", "param", "cls", "unavailable"), UNAVAILABLE_CASES)
def test_adapter_reports_model_unavailable_and_never_decides_retired(
    model: str,
    status: int,
    message: str,
    code: str | None,
    param: str | None,
    cls: type,
    unavailable: bool,
    recorder_factory: Any,
) -> None:
    # The adapter has no clock: a retired dall-e-3, a dying gpt-image-1.5 and a live gpt-image-2 get the
    # same answer; the core turns model_unavailable into ModelRetiredError when the catalog says retired.
    adapter, _ = _adapter(_error(status, message, "invalid_request_error", code, param), recorder_factory)
    with pytest.raises(imageshim.APIStatusError) as info:
        adapter.generate([ImageCall(call_id="c1", model=model, prompt="x")], _spec(model))
    error = info.value
    assert type(error) is cls
    assert not isinstance(error, imageshim.ModelRetiredError)
    assert error.model_unavailable is unavailable
    assert (error.status_code, error.code, error.param) == (status, code, param)
    assert error.request_id == "req_123"
    assert error.provider == "openai"


@pytest.mark.anyio
@pytest.mark.parametrize("status", [400, 404])
async def test_adapter_reports_model_unavailable_async(status: int, recorder_factory: Any) -> None:
    response = _error(status, RETIRED_MESSAGE, "invalid_request_error", "model_not_found")
    adapter, recorder = _adapter(response, recorder_factory)
    with pytest.raises(imageshim.APIStatusError) as info:
        await adapter.agenerate([ImageCall(call_id="c1", model="dall-e-3", prompt="x")], _spec("dall-e-3"))
    assert type(info.value) is (imageshim.NotFoundError if status == 404 else imageshim.BadRequestError)
    assert info.value.model_unavailable is True
    assert info.value.request_id == "req_123"
    assert len(recorder.requests) == 1


def test_a_deprecated_parameter_is_not_a_retired_model(recorder_factory: Any, clock: Any) -> None:
    """gpt-image-1.5 shuts down on 2026-12-01: a 400 about `user` must surface as it is, not be called
    "retired" and silently sent to the next target."""
    response = _error(
        400,
        "The 'user' parameter is deprecated; use 'safety_identifier'.",
        "invalid_request_error",
        None,
        "user",
    )
    recorder = recorder_factory(response)
    config = {
        "routes": {"*": ["openai:gpt-image-1.5", "openai:gpt-image-2"]},
        "providers": {"openai": {"api_key": KEY}},
        "retry": {"max_retries": 0},
    }
    client = imageshim.OpenAI(config=config, http_client=recorder.client(), clock=clock)
    with pytest.warns(imageshim.ModelDeprecationWarning), pytest.raises(imageshim.BadRequestError) as info:
        client.images.generate(model="gpt-image-1.5", prompt="x", user="end-user-7")
    assert type(info.value) is imageshim.BadRequestError
    assert info.value.param == "user"
    assert info.value.model_unavailable is False
    assert [json.loads(r.content)["model"] for r in recorder.requests] == ["gpt-image-1.5"]


@pytest.mark.parametrize("status", [400, 404])
def test_retired_model_reply_names_the_successor(status: int, recorder_factory: Any, clock: Any) -> None:
    # The adapter reports model_unavailable; the core, knowing dall-e-3 is past shutdown, says retired.
    response = _error(status, RETIRED_MESSAGE, "invalid_request_error", "model_not_found", "model")
    client, _ = _client(response, recorder_factory, clock, model="dall-e-3")
    with pytest.warns(imageshim.ModelRetiredWarning), pytest.raises(imageshim.ModelRetiredError) as info:
        client.images.generate(model="dall-e-3", prompt="x")
    assert info.value.successor == "gpt-image-2"
    assert info.value.status_code == status
    assert info.value.model_unavailable is True
    assert isinstance(info.value, imageshim.BadRequestError)


@pytest.mark.parametrize("status", [400, 404])
def test_unavailable_model_falls_back_to_the_next_target(
    status: int, recorder_factory: Any, clock: Any
) -> None:
    retired = _error(status, RETIRED_MESSAGE, "invalid_request_error", "model_not_found")
    ok = httpx.Response(200, json={"created": 1, "data": [{"b64_json": "iVBORw0KGgo="}]})
    recorder = recorder_factory(retired, ok)
    config = {
        "routes": {"dall-e-3": ["openai:dall-e-3", "openai:gpt-image-2"]},
        "providers": {"openai": {"api_key": KEY}},
        "lifecycle": {"on_retired": "allow"},
    }
    client = imageshim.OpenAI(config=config, http_client=recorder.client(), clock=clock)
    with pytest.warns(imageshim.ImageShimWarning) as caught:
        resp = client.images.generate(model="dall-e-3", prompt="x", response_format="b64_json")
    assert imageshim.ModelRetiredWarning in {type(w.message) for w in caught}
    assert [json.loads(r.content)["model"] for r in recorder.requests] == ["dall-e-3", "gpt-image-2"]
    assert resp.imageshim.route == "openai:gpt-image-2"


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
    if response.status_code == 502:  # a proxy's page: the request may have run, and OpenAI cannot say
        assert isinstance(info.value, imageshim.ResultUnknownError)
    else:
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
