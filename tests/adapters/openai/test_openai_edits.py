"""The OpenAI adapter's edits: the multipart form exactly as the API takes it (repeated ``image[]`` parts,
``mask``, the mapped fields as form strings), through the native client and the real openai SDK served
in-process, against a fake OpenAI that reads the form it receives; and the edit mapping as a property: any
valid DALL·E 2-style edit becomes a form the SDK's own ``ImageEditParams`` accepts, or a 400 before I/O."""

from __future__ import annotations

import io
import typing
from typing import Any

import httpx
import openai
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

import imageshim
from imageshim._frontends import multipart
from imageshim._frontends.transport import openai_http_client

KEY = "sk-edits-test-0123456789abcdef"
CONFIG = {"routes": {"*": ["openai:gpt-image-2"]}, "providers": {"openai": {"api_key": KEY}}}
PNG_REPLY = {"created": 1, "data": [{"b64_json": "iVBORw0KGgo="}]}
SPEC = imageshim.builtin_catalog().get("gpt-image-2")
assert SPEC is not None


def png(width: int, height: int, mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, (width, height)).save(out, "PNG")
    return out.getvalue()


def _form(request: httpx.Request) -> list[multipart.Part]:
    boundary = multipart.boundary_of(request.headers["content-type"])
    assert boundary is not None
    return multipart.parse(request.content, boundary)


def test_the_form_has_image_parts_in_order_and_the_mask(recorder_factory: Any, clock: Any) -> None:
    recorder = recorder_factory(httpx.Response(200, json=PNG_REPLY))
    client = imageshim.OpenAI(config=CONFIG, http_client=recorder.client(), clock=clock)
    first, second, mask = png(1024, 1024), png(512, 768), png(1024, 1024, "RGBA")
    with pytest.warns(imageshim.OptionMappedWarning, match="quality"):
        client.images.edit(
            image=[first, ("second.png", second)],
            mask=mask,
            prompt="a hat",
            model="gpt-image-2",
            quality="hd",
        )
    (request,) = recorder.requests
    assert request.url.path == "/v1/images/edits"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    parts = _form(request)
    files = [(p.name, p.filename, p.content_type, p.data) for p in parts if p.is_file]
    assert [f[0] for f in files] == ["image[]", "image[]", "mask"]
    assert [f[3] for f in files] == [first, second, mask]
    assert files[1][1] == "second.png"
    assert all(f[2] == "image/png" for f in files)
    fields = {p.name: p.text() for p in parts if not p.is_file}
    assert fields == {"model": "gpt-image-2", "prompt": "a hat", "n": "1", "quality": "high"}


@pytest.mark.anyio
async def test_async_edit_sends_the_same_form(recorder_factory: Any, clock: Any) -> None:
    recorder = recorder_factory(httpx.Response(200, json=PNG_REPLY))
    client = imageshim.AsyncOpenAI(config=CONFIG, http_client=recorder.async_client(), clock=clock)
    await client.images.edit(image=png(1024, 1024), prompt="x", model="gpt-image-2", size="1024x1024")
    parts = _form(recorder.requests[0])
    assert [p.name for p in parts if p.is_file] == ["image[]"]
    assert {p.name: p.text() for p in parts if not p.is_file}["size"] == "1024x1024"


def test_input_fidelity_is_sent_where_the_model_takes_it(recorder_factory: Any, clock: Any) -> None:
    recorder = recorder_factory(httpx.Response(200, json=PNG_REPLY))
    config = {**CONFIG, "routes": {"*": ["openai:gpt-image-1.5"]}}
    client = imageshim.OpenAI(config=config, http_client=recorder.client(), clock=clock)
    with pytest.warns(imageshim.ModelDeprecationWarning):
        client.images.edit(image=png(1024, 1024), prompt="x", model="gpt-image-1.5", input_fidelity="high")
    fields = {p.name: p.text() for p in _form(recorder.requests[0]) if not p.is_file}
    assert fields["input_fidelity"] == "high"


def test_the_sdk_in_process_reaches_a_fake_openai_with_the_form(recorder_factory: Any, clock: Any) -> None:
    recorder = recorder_factory(httpx.Response(200, json=PNG_REPLY))
    sdk = openai.OpenAI(
        api_key="unused",
        max_retries=0,
        http_client=openai_http_client(CONFIG, clock=clock, provider_http_client=recorder.client()),
    )
    image = png(1024, 1024)
    resp = sdk.images.edit(image=("in.png", image, "image/png"), prompt="x", model="gpt-image-2")
    assert resp.data[0].b64_json == "iVBORw0KGgo="
    parts = _form(recorder.requests[0])
    assert [(p.name, p.filename, p.data) for p in parts if p.is_file] == [("image[]", "in.png", image)]


# ----- the mapping, as a property ---------------------------------------------------------------------------
def _edit_param_values() -> dict[str, tuple[Any, ...]]:
    """The Literal values the installed SDK's ImageEditParams declares, per field."""
    from openai.types import image_edit_params

    out: dict[str, tuple[Any, ...]] = {}
    hints = typing.get_type_hints(image_edit_params.ImageEditParamsNonStreaming) | typing.get_type_hints(
        image_edit_params.ImageEditParamsStreaming
    )
    for name, hint in hints.items():
        literals = [a for a in typing.get_args(hint) if typing.get_origin(a) is typing.Literal]
        if typing.get_origin(hint) is typing.Literal:
            literals = [hint]
        values = tuple(v for lit in literals for v in typing.get_args(lit))
        out[name] = values
    return out


DALLE2_EDITS = st.fixed_dictionaries(
    {
        "size": st.sampled_from(["256x256", "512x512", "1024x1024"]),
        "n": st.integers(1, 10),
        "response_format": st.sampled_from(["url", "b64_json"]),
        "side": st.sampled_from([256, 512, 1024]),
        "mask": st.booleans(),
        "user": st.none() | st.text("abcdefgh", min_size=1, max_size=8),
    }
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edit=DALLE2_EDITS)
def test_any_dalle2_edit_becomes_a_form_the_sdk_schema_accepts(
    edit: dict[str, Any], recorder_factory: Any, clock: Any
) -> None:
    recorder = recorder_factory(httpx.Response(200, json=PNG_REPLY))
    client = imageshim.OpenAI(config=CONFIG, http_client=recorder.client(), clock=clock)
    side = edit["side"]
    kwargs = {k: v for k, v in edit.items() if k not in ("side", "mask") and v is not None}
    mask = png(side, side, "RGBA") if edit["mask"] else None
    with pytest.warns(imageshim.ImageShimWarning):  # dall-e-2 is retired: redirected, said so
        client.images.edit(image=png(side, side), mask=mask, prompt="x", model="dall-e-2", **kwargs)
    allowed = _edit_param_values()
    for request in recorder.requests:
        parts = _form(request)
        for part in parts:
            name = part.name.removesuffix("[]")
            assert name in allowed, f"{name} is not an ImageEditParams field"
            if part.is_file or not allowed[name]:
                continue
            if name == "size":  # the installed SDK's size list predates gpt-image-2's size rule (SDK 3.57)
                width, _, height = part.text().partition("x")
                assert SPEC.size_allowed(int(width), int(height)), part.text()
                continue
            value = part.text()
            assert value in {str(v) for v in allowed[name]}, (name, value)
        fields = {p.name: p.text() for p in parts if not p.is_file}
        assert fields["model"] == "gpt-image-2"
        assert "response_format" not in fields  # GPT image models refuse it: the shim hosts URLs itself
