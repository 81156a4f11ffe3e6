"""Fuzzing the public API with arbitrary keyword values: the only outcomes are a response, an
ImageShimError or a TypeError, and a request refused as invalid never reaches the network."""

from __future__ import annotations

import base64
import json
import warnings
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import imageshim

KEYWORDS = [
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
    "partial_images",
    "stream",
    "extra_body",
    "timeout",
]
ANY_VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5000),
    st.floats(allow_nan=True),
    st.text(max_size=20),
    st.sampled_from(
        [
            "dall-e-3",
            "gpt-image-2",
            "1024x1024",
            "1792x1024",
            "hd",
            "vivid",
            "url",
            "b64_json",
            "auto",
            "png",
            "jpeg",
            "transparent",
            "low",
            "0x0",
            "99999x1",
        ]
    ),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


class Network:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        body = json.loads(request.content)
        data = [
            {"b64_json": base64.b64encode(b"\x89PNG\r\n\x1a\n").decode()} for _ in range(body.get("n", 1))
        ]
        return httpx.Response(200, json={"created": 1, "data": data})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    prompt=st.one_of(st.text(max_size=50), st.integers(), st.none()),
    kwargs=st.dictionaries(st.sampled_from(KEYWORDS), ANY_VALUE, max_size=6),
)
def test_any_keywords(prompt: Any, kwargs: dict[str, Any], clock: Any) -> None:
    network = Network()
    client = imageshim.OpenAI(
        config={
            "routes": {"*": ["openai:gpt-image-2"]},
            "providers": {"openai": {"api_key": "sk-fuzz-0000000000"}},
            "retry": {"max_retries": 0},
        },
        http_client=httpx.Client(transport=httpx.MockTransport(network)),
        clock=clock,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", imageshim.ImageShimWarning)
        try:
            resp = client.images.generate(prompt=prompt, **kwargs)
        except imageshim.BadRequestError as exc:
            if exc.provider is None:  # refused by the shim: nothing was sent
                assert network.calls == 0, exc  # noqa: PT017
            return
        except (imageshim.ImageShimError, TypeError):
            return
    assert network.calls >= 1
    assert resp.data


def test_unknown_keyword_is_a_type_error(clock: Any) -> None:
    client = imageshim.OpenAI(config={"routes": {"*": ["mock:gpt-image-2"]}}, clock=clock)
    with pytest.raises(TypeError, match="seed"):
        client.images.generate(prompt="x", seed=3)  # type: ignore[call-arg]
