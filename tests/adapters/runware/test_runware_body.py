"""The imageInference bodies the Runware adapter sends: extra_body may add fields but never change the
adapter's own, background and output_compression are sent or reported, DALL·E 2 gets no provider
settings, and the user's [[models]] corrections win over Runware's defaults."""

from __future__ import annotations

from typing import Any

import pytest

import imageshim

from ._runware_fakes import GPT2, ok_reply


def _client(
    recorder_factory: Any, clock: Any, config: dict[str, Any] | None = None
) -> tuple[imageshim.OpenAI, Any]:
    recorder = recorder_factory(ok_reply)
    return imageshim.OpenAI(config=config or GPT2, http_client=recorder.client(), clock=clock), recorder


def _routed(model: str, **extra: Any) -> dict[str, Any]:
    return {**GPT2, "routes": {"*": [f"runware:{model}"]}, "lifecycle": {"on_retired": "allow"}, **extra}


# ----- extra_body -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"taskType": "imageUpscale"}, "taskType"),
        ({"taskUUID": "00000000-0000-4000-8000-000000000000"}, "taskUUID"),
        ({"model": "runware:100@1"}, "model"),
        ({"positivePrompt": "something else"}, "positivePrompt"),
        ({"width": 512}, "width"),
        ({"height": 512}, "height"),
        ({"numberResults": 4}, "numberResults"),
        ({"outputType": "dataURI"}, "outputType"),
        ({"outputFormat": "PNG"}, "outputFormat"),
        ({"includeCost": False}, "includeCost"),
        ({"deliveryMethod": "async"}, "deliveryMethod"),
        ({"providerSettings": {"openai": {"quality": "low"}}}, "providerSettings.openai.quality"),
        ({"providerSettings": "high"}, "providerSettings"),
        ({"settings": {"quality": "low"}}, "settings.quality"),
        ({"settings": "high"}, "settings"),
    ],
)
def test_extra_body_cannot_override_the_adapters_fields(
    extra: dict[str, Any], field: str, recorder_factory: Any, clock: Any
) -> None:
    client, recorder = _client(recorder_factory, clock)
    with pytest.raises(imageshim.BadRequestError) as info:
        client.images.generate(
            model="gpt-image-2", prompt="a cat", size="1024x1024", quality="high", extra_body=extra
        )
    assert f"extra_body[{field!r}]" in info.value.message
    assert info.value.param == "extra_body"
    assert not info.value.retryable
    assert recorder.requests == []  # refused before anything was sent


def test_extra_body_adds_fields_and_may_repeat_the_adapters_values(recorder_factory: Any, clock: Any) -> None:
    client, recorder = _client(recorder_factory, clock)
    extra = {
        "ttl": 3600,
        "safety": {"checkContent": True},
        "deliveryMethod": "sync",
        "includeCost": True,
        "outputType": "URL",
        "numberResults": 1,
        "width": 1024,
        "providerSettings": {"openai": {"quality": "high", "someNewSetting": "x"}},
    }
    client.images.generate(
        model="gpt-image-2",
        prompt="a cat",
        size="1024x1024",
        quality="high",
        response_format="url",
        extra_body=extra,
    )
    (task,) = recorder.json()
    assert {**task, "taskUUID": "*"} == {
        "taskType": "imageInference",
        "taskUUID": "*",
        "model": "openai:gpt-image@2",
        "positivePrompt": "a cat",
        "width": 1024,
        "height": 1024,
        "numberResults": 1,
        "outputType": "URL",
        "includeCost": True,
        "deliveryMethod": "sync",
        "ttl": 3600,
        "safety": {"checkContent": True},
        # the adapter's options go in `settings`; the caller's providerSettings is sent as given
        "settings": {"quality": "high"},
        "providerSettings": {"openai": {"quality": "high", "someNewSetting": "x"}},
    }


def test_extra_body_settings_are_merged_into_the_adapters(recorder_factory: Any, clock: Any) -> None:
    client, recorder = _client(recorder_factory, clock)
    extra = {"settings": {"quality": "high", "someNewSetting": "x"}}
    client.images.generate(model="gpt-image-2", prompt="a cat", quality="high", extra_body=extra)
    (task,) = recorder.json()
    assert task["settings"] == {"quality": "high", "someNewSetting": "x"}
    assert "providerSettings" not in task
    assert extra == {"settings": {"quality": "high", "someNewSetting": "x"}}


def test_extra_body_is_not_changed_by_the_merge(recorder_factory: Any, clock: Any) -> None:
    client, _ = _client(recorder_factory, clock)
    extra = {"providerSettings": {"openai": {"someNewSetting": "x"}}}
    client.images.generate(model="gpt-image-2", prompt="a cat", quality="high", n=2, extra_body=extra)
    assert extra == {"providerSettings": {"openai": {"someNewSetting": "x"}}}


