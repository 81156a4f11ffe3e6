"""Estimates: the catalog's prices, the token table and rule, "auto", and the recorded replies they must match.

The replayed fixtures: the seed's four Runware DALL·E 3 replies (cost 0.12 each), Runware's documented GPT
Image 2 example and per-image estimates (``runware-gpt-image-2-cost.json``), and GPT Image 2 ``usage``
replies built from OpenAI's calculator figures (``openai-gpt-image-2-usage.json``). Each estimate must be
within 5% of the cost the reply carries; the errors are printed (``pytest -s``).
"""

from __future__ import annotations

import dataclasses
import json
import math
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

import imageshim
from imageshim._core.adapter import ImageCall, InputImage
from imageshim._core.catalog import ModelSpec, TokenRule, builtin_catalog
from imageshim._core.cost import (
    INPUT_IMAGE_TOKENS,
    estimate_images,
    expected_usage,
    input_images,
    output_tokens,
    text_tokens,
)
from imageshim._core.request import request_from_kwargs

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SEED = json.loads((FIXTURES / "runware-dalle3-seed-exchanges.json").read_text(encoding="utf-8"))
RUNWARE = json.loads((FIXTURES / "runware-gpt-image-2-cost.json").read_text(encoding="utf-8"))
USAGE = json.loads((FIXTURES / "openai-gpt-image-2-usage.json").read_text(encoding="utf-8"))
RW_KEY = "rw-test-key-0123456789"
OA_KEY = "fake-openai-test-key-0123"


def _spec(model: str) -> ModelSpec:
    spec = builtin_catalog().get(model)
    assert spec is not None
    return spec


def _error(estimate: float, charged: float) -> float:
    return abs(estimate - charged) / charged


# ----- the catalog's facts ------------------------------------------------------------------------------
def test_gpt_image_2_table_is_the_rule_at_the_listed_sizes() -> None:
    spec = _spec("gpt-image-2")
    assert spec.output_tokens is not None
    assert spec.output_token_rule is not None
    for quality, sizes in spec.output_tokens.items():
        for size, tokens in sizes.items():
            width, height = (int(x) for x in size.split("x"))
            assert spec.output_token_rule.tokens(width, height, quality) == tokens, (quality, size)


def test_gpt_image_2_per_image_prices_are_the_published_ones() -> None:
    # OpenAI's per-image figures (openai.md, users.md): 1024x1024 $0.006 / $0.053 / $0.211, non-square
    # $0.005 / $0.041 / $0.165: the token table at $30/1M, to the published 3 decimals.
    spec = _spec("gpt-image-2")
    published = {
        "1024x1024": {"low": 0.006, "medium": 0.053, "high": 0.211},
        "1536x1024": {"low": 0.005, "medium": 0.041, "high": 0.165},
        "1024x1536": {"low": 0.005, "medium": 0.041, "high": 0.165},
    }
    for size, prices in published.items():
        for quality, price in prices.items():
            priced = estimate_images(spec, size, quality, 1)
            assert priced is not None
            assert priced.basis == "tokens"
            assert round(priced.usd, 3) == price, (size, quality, priced.usd)


def test_dalle3_per_image_prices() -> None:
    spec = _spec("dall-e-3")
    table = {("standard", "1024x1024"): 0.04, ("standard", "1792x1024"): 0.08, ("hd", "1024x1792"): 0.12}
    for (quality, size), price in table.items():
        priced = estimate_images(spec, size, quality, 1, prompt="a long prompt " * 50)
        assert priced is not None
        assert (priced.basis, priced.usd, priced.size, priced.quality) == ("per-image", price, size, quality)
        assert priced.price_as_of == date(2026, 11, 24)
    # the default size and quality are DALL·E 3's own: 1024x1024 standard
    default = estimate_images(spec, None, None, 1)
    assert default is not None
    assert (default.size, default.quality, default.usd) == ("1024x1024", "standard", 0.04)


