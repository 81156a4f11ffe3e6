"""[mapping] quality = "price-parity": the highest quality that costs no more than DALL·E charged.

Decided in the mapping's quality decision: the plan's template, its estimate and the warning agree.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imageshim._core.cost import estimate_images
from imageshim._core.request import request_from_kwargs
from imageshim._frontends.engine import Engine

PARITY = {"mapping": {"quality": "price-parity"}}
PROMPT = "a lighthouse at dusk"


def _first(clock: Any, config: dict[str, Any], **kwargs: Any) -> Any:
    engine = Engine({"routes": {"*": ["mock:gpt-image-2"]}, **config}, clock=clock)
    return engine.plan(request_from_kwargs({"prompt": PROMPT, "model": "dall-e-3", **kwargs})).targets[0]


def _quality_warning(target: Any) -> Any:
    (warning,) = [w for w in target.warnings if w.setting == "quality"]
    return warning


@pytest.mark.parametrize(
    ("quality", "size", "parity", "default"),
    [
        ("standard", "1024x1024", "low", "medium"),  # $0.04: medium is $0.0527
        ("standard", "1792x1024", "medium", "medium"),  # $0.08: medium is $0.0378
        ("standard", "1024x1792", "medium", "medium"),
        ("hd", "1024x1024", "medium", "high"),  # $0.08: high is $0.2107
        ("hd", "1792x1024", "medium", "high"),  # $0.12: high is $0.1519
        ("hd", "1024x1792", "medium", "high"),
    ],
)
def test_each_dalle3_shape(clock: Any, quality: str, size: str, parity: str, default: str) -> None:
    target = _first(clock, PARITY, quality=quality, size=size)
    assert target.template.quality == parity
    assert target.estimate is not None
    dalle = estimate_images(_dalle3(), size, quality, 1)
    assert dalle is not None
    assert target.estimate.usd <= dalle.usd
    # the default mapping is unchanged
    assert _first(clock, {}, quality=quality, size=size).template.quality == default


def _dalle3() -> Any:
    from imageshim._core.catalog import builtin_catalog

    return builtin_catalog().get("dall-e-3")


def test_the_warning_states_both_prices(clock: Any) -> None:
    target = _first(clock, PARITY, quality="hd", size="1024x1024")
    warning = _quality_warning(target)
    assert (warning.requested, warning.applied, warning.category.__name__) == (
        "hd",
        "medium",
        "OptionMappedWarning",
    )
    assert warning.reason == (
        "quality 'hd' is not offered by gpt-image-2; sent 'medium' (price parity: about $0.0527 on "
        "mock:gpt-image-2, against $0.0800 that dall-e-3 charged for hd 1024x1024 (n=1); 'high' would cost "
        "about $0.2107)"
    )


def test_a_left_out_quality_is_dalle3s_default(clock: Any) -> None:
    target = _first(clock, PARITY, size="1024x1024")  # DALL·E 3's default quality: standard, $0.04
    warning = _quality_warning(target)
    assert (warning.requested, warning.applied) == ("standard", "low")
    assert "against $0.0400 that dall-e-3 charged for standard 1024x1024 (n=1)" in warning.reason


@pytest.mark.parametrize(
    ("size", "n", "parity", "dalle"),
    [
        ("1024x1024", 1, "low", "$0.0400"),
        ("1792x1024", 1, "medium", "$0.0800"),
        ("1024x1024", 3, "low", "$0.1200"),
    ],
)
def test_auto_on_dalle3_is_held_to_its_default_qualitys_price(
    clock: Any, size: str, n: int, parity: str, dalle: str
) -> None:
    # OpenAI took quality="auto" for dall-e-3: its default, standard. GPT Image 2 takes "auto" too, but
    # prices it as high ($0.2107 at 1024x1024): parity must apply here as well.
    target = _first(clock, PARITY, quality="auto", size=size, n=n)
    assert target.template.quality == parity
    warning = _quality_warning(target)
    assert (warning.requested, warning.applied, warning.category.__name__) == (
        "auto",
        parity,
        "OptionMappedWarning",
    )
    assert warning.reason.startswith(f"quality 'auto' on dall-e-3 is its default 'standard'; sent {parity!r}")
    assert f"against {dalle} that dall-e-3 charged for standard {size} (n={n})" in warning.reason
    reference = estimate_images(_dalle3(), size, "standard", n)
    assert reference is not None
    assert target.estimate is not None
    assert target.estimate.usd <= reference.usd
    # without parity, "auto" is sent as asked (the default mapping is unchanged)
    assert _first(clock, {}, quality="auto", size=size, n=n).template.quality == "auto"


def test_n_scales_both_sides(clock: Any) -> None:
    target = _first(clock, PARITY, quality="hd", size="1024x1024", n=3)
    assert target.template.quality == "medium"
    assert "against $0.2400 that dall-e-3 charged for hd 1024x1024 (n=3)" in _quality_warning(target).reason


def test_when_no_quality_fits_the_cheapest_is_sent(clock: Any) -> None:
    config = {**PARITY, "models": [{"id": "dall-e-3", "price_per_image": {"hd": {"1024x1024": 0.001}}}]}
    target = _first(clock, config, quality="hd", size="1024x1024")
    assert target.template.quality == "low"
    assert "no quality of gpt-image-2 costs at most $0.0010" in _quality_warning(target).reason


def test_without_a_reference_price_the_table_applies_and_says_why(clock: Any) -> None:
    target = _first(clock, PARITY, quality="hd", size="1536x1024")  # not a DALL·E 3 size: no price
    warning = _quality_warning(target)
    assert warning.applied == "high"
    assert "the catalog has no price of dall-e-3 for quality 'hd' at 1536x1024" in warning.reason


def test_an_unpriced_target_keeps_the_table_and_says_why(clock: Any) -> None:
    engine = Engine({"routes": {"*": ["mock:gpt-image-2.5-flare"]}, **PARITY}, clock=clock)
    plan = engine.plan(request_from_kwargs({"prompt": PROMPT, "model": "dall-e-3", "quality": "hd"}))
    warning = _quality_warning(plan.targets[0])
    assert warning.applied == "high"
    assert "no price for mock:gpt-image-2.5-flare" in warning.reason


def test_a_quality_the_target_offers_is_left_alone(clock: Any) -> None:
    target = _first(clock, PARITY, quality="high", size="1024x1024")
    assert target.template.quality == "high"
    assert not [w for w in target.warnings if w.setting == "quality"]


def test_parity_prices_the_prompt_as_sent_with_the_style_folded_in(clock: Any) -> None:
    config = {"mapping": {"quality": "price-parity", "style": "prompt"}}
    target = _first(clock, config, quality="hd", size="1024x1024", style="vivid")
    assert target.estimate is not None
    assert "Style: vivid" in target.template.prompt
    assert f"about ${target.estimate.usd:.4f} on mock:gpt-image-2" in _quality_warning(target).reason


@given(
    quality=st.sampled_from(["standard", "hd"]),
    size=st.sampled_from(["1024x1024", "1792x1024", "1024x1792"]),
    n=st.integers(min_value=1, max_value=10),
    words=st.integers(min_value=1, max_value=400),
)
def test_parity_never_costs_more_than_dalle3_when_a_quality_fits(
    quality: str, size: str, n: int, words: int
) -> None:
    from datetime import date

    engine = Engine({"routes": {"*": ["mock:gpt-image-2"]}, **PARITY}, clock=lambda: date(2026, 11, 24))
    prompt = " ".join(["lighthouse"] * words)[:4000]
    target = engine.plan(
        request_from_kwargs({"prompt": prompt, "model": "dall-e-3", "quality": quality, "size": size, "n": n})
    ).targets[0]
    dalle = estimate_images(_dalle3(), size, quality, n)
    assert dalle is not None
    assert target.estimate is not None
    assert target.estimate.usd <= dalle.usd + 1e-9
    higher = {"low": "medium", "medium": "high", "high": None}[target.template.quality]
    if higher is not None:  # the highest that fits: the next one up does not
        above = estimate_images(target.spec, target.template.size, higher, n, prompt=target.template.prompt)
        assert above is not None
        assert above.usd > dalle.usd
