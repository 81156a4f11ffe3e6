"""Runware error replies: every moderation code, model gone / unavailable, timeouts and server errors at any
status, non-JSON error pages, legacy and null shapes, range errors, and a task's real error never hidden
behind another task's shortfall. Sync and async."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

import imageshim
from imageshim import ImageCall, ProviderSettings, builtin_catalog
from imageshim_adapters.runware import RunwareAdapter
from imageshim_adapters.runware.reply import MODERATION_CODES

from ._runware_fakes import DALLE3, GPT2, KEY

Handler = Callable[[httpx.Request], httpx.Response]


@pytest.fixture(autouse=True)
def _no_sleep(no_sleep: None) -> None:
    """A recovery poll never really sleeps here."""


def _for_tasks(status: int, *, data: Any = None, **error: Any) -> Handler:
    """An error for every imageInference task of the request, carrying that task's own taskUUID."""

    def reply(request: httpx.Request) -> httpx.Response:
        tasks = json.loads(request.content)
        errors = [{"taskUUID": t["taskUUID"], "taskType": t["taskType"], **error} for t in tasks]
        return httpx.Response(
            status, json={"data": data, "errors": errors} if data is not None else {"errors": errors}
        )

    return reply


def _generate(
    reply: Handler | httpx.Response,
    recorder_factory: Any,
    clock: Any,
    config: dict[str, Any] | None = None,
    **kwargs: Any,
) -> tuple[imageshim.APIError, Any]:
    recorder = recorder_factory(reply)
    client = imageshim.OpenAI(config=config or GPT2, http_client=recorder.client(), clock=clock)
    with pytest.raises(imageshim.APIError) as info:
        client.images.generate(**{"model": "gpt-image-2", "prompt": "a cat", **kwargs})
    assert KEY not in str(info.value)
    return info.value, recorder


def _generated_tasks(recorder: Any) -> list[dict[str, Any]]:
    return [t for r in recorder.requests for t in json.loads(r.content) if t["taskType"] == "imageInference"]


@pytest.mark.parametrize("code", sorted(MODERATION_CODES))
def test_every_moderation_code_is_a_bad_request(code: str, recorder_factory: Any, clock: Any) -> None:
    error, recorder = _generate(_for_tasks(400, code=code, message="blocked"), recorder_factory, clock)
    assert type(error) is imageshim.BadRequestError
    assert (error.status_code, error.code, error.retryable, error.model_unavailable) == (
        400,
        code,
        False,
        False,
    )
    assert len(recorder.requests) == 1


@pytest.mark.parametrize("status", [200, 400])
def test_moderation_at_any_status_is_not_retried(status: int, recorder_factory: Any, clock: Any) -> None:
    config = {**GPT2, "retry": {"max_retries": 2, "initial_backoff": 0.0}}
    error, recorder = _generate(
        _for_tasks(status, code="promptBlocked", message="no"), recorder_factory, clock, config
    )
    assert type(error) is imageshim.BadRequestError
    assert len(recorder.requests) == 1


@pytest.mark.parametrize("code", ["unknownModel", "modelDisabled", "modelNotFound"])
def test_model_gone_is_reported_as_unavailable_by_the_adapter(code: str) -> None:
    """The adapter says "not served" (NotFoundError, Runware's code kept); it never decides "retired"."""
    adapter = RunwareAdapter(
        ProviderSettings("runware", api_key=KEY),
        http_client=httpx.Client(transport=httpx.MockTransport(_for_tasks(400, code=code, message="gone"))),
    )
    spec = adapter.profile(builtin_catalog().get("dall-e-3"))  # type: ignore[arg-type]
    call = ImageCall(call_id="t-1", model="dall-e-3", prompt="a cat", width=1024, height=1024)
    with pytest.raises(imageshim.APIError) as info:
        adapter.generate([call], spec)
    error = info.value
    assert type(error) is imageshim.NotFoundError
    assert not isinstance(error, imageshim.ModelRetiredError)
    assert (error.code, error.model_unavailable, error.retryable, error.param) == (code, True, False, "model")


