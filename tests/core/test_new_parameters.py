"""The openai SDK 3.57 parameters: complexity, frame_count, frame_duration_ms, gif/svg output, svg, quality
xhigh/max. Catalog facts with sources; sent where the target takes them, mapped or dropped with a named
warning, refused before any I/O where the result would be another kind of image."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import imageshim
from imageshim import BadRequestError, ModelSpec, ProviderSettings, builtin_catalog
from imageshim._core.config import MappingPolicy
from imageshim._core.mapping import map_request
from imageshim._core.request import COMPLEXITIES, request_from_kwargs
from imageshim._frontends.engine import Engine
from imageshim_adapters.mock import MockAdapter, _check
from imageshim_adapters.openai import OpenAIAdapter
from imageshim_adapters.openai.wire import build_body

SUNBURST = {"routes": {"*": ["mock:gpt-image-2.5-sunburst"]}}
GPT2 = {"routes": {"*": ["mock:gpt-image-2"]}}
CATALOG = builtin_catalog()
NEW_PARAMS = ("complexity", "frame_count", "frame_duration_ms", "svg")


def _client(config: dict[str, Any], clock: Any) -> imageshim.OpenAI:
    return imageshim.OpenAI(config=config, clock=clock)


def _plan(config: dict[str, Any], clock: Any, **kwargs: Any) -> Any:
    return Engine(config, clock=clock).plan(request_from_kwargs({"prompt": "a cat", **kwargs}))


# ----- catalog facts ---------------------------------------------------------------------------------------
def test_xhigh_and_max_only_on_gpt_image_2_5_and_their_snapshots() -> None:
    having = sorted(s.id for s in CATALOG if "xhigh" in s.qualities and "max" in s.qualities)
    assert having == ["gpt-image-2.5-flare", "gpt-image-2.5-sunburst"]
    assert CATALOG.get("gpt-image-2.5-sunburst-2026-09-08") is CATALOG.get("gpt-image-2.5-sunburst")
    assert CATALOG.get("gpt-image-2.5-flare-2026-09-08") is CATALOG.get("gpt-image-2.5-flare")
    spec = CATALOG.get("gpt-image-2.5-sunburst")
    assert spec is not None
    assert "3.57" in (spec.source_of("qualities") or "")


@pytest.mark.parametrize("fact", ["complexities", "output_formats", "safety_identifier"])
def test_every_new_fact_has_a_source(fact: str) -> None:
    for spec in CATALOG:
        if spec.complexities or {"gif", "svg"} & set(spec.output_formats) or spec.safety_identifier:
            assert spec.source_of(fact), (spec.id, fact)


def test_gif_svg_and_complexity_are_facts_per_model() -> None:
    for model in ("gpt-image-2.5-sunburst", "gpt-image-2.5-flare", "gpt-image-2.6-sunburst"):
        spec = CATALOG.get(model)
        assert spec is not None
        assert {"gif", "svg"} <= set(spec.output_formats)
        assert spec.complexities == COMPLEXITIES
    for model in ("gpt-image-2", "gpt-image-1.5", "dall-e-3"):
        spec = CATALOG.get(model)
        assert spec is not None
        assert not {"gif", "svg"} & set(spec.output_formats)
        assert spec.complexities == ()


def test_users_can_grant_a_fact_through_models_config(clock: Any) -> None:
    config = {**GPT2, "models": [{"id": "gpt-image-2", "complexities": ["low", "high"]}]}
    plan = _plan(config, clock, model="gpt-image-2", complexity="high")
    assert plan.targets[0].template.complexity == "high"
    assert (plan.targets[0].spec.source_of("complexities") or "").startswith("your configuration")


# ----- sent where the target takes them --------------------------------------------------------------------
def test_sunburst_takes_complexity_and_xhigh_without_warnings(clock: Any, imageshim_mock: Any) -> None:
    resp = _client(SUNBURST, clock).images.generate(
        model="gpt-image-2.5-sunburst", prompt="a cat", complexity="high", quality="xhigh"
    )
    assert resp.imageshim.warnings == []
    call = imageshim_mock.calls[0]
    assert (call.complexity, call.quality) == ("high", "xhigh")


@pytest.mark.parametrize("quality", ["xhigh", "max"])
def test_xhigh_and_max_become_high_on_gpt_image_2(quality: str, clock: Any, imageshim_mock: Any) -> None:
    with pytest.warns(imageshim.OptionMappedWarning, match=f"quality '{quality}'") as caught:
        resp = _client(GPT2, clock).images.generate(model="gpt-image-2", prompt="a cat", quality=quality)
    assert len(caught) == 1
    assert imageshim_mock.calls[0].quality == "high"
    (record,) = resp.imageshim.warnings
    assert (record.setting, record.requested, record.applied) == ("quality", quality, "high")


def test_a_mapping_quality_table_wins_over_the_built_in_one(clock: Any, imageshim_mock: Any) -> None:
    config = {**GPT2, "mapping": {"quality": {"max": "medium"}}}
    with pytest.warns(imageshim.OptionMappedWarning):
        _client(config, clock).images.generate(model="gpt-image-2", prompt="a cat", quality="max")
    assert imageshim_mock.calls[0].quality == "medium"


def test_xhigh_becomes_hd_on_a_dalle_target(clock: Any) -> None:
    config = {"routes": {"*": ["mock:dall-e-3"]}, "lifecycle": {"on_retired": "allow"}}
    plan = _plan(config, clock, model="dall-e-3", quality="xhigh")
    assert plan.targets[0].template.quality == "hd"
    assert [w.category for w in plan.targets[0].warnings] == [
        imageshim.ModelRetiredWarning,
        imageshim.OptionMappedWarning,
    ]


# ----- dropped with a warning where they only shape the result ---------------------------------------------
def test_complexity_is_dropped_on_a_model_without_it(clock: Any, imageshim_mock: Any) -> None:
    with pytest.warns(imageshim.OptionDroppedWarning, match="no complexity option"):
        resp = _client(GPT2, clock).images.generate(model="gpt-image-2", prompt="a cat", complexity="low")
    assert imageshim_mock.calls[0].complexity is None
    assert [w.setting for w in resp.imageshim.warnings] == ["complexity"]


@pytest.mark.parametrize(("field", "value"), [("frame_count", 4), ("frame_duration_ms", 120)])
def test_frame_settings_without_gif_output_are_dropped(
    field: str, value: int, clock: Any, imageshim_mock: Any
) -> None:
    with pytest.warns(imageshim.OptionDroppedWarning, match="output_format='gif' only"):
        resp = _client(SUNBURST, clock).images.generate(
            model="gpt-image-2.5-sunburst", prompt="a cat", output_format="png", **{field: value}
        )
    assert getattr(imageshim_mock.calls[0], field) is None
    assert [w.setting for w in resp.imageshim.warnings] == [field]


def test_svg_settings_without_svg_output_are_dropped(clock: Any, imageshim_mock: Any) -> None:
    with pytest.warns(imageshim.OptionDroppedWarning, match="output_format='svg' only"):
        _client(SUNBURST, clock).images.generate(
            model="gpt-image-2.5-sunburst", prompt="a cat", svg={"model": "gpt-5"}
        )
    assert imageshim_mock.calls[0].svg is None


def test_output_compression_and_partial_images_are_dropped_for_gif(clock: Any) -> None:
    plan = _plan(
        SUNBURST,
        clock,
        model="gpt-image-2.5-sunburst",
        output_format="gif",
        output_compression=50,
        partial_images=2,
    )
    mapped = plan.targets[0]
    assert (mapped.template.output_compression, mapped.template.output_format) == (None, "gif")
    assert {w.setting: w.category for w in mapped.warnings} == {
        "partial_images": imageshim.OptionDroppedWarning,
        "output_compression": imageshim.OptionDroppedWarning,
    }


def test_svg_output_is_made_one_image_per_call(clock: Any) -> None:
    plan = _plan(SUNBURST, clock, model="gpt-image-2.5-sunburst", output_format="svg", n=3)
    mapped = plan.targets[0]
    assert [c.n for c in mapped.calls()] == [1, 1, 1]
    (record,) = mapped.warnings
    assert (record.category, record.setting, record.applied) == (imageshim.OptionMappedWarning, "n", 1)
    assert "SVG output is made one image per request" in record.reason


# ----- refused where the result would be something else ----------------------------------------------------
@pytest.mark.parametrize("fmt", ["gif", "svg"])
def test_gif_or_svg_from_a_model_without_it_is_a_400_naming_the_models(
    fmt: str, clock: Any, imageshim_mock: Any
) -> None:
    with pytest.raises(imageshim.BadRequestError) as info:
        _client(GPT2, clock).images.generate(model="gpt-image-2", prompt="a cat", output_format=fmt)
    assert info.value.status_code == 400
    assert info.value.param == "output_format"
    assert f"Models with {fmt} output: gpt-image-2.5-flare, gpt-image-2.5-sunburst" in str(info.value)
    assert imageshim_mock.calls == []


@pytest.mark.parametrize("fmt", ["gif", "svg"])
def test_gif_and_svg_are_not_streamed(fmt: str, clock: Any) -> None:
    with pytest.raises(imageshim.BadRequestError) as info:
        _plan(SUNBURST, clock, model="gpt-image-2.5-sunburst", output_format=fmt, stream=True)
    assert info.value.param == "stream"


@pytest.mark.parametrize("fmt", ["gif", "svg", "jpeg"])
def test_transparent_background_needs_png_or_webp(fmt: str, clock: Any) -> None:
    with pytest.raises(imageshim.BadRequestError) as info:
        _plan(SUNBURST, clock, model="gpt-image-2.5-sunburst", output_format=fmt, background="transparent")
    assert info.value.param == "background"


# ----- the request's vocabulary ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "field", "allowed"),
    [
        ({"complexity": "extreme"}, "complexity", "'low', 'medium', 'high'"),
        ({"frame_count": 1}, "frame_count", "from 2 to 16"),
        ({"frame_count": 17}, "frame_count", "from 2 to 16"),
        ({"frame_count": True}, "frame_count", "integer"),
        ({"frame_duration_ms": -10}, "frame_duration_ms", "non-negative"),
        ({"frame_duration_ms": 1.5}, "frame_duration_ms", "integer"),
        ({"output_format": "bmp"}, "output_format", "'gif', 'svg'"),
        ({"quality": "ultra"}, "quality", "'xhigh', 'max'"),
        ({"svg": {}}, "svg", "'model'"),
        ({"svg": {"model": "gpt-5", "colour": "red"}}, "svg", "'model'"),
        ({"svg": {"model": "gpt-5", "reasoning": {"effort": "huge"}}}, "svg", "'minimal'"),
        ({"svg": {"model": "gpt-5", "reasoning": "high"}}, "svg", "'reasoning'"),
        ({"svg": "gpt-5"}, "svg", "valid dictionary"),
    ],
)
def test_invalid_new_values_are_400s_naming_field_value_and_allowed(
    kwargs: dict[str, Any], field: str, allowed: str
) -> None:
    with pytest.raises(BadRequestError) as info:
        request_from_kwargs({"prompt": "a cat", "model": "gpt-image-2.5-sunburst", **kwargs})
    assert info.value.param == field
    assert info.value.code == "invalid_value"
    assert allowed in str(info.value)


def test_valid_new_values_are_kept() -> None:
    svg = {"model": "gpt-5", "reasoning": {"effort": "minimal"}}
    request = request_from_kwargs(
        {
            "prompt": "a cat",
            "complexity": "medium",
            "frame_count": 16,
            "frame_duration_ms": 700_000,
            "svg": svg,
        }
    )
    assert (request.complexity, request.frame_count, request.frame_duration_ms) == ("medium", 16, 700_000)
    assert request.svg == svg


# ----- the wire body and the mock --------------------------------------------------------------------------
def test_gif_call_sends_frames_and_svg_call_sends_the_svg_object(clock: Any) -> None:
    gif = _plan(
        SUNBURST,
        clock,
        model="gpt-image-2.5-sunburst",
        output_format="gif",
        frame_count=4,
        frame_duration_ms=125,
    ).targets[0]
    assert gif.warnings == ()
    body = build_body(gif.calls()[0], gif.spec)
    assert (body["output_format"], body["frame_count"], body["frame_duration_ms"]) == ("gif", 4, 125)
    svg = {"model": "gpt-5", "reasoning": {"effort": "low"}}
    mapped = _plan(
        SUNBURST, clock, model="gpt-image-2.5-sunburst", output_format="svg", svg=svg, complexity="low"
    ).targets[0]
    body = build_body(mapped.calls()[0], mapped.spec)
    assert (body["output_format"], body["svg"], body["complexity"], body["n"]) == ("svg", svg, "low", 1)
    assert "frame_count" not in body


def test_bodies_leave_out_what_was_not_set(clock: Any) -> None:
    mapped = _plan(GPT2, clock, model="gpt-image-2").targets[0]
    body = build_body(mapped.calls()[0], mapped.spec)
    assert not set(NEW_PARAMS) & set(body)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"complexity": "low"}, "complexity"),  # gpt-image-2 has none
        ({"frame_count": 3, "output_format": "png"}, "frame_count"),
        ({"svg": {"model": "m"}}, "svg"),
        ({"output_format": "svg"}, "output_format"),  # not offered by gpt-image-2
    ],
)
def test_the_mock_enforces_the_emulated_model(changes: dict[str, Any], field: str) -> None:
    spec = CATALOG.get("gpt-image-2")
    assert spec is not None
    call = imageshim.ImageCall(call_id="c", model="gpt-image-2", prompt="a cat", width=1024, height=1024)
    with pytest.raises(imageshim.BadRequestError) as info:
        _check(call.evolve(**changes), spec)
    assert info.value.param == field


def test_the_mock_refuses_svg_with_n_above_one_and_compressed_gif() -> None:
    spec = CATALOG.get("gpt-image-2.5-sunburst")
    assert spec is not None
    call = imageshim.ImageCall(call_id="c", model=spec.id, prompt="a cat", width=1024, height=1024)
    with pytest.raises(imageshim.BadRequestError) as info:
        _check(call.evolve(output_format="svg", n=2), spec)
    assert info.value.param == "n"
    with pytest.raises(imageshim.BadRequestError) as info:
        _check(call.evolve(output_format="gif", output_compression=10), spec)
    assert info.value.param == "output_compression"


# ----- property: a plan that only carries what the target takes, or a 400 naming a field -----------------
_OPENAI = OpenAIAdapter(ProviderSettings("openai"))
_MOCK = MockAdapter(ProviderSettings("mock"))
TARGETS: list[tuple[str, ModelSpec]] = [
    *((f"openai:{s.id}", _OPENAI.profile(s)) for s in CATALOG),
    *((f"mock:{s.id}", _MOCK.profile(s)) for s in CATALOG),
]
_FIELDS = {
    "complexity": st.sampled_from(["low", "medium", "high", "extreme"]),
    "frame_count": st.integers(0, 20),
    "frame_duration_ms": st.integers(-20, 1_000_000),
    "output_format": st.sampled_from(["png", "jpeg", "webp", "gif", "svg", "bmp"]),
    "svg": st.sampled_from([{"model": "gpt-5"}, {"model": "gpt-5", "reasoning": {"effort": "max"}}, {}]),
    "quality": st.sampled_from(["xhigh", "max", "high", "auto", "standard", "hd"]),
    "n": st.integers(1, 4),
    "stream": st.booleans(),
    "partial_images": st.integers(0, 3),
    "output_compression": st.integers(0, 100),
    "background": st.sampled_from(["transparent", "opaque", "auto"]),
}
kwargs_strategy = st.fixed_dictionaries({}, optional=_FIELDS)


@settings(max_examples=300, deadline=None)
@given(target=st.sampled_from(TARGETS), kwargs=kwargs_strategy, model=st.sampled_from(CATALOG.ids()))
def test_new_parameters_make_a_valid_plan_or_a_400_naming_a_field(
    target: tuple[str, ModelSpec], kwargs: dict[str, Any], model: str
) -> None:
    name, spec = target
    refused: BadRequestError | None = None
    try:
        request = request_from_kwargs({"prompt": "a cat", "model": model, **kwargs})
        mapped = map_request(request, spec, MappingPolicy(), name, requested=CATALOG.get(model))
    except BadRequestError as exc:
        refused = exc
    if refused is not None:
        assert refused.param in {*_FIELDS, "model", "size", "response_format", "prompt"}, refused
        return
    warned = {w.setting for w in mapped.warnings}
    for call in mapped.calls():
        assert call.complexity is None or call.complexity in spec.complexities
        assert call.output_format is None or call.output_format in spec.output_formats
        assert call.quality is None or call.quality in spec.qualities
        if call.output_format != "gif":
            assert call.frame_count is None
            assert call.frame_duration_ms is None
        if call.output_format != "svg":
            assert call.svg is None
        else:
            assert call.n == 1
        if call.output_format in ("gif", "svg"):
            assert call.output_compression is None
            assert not request.stream
        if name.startswith("openai:"):
            body = build_body(call, spec)
            assert set(NEW_PARAMS) & set(body) == {f for f in NEW_PARAMS if getattr(call, f) is not None}
        else:
            _check(call, spec)  # the emulated model takes the call as mapped
    # a warning exactly when a new value asked for was not sent as asked
    template = mapped.template
    for field in NEW_PARAMS:
        asked = getattr(request, field)
        assert (field in warned) == (asked is not None and getattr(template, field) != asked), field