def test_estimate_counts_every_image_and_the_prompt_per_image() -> None:
    spec = _spec("gpt-image-2")
    prompt = "x" * 400  # 100 text tokens by the bytes / 4 rule
    one = estimate_images(spec, "1024x1024", "high", 1, prompt=prompt)
    three = estimate_images(spec, "1024x1024", "high", 3, prompt=prompt)
    assert one is not None
    assert three is not None
    assert one.text_tokens == 100
    assert one.output_tokens == 7024
    assert one.usd == pytest.approx(7024 * 30e-6 + 100 * 5e-6)
    assert three.usd == pytest.approx(3 * one.usd)
    assert "prompt tokens approximated as UTF-8 bytes / 4" in one.notes


def test_text_tokens_are_utf8_bytes_over_four_rounded_up() -> None:
    assert text_tokens("") == 0
    assert text_tokens("abcd") == 1
    assert text_tokens("abcde") == 2
    assert text_tokens("é" * 4) == 2  # two bytes each


def test_auto_quality_and_no_quality_are_priced_as_high() -> None:
    spec = _spec("gpt-image-2")
    high = estimate_images(spec, "1024x1024", "high", 1)
    for quality in ("auto", None):  # gpt-image-2's default quality is auto
        priced = estimate_images(spec, "1024x1024", quality, 1)
        assert priced is not None
        assert high is not None
        assert (priced.quality, priced.usd) == ("high", high.usd)
        assert any("'auto' priced as 'high'" in note for note in priced.notes)


def test_auto_size_is_priced_at_the_dearest_listed_size() -> None:
    spec = _spec("gpt-image-2")  # default size auto; 1024x1024 makes the most tokens at every quality
    for size in ("auto", None):
        priced = estimate_images(spec, size, "medium", 1)
        assert priced is not None
        assert (priced.size, priced.output_tokens) == ("1024x1024", 1756)
    # gpt-image-1.5 is per-image with a default size auto: its dearest listed size at high is 1536x1024
    wide = estimate_images(_spec("gpt-image-1.5"), None, "high", 1)
    assert wide is not None
    assert wide.usd == 0.2
    assert any("dearest listed size" in note for note in wide.notes)


def test_custom_size_uses_the_rule_and_says_it_is_uncertain() -> None:
    priced = estimate_images(_spec("gpt-image-2"), "1792x1024", "high", 1)
    assert priced is not None
    assert priced.output_tokens == 5063  # the calculator's own figure on launch day
    assert any("size rule (UNCERTAIN)" in note for note in priced.notes)


def test_without_a_rule_a_custom_size_scales_the_nearest_listed_size_by_pixels() -> None:
    spec = dataclasses.replace(_spec("gpt-image-2"), output_token_rule=None)
    found = output_tokens(spec, "2048x1152", "high")  # nearest in ratio: 1536x1024
    assert found is not None
    tokens, notes = found
    assert tokens == math.ceil(5488 * 2048 * 1152 / (1536 * 1024))
    assert "1536x1024's tokens scaled by pixels (UNCERTAIN)" in notes[0]


def test_a_per_image_price_wins_over_tokens() -> None:
    spec = _spec("gpt-image-2").with_changes({"price_per_image": {"high": {"1024x1024": 0.19}}})
    priced = estimate_images(spec, "1024x1024", "high", 2)
    assert priced is not None
    assert (priced.basis, priced.usd) == ("per-image", 0.38)
    other = estimate_images(spec, "1536x1024", "high", 1)  # no cell there: tokens
    assert other is not None
    assert other.basis == "tokens"


def test_unpriced_models_have_no_estimate() -> None:
    # GPT Image 2.5: its token rates are known (a reply's usage is priced) but not its tokens per image
    flare = _spec("gpt-image-2.5-flare")
    assert flare.price_per_token is not None
    assert estimate_images(flare, "1024x1024", "high", 1) is None
    assert estimate_images(_spec("chatgpt-image-latest"), "1024x1024", "high", 1) is None
    assert estimate_images(_spec("gpt-image-2"), "1024x1024", "xhigh", 1) is None
    assert estimate_images(_spec("dall-e-3"), "1024x1024", "hd", 0) is None


