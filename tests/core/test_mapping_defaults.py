"""A redirected request that leaves size or quality out gets what the requested model would have made
(DALL·E 3: 1024x1024 at standard), not the new model's "auto"; every difference is warned."""

from __future__ import annotations

from typing import Any

import pytest

import imageshim

REDIRECT = {"routes": {"dall-e-3": ["mock:dall-e-3"]}}


def test_omitted_size_and_quality_keep_the_dalle3_defaults(imageshim_mock: Any, clock: Any) -> None:
    client = imageshim.OpenAI(config=REDIRECT, clock=clock)
    with pytest.warns(imageshim.ImageShimWarning) as caught:
        resp = client.images.generate(model="dall-e-3", prompt="a lighthouse", response_format="b64_json")
    (call,) = imageshim_mock.calls
    assert (call.model, call.size, call.quality) == ("gpt-image-2", "1024x1024", "medium")
    assert resp.imageshim.route == "mock:gpt-image-2"
    quality = [w for w in resp.imageshim.warnings if w.setting == "quality"]
    assert [(w.requested, w.applied) for w in quality] == [("standard", "medium")]
    assert "'standard' (the dall-e-3 default)" in quality[0].reason
    assert not [w for w in resp.imageshim.warnings if w.setting == "size"]  # 1024x1024 is valid as it is
    assert {type(w.message) for w in caught} == {imageshim.ModelRetiredWarning, imageshim.OptionMappedWarning}


def test_explicit_values_win_over_the_defaults(imageshim_mock: Any, clock: Any) -> None:
    client = imageshim.OpenAI(config=REDIRECT, clock=clock)
    with pytest.warns(imageshim.ModelRetiredWarning):
        client.images.generate(
            model="dall-e-3",
            prompt="a lighthouse",
            size="1792x1024",
            quality="high",
            response_format="b64_json",
        )
    (call,) = imageshim_mock.calls
    assert (call.size, call.quality) == ("1792x1024", "high")


def test_a_model_asked_for_by_name_keeps_its_own_auto(imageshim_mock: Any, clock: Any) -> None:
    client = imageshim.OpenAI(config={"routes": {"*": ["mock:gpt-image-2"]}}, clock=clock)
    client.images.generate(model="gpt-image-2", prompt="a lighthouse")
    (call,) = imageshim_mock.calls
    assert (call.size, call.quality) == (None, None)
