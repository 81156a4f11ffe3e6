"""Planning with estimates: [budget] max_usd_per_call, [routing] prefer = "cheapest", and their config.

Plans are made by the engine (no I/O): every plan target carries its estimate, the cap refuses before any
request, fallbacks over the cap are left out, and cheapest-first orders by estimate.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import pytest

import imageshim
from imageshim._core.config import Config
from imageshim._core.request import request_from_kwargs
from imageshim._frontends.engine import Engine

PROMPT = "a lighthouse at dusk"


def _engine(clock: Any, **config: Any) -> Engine:
    return Engine({"lifecycle": {"on_retired": "allow"}, **config}, clock=clock)


def _plan(engine: Engine, **kwargs: Any) -> Any:
    return engine.plan(request_from_kwargs({"prompt": PROMPT, **kwargs}))


def _targets(plan: Any) -> list[str]:
    return [t.target for t in plan.targets]


def test_every_plan_target_carries_its_estimate(clock: Any) -> None:
    engine = _engine(clock, routes={"gpt-image-2": ["mock:gpt-image-2", "mock:dall-e-3"]})
    plan = _plan(engine, model="gpt-image-2", size="1024x1024", quality="high", n=2)
    first, second = plan.targets
    assert first.estimate is not None
    assert first.estimate.usd == pytest.approx(2 * (7024 * 30e-6 + 5 * 5e-6))  # 20 bytes: 5 prompt tokens
    assert second.estimate is not None  # high -> hd on DALL·E 3: $0.08 per image
    assert (second.template.quality, second.estimate.usd) == ("hd", 0.16)


# ----- the cap ------------------------------------------------------------------------------------------
def test_a_call_over_the_cap_is_refused_naming_estimate_cap_and_what_fits(clock: Any) -> None:
    engine = _engine(clock, routes={"*": ["mock:gpt-image-2"]}, budget={"max_usd_per_call": 0.1})
    with pytest.raises(imageshim.BudgetExceededError) as info:
        _plan(engine, model="dall-e-3", size="1024x1024", quality="hd")
    error = info.value
    assert isinstance(error, imageshim.BadRequestError)
    assert (error.status_code, error.code, error.param) == (400, "budget_exceeded", "quality")
    assert error.estimate_usd == pytest.approx(0.210745)
    assert error.cap_usd == 0.1
    assert error.target == "mock:gpt-image-2"
    assert error.fits == {"quality": "medium", "size": "1024x1024", "estimate_usd": 0.052705}
    assert "is $0.2107 (1024x1024, quality high, n=1), above [budget] max_usd_per_call = $0.1000" in str(
        error
    )
    assert "Cheapest setting that fits: quality='medium' (about $0.0527)" in str(error)
    assert "nothing was sent" in str(error)


def test_a_call_within_the_cap_is_planned(clock: Any) -> None:
    engine = _engine(clock, routes={"*": ["mock:gpt-image-2"]}, budget={"max_usd_per_call": 0.25})
    plan = _plan(engine, model="dall-e-3", size="1024x1024", quality="hd")
    assert _targets(plan) == ["mock:gpt-image-2"]


def test_the_fit_may_be_another_size(clock: Any) -> None:
    # DALL·E 3 hd 1792x1024 is $0.12; with a $0.05 cap no quality fits at that size: standard 1024x1024 does
    engine = _engine(clock, routes={"dall-e-3": ["mock:dall-e-3"]}, budget={"max_usd_per_call": 0.05})
    with pytest.raises(imageshim.BudgetExceededError) as info:
        _plan(engine, model="dall-e-3", size="1792x1024", quality="hd")
    assert info.value.fits == {"quality": "standard", "size": "1024x1024", "estimate_usd": 0.04}
    assert info.value.param == "size"
    assert "quality='standard', size='1024x1024' (about $0.0400)" in str(info.value)


def test_none_fits(clock: Any) -> None:
    engine = _engine(clock, routes={"*": ["mock:gpt-image-2"]}, budget={"max_usd_per_call": 0.001})
    with pytest.raises(imageshim.BudgetExceededError) as info:
        _plan(engine, model="gpt-image-2", size="1536x1024", quality="low")
    assert info.value.fits is None
    assert info.value.param is None
    assert "No setting of gpt-image-2 the catalog prices fits the cap." in str(info.value)


def test_a_call_without_a_price_under_a_cap_is_refused_naming_models(clock: Any) -> None:
    engine = _engine(clock, routes={"*": ["mock:gpt-image-2.5-flare"]}, budget={"max_usd_per_call": 1.0})
    with pytest.raises(imageshim.BudgetExceededError) as info:
        _plan(engine, model="gpt-image-2.5-flare", size="1024x1024", quality="high")
    assert info.value.estimate_usd is None
    assert "the catalog has no price for this call on mock:gpt-image-2.5-flare" in str(info.value)
    assert '[[models]] (id = "gpt-image-2.5-flare", price_per_image' in str(info.value)
    # without a cap the same call is planned: an unknown price alone refuses nothing
    assert _targets(_plan(_engine(clock, routes={"*": ["mock:gpt-image-2.5-flare"]}), model="x")) == [
        "mock:gpt-image-2.5-flare"
    ]


def test_fallbacks_over_the_cap_are_left_out_with_a_log_line(clock: Any, caplog: Any) -> None:
    routes = {"*": ["mock:dall-e-3", "mock:gpt-image-2", "mock:gpt-image-2.5-flare", "mock:gpt-image-1.5"]}
    engine = _engine(clock, routes=routes, budget={"max_usd_per_call": 0.1})
    with caplog.at_level(logging.INFO, logger="imageshim"):
        plan = _plan(engine, model="dall-e-3", size="1024x1024", quality="hd")
    # dall-e-3 hd $0.08 fits; gpt-image-2 high $0.21 does not; 2.5-flare has no price; 1.5 high $0.133
    assert _targets(plan) == ["mock:dall-e-3"]
    lines = [r.getMessage() for r in caplog.records]
    assert any("fallback mock:gpt-image-2 left out" in line and "$0.2107" in line for line in lines)
    assert any("fallback mock:gpt-image-2.5-flare left out" in line and "no price" in line for line in lines)


def test_the_first_target_must_fit_even_when_a_fallback_would(clock: Any) -> None:
    routes = {"*": ["mock:gpt-image-2", "mock:dall-e-3"]}
    engine = _engine(clock, routes=routes, budget={"max_usd_per_call": 0.1})
    with pytest.raises(imageshim.BudgetExceededError) as info:
        _plan(engine, model="dall-e-3", size="1024x1024", quality="hd")
    assert 'mock:dall-e-3 would fit at about $0.0800: [routing] prefer = "cheapest"' in str(info.value)


# ----- cheapest first -----------------------------------------------------------------------------------
def test_cheapest_orders_by_estimate_with_unpriced_last(clock: Any) -> None:
    routes = {"*": ["mock:gpt-image-2.5-flare", "mock:gpt-image-2", "mock:dall-e-3"]}
    ordered = _plan(_engine(clock, routes=routes), model="dall-e-3", size="1792x1024", quality="hd")
    assert _targets(ordered) == routes["*"]  # prefer = "order" by default
    engine = _engine(clock, routes=routes, routing={"prefer": "cheapest"})
    plan = _plan(engine, model="dall-e-3", size="1792x1024", quality="hd")
    # dall-e-3 hd 1792x1024 $0.12 < gpt-image-2 high 1792x1024 $0.1519; 2.5-flare has no price: last
    assert _targets(plan) == ["mock:dall-e-3", "mock:gpt-image-2", "mock:gpt-image-2.5-flare"]
    assert [t.estimate.usd if t.estimate else None for t in plan.targets] == [0.12, 0.151915, None]


def test_cheapest_ties_keep_the_configured_order(clock: Any) -> None:
    # an unpriced target first, then three with the same price: the three in their order, the unpriced last
    tied = ["openai:gpt-image-2", "runware:gpt-image-2", "mock:gpt-image-2"]
    for order in (tied, list(reversed(tied))):
        routes = {"*": ["mock:gpt-image-2.5-flare", *order]}
        engine = _engine(clock, routes=routes, routing={"prefer": "cheapest"})
        plan = _plan(engine, model="gpt-image-2", size="1024x1024", quality="medium")
        assert _targets(plan) == [*order, "mock:gpt-image-2.5-flare"]


def test_cheapest_skips_a_first_target_that_cannot_take_the_request(clock: Any) -> None:
    # a 5000-character prompt is over DALL·E 3's 4000 (refused by its mapping), within GPT Image 2's 32000
    routes = {"*": ["mock:dall-e-3", "mock:gpt-image-2"]}
    asked = {"model": "gpt-image-2", "prompt": "x" * 5000, "quality": "low"}  # over DALL·E 3's 4000
    with pytest.raises(imageshim.BadRequestError):
        _engine(clock, routes=routes).plan(request_from_kwargs(asked))
    engine = _engine(clock, routes=routes, routing={"prefer": "cheapest"})
    assert _targets(engine.plan(request_from_kwargs(asked))) == ["mock:gpt-image-2"]
    with pytest.raises(imageshim.BadRequestError, match="prompt"):  # none can: the first refusal
        engine.plan(request_from_kwargs({**asked, "prompt": "x" * 40000}))


def test_cheapest_then_the_cap(clock: Any) -> None:
    routes = {"*": ["mock:gpt-image-2", "mock:dall-e-3"]}
    engine = _engine(clock, routes=routes, routing={"prefer": "cheapest"}, budget={"max_usd_per_call": 0.1})
    plan = _plan(engine, model="dall-e-3", size="1024x1024", quality="hd")
    assert _targets(plan) == ["mock:dall-e-3"]  # the cheapest fits; gpt-image-2 ($0.21) is left out


# ----- configuration ------------------------------------------------------------------------------------
def test_defaults() -> None:
    config = imageshim.load_config({})
    assert isinstance(config, Config)
    assert config.budget.max_usd_per_call is None
    assert config.routing.prefer == "order"
    assert config.mapping.price_parity is False
    assert dict(config.mapping.quality) == {"standard": "medium", "hd": "high"}


@pytest.mark.parametrize(
    ("table", "key", "words"),
    [
        ({"budget": {"max_usd_per_call": 0}}, "budget.max_usd_per_call", "greater than 0 (got 0)"),
        ({"budget": {"max_usd_per_call": "ten"}}, "budget.max_usd_per_call", "valid number (got 'ten')"),
        ({"budget": {"max_usd_per_call": math.nan}}, "budget.max_usd_per_call", "finite number (got nan)"),
        ({"budget": {"max_usd_per_call": math.inf}}, "budget.max_usd_per_call", "finite number (got inf)"),
        (
            {"gateway": {"budgets": {"usd_per_month": math.nan}}},
            "gateway.budgets.usd_per_month",
            "finite number (got nan)",
        ),
        ({"budget": {"max_per_call": 1}}, "budget.max_per_call", "unknown key"),
        ({"routing": {"prefer": "fastest"}}, "routing.prefer", "'order' or 'cheapest' (got 'fastest')"),
        ({"mapping": {"quality": "parity"}}, "mapping.quality", '"price-parity" or a table'),
    ],
)
def test_invalid_values_name_the_key_the_value_and_what_is_allowed(
    table: dict[str, Any], key: str, words: str
) -> None:
    with pytest.raises(imageshim.ConfigurationError) as info:
        imageshim.load_config(table)
    assert info.value.key == key
    assert words in str(info.value)


def test_price_parity_keeps_the_default_table_for_the_rest() -> None:
    config = imageshim.load_config({"mapping": {"quality": "price-parity"}})
    assert config.mapping.price_parity is True
    assert dict(config.mapping.quality) == {"standard": "medium", "hd": "high"}