def test_an_edits_inputs_are_priced_at_a_stated_bound_each() -> None:
    spec = _spec("gpt-image-2")
    prompt = "x" * 400  # 100 text tokens
    generation = estimate_images(spec, "1024x1024", "low", 2, prompt=prompt)
    edit = estimate_images(spec, "1024x1024", "low", 2, prompt=prompt, input_images=16)
    assert generation is not None
    assert edit is not None
    assert INPUT_IMAGE_TOKENS == 1536  # the bound README and the estimate's note state
    per_image = 196 * 30e-6 + 100 * 5e-6 + 16 * 1536 * 8e-6  # the inputs count for every image made
    assert edit.usd == pytest.approx(2 * per_image, abs=1e-6)
    assert edit.usd > 30 * generation.usd  # the audit's 16-input edit: about 30x a generation
    assert edit.input_tokens == 16 * 1536
    assert any("1536 image-input tokens each" in note and "UNCERTAIN" in note for note in edit.notes)
    assert "+ 24576 input-image tokens (a bound)" in edit.explain()
    # a per-image price covers the image made: the inputs are added at the model's image-input rate
    priced = spec.with_changes({"price_per_image": {"low": {"1024x1024": 0.01}}})
    per_image_edit = estimate_images(priced, "1024x1024", "low", 1, input_images=2)
    assert per_image_edit is not None
    assert (per_image_edit.basis, per_image_edit.usd) == ("per-image", round(0.01 + 2 * 1536 * 8e-6, 6))
    # a model with no image-input rate (DALL·E 2, per image): noted, not priced
    dalle2 = estimate_images(_spec("dall-e-2"), "1024x1024", None, 1, input_images=1)
    assert dalle2 is not None
    assert dalle2.usd == 0.02
    assert any("not priced (no image-input rate known)" in note for note in dalle2.notes)


def test_the_inputs_of_an_edit_are_its_images_its_mask_and_its_markup() -> None:
    image = InputImage(b"png", "image/png", 1024, 1024)
    call = ImageCall(call_id="c", model="gpt-image-2", prompt="x")
    assert input_images(call) == 0
    assert input_images(call.evolve(images=(image, image))) == 2
    assert input_images(call.evolve(images=(image,), mask=image, markup=image)) == 3


def test_expected_usage_is_what_the_estimate_assumes() -> None:
    spec = _spec("gpt-image-2")
    usage = expected_usage(spec, "1536x1024", "medium", 2, "abcdefgh")
    assert usage == {
        "input_tokens": 4,
        "input_tokens_details": {"text_tokens": 4, "image_tokens": 0},
        "output_tokens": 2744,
        "total_tokens": 2748,
    }
    assert expected_usage(_spec("dall-e-3"), "1024x1024", "hd", 1, "x") is None
    edit = expected_usage(spec, "1536x1024", "medium", 1, "abcdefgh", input_images=2)
    assert edit is not None
    assert edit["input_tokens_details"] == {"text_tokens": 2, "image_tokens": 2 * 1536}


@given(
    width=st.integers(min_value=32, max_value=240).map(lambda k: k * 16),
    height=st.integers(min_value=32, max_value=240).map(lambda k: k * 16),
)
def test_the_rule_grows_with_quality_and_is_symmetric(width: int, height: int) -> None:
    rule = TokenRule({"low": 16, "medium": 48, "high": 96})
    low, medium, high = (rule.tokens(width, height, q) for q in ("low", "medium", "high"))
    assert low is not None
    assert medium is not None
    assert high is not None
    assert 0 < low <= medium <= high
    assert rule.tokens(height, width, "high") == high


