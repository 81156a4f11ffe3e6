"""Edits on Runware: imageInference tasks with ``inputs.referenceImages`` (data URIs, in the caller's order,
up to 16) and ``inputs.mask``; refused before any request where Runware cannot take them (DALL·E, too many
images, options no Runware source documents); a lost edit reply is recovered like a generation's."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest

import imageshim
from imageshim import ImageCall, ModelSpec, ProviderSettings, builtin_catalog
from imageshim._core import mapping as _mapping
from imageshim._frontends import orchestrate as _orchestrate
from imageshim.adapterkit import InputImage
from imageshim_adapters.runware import EDIT_INPUTS, RunwareAdapter

from ._runware_fakes import GPT2, KEY, ok_reply

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 24


def _image(tag: int, media_type: str = "image/png", *, alpha: bool = False) -> InputImage:
    return InputImage(PNG + bytes([tag]), media_type, 1024, 1024, has_alpha=alpha)


def _uri(image: InputImage) -> str:
    return f"data:{image.media_type};base64,{base64.b64encode(image.data).decode()}"


class Recorded:
    def __init__(self) -> None:
        self.bodies: list[list[dict[str, Any]]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.bodies.append(json.loads(request.content))
        return ok_reply(request)


def _adapter(handler: Any, model: str = "gpt-image-2") -> tuple[RunwareAdapter, ModelSpec]:
    adapter = RunwareAdapter(
        ProviderSettings("runware", api_key=KEY),
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
        async_http_client=httpx.AsyncClient(transport=httpx.MockTransport(handler)),
    )
    spec = builtin_catalog().get(model)
    assert spec is not None
    return adapter, adapter.profile(spec)


def _edit(count: int = 2, **changes: Any) -> ImageCall:
    call = ImageCall(
        call_id="7f1c6c1e-2f7b-4a8e-9a51-0d3c2b1a0f00",
        model="gpt-image-2",
        prompt="put a hat on the cat",
        width=1024,
        height=1024,
        quality="high",
        response_format="b64_json",
        output_format="png",
        images=tuple(_image(i, "image/webp" if i % 2 else "image/png") for i in range(count)),
        timeout=30,
    )
    return call.evolve(**changes) if changes else call


async def _send(mode: str, adapter: RunwareAdapter, calls: list[ImageCall], spec: ModelSpec) -> Any:
    if mode == "sync":
        return adapter.generate(calls, spec)
    return await adapter.agenerate(calls, spec)


def test_runware_serves_edits() -> None:
    assert RunwareAdapter.supports_edits is True


# ----- the body ---------------------------------------------------------------------------------------------
@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_the_exact_body_of_an_edit(mode: str) -> None:
    recorded = Recorded()
    adapter, spec = _adapter(recorded)
    mask = _image(99, alpha=True)
    call = _edit(2, mask=mask)
    result = await _send(mode, adapter, [call], spec)
    assert recorded.bodies == [
        [
            {
                "taskType": "imageInference",
                "taskUUID": call.call_id,
                "model": "openai:gpt-image@2",
                "positivePrompt": "put a hat on the cat",
                "width": 1024,
                "height": 1024,
                "outputType": "base64Data",
                "outputFormat": "PNG",
                "inputs": {
                    "referenceImages": [_uri(call.images[0]), _uri(call.images[1])],
                    "mask": _uri(mask),
                },
                "includeCost": True,
                "settings": {"quality": "high"},
            }
        ]
    ]
    assert recorded.bodies[0][0]["inputs"]["referenceImages"][1].startswith("data:image/webp;base64,")
    assert len(result.images) == 1


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_an_edit_with_16_images_keeps_their_order(mode: str) -> None:
    recorded = Recorded()
    adapter, spec = _adapter(recorded)
    call = _edit(16)
    await _send(mode, adapter, [call], spec)
    (task,) = recorded.bodies[0]
    assert task["inputs"]["referenceImages"] == [_uri(i) for i in call.images]
    assert "mask" not in task["inputs"]
    decoded = [base64.b64decode(u.partition("base64,")[2]) for u in task["inputs"]["referenceImages"]]
    assert [d[-1] for d in decoded] == list(range(16))


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_a_mask_goes_in_inputs_mask(mode: str) -> None:
    recorded = Recorded()
    adapter, spec = _adapter(recorded)
    mask = _image(7, alpha=True)
    await _send(mode, adapter, [_edit(1, mask=mask)], spec)
    inputs = recorded.bodies[0][0]["inputs"]
    assert inputs["mask"] == _uri(mask)
    assert base64.b64decode(inputs["mask"].partition("base64,")[2]) == mask.data
    assert len(inputs["referenceImages"]) == 1


def test_several_edit_tasks_in_one_body() -> None:
    recorded = Recorded()
    adapter, spec = _adapter(recorded)
    calls = [_edit(1, call_id=f"task-{i}", n=2) for i in range(3)]
    result = adapter.generate(calls, spec)
    assert [t["taskUUID"] for t in recorded.bodies[0]] == ["task-0", "task-1", "task-2"]
    assert all(t["inputs"]["referenceImages"] == [_uri(calls[0].images[0])] for t in recorded.bodies[0])
    assert len(result.images) == 6


def test_a_generation_carries_no_inputs() -> None:
    recorded = Recorded()
    adapter, spec = _adapter(recorded)
    adapter.generate([_edit(0)], spec)
    assert "inputs" not in recorded.bodies[0][0]


def test_edit_inputs_cannot_be_changed_through_extra_body() -> None:
    adapter, spec = _adapter(Recorded())
    with pytest.raises(imageshim.BadRequestError, match=r"extra_body\['inputs'\]"):
        adapter.generate([_edit(1, extra_body={"inputs": {"referenceImages": ["x"]}})], spec)


# ----- refused before any request ---------------------------------------------------------------------------
def _never(request: httpx.Request) -> httpx.Response:
    raise AssertionError("nothing may be sent")


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_more_images_than_the_model_takes_is_refused(mode: str) -> None:
    adapter, spec = _adapter(_never)
    with pytest.raises(imageshim.BadRequestError, match="at most 16") as info:
        await _send(mode, adapter, [_edit(17)], spec)
    assert (info.value.param, info.value.retryable) == ("image", False)


@pytest.mark.anyio
@pytest.mark.parametrize("model", ["dall-e-3", "dall-e-2"])
@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_dalle_on_runware_takes_no_edit(mode: str, model: str) -> None:
    adapter, spec = _adapter(_never, model)
    with pytest.raises(imageshim.BadRequestError, match="text to image only") as info:
        await _send(mode, adapter, [_edit(1, model=model, quality=None)], spec)
    assert info.value.param == "model"
    assert "gpt-image-2" in info.value.message


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("markup", _image(5)),
        ("input_fidelity", "high"),
        ("complexity", "high"),
        ("frame_count", 4),
        ("frame_duration_ms", 100),
        ("svg", {"mode": "auto"}),
    ],
)
def test_options_runware_does_not_document_are_refused(field: str, value: Any) -> None:
    adapter, spec = _adapter(_never)
    with pytest.raises(imageshim.BadRequestError, match=field) as info:
        adapter.generate([_edit(1, **{field: value})], spec)
    assert info.value.param == field


@pytest.mark.parametrize("fmt", ["gif", "svg"])
def test_output_formats_runware_does_not_make_are_refused(fmt: str) -> None:
    adapter, spec = _adapter(_never)
    with pytest.raises(imageshim.BadRequestError, match=fmt) as info:
        adapter.generate([_edit(0, output_format=fmt)], spec)
    assert info.value.param == "output_format"


def test_the_edit_table_covers_the_gpt_image_models_only() -> None:
    assert set(EDIT_INPUTS) == {
        "gpt-image-1",
        "gpt-image-1-mini",
        "gpt-image-1.5",
        "gpt-image-2",
        "gpt-image-2.5-sunburst",
        "gpt-image-2.5-flare",
    }
    assert set(EDIT_INPUTS.values()) == {16}


def test_the_profile_has_no_quality_runware_does_not_list() -> None:
    for model in ("gpt-image-2", "gpt-image-2.5-sunburst", "gpt-image-2.5-flare"):
        _, spec = _adapter(_never, model)
        assert set(spec.qualities) == {"low", "medium", "high", "auto"}
        assert set(spec.output_formats) == {"png", "jpeg", "webp"}


# ----- an edit whose options object Runware refuses is sent once more, inputs and all ------------------------
def test_an_edit_switches_option_object_with_its_inputs() -> None:
    bodies: list[list[dict[str, Any]]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        tasks = json.loads(request.content)
        bodies.append(tasks)
        if "settings" in tasks[0]:
            error = {"code": "unknownParameter", "parameter": "settings", "taskUUID": tasks[0]["taskUUID"]}
            return httpx.Response(400, json={"errors": [error]})
        return ok_reply(request)

    adapter, spec = _adapter(handler)
    call = _edit(3, mask=_image(9, alpha=True))
    adapter.generate([call], spec)
    assert len(bodies) == 2
    assert bodies[1][0]["inputs"] == bodies[0][0]["inputs"]
    assert bodies[1][0]["providerSettings"] == {"openai": {"quality": "high"}}


# ----- a lost edit reply ------------------------------------------------------------------------------------
@pytest.fixture
def edits(monkeypatch: pytest.MonkeyPatch) -> InputImage:
    """Every call the core makes carries an input image (the edit front end is built elsewhere; the
    execution core is the same for both)."""
    image = _image(3)
    original = _mapping.MappedRequest.calls

    def calls(self: Any) -> list[ImageCall]:
        return [c.evolve(images=(image,)) for c in original(self)]

    monkeypatch.setattr(_mapping.MappedRequest, "calls", calls)
    monkeypatch.setattr(_orchestrate, "monotonic", lambda: 1000.0)
    return image


def _lost_then_found() -> tuple[Any, dict[str, list[Any]]]:
    seen: dict[str, list[Any]] = {"inference": [], "polls": []}

    def handler(request: httpx.Request) -> httpx.Response:
        tasks = json.loads(request.content)
        if tasks[0]["taskType"] == "getResponse":
            seen["polls"].append([t["taskUUID"] for t in tasks])
            data = [
                {
                    "taskType": "imageInference",
                    "taskUUID": t["taskUUID"],
                    "status": "success",
                    "imageURL": f"https://im.runware.ai/image/{t['taskUUID']}.jpg",
                    "cost": 0.04,
                }
                for t in tasks
            ]
            return httpx.Response(200, json={"data": data})
        seen["inference"].append(tasks)
        raise httpx.ReadTimeout("the reply was lost", request=request)

    return handler, seen


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_a_lost_edit_reply_is_looked_up_not_sent_again(
    mode: str, edits: InputImage, recorder_factory: Any, clock: Any, no_sleep: None
) -> None:
    handler, seen = _lost_then_found()
    recorder = recorder_factory(handler)
    kw: dict[str, Any] = {
        "model": "gpt-image-2",
        "prompt": "a hat",
        "size": "1024x1024",
        "quality": "low",
        "response_format": "url",
    }
    if mode == "sync":
        client = imageshim.OpenAI(config=GPT2, http_client=recorder.client(), clock=clock)
        resp = client.images.generate(**kw)
    else:
        aclient = imageshim.AsyncOpenAI(config=GPT2, http_client=recorder.async_client(), clock=clock)
        resp = await aclient.images.generate(**kw)
    ((task,),) = seen["inference"]  # the edit was generated once
    assert task["inputs"] == {"referenceImages": [_uri(edits)]}
    assert seen["polls"] == [[task["taskUUID"]]]  # looked up under its own taskUUID
    assert resp.data[0].url == f"https://im.runware.ai/image/{task['taskUUID']}.jpg"
    assert any(a.recovered for a in resp.imageshim.attempts)
