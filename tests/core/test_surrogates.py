"""Unpaired surrogates (half an emoji, as JavaScript's ``slice`` makes them) are refused before any network
call: a 400 naming the field and the position, never a UnicodeEncodeError or a 500, never a changed prompt."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

import imageshim
from imageshim._frontends.engine import Engine
from imageshim._frontends.wire import WireHandler

CONFIG = {"routes": {"*": ["mock:gpt-image-2"]}}
HALF_OTTER = "\ud83e"  # the first half of U+1F9A6 OTTER
GENERATIONS = "/v1/images/generations"


@pytest.mark.parametrize(
    ("kwargs", "field", "where"),
    [
        ({"prompt": "a cat \ud83d"}, "prompt", "U+D83D at character 6"),
        ({"prompt": "\udca6 otter"}, "prompt", "U+DCA6 at character 0"),  # a lone low half
        ({"user": f"user-{HALF_OTTER}"}, "user", "U+D83E at character 5"),
        ({"model": f"gpt-image-2{HALF_OTTER}"}, "model", "U+D83E at character 11"),
        ({"size": f"{HALF_OTTER}1024x1024"}, "size", "U+D83E at character 0"),
        ({"quality": f"hd{HALF_OTTER}"}, "quality", "U+D83E at character 2"),
        ({"extra_body": {"seed_text": ["ok", f"x{HALF_OTTER}"]}}, "extra_body", "U+D83E at character 1"),
        ({"extra_body": {f"k{HALF_OTTER}": 1}}, "extra_body", "U+D83E at character 1"),
    ],
)
def test_the_native_client_refuses_lone_surrogates_before_any_call(
    kwargs: dict[str, Any], field: str, where: str, clock: Any, imageshim_mock: Any
) -> None:
    client = imageshim.OpenAI(config=CONFIG, clock=clock)
    with pytest.raises(imageshim.BadRequestError) as info:
        client.images.generate(**{"model": "gpt-image-2", "prompt": "a cat", **kwargs})
    error = info.value
    assert error.param == field
    assert error.code == "invalid_value"
    assert error.status_code == 400
    assert error.provider is None
    assert field in error.message
    assert where in error.message
    assert "well-formed Unicode text" in error.message
    assert "cutting an emoji in half" in error.message
    error.message.encode("utf-8")  # the message itself is printable anywhere
    assert imageshim_mock.calls == []


def test_the_message_locates_a_nested_string(clock: Any, imageshim_mock: Any) -> None:
    client = imageshim.OpenAI(config=CONFIG, clock=clock)
    with pytest.raises(imageshim.BadRequestError, match=r"extra_body\['seed_text'\]\[1\]"):
        client.images.generate(model="gpt-image-2", prompt="x", extra_body={"seed_text": ["ok", HALF_OTTER]})


def test_no_nesting_depth_hides_one(clock: Any, imageshim_mock: Any) -> None:
    nested: Any = f"deep {HALF_OTTER}"
    for _ in range(5_000):  # deeper than the recursion limit: the check must not give up or overflow
        nested = [nested]
    client = imageshim.OpenAI(config=CONFIG, clock=clock)
    with pytest.raises(imageshim.BadRequestError, match=r"extra_body\['x'\]\[0\].*\.\.\.\[0\]") as info:
        client.images.generate(model="gpt-image-2", prompt="x", extra_body={"x": nested})
    assert "U+D83E at character 5" in info.value.message
    assert len(info.value.message) < 400
    assert imageshim_mock.calls == []


def test_a_whole_emoji_is_fine(clock: Any, imageshim_mock: Any) -> None:
    client = imageshim.OpenAI(config=CONFIG, clock=clock)
    client.images.generate(model="gpt-image-2", prompt="an otter \U0001f9a6")
    assert [c.prompt for c in imageshim_mock.calls] == ["an otter \U0001f9a6"]


def test_the_openai_adapter_never_sees_one(clock: Any) -> None:
    """Before: ``UnicodeEncodeError`` out of httpx's JSON encoding, a raw exception in the library."""

    def refuse(request: httpx.Request) -> httpx.Response:
        raise AssertionError("a request with a lone surrogate reached the network")

    client = imageshim.OpenAI(
        config={
            "routes": {"*": ["openai:gpt-image-2"]},
            "providers": {"openai": {"api_key": "sk-x-000000000000"}},
        },
        http_client=httpx.Client(transport=httpx.MockTransport(refuse)),
        clock=clock,
    )
    with pytest.raises(imageshim.BadRequestError) as info:
        client.images.generate(model="gpt-image-2", prompt="\ud83d")
    assert info.value.param == "prompt"


@pytest.mark.parametrize("field", ["prompt", "user", "safety_identifier"])
def test_the_wire_handler_answers_400_for_an_escaped_half_pair(
    field: str, clock: Any, imageshim_mock: Any
) -> None:
    handler = WireHandler(Engine(CONFIG, clock=clock))
    fields = {"model": "gpt-image-2", "prompt": "a cat", field: "a cat \\ud83d"}
    # Written by hand: the JSON escape is what a JavaScript client sends (json.dumps would do the same).
    body = ("{" + ", ".join(f'"{k}": "{v}"' for k, v in fields.items()) + "}").encode()
    assert json.loads(body)[field].endswith("\ud83d")
    reply = handler.handle("POST", GENERATIONS, body)
    assert reply.status == 400, reply.body
    error = reply.json()["error"]
    assert error["param"] == field
    assert error["code"] == "invalid_value"
    assert error["type"] == "invalid_request_error"
    assert "U+D83D at character 6" in error["message"]
    assert imageshim_mock.calls == []


@pytest.mark.anyio
async def test_the_async_wire_handler_too(clock: Any, imageshim_mock: Any) -> None:
    handler = WireHandler(Engine(CONFIG, clock=clock))
    reply = await handler.ahandle("POST", GENERATIONS, b'{"model": "gpt-image-2", "prompt": "\\ud83d!"}')
    assert reply.status == 400
    assert reply.json()["error"]["param"] == "prompt"
    assert imageshim_mock.calls == []


def test_the_wire_handler_passes_a_whole_escaped_pair(clock: Any, imageshim_mock: Any) -> None:
    handler = WireHandler(Engine(CONFIG, clock=clock))
    reply = handler.handle("POST", GENERATIONS, b'{"model": "gpt-image-2", "prompt": "otter \\ud83e\\udda6"}')
    assert reply.status == 200, reply.body
    assert [c.prompt for c in imageshim_mock.calls] == ["otter \U0001f9a6"]