# ----- [[models]] corrects prices ---------------------------------------------------------------------
def test_models_entries_correct_prices_and_cite_the_configuration(clock: Any) -> None:
    config = {
        "routes": {"*": ["mock:gpt-image-2"]},
        "models": [
            {
                "id": "gpt-image-2",
                "price_per_token": {"text_input": 5e-6, "image_input": 8e-6, "output": 40e-6},
            },
            {"id": "gpt-image-2.5-flare", "output_tokens": {"high": {"1024x1024": 6000}}},
        ],
    }
    from imageshim._frontends.engine import Engine

    engine = Engine(config, clock=clock)
    spec = engine.catalog.get("gpt-image-2")
    assert spec is not None
    priced = estimate_images(spec, "1024x1024", "high", 1)
    assert priced is not None
    assert priced.usd == pytest.approx(7024 * 40e-6)
    assert priced.source == "your configuration (<dict>)"
    assert priced.price_as_of is None
    flare = engine.catalog.get("gpt-image-2.5-flare")
    assert flare is not None
    added = estimate_images(flare, "1024x1024", "high", 1)
    assert added is not None
    assert added.usd == pytest.approx(6000 * 30e-6)


def test_a_models_price_corrects_the_cells_it_names_and_keeps_the_others(clock: Any) -> None:
    from imageshim._frontends.engine import Engine

    # README's example: one cell of dall-e-3's table
    config = {
        "routes": {"*": ["mock:gpt-image-2"]},
        "mapping": {"quality": "price-parity"},
        "models": [
            {"id": "dall-e-3", "price_per_image": {"hd": {"1792x1024": 0.13}}},
            {"id": "gpt-image-2", "output_tokens": {"high": {"1024x1024": 7000}}},
        ],
    }
    engine = Engine(config, clock=clock)
    dalle3 = engine.catalog.get("dall-e-3")
    assert dalle3 is not None
    assert dalle3.price_per_image == {
        "standard": {"1024x1024": 0.04, "1792x1024": 0.08, "1024x1792": 0.08},
        "hd": {"1024x1024": 0.08, "1792x1024": 0.13, "1024x1792": 0.12},
    }
    kept = estimate_images(dalle3, "1024x1024", "standard", 1)
    assert kept is not None
    assert kept.usd == 0.04
    assert kept.source is not None
    assert kept.source.startswith("your configuration (<dict>) for the price_per_image cells it sets; else ")
    assert "openai.com/api/pricing" in kept.source
    gpt = engine.catalog.get("gpt-image-2")
    assert gpt is not None
    assert gpt.output_tokens is not None
    assert (gpt.output_tokens["high"]["1024x1024"], gpt.output_tokens["medium"]["1024x1024"]) == (7000, 1756)
    # price parity still has DALL·E 3's hd 1024x1024 price: medium, not the table's high
    plan = engine.plan(
        request_from_kwargs({"model": "dall-e-3", "prompt": "a fox", "quality": "hd", "size": "1024x1024"})
    )
    assert plan.targets[0].template.quality == "medium"
    # an empty table takes the table away
    emptied = builtin_catalog().with_overrides([{"id": "dall-e-3", "price_per_image": {"hd": {}}}])
    gone = emptied.get("dall-e-3")
    assert gone is not None
    assert gone.price_per_image is not None
    assert gone.price_per_image["hd"] == {}
    assert gone.price_per_image["standard"]["1024x1024"] == 0.04


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        (
            {"price_per_image": {"high": {"1024x1024": -1}}},
            "price_per_image.high.1024x1024 must be a number >= 0",
        ),
        (
            {"price_per_image": {"high": {"1024x1024": math.inf}}},
            "price_per_image.high.1024x1024 must be a number >= 0 and at most 1e+06 (USD per image); got inf",
        ),
        (
            {"price_per_image": {"high": {"1024x1024": 1e308}}},
            "at most 1e+06 (USD per image); got 1e+308",
        ),
        (
            {"price_per_token": {"output": math.nan}},
            "price_per_token.output must be a number >= 0 and at most 1 (USD per token); got nan",
        ),
        (
            {"output_tokens": {"high": {"1024x1024": 1.7}}},
            "output_tokens.high.1024x1024 must be a whole number from 0 to 100,000,000 (got 1.7)",
        ),
        (
            {"output_tokens": {"ultra": {"1024x1024": 7000}}},
            "output_tokens.ultra: 'ultra' is not a quality of this model (allowed: low, medium, high;",
        ),
        (
            {"price_per_image": {"high": {"huge": 0.2}}},
            "price_per_image.high.huge: sizes are written WIDTHxHEIGHT, such as 1024x1024 (got 'huge')",
        ),
        (
            {"output_token_rule": {"quality_factors": {"high": 96}, "area_offset": -10_000_000}},
            "output_token_rule.area_offset must be a whole number from 0 to 1,000,000,000,000 (got -10000000)",
        ),
        (
            {"output_token_rule": {"quality_factors": {"high": 0.5}}},
            "output_token_rule.quality_factors.high must be a whole number from 1 to 10,000 (got 0.5)",
        ),
        (
            {"output_token_rule": {"quality_factors": {"high": 96}, "area_divisor": 1e-9}},
            "output_token_rule.area_divisor must be a whole number from 1",
        ),
        (
            {"output_token_rule": {"quality_factors": {"high": 96}, "bogus": 1}},
            "output_token_rule takes quality_factors, area_offset, area_divisor (quality_factors required); "
            "got ['bogus', 'quality_factors']",
        ),
        ({"price_per_token": {"output": "cheap"}}, "price_per_token.output must be a number >= 0"),
        (
            {"price_per_token": {"image_output": 1e-6}},
            "price_per_token takes text_input, image_input and output",
        ),
        ({"output_tokens": {"high": 7024}}, "output_tokens.high must be a table"),
        ({"output_token_rule": {"factors": {}}}, "Invalid [[models]] 'gpt-image-2'"),
        ({"price_as_of": "yesterday"}, "Invalid [[models]] 'gpt-image-2'"),
    ],
)
def test_invalid_prices_name_the_fact(entry: dict[str, Any], words: str) -> None:
    with pytest.raises(imageshim.ConfigurationError) as info:
        imageshim.load_config({"models": [{"id": "gpt-image-2", **entry}]})
    assert words in str(info.value)
    assert "models[0]" in str(info.value)


