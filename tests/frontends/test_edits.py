"""Edits and variations on all three ways in (native client, the openai SDK in-process, the gateway), on the
mock: inputs checked before any network call, DALL·E 2-style edits mapped onto the successor with every
change warned, and an image that shows it was made from the input."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
from typing import Any

import httpx
import openai
import pytest
from PIL import Image

import imageshim
from imageshim._frontends.gateway import create_app
from imageshim._frontends.transport import async_openai_http_client, openai_http_client
from imageshim_adapters.mock.images import png_size, png_text

MOCK = {"routes": {"*": ["mock:gpt-image-2"]}}
KEY = "gw-edits-key-1234567"


def png(width: int = 256, height: int = 256, mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, (width, height), (200, 30, 30, 0) if mode == "RGBA" else (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


def _made_from(b64: str | None, source: bytes) -> bool:
    text = png_text(base64.b64decode(b64 or ""))
    return text.get("imageshim-edit-of", "").startswith(hashlib.sha256(source).hexdigest()[:16])


def _generate(client: Any, method: str, asynchronous: bool, **kwargs: Any) -> Any:
    call = getattr(client.images, method)(**kwargs)
    return asyncio.run(call) if asynchronous else call


# ----- native ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_a_dalle2_style_edit_is_mapped_onto_the_successor(
    asynchronous: bool, clock: Any, imageshim_mock: Any
) -> None:
    image, mask = png(512, 512), png(512, 512, "RGBA")
    cls = imageshim.AsyncOpenAI if asynchronous else imageshim.OpenAI
    with pytest.warns(imageshim.ImageShimWarning) as caught:
        resp = _generate(
            cls(clock=clock),
            "edit",
            asynchronous,
            image=image,
            mask=mask,
            prompt="add a hat",
            model="dall-e-2",
            size="512x512",
            n=2,
            response_format="b64_json",
        )
    kinds = {type(w.message) for w in caught}
    assert imageshim.ModelRetiredWarning in kinds  # dall-e-2 -> gpt-image-2
    assert any(w.message.record.setting == "size" for w in caught)  # 512x512 is below its pixel floor
    assert len(resp.data) == 2
    assert all(_made_from(d.b64_json, image) for d in resp.data)
    call = imageshim_mock.calls[0]
    assert (call.model, call.is_edit, call.mask is not None) == ("gpt-image-2", True, True)


def test_edit_with_16_images_and_input_fidelity_dropped_for_gpt_image_2(clock: Any) -> None:
    images = [png(64 + i, 64) for i in range(16)]
    client = imageshim.OpenAI(config=MOCK, clock=clock)
    with pytest.warns(imageshim.OptionDroppedWarning, match="input_fidelity"):
        resp = client.images.edit(
            image=images, prompt="a collage", model="gpt-image-2", input_fidelity="high", size="1024x1024"
        )
    assert _made_from(resp.data[0].b64_json, images[0])
    assert png_size(base64.b64decode(resp.data[0].b64_json or "")) == (1024, 1024)


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"image": b"not an image"}, "image"),
        ({"image": [png()] * 17}, "image"),
        ({"image": png(256, 256), "mask": png(128, 128, "RGBA")}, "mask"),
        ({"image": png(256, 256), "mask": png(256, 256)}, "mask"),  # no alpha channel
        ({"image": png(), "markup": png(mode="RGBA")}, "markup"),  # gpt-image-2 takes none
        ({"image": png(), "input_fidelity": "extreme"}, "input_fidelity"),
    ],
    ids=["not an image", "17 images", "mask size", "mask alpha", "markup", "fidelity"],
)
def test_bad_inputs_are_a_400_naming_the_field_before_any_call(
    kwargs: dict[str, Any], param: str, clock: Any, imageshim_mock: Any
) -> None:
    client = imageshim.OpenAI(config=MOCK, clock=clock)
    with pytest.raises(imageshim.BadRequestError) as caught:
        client.images.edit(prompt="x", model="gpt-image-2", size="1024x1024", **kwargs)
    assert caught.value.param == param
    assert imageshim_mock.calls == []


def test_a_variation_is_an_edit_with_the_configured_prompt(clock: Any, imageshim_mock: Any) -> None:
    image = png(1024, 1024)
    config = {**MOCK, "mapping": {"variation_prompt": "same cat, other pose"}}
    with pytest.warns(imageshim.OptionMappedWarning, match="variations endpoint was retired"):
        resp = imageshim.OpenAI(config=config, clock=clock).images.create_variation(
            image=image, model="gpt-image-2", size="1024x1024"
        )
    assert _made_from(resp.data[0].b64_json, image)
    assert imageshim_mock.calls[0].prompt == "same cat, other pose"


def test_variations_can_be_refused_naming_the_edit_endpoint(clock: Any, imageshim_mock: Any) -> None:
    config = {**MOCK, "mapping": {"variations": "error"}}
    with pytest.raises(imageshim.BadRequestError, match="/v1/images/edits"):
        imageshim.OpenAI(config=config, clock=clock).images.create_variation(image=png())
    assert imageshim_mock.calls == []


# ----- the openai SDK, in-process ---------------------------------------------------------------------------
def test_sdk_edit_in_process(clock: Any, imageshim_mock: Any) -> None:
    sdk = openai.OpenAI(api_key="unused", max_retries=0, http_client=openai_http_client(MOCK, clock=clock))
    image = png(1024, 1024)
    resp = sdk.images.edit(
        image=[("a.png", image, "image/png"), ("b.png", png(512, 512), "image/png")],
        mask=("mask.png", png(1024, 1024, "RGBA"), "image/png"),
        prompt="add a hat",
        model="gpt-image-2",
        size="1024x1024",
    )
    assert _made_from(resp.data[0].b64_json, image)
    assert len(imageshim_mock.calls[0].images) == 2


# The SDK marks create_variation deprecated (the endpoint was retired): that warning is the SDK's own.
SDK_DEPRECATION = pytest.mark.filterwarnings("ignore:deprecated:DeprecationWarning")


@SDK_DEPRECATION
@pytest.mark.anyio
async def test_sdk_variation_in_process_async(clock: Any) -> None:
    sdk = openai.AsyncOpenAI(
        api_key="unused", max_retries=0, http_client=async_openai_http_client(MOCK, clock=clock)
    )
    image = png(1024, 1024)
    with pytest.warns(imageshim.ImageShimWarning):
        resp = await sdk.images.create_variation(image=("v.png", image, "image/png"), model="dall-e-2", n=1)
    assert resp.data[0].url is not None  # dall-e-2's default format is url: a data URI in-process
    assert _made_from(resp.data[0].url.partition(",")[2], image)


def test_sdk_bad_file_is_the_sdks_400(clock: Any) -> None:
    sdk = openai.OpenAI(api_key="unused", max_retries=0, http_client=openai_http_client(MOCK, clock=clock))
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.images.edit(image=("x.png", b"<html>", "image/png"), prompt="x", model="gpt-image-2")
    assert caught.value.param == "image"


# ----- the gateway ---------------------------------------------------------------------------------------
@SDK_DEPRECATION
def test_gateway_edit_and_variation(serve_app: Any, clock: Any, imageshim_mock: Any) -> None:
    image = png(1024, 1024)
    with serve_app(create_app(MOCK, keys=[KEY], clock=clock)) as base:
        sdk = openai.OpenAI(api_key=KEY, base_url=f"{base}/v1", max_retries=0)
        edited = sdk.images.edit(image=("a.png", image, "image/png"), prompt="hat", model="gpt-image-2")
        assert _made_from(edited.data[0].b64_json, image)
        varied = sdk.images.create_variation(image=("a.png", image, "image/png"), model="dall-e-2")
        assert varied.data[0].url is not None
        assert varied.data[0].url.startswith(base)
        hosted = httpx.get(varied.data[0].url)
        assert hosted.headers["content-type"] == "image/png"
        assert _made_from(base64.b64encode(hosted.content).decode(), image)
        json_body = httpx.post(
            f"{base}/v1/images/edits", json={"prompt": "x"}, headers={"Authorization": f"Bearer {KEY}"}
        )
        assert json_body.status_code == 400
        assert json_body.json()["error"]["code"] == "invalid_content_type"


def test_gateway_stream_of_an_edit_carries_the_image(serve_app: Any, clock: Any) -> None:
    image = png(1024, 1024)
    with serve_app(create_app(MOCK, keys=[KEY], clock=clock)) as base:
        reply = httpx.post(
            f"{base}/v1/images/edits",
            data={"prompt": "hat", "model": "gpt-image-2", "stream": "true", "response_format": "url"},
            files=[("image[]", ("a.png", image, "image/png"))],
            headers={"Authorization": f"Bearer {KEY}"},
            timeout=30,
        )
    assert reply.status_code == 200, reply.text
    assert "event: image_edit.completed" in reply.text
    data = [line[6:] for line in reply.text.splitlines() if line.startswith("data: ")]
    assert _made_from(json.loads(data[0])["b64_json"], image)