def test_model_gone_on_a_retired_model_becomes_model_retired(recorder_factory: Any, clock: Any) -> None:
    """Through the client: the core, which knows dall-e-3 is past shutdown, names it retired."""
    with pytest.warns(imageshim.ModelRetiredWarning):
        error, _ = _generate(
            _for_tasks(400, code="modelDisabled", message="disabled"),
            recorder_factory,
            clock,
            DALLE3,
            model="dall-e-3",
        )
    assert error.model_unavailable is True
    assert isinstance(error, (imageshim.ModelRetiredError, imageshim.NotFoundError))


def test_unknown_model_on_an_active_model_falls_back(recorder_factory: Any, clock: Any) -> None:
    config = {**GPT2, "routes": {"*": ["runware:gpt-image-2", "mock:gpt-image-2"]}}
    recorder = recorder_factory(_for_tasks(400, code="unknownModel", message="no such model"))
    client = imageshim.OpenAI(config=config, http_client=recorder.client(), clock=clock)
    resp = client.images.generate(model="gpt-image-2", prompt="a cat")
    assert resp.imageshim.route == "mock:gpt-image-2"
    assert [a.outcome for a in resp.imageshim.attempts] == ["NotFoundError", "ok"]


def test_task_not_found_is_not_a_missing_model(recorder_factory: Any, clock: Any) -> None:
    error, _ = _generate(_for_tasks(404, code="taskFailedOrNotFound", message="?"), recorder_factory, clock)
    assert type(error) is imageshim.NotFoundError
    assert (error.code, error.model_unavailable, error.retryable) == ("taskFailedOrNotFound", False, False)


def test_model_unavailable_on_an_active_model_is_a_retryable_provider_error(
    recorder_factory: Any, clock: Any
) -> None:
    error, _ = _generate(
        _for_tasks(200, code="modelUnavailable", message="try later"), recorder_factory, clock
    )
    assert type(error) is imageshim.InternalServerError
    assert (error.status_code, error.code, error.retryable, error.model_unavailable) == (
        503,
        "modelUnavailable",
        True,
        False,
    )


def _ok(request: httpx.Request) -> httpx.Response:
    items = [
        {"taskUUID": t["taskUUID"], "imageURL": f"https://im.runware.ai/{t['taskUUID']}.jpg"}
        for t in json.loads(request.content)
    ]
    return httpx.Response(200, json={"data": items})


def test_model_unavailable_is_retried(recorder_factory: Any, clock: Any) -> None:
    config = {**GPT2, "retry": {"max_retries": 1, "initial_backoff": 0.0}}
    recorder = recorder_factory(_for_tasks(200, code="modelUnavailable", message="busy"), _ok)
    client = imageshim.OpenAI(config=config, http_client=recorder.client(), clock=clock)
    resp = client.images.generate(model="gpt-image-2", prompt="a cat", response_format="url")
    assert [a.outcome for a in resp.imageshim.attempts] == ["InternalServerError", "ok"]


def test_timeout_provider_at_http_200(recorder_factory: Any, clock: Any) -> None:
    error, _ = _generate(_for_tasks(200, code="timeoutProvider", message="slow"), recorder_factory, clock)
    assert type(error) is imageshim.InternalServerError
    assert (error.status_code, error.code, error.retryable) == (504, "timeoutProvider", True)


def test_internal_server_error_at_500(recorder_factory: Any, clock: Any) -> None:
    reply = httpx.Response(500, json={"errors": [{"code": "internalServerError", "message": "oops"}]})
    error, _ = _generate(reply, recorder_factory, clock)
    assert type(error) is imageshim.InternalServerError
    assert (error.status_code, error.code, error.retryable) == (500, "internalServerError", True)