# ----- recorded replies: estimate vs charged ----------------------------------------------------------
def _runware_reply(exchange: dict[str, Any]) -> Any:
    def reply(request: httpx.Request) -> httpx.Response:
        sent = json.loads(request.content)
        body = json.loads(json.dumps(exchange["response"]))
        for item in body["data"]:
            item["taskUUID"] = sent[0]["taskUUID"]
        return httpx.Response(200, json=body)

    return reply


@pytest.mark.parametrize("exchange", SEED["exchanges"], ids=[e["title"] for e in SEED["exchanges"]])
def test_seed_runware_dalle3_replies_match_the_estimate(
    exchange: dict[str, Any], recorder_factory: Any, clock: Any
) -> None:
    recorded = exchange["request"][0]
    recorder = recorder_factory(_runware_reply(exchange))
    config = {
        "routes": {"dall-e-3": ["runware:dall-e-3"]},
        "lifecycle": {"on_retired": "allow"},
        "providers": {"runware": {"api_key": RW_KEY}},
    }
    client = imageshim.OpenAI(config=config, http_client=recorder.client(), clock=clock)
    with pytest.warns(imageshim.ModelRetiredWarning):
        resp = client.images.generate(
            model="dall-e-3",
            prompt=recorded["positivePrompt"],
            size=f"{recorded['width']}x{recorded['height']}",
            quality=recorded["providerSettings"]["openai"]["quality"],
        )
    report = resp.imageshim
    assert (report.cost_usd, report.cost_source) == (0.12, "provider")
    assert report.estimate_usd is not None
    error = _error(report.estimate_usd, report.cost_usd)
    print(
        f"seed {exchange['title']}: estimate {report.estimate_usd} charged {report.cost_usd} error {error:.2%}"
    )
    assert error <= 0.05
    assert report.estimate_source is not None
    assert "runware.ai/docs/models/openai-dalle-3" in report.estimate_source


