"""The models API on all three ways in: the catalog with lifecycle fields, and OpenAI's 404 for an unknown id."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest

import imageshim
from imageshim._frontends.gateway import create_app
from imageshim._frontends.transport import async_openai_http_client, openai_http_client

MOCK = {"routes": {"*": ["mock:gpt-image-2"]}}
KEY = "gw-models-key-123456"


def _check_dalle3(model: Any) -> None:
    assert model.id == "dall-e-3"
    assert model.object == "model"
    assert model.status == "retired"
    assert model.shutdown_on == "2026-05-12"
    assert model.days_left == -196  # on the test clock's day, 2026-11-24
    assert model.successor == "gpt-image-2"


def test_native_list_and_retrieve(clock: Any) -> None:
    client = imageshim.OpenAI(config=MOCK, clock=clock)
    ids = [m.id for m in client.models.list()]
    assert {"dall-e-3", "gpt-image-1.5", "gpt-image-2"} <= set(ids)
    _check_dalle3(client.models.retrieve("dall-e-3"))
    assert client.models.retrieve("gpt-image-1.5").days_left == 7


def test_native_unknown_model_is_not_found(clock: Any) -> None:
    with pytest.raises(imageshim.NotFoundError) as info:
        imageshim.OpenAI(config=MOCK, clock=clock).models.retrieve("dall-e-9")
    assert (info.value.status_code, info.value.code, info.value.param) == (404, "model_not_found", "model")


@pytest.mark.anyio
async def test_native_async(clock: Any) -> None:
    client = imageshim.AsyncOpenAI(config=MOCK, clock=clock)
    assert "gpt-image-2" in [m.id for m in await client.models.list()]
    _check_dalle3(await client.models.retrieve("dall-e-3"))


def test_sdk_in_process(clock: Any) -> None:
    sdk = openai.OpenAI(api_key="unused", max_retries=0, http_client=openai_http_client(MOCK, clock=clock))
    listed = {m.id: m for m in sdk.models.list()}
    _check_dalle3(listed["dall-e-3"])
    _check_dalle3(sdk.models.retrieve("dall-e-3"))
    with pytest.raises(openai.NotFoundError) as info:
        sdk.models.retrieve("dall-e-9")
    assert info.value.code == "model_not_found"


@pytest.mark.anyio
async def test_sdk_in_process_async(clock: Any) -> None:
    sdk = openai.AsyncOpenAI(
        api_key="unused", max_retries=0, http_client=async_openai_http_client(MOCK, clock=clock)
    )
    _check_dalle3(await sdk.models.retrieve("dall-e-3"))
    assert "gpt-image-2" in [m.id async for m in sdk.models.list()]


def test_gateway(serve_app: Any, clock: Any) -> None:
    with serve_app(create_app(MOCK, keys=[KEY], clock=clock)) as base:
        sdk = openai.OpenAI(api_key=KEY, base_url=f"{base}/v1", max_retries=0)
        _check_dalle3(sdk.models.retrieve("dall-e-3"))
        assert "gpt-image-2" in [m.id for m in sdk.models.list()]
        with pytest.raises(openai.NotFoundError):
            sdk.models.retrieve("dall-e-9")
        assert httpx.get(f"{base}/v1/models/dall-e-3").status_code == 401  # the key is still required