@pytest.mark.parametrize(
    ("status", "cls", "retryable"),
    [
        (401, imageshim.AuthenticationError, False),
        (429, imageshim.RateLimitError, True),
        (503, imageshim.InternalServerError, True),
    ],
)
def test_error_pages_that_are_not_json_keep_their_class(
    status: int, cls: type, retryable: bool, recorder_factory: Any, clock: Any
) -> None:
    reply = httpx.Response(status, content=b"<html><body>gateway says no</body></html>")
    error, _ = _generate(reply, recorder_factory, clock)
    assert type(error) is cls
    assert (error.status_code, error.retryable, error.provider) == (status, retryable, "runware")


def test_legacy_error_key_as_a_list(recorder_factory: Any, clock: Any) -> None:
    reply = httpx.Response(
        401,
        json={
            "error": [{"code": "invalidApiKey", "message": "Invalid API key", "taskType": "authentication"}]
        },
    )
    error, _ = _generate(reply, recorder_factory, clock)
    assert type(error) is imageshim.AuthenticationError
    assert error.code == "invalidApiKey"


def test_insufficient_credits_with_the_tasks_own_uuid(recorder_factory: Any, clock: Any) -> None:
    """A credits error per task (each carrying its taskUUID), two tasks in one body: no retry, 402."""
    config = {**DALLE3, "retry": {"max_retries": 2, "initial_backoff": 0.0}}
    with pytest.warns(imageshim.ImageShimWarning):
        error, recorder = _generate(
            _for_tasks(400, code="insufficientCredits", message="Insufficient credits"),
            recorder_factory,
            clock,
            config,
            model="dall-e-3",
            n=2,
        )
    assert type(error) is imageshim.PermissionDeniedError
    assert (error.status_code, error.code, error.retryable) == (402, "insufficientCredits", False)
    assert "top up" in error.message
    assert len(recorder.requests) == 1
    assert len(_generated_tasks(recorder)) == 2


def test_null_data_keeps_the_credits_error(recorder_factory: Any, clock: Any) -> None:
    reply = httpx.Response(
        200,
        json={"data": None, "errors": [{"code": "insufficientCredits", "message": "Insufficient credits"}]},
    )
    error, _ = _generate(reply, recorder_factory, clock)
    assert type(error) is imageshim.PermissionDeniedError
    assert error.code == "insufficientCredits"


def test_null_errors_and_data_of_a_task(recorder_factory: Any, clock: Any) -> None:
    def reply(request: httpx.Request) -> httpx.Response:
        (task,) = json.loads(request.content)
        item = {"taskUUID": task["taskUUID"], "imageURL": "https://im.runware.ai/x.jpg"}
        return httpx.Response(200, json={"data": [item], "errors": None})

    recorder = recorder_factory(reply)
    client = imageshim.OpenAI(config=GPT2, http_client=recorder.client(), clock=clock)
    assert (
        client.images.generate(model="gpt-image-2", prompt="a cat", response_format="url").data[0].url
        == "https://im.runware.ai/x.jpg"
    )


def test_range_error_with_type_min_and_max(recorder_factory: Any, clock: Any) -> None:
    reply = _for_tasks(
        400,
        code="invalidWidth",
        message="Invalid value for width",
        parameter="width",
        type="validation",
        min=480,
        max=3840,
    )
    error, _ = _generate(reply, recorder_factory, clock)
    assert type(error) is imageshim.BadRequestError
    assert (error.code, error.param, error.retryable) == ("invalidWidth", "width", False)
    assert "480..3840" in error.message


