"""The real openai SDK, in-process, sending each SDK 3.57 parameter (through ``extra_body``, which the SDK
merges into the JSON body, so this runs on SDK lines that lack the keywords too)."""

from __future__ import annotations

import base64
import json
from typing import Any

import openai
import pytest

import imageshim
from imageshim._frontends.transport import openai_http_client

SUNBURST = {"routes": {"*": ["mock:gpt-image-2.5-sunburst"]}}
GPT2 = {"routes": {"*": ["mock:gpt-image-2"]}}


def _sdk(config: dict[str, Any], clock: Any) -> openai.OpenAI:
    return openai.OpenAI(api_key="unused", max_retries=0, http_client=openai_http_client(config, clock=clock))


def test_complexity_and_xhigh_reach_a_model_that_takes_them(clock: Any, imageshim_mock: Any) -> None:
    _sdk(SUNBURST, clock).images.generate(
        model="gpt-image-2.5-sunburst",
        prompt="otter",
        extra_body={"complexity": "medium", "quality": "max", "safety_identifier": "sid-9"},
    )
    call = imageshim_mock.calls[0]
    assert (call.complexity, call.quality, call.end_user_id) == ("medium", "max", "sid-9")


def test_xhigh_on_gpt_image_2_is_sent_as_high_with_a_warning(clock: Any, imageshim_mock: Any) -> None:
    with pytest.warns(imageshim.OptionMappedWarning, match="quality 'xhigh'"):
        resp = _sdk(GPT2, clock).images.generate(
            model="gpt-image-2", prompt="otter", extra_body={"quality": "xhigh"}
        )
    assert resp.quality == "high"
    assert imageshim_mock.calls[0].quality == "high"


def test_complexity_on_gpt_image_2_is_dropped_with_a_warning(clock: Any, imageshim_mock: Any) -> None:
    with pytest.warns(imageshim.OptionDroppedWarning, match="complexity"):
        _sdk(GPT2, clock).images.generate(
            model="gpt-image-2", prompt="otter", extra_body={"complexity": "high"}
        )
    assert imageshim_mock.calls[0].complexity is None


@pytest.mark.parametrize("field", ["frame_count", "frame_duration_ms"])
def test_frame_settings_with_png_are_dropped_with_a_warning(
    field: str, clock: Any, imageshim_mock: Any
) -> None:
    with pytest.warns(imageshim.OptionDroppedWarning, match=field):
        _sdk(SUNBURST, clock).images.generate(
            model="gpt-image-2.5-sunburst", prompt="otter", extra_body={field: 4, "output_format": "png"}
        )
    assert getattr(imageshim_mock.calls[0], field) is None


def test_the_svg_object_without_svg_output_is_dropped_with_a_warning(clock: Any, imageshim_mock: Any) -> None:
    with pytest.warns(imageshim.OptionDroppedWarning, match="svg"):
        _sdk(SUNBURST, clock).images.generate(
            model="gpt-image-2.5-sunburst", prompt="otter", extra_body={"svg": {"model": "gpt-5"}}
        )
    assert imageshim_mock.calls[0].svg is None


@pytest.mark.parametrize("fmt", ["gif", "svg"])
def test_gif_or_svg_from_gpt_image_2_is_the_sdks_bad_request(
    fmt: str, clock: Any, imageshim_mock: Any
) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        _sdk(GPT2, clock).images.generate(
            model="gpt-image-2", prompt="otter", extra_body={"output_format": fmt}
        )
    assert info.value.status_code == 400
    assert info.value.param == "output_format"
    assert "gpt-image-2.5-sunburst" in info.value.message
    assert imageshim_mock.calls == []


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"complexity": "extreme"}, "complexity"),
        ({"frame_count": 40, "output_format": "gif"}, "frame_count"),
        ({"svg": {"reasoning": {"effort": "low"}}, "output_format": "svg"}, "svg"),
        ({"output_format": "gif", "stream": True}, "stream"),
    ],
)
def test_invalid_new_values_are_400s_before_the_mock(
    body: dict[str, Any], param: str, clock: Any, imageshim_mock: Any
) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        _sdk(SUNBURST, clock).images.generate(model="gpt-image-2.5-sunburst", prompt="otter", extra_body=body)
    assert info.value.param == param
    assert imageshim_mock.calls == []


def test_gif_with_frames_comes_back_as_an_animated_gif(clock: Any, imageshim_mock: Any) -> None:
    resp = _sdk(SUNBURST, clock).images.generate(
        model="gpt-image-2.5-sunburst",
        prompt="otter",
        extra_body={"output_format": "gif", "frame_count": 6, "frame_duration_ms": 150},
    )
    assert base64.b64decode(resp.data[0].b64_json or "")[:6] == b"GIF89a"
    call = imageshim_mock.calls[0]
    assert (call.output_format, call.frame_count, call.frame_duration_ms) == ("gif", 6, 150)


def test_safety_identifier_wins_over_user(clock: Any, imageshim_mock: Any) -> None:
    _sdk(SUNBURST, clock).images.generate(
        model="gpt-image-2.5-sunburst",
        prompt="otter",
        user="u-old",
        extra_body={"safety_identifier": "sid-1"},
    )
    assert imageshim_mock.calls[0].end_user_id == "sid-1"


def test_raw_json_carries_revised_prompt_on_every_item(clock: Any, imageshim_mock: Any) -> None:
    raw = _sdk(SUNBURST, clock).images.with_raw_response.generate(
        model="gpt-image-2.5-sunburst", prompt="otter", n=2
    )
    items = json.loads(raw.http_response.content)["data"]
    assert [item["revised_prompt"] for item in items] == [None, None]


def test_no_model_is_redirected_with_a_retired_warning(clock: Any, imageshim_mock: Any) -> None:
    with pytest.warns(imageshim.ImageShimWarning) as caught:
        resp = _sdk(SUNBURST, clock).images.generate(prompt="otter", response_format="b64_json")
    assert [type(w.message) for w in caught] == [imageshim.ModelRetiredWarning, imageshim.OptionMappedWarning]
    assert "dall-e-2 was retired" in str(caught[0].message)
    assert resp.data is not None
    assert resp.data[0].b64_json
