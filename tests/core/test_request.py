"""Request validation: TypeError for unknown keywords, BadRequestError naming field, value and allowed
values before any network call."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

import imageshim


def _refusing_client(clock: Any) -> imageshim.OpenAI:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise AssertionError("an invalid request reached the network")

    return imageshim.OpenAI(
        config={
            "routes": {"*": ["openai:gpt-image-2"]},
            "providers": {"openai": {"api_key": "sk-x-000000000000"}},
        },
        http_client=httpx.Client(transport=httpx.MockTransport(refuse)),
        clock=clock,
    )


@pytest.mark.parametrize(
    ("kwargs", "field", "allowed"),
    [
        ({"quality": "ultra"}, "quality", "'standard', 'hd', 'low'"),
        ({"style": "noir"}, "style", "'vivid', 'natural'"),
        ({"response_format": "png"}, "response_format", "'url', 'b64_json'"),
        ({"size": "big"}, "size", "'auto' or 'WIDTHxHEIGHT'"),
        ({"size": "0x10"}, "size", "'auto' or 'WIDTHxHEIGHT'"),
        ({"n": 0}, "n", "an integer from 1 to 10"),
        ({"n": 11}, "n", "an integer from 1 to 10"),
        ({"n": "2"}, "n", "valid integer"),
        ({"output_format": "gif"}, "output_format", "'png', 'jpeg', 'webp'"),
        ({"output_compression": 101}, "output_compression", "0 to 100"),
        ({"background": "green"}, "background", "'transparent', 'opaque', 'auto'"),
        ({"moderation": "off"}, "moderation", "'low', 'auto'"),
        ({"prompt": "   "}, "prompt", "a non-empty string"),
        ({"prompt": "x" * 32_001}, "prompt", "32000 characters"),
        ({"model": 3}, "model", "a model id string"),
        ({"background": "transparent", "output_format": "jpeg"}, "background", "png"),
    ],
)
def test_invalid_values_fail_before_io(kwargs: dict[str, Any], field: str, allowed: str, clock: Any) -> None:
    client = _refusing_client(clock)
    with pytest.raises(imageshim.BadRequestError) as info:
        client.images.generate(**{"prompt": "a cat", "model": "gpt-image-2", **kwargs})
    assert info.value.param == field
    assert allowed in str(info.value)
    assert info.value.status_code == 400
    assert info.value.provider is None


def test_dalle3_prompt_limit_applies_to_dalle3_targets(clock: Any) -> None:
    config = {"routes": {"*": ["mock:dall-e-3"]}, "lifecycle": {"on_retired": "allow"}}
    with pytest.raises(imageshim.BadRequestError, match="dall-e-3 accepts 1 to 4000 characters"):
        imageshim.OpenAI(config=config, clock=clock).images.generate(model="dall-e-3", prompt="x" * 4001)


def test_long_dalle3_prompt_is_fine_on_gpt_image_2(clock: Any) -> None:
    client = imageshim.OpenAI(config={"routes": {"*": ["mock:gpt-image-2"]}}, clock=clock)
    with (
        pytest.warns(imageshim.ModelRetiredWarning),
        pytest.warns(imageshim.OptionMappedWarning, match="the dall-e-3 default"),
    ):
        resp = client.images.generate(model="dall-e-3", prompt="x" * 5000, response_format="b64_json")
    assert resp.data


def test_unknown_keyword_is_type_error(clock: Any) -> None:
    with pytest.raises(TypeError):
        _refusing_client(clock).images.generate(prompt="x", colour="red")  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        _refusing_client(clock).images.generate(model="dall-e-3")  # type: ignore[call-arg]


def test_style_prompt_policy_folds_the_style(clock: Any, imageshim_mock: Any) -> None:
    config = {"routes": {"*": ["mock:gpt-image-2"]}, "mapping": {"style": "prompt"}}
    with pytest.warns(imageshim.OptionMappedWarning, match="added to the prompt"):
        imageshim.OpenAI(config=config, clock=clock).images.generate(
            model="gpt-image-2", prompt="a fox", style="natural"
        )
    assert imageshim_mock.calls[0].prompt == "a fox\n\nStyle: natural: a more natural, less hyper-real look."