@pytest.mark.parametrize("status", [400, 200])
def test_a_task_error_is_not_hidden_behind_another_tasks_shortfall(
    status: int, recorder_factory: Any, clock: Any
) -> None:
    """Two DALL·E 3 tasks; Runware answers only that task 2's prompt is invalid. With an error status the
    request was refused (task 1 never ran): that error is raised. With a 200, task 1 may have run: it is
    looked up, and reported unknown when Runware says nothing of it. Nothing is ever sent again."""

    def reply(request: httpx.Request) -> httpx.Response:
        tasks = json.loads(request.content)
        if tasks[0]["taskType"] == "getResponse":
            return httpx.Response(200, json={"data": [], "errors": []})
        error = {"taskUUID": tasks[1]["taskUUID"], "code": "invalidPositivePrompt", "message": "bad prompt"}
        return httpx.Response(status, json={"data": [], "errors": [error]})

    config = {**DALLE3, "retry": {"max_retries": 2, "initial_backoff": 0.0}}
    with pytest.warns(imageshim.ImageShimWarning):
        error, recorder = _generate(reply, recorder_factory, clock, config, model="dall-e-3", n=2)
    assert len(_generated_tasks(recorder)) == 2  # one body of two tasks, never sent again
    if status == 400:
        assert type(error) is imageshim.BadRequestError
        assert (error.code, error.retryable) == ("invalidPositivePrompt", False)
    else:
        assert isinstance(error, imageshim.ResultUnknownError)
        assert len(error.task_ids) == 1


ASYNC_CASES = [
    (
        _for_tasks(200, code="contentPolicyViolation", message="no"),
        imageshim.BadRequestError,
        "contentPolicyViolation",
    ),
    (
        _for_tasks(400, code="insufficientCredits", message="no"),
        imageshim.PermissionDeniedError,
        "insufficientCredits",
    ),
    (
        _for_tasks(200, code="timeoutProvider", message="slow"),
        imageshim.InternalServerError,
        "timeoutProvider",
    ),
    (_for_tasks(400, code="unknownModel", message="gone"), imageshim.NotFoundError, "unknownModel"),
    (
        httpx.Response(401, json={"errors": [{"code": "invalidApiKey"}]}),
        imageshim.AuthenticationError,
        "invalidApiKey",
    ),
    (
        httpx.Response(200, json={"data": None, "errors": [{"code": "insufficientCredits"}]}),
        imageshim.PermissionDeniedError,
        "insufficientCredits",
    ),
    (httpx.Response(503, content=b"<html>busy</html>"), imageshim.InternalServerError, None),
]


@pytest.mark.anyio
@pytest.mark.parametrize(("reply", "cls", "code"), ASYNC_CASES)
async def test_error_replies_on_the_async_path(
    reply: Any, cls: type, code: str | None, recorder_factory: Any, clock: Any
) -> None:
    recorder = recorder_factory(reply)
    client = imageshim.AsyncOpenAI(config=GPT2, http_client=recorder.async_client(), clock=clock)
    with pytest.raises(imageshim.APIError) as info:
        await client.images.generate(model="gpt-image-2", prompt="a cat")
    assert type(info.value) is cls
    assert info.value.code == code
    assert KEY not in repr(info.value)


@pytest.mark.anyio
async def test_async_task_error_is_not_hidden(recorder_factory: Any, clock: Any) -> None:
    def reply(request: httpx.Request) -> httpx.Response:
        tasks = json.loads(request.content)
        error = {"taskUUID": tasks[-1]["taskUUID"], "code": "invalidPositivePrompt", "message": "bad"}
        return httpx.Response(200, json={"data": [], "errors": [error]})

    recorder = recorder_factory(reply)
    config = {**DALLE3, "retry": {"max_retries": 2, "initial_backoff": 0.0}}
    client = imageshim.AsyncOpenAI(config=config, http_client=recorder.async_client(), clock=clock)
    with pytest.warns(imageshim.ImageShimWarning), pytest.raises(imageshim.BadRequestError) as info:
        await client.images.generate(model="dall-e-3", prompt="a cat", n=2)
    assert info.value.code == "invalidPositivePrompt"
    assert len(_generated_tasks(recorder)) == 2
