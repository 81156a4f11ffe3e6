"""Details real clients trip on: safety_identifier over user, a request without a model, and
``revised_prompt`` on every data item of a JSON reply."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest

import imageshim
from imageshim._core.request import request_from_kwargs
from imageshim._core.response import Image, ImagesResponse, ShimReport

KEY = "sk-test-abcdefghijklmnopqrstuvwxyz"
PNG = b"\x89PNG\r\n\x1a\n-bytes-"
SUNBURST = {"routes": {"*": ["mock:gpt-image-2.5-sunburst"]}}


def _reply(request: httpx.Request) -> httpx.Response:
    sent = json.loads(request.content)
    data = [{"b64_json": base64.b64encode(PNG).decode()} for _ in range(sent.get("n", 1))]
    return httpx.Response(200, json={"created": 1, "data": data})


def _openai_client(recorder: Any, clock: Any, target: str = "openai:gpt-image-2", **config: Any) -> Any:
    base = {"routes": {"*": [target]}, "providers": {"openai": {"api_key": KEY}}}
    return imageshim.OpenAI(config={**base, **config}, http_client=recorder.client(), clock=clock)


# ----- safety_identifier wins over user ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"safety_identifier": "sid", "user": "u"}, ("safety_identifier", "sid")),
        ({"safety_identifier": "sid"}, ("safety_identifier", "sid")),
        ({"safety_identifier": "", "user": "u"}, ("user", "u")),  # empty: `user` applies
        ({"safety_identifier": None, "user": "u"}, ("user", "u")),
        ({"user": "u"}, ("user", "u")),
        ({}, None),
    ],
)
def test_a_non_empty_safety_identifier_wins_over_user(kwargs: dict[str, Any], expected: Any) -> None:
    request = request_from_kwargs({"prompt": "a cat", "model": "gpt-image-2", **kwargs})
    assert request.end_user == expected
    if expected is not None and expected[0] == "safety_identifier":
        assert request.user is None  # the losing `user` goes nowhere


def test_safety_identifier_is_sent_as_such_to_gpt_image_models(recorder_factory: Any, clock: Any) -> None:
    recorder = recorder_factory(_reply)
    _openai_client(recorder, clock).images.generate(
        model="gpt-image-2", prompt="a cat", user="u-old", safety_identifier="sid-1"
    )
    sent = recorder.json()
    assert sent["safety_identifier"] == "sid-1"
    assert "user" not in sent


def test_user_alone_is_still_sent_as_user(recorder_factory: Any, clock: Any) -> None:
    recorder = recorder_factory(_reply)
    _openai_client(recorder, clock).images.generate(model="gpt-image-2", prompt="a cat", user="u-1")
    sent = recorder.json()
    assert sent["user"] == "u-1"
    assert "safety_identifier" not in sent


def test_a_dalle_target_gets_the_safety_identifier_as_user(recorder_factory: Any, clock: Any) -> None:
    def dalle_reply(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"created": 1, "data": [{"url": "https://example.test/i.png"}]})

    recorder = recorder_factory(dalle_reply)
    client = _openai_client(recorder, clock, "openai:dall-e-3", lifecycle={"on_retired": "allow"})
    with pytest.warns(imageshim.ModelRetiredWarning):
        client.images.generate(model="dall-e-3", prompt="a cat", safety_identifier="sid-1")
    sent = recorder.json()
    assert sent["user"] == "sid-1"
    assert "safety_identifier" not in sent


def test_a_target_without_end_user_id_drops_the_safety_identifier_by_name(clock: Any) -> None:
    from imageshim._core.config import MappingPolicy
    from imageshim._core.mapping import map_request

    spec = imageshim.builtin_catalog().get("gpt-image-2")
    assert spec is not None
    request = request_from_kwargs({"prompt": "a cat", "model": "gpt-image-2", "safety_identifier": "sid"})
    mapped = map_request(request, spec.with_changes({"end_user_id": False}), MappingPolicy(), "x:gpt-image-2")
    (record,) = mapped.warnings
    assert (record.category, record.setting, record.requested) == (
        imageshim.OptionDroppedWarning,
        "safety_identifier",
        "sid",
    )
    assert mapped.template.end_user_id is None


def test_the_mock_receives_the_winning_id(clock: Any, imageshim_mock: Any) -> None:
    imageshim.OpenAI(config=SUNBURST, clock=clock).images.generate(
        model="gpt-image-2.5-sunburst", prompt="a cat", user="u", safety_identifier="sid"
    )
    assert imageshim_mock.calls[0].end_user_id == "sid"


# ----- a request without a model ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "model"),
    [
        ({}, "dall-e-2"),
        ({"size": "512x512", "response_format": "url", "quality": "standard"}, "dall-e-2"),
        ({"background": "opaque"}, "gpt-image-1"),
        ({"quality": "high"}, "gpt-image-1"),
        ({"complexity": "low"}, "gpt-image-1"),
        ({"output_format": "webp"}, "gpt-image-1"),
        ({"stream": False}, "dall-e-2"),
    ],
)
def test_a_missing_model_follows_the_documented_rule(kwargs: dict[str, Any], model: str) -> None:
    assert request_from_kwargs({"prompt": "a cat", **kwargs}).model == model


def test_a_missing_model_is_redirected_with_a_retired_warning(clock: Any, imageshim_mock: Any) -> None:
    client = imageshim.OpenAI(config={"routes": {"dall-e-2": ["mock:dall-e-2"]}}, clock=clock)
    with pytest.warns(imageshim.ImageShimWarning) as caught:
        resp = client.images.generate(prompt="a cat")
    retired, *mapped = [w.message for w in caught]
    assert isinstance(retired, imageshim.ModelRetiredWarning)
    assert "dall-e-2 was retired" in str(retired)
    # the dall-e-2 defaults carried to the successor, as for any redirected request: standard -> medium,
    # and URLs (the dall-e-2 default) as data URIs
    assert {(type(w), w.record.setting if w.record else None) for w in mapped} == {
        (imageshim.OptionMappedWarning, "quality"),
        (imageshim.OptionMappedWarning, "response_format"),
    }
    assert resp.imageshim.requested_model == "dall-e-2"
    assert resp.imageshim.route == "mock:gpt-image-2"
    assert resp.data[0].url is not None  # dall-e-2 answered with URLs: callers reading .url keep working
    assert imageshim_mock.calls[0].model == "gpt-image-2"


def test_a_missing_model_with_gpt_image_parameters_goes_past_gpt_image_1(
    clock: Any, imageshim_mock: Any
) -> None:
    client = imageshim.OpenAI(config={"routes": {"gpt-image-1": ["mock:gpt-image-1"]}}, clock=clock)
    with pytest.warns(imageshim.ModelRetiredWarning, match="gpt-image-1 was retired"):
        resp = client.images.generate(prompt="a cat", output_format="webp")
    assert resp.imageshim.route == "mock:gpt-image-2"
    assert resp.data[0].b64_json is not None


def test_a_missing_model_is_refused_when_retired_models_are(clock: Any) -> None:
    config = {"routes": {"dall-e-2": ["mock:dall-e-2"]}, "lifecycle": {"on_retired": "error"}}
    client = imageshim.OpenAI(config=config, clock=clock)
    with pytest.raises(imageshim.ModelRetiredError):
        client.images.generate(prompt="a cat")


def test_a_missing_model_on_a_day_before_the_shutdown_goes_to_dall_e_2(imageshim_mock: Any) -> None:
    import datetime

    client = imageshim.OpenAI(
        config={"routes": {"*": ["mock:dall-e-2"]}}, clock=lambda: datetime.date(2025, 6, 1)
    )
    resp = client.images.generate(prompt="a cat")  # not yet retired nor announced: no warning
    assert resp.imageshim.route == "mock:dall-e-2"


# ----- revised_prompt on every data item ---------------------------------------------------------------------
def test_every_json_data_item_carries_revised_prompt() -> None:
    response = ImagesResponse(
        created=1,
        data=[Image(b64_json="aGk="), Image(url="https://x.test/i.png", revised_prompt="a fox")],
        imageshim=ShimReport(route="mock:gpt-image-2", requested_model="gpt-image-2"),
    )
    body = response.to_openai_dict()
    assert body["data"] == [
        {"b64_json": "aGk=", "revised_prompt": None},
        {"url": "https://x.test/i.png", "revised_prompt": "a fox"},
    ]
    assert "usage" not in body  # other unset fields are still left out


def test_the_wire_reply_has_revised_prompt_null_for_gpt_image_models(clock: Any, imageshim_mock: Any) -> None:
    from imageshim._frontends.engine import Engine
    from imageshim._frontends.wire import API_PREFIX, GENERATIONS, WireHandler

    handler = WireHandler(Engine(SUNBURST, clock=clock))
    reply = handler.handle(
        "POST",
        API_PREFIX + GENERATIONS,
        json.dumps({"model": "gpt-image-2.5-sunburst", "prompt": "x"}).encode(),
    )
    assert reply.status == 200, reply.body
    (item,) = reply.json()["data"]
    assert "revised_prompt" in item
    assert item["revised_prompt"] is None