@pytest.mark.parametrize("exchange", RUNWARE["exchanges"], ids=[e["title"] for e in RUNWARE["exchanges"]])
def test_runware_include_cost_replies_match_the_estimate(
    exchange: dict[str, Any], recorder_factory: Any, clock: Any
) -> None:
    task = exchange["request"][0]
    settings = task["settings"]
    recorder = recorder_factory(_runware_reply(exchange))
    config = {
        "routes": {"gpt-image-2": ["runware:gpt-image-2"]},
        "providers": {"runware": {"api_key": RW_KEY}},
    }
    client = imageshim.OpenAI(config=config, http_client=recorder.client(), clock=clock)
    resp = client.images.generate(
        model="gpt-image-2",
        prompt=task["positivePrompt"],
        size=f"{task['width']}x{task['height']}",
        quality=settings["quality"],
        moderation=settings.get("moderation"),
        response_format="url",
    )
    (sent,) = recorder.json()
    assert {**sent, "taskUUID": task["taskUUID"]} == task  # the documented call, as imageshim sends it
    report = resp.imageshim
    charged = exchange["response"]["data"][0]["cost"]
    assert (report.cost_usd, report.cost_source) == (charged, "provider")
    assert report.estimate_usd is not None
    error = _error(report.estimate_usd, charged)
    print(f"runware {exchange['title']}: estimate {report.estimate_usd} charged {charged} error {error:.2%}")
    assert error <= 0.05


@pytest.mark.parametrize("reply", USAGE["replies"], ids=[r["title"] for r in USAGE["replies"]])
def test_openai_usage_replies_match_the_estimate_and_openai_arithmetic(
    reply: dict[str, Any], recorder_factory: Any, clock: Any
) -> None:
    asked = reply["request"]
    usage = reply["usage"]
    body = {
        "created": 1,
        "data": [{"b64_json": "iVBORw0KGgo="}],
        "size": asked["size"],
        "quality": asked["quality"],
        "usage": usage,
    }
    recorder = recorder_factory(httpx.Response(200, json=body))
    config = {"routes": {"gpt-image-2": ["openai:gpt-image-2"]}, "providers": {"openai": {"api_key": OA_KEY}}}
    client = imageshim.OpenAI(config=config, http_client=recorder.client(), clock=clock)
    resp = client.images.generate(**asked)
    details = usage["input_tokens_details"]
    arithmetic = (
        details["text_tokens"] * 5e-6 + details["image_tokens"] * 8e-6 + usage["output_tokens"] * 30e-6
    )
    report = resp.imageshim
    assert report.cost_usd == pytest.approx(arithmetic, abs=1e-6)
    assert report.cost_source is not None
    assert report.cost_source.startswith("estimate from token usage")
    spec = _spec("gpt-image-2")
    planned = estimate_images(spec, asked["size"], asked["quality"], 1, prompt=asked["prompt"])
    assert planned is not None
    assert planned.output_tokens == usage["output_tokens"]
    assert report.estimate_usd == planned.usd
    error = _error(planned.usd, arithmetic)
    print(f"openai {reply['title']}: estimate {planned.usd} usage-priced {arithmetic:.6f} error {error:.2%}")
    assert error <= 0.05


def test_the_half_penny_reply_costs_about_four_tenths_of_a_cent() -> None:
    (reply,) = [r for r in USAGE["replies"] if "half-penny" in r["title"]]
    asked = reply["request"]
    priced = estimate_images(_spec("gpt-image-2"), asked["size"], asked["quality"], 1, prompt=asked["prompt"])
    assert priced is not None
    assert round(priced.usd, 3) == 0.004