# ----- background ---------------------------------------------------------------------------------------
def test_background_is_sent_to_gpt_image_1(recorder_factory: Any, clock: Any) -> None:
    client, recorder = _client(recorder_factory, clock, _routed("gpt-image-1"))
    with pytest.warns(imageshim.ModelRetiredWarning):
        client.images.generate(
            model="gpt-image-1", prompt="a logo", size="1024x1024", background="opaque", quality="low"
        )
    (task,) = recorder.json()
    assert task["providerSettings"] == {"openai": {"quality": "low", "background": "opaque"}}
    assert "outputFormat" not in task


def test_transparent_background_asks_for_png(recorder_factory: Any, clock: Any) -> None:
    """Runware's default output is JPG, which cannot be transparent: PNG is asked for, and reported."""
    client, recorder = _client(recorder_factory, clock, _routed("gpt-image-1"))
    with pytest.warns(imageshim.ModelRetiredWarning):
        resp = client.images.generate(model="gpt-image-1", prompt="a logo", background="transparent")
    (task,) = recorder.json()
    assert task["providerSettings"] == {"openai": {"background": "transparent"}}
    assert task["outputFormat"] == "PNG"
    assert resp.output_format == "png"


def test_opaque_background_is_sent_to_gpt_image_2_in_settings(recorder_factory: Any, clock: Any) -> None:
    client, recorder = _client(recorder_factory, clock)
    client.images.generate(model="gpt-image-2", prompt="a logo", background="opaque", quality="medium")
    (task,) = recorder.json()
    assert task["settings"] == {"quality": "medium", "background": "opaque"}
    assert "providerSettings" not in task


def test_transparent_background_on_gpt_image_2_is_refused_before_the_network(
    recorder_factory: Any, clock: Any
) -> None:
    """Only "opaque" is seen in a Runware source for GPT Image 2: a transparent one is not paid for and
    possibly ignored; the caller hears it at once."""
    client, recorder = _client(recorder_factory, clock)
    with pytest.raises(imageshim.BadRequestError, match="'opaque'") as info:
        client.images.generate(model="gpt-image-2", prompt="a logo", background="transparent")
    assert info.value.param == "background"
    assert recorder.requests == []


def test_auto_background_on_gpt_image_2_is_dropped_with_a_warning(recorder_factory: Any, clock: Any) -> None:
    client, recorder = _client(recorder_factory, clock)
    with pytest.warns(imageshim.OptionDroppedWarning, match="background"):
        client.images.generate(model="gpt-image-2", prompt="a logo", background="auto")
    (task,) = recorder.json()
    assert "settings" not in task
    assert "providerSettings" not in task


# ----- output_compression -------------------------------------------------------------------------------
@pytest.mark.parametrize("value", [20, 80, 99])
def test_output_compression_is_sent_as_output_quality(value: int, recorder_factory: Any, clock: Any) -> None:
    client, recorder = _client(recorder_factory, clock)
    client.images.generate(
        model="gpt-image-2", prompt="a cat", output_format="jpeg", output_compression=value
    )
    (task,) = recorder.json()
    assert (task["outputFormat"], task["outputQuality"]) == ("JPG", value)


@pytest.mark.parametrize("value", [0, 19, 100])
def test_output_compression_outside_runwares_range_is_refused(
    value: int, recorder_factory: Any, clock: Any
) -> None:
    client, recorder = _client(recorder_factory, clock)
    with pytest.raises(imageshim.BadRequestError, match="20 to 99") as info:
        client.images.generate(
            model="gpt-image-2", prompt="a cat", output_format="webp", output_compression=value
        )
    assert info.value.param == "output_compression"
    assert recorder.requests == []


def test_output_compression_for_png_is_dropped_with_a_warning(recorder_factory: Any, clock: Any) -> None:
    client, recorder = _client(recorder_factory, clock)
    with pytest.warns(imageshim.OptionDroppedWarning, match="output_compression"):
        client.images.generate(
            model="gpt-image-2", prompt="a cat", output_format="png", output_compression=50
        )
    assert "outputQuality" not in recorder.json()[0]


