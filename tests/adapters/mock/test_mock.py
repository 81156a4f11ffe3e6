"""The mock adapter: real, deterministic images of the requested size; faithful constraints; recorded calls;
scripted failures; and the imageshim_mock fixture."""

from __future__ import annotations

import base64
import io
from typing import Any

import pytest
from PIL import Image

import imageshim
from imageshim_adapters.mock.images import make_image, png_size


def _client(clock: Any, model: str = "gpt-image-2", **config: Any) -> imageshim.OpenAI:
    return imageshim.OpenAI(config={"routes": {"*": [f"mock:{model}"]}, **config}, clock=clock)


@pytest.mark.parametrize(
    ("size", "fmt"),
    [("1024x1024", "png"), ("1536x1024", "jpeg"), ("1024x1792", "webp"), ("3840x2160", "png")],
)
def test_images_decode_at_the_requested_size(size: str, fmt: str, clock: Any) -> None:
    resp = _client(clock).images.generate(model="gpt-image-2", prompt="a fox", size=size, output_format=fmt)
    raw = base64.b64decode(resp.data[0].b64_json or "")
    image = Image.open(io.BytesIO(raw))
    assert f"{image.width}x{image.height}" == size
    assert image.format == {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}[fmt]
    assert resp.output_format == fmt


def test_deterministic_and_distinct_per_index() -> None:
    assert make_image(64, 32, "seed") == make_image(64, 32, "seed")
    assert make_image(64, 32, "seed") != make_image(64, 32, "other")
    assert png_size(make_image(64, 32, "seed")) == (64, 32)


def test_dalle3_emulation_returns_urls_and_revised_prompt(clock: Any) -> None:
    client = _client(clock, "dall-e-3", lifecycle={"on_retired": "allow"})
    with pytest.warns(imageshim.ModelRetiredWarning):
        resp = client.images.generate(model="dall-e-3", prompt="a fox", size="1792x1024")
    assert (resp.data[0].url or "").startswith("data:image/png;base64,")
    assert resp.data[0].revised_prompt == "a fox"
    assert resp.usage is None


def test_gpt_image_emulation_reports_usage(clock: Any) -> None:
    resp = _client(clock).images.generate(model="gpt-image-2", prompt="a fox", quality="high")
    assert resp.usage is not None
    assert resp.usage.output_tokens > 0
    assert resp.imageshim.cost_usd is not None


def test_calls_are_recorded_and_failures_scripted(imageshim_mock: Any, clock: Any) -> None:
    client = imageshim.OpenAI(clock=clock)  # the fixture sends every route to the mock
    resp = client.images.generate(model="gpt-image-2", prompt="first", size="1024x1536")
    assert [c.prompt for c in imageshim_mock.calls] == ["first"]
    assert imageshim_mock.calls[0].size == "1024x1536"
    assert imageshim_mock.calls[0].target == "mock:gpt-image-2"
    imageshim_mock.fail_next(imageshim.AuthenticationError("no", provider="mock"))
    with pytest.raises(imageshim.AuthenticationError):
        client.images.generate(model="gpt-image-2", prompt="second")
    imageshim_mock.fail_next(500)  # retried by the shim, then fine
    assert client.images.generate(model="gpt-image-2", prompt="third").data
    assert len(imageshim_mock.calls) == 4
    assert resp.imageshim.route == "mock:gpt-image-2"


def test_the_mock_enforces_the_emulated_model(clock: Any) -> None:
    from imageshim import ImageCall, ProviderSettings, builtin_catalog
    from imageshim_adapters.mock import MockAdapter

    adapter = MockAdapter(ProviderSettings("mock"))
    spec = builtin_catalog().get("dall-e-3")
    assert spec is not None
    bad = ImageCall(call_id="1", model="dall-e-3", prompt="x", width=1536, height=1024, response_format="url")
    with pytest.raises(imageshim.BadRequestError, match="size 1536x1024 not supported"):
        adapter.generate([bad], spec)
    too_many = ImageCall(call_id="2", model="dall-e-3", prompt="x", n=2, response_format="url")
    with pytest.raises(imageshim.BadRequestError, match=r"n 2 outside 1\.\.1"):
        adapter.generate([too_many], spec)


def test_the_mock_takes_split_calls_one_at_a_time_in_order(clock: Any, imageshim_mock: Any) -> None:
    """n split into several requests: the mock serves them one after another, so a scripted failure hits
    the first, and ``calls[i]`` is the i-th request (real providers get up to [retry] concurrency at once)."""
    imageshim_mock.fail_next(imageshim.BadRequestError("scripted refusal", provider="mock"))
    config = {"routes": {"*": ["mock:dall-e-3"]}, "lifecycle": {"on_retired": "allow"}}
    with pytest.warns(imageshim.ImageShimWarning) as caught:
        resp = imageshim.OpenAI(config=config, clock=clock).images.generate(
            model="dall-e-3", prompt="a fox", n=3
        )
    assert len(resp.data) == 2
    assert resp.imageshim.failures[0]["message"] == "scripted refusal"
    assert [c.n for c in imageshim_mock.calls] == [1, 1, 1]
    assert any("2 of 3 images arrived" in str(w.message) for w in caught)