# ----- DALL·E 2 and DALL·E 3 ----------------------------------------------------------------------------
def test_dalle2_gets_no_provider_settings(recorder_factory: Any, clock: Any) -> None:
    client, recorder = _client(recorder_factory, clock, _routed("dall-e-2"))
    with pytest.warns(imageshim.ModelRetiredWarning):
        client.images.generate(model="dall-e-2", prompt="a cat", size="512x512", quality="standard")
    (task,) = recorder.json()
    assert {**task, "taskUUID": "*"} == {
        "taskType": "imageInference",
        "taskUUID": "*",
        "model": "openai:2@2",
        "positivePrompt": "a cat",
        "width": 512,
        "height": 512,
        "includeCost": True,
    }


def test_dalle2_warns_for_what_it_cannot_take(recorder_factory: Any, clock: Any) -> None:
    client, recorder = _client(recorder_factory, clock, _routed("dall-e-2"))
    with pytest.warns(imageshim.ImageShimWarning) as caught:
        client.images.generate(model="dall-e-2", prompt="a cat", quality="hd", style="vivid")
    kinds = sorted((type(w.message).__name__, w.message.record.setting) for w in caught)  # type: ignore[union-attr]
    assert kinds == [
        ("ModelRetiredWarning", "model"),
        ("OptionDroppedWarning", "style"),
        ("OptionMappedWarning", "quality"),
    ]
    assert "providerSettings" not in recorder.json()[0]


def test_dalle3_without_quality_or_style_sends_no_provider_settings(
    recorder_factory: Any, clock: Any
) -> None:
    client, recorder = _client(recorder_factory, clock, _routed("dall-e-3"))
    with pytest.warns(imageshim.ModelRetiredWarning):
        client.images.generate(model="dall-e-3", prompt="a cat", size="1024x1792")
    (task,) = recorder.json()
    assert "providerSettings" not in task
    assert (task["width"], task["height"], task["includeCost"]) == (1024, 1792, True)


# ----- the user's [[models]] corrections win ---------------------------------------------------------------
def test_user_max_n_wins_over_runwares(recorder_factory: Any, clock: Any) -> None:
    config = {**GPT2, "models": [{"id": "gpt-image-2", "max_n": 2}]}
    client, recorder = _client(recorder_factory, clock, config)
    with pytest.warns(imageshim.OptionMappedWarning, match="at most 2 per call"):
        resp = client.images.generate(model="gpt-image-2", prompt="a cat", n=4)
    tasks = recorder.json()
    assert [t["numberResults"] for t in tasks] == [2, 2]
    assert len(resp.data) == 4


def test_runwares_facts_still_apply_to_what_the_user_left_alone(recorder_factory: Any, clock: Any) -> None:
    config = {**GPT2, "models": [{"id": "gpt-image-2", "max_n": 2}]}
    client, recorder = _client(recorder_factory, clock, config)
    # Runware's 2-character prompt minimum and explicit 1024x1024 default size (no "auto") still apply
    with pytest.raises(imageshim.BadRequestError, match="2 to 32000"):
        client.images.generate(model="gpt-image-2", prompt="a")
    client.images.generate(model="gpt-image-2", prompt="a cat")
    assert (recorder.json()[0]["width"], recorder.json()[0]["height"]) == (1024, 1024)


def test_user_backgrounds_for_gpt_image_2_are_sent(recorder_factory: Any, clock: Any) -> None:
    config = {**GPT2, "models": [{"id": "gpt-image-2", "backgrounds": ["transparent", "opaque"]}]}
    client, recorder = _client(recorder_factory, clock, config)
    client.images.generate(model="gpt-image-2", prompt="a logo", background="transparent")
    assert recorder.json()[0]["settings"] == {"background": "transparent"}


def test_extra_body_output_quality(recorder_factory: Any, clock: Any) -> None:
    """outputQuality is the caller's to add, unless output_compression already set another value."""
    client, recorder = _client(recorder_factory, clock)
    client.images.generate(model="gpt-image-2", prompt="a cat", extra_body={"outputQuality": 70})
    assert recorder.json()[0]["outputQuality"] == 70
    with pytest.raises(imageshim.BadRequestError, match="output_compression= instead"):
        client.images.generate(
            model="gpt-image-2",
            prompt="a cat",
            output_format="jpeg",
            output_compression=80,
            extra_body={"outputQuality": 70},
        )
    assert len(recorder.requests) == 1


def test_a_user_value_equal_to_the_builtin_one_still_wins(recorder_factory: Any, clock: Any) -> None:
    # prompt_min = 1 is gpt-image-2's built-in value (Runware's is 2): only ModelSpec.user_fields tells
    # that the user set it, so a one-character prompt is sent.
    config = {**GPT2, "models": [{"id": "gpt-image-2", "prompt_min": 1}]}
    client, recorder = _client(recorder_factory, clock, config)
    client.images.generate(model="gpt-image-2", prompt="a")
    assert recorder.json()[0]["positivePrompt"] == "a"
