"""Catalog facts: lifecycle dates with sources, statuses on dates, successor chains, overrides."""

from __future__ import annotations

import datetime

import pytest

from imageshim import builtin_catalog

D = datetime.date


def test_every_model_has_sources() -> None:
    for spec in builtin_catalog():
        assert spec.lifecycle_source
        assert spec.capability_source
        assert spec.lifecycle_source.startswith("https://")


@pytest.mark.parametrize(
    ("model", "on", "status", "left"),
    [
        ("dall-e-3", D(2026, 11, 23), "retired", -195),
        ("dall-e-3", D(2026, 5, 11), "deprecated", 1),
        ("dall-e-3", D(2025, 11, 13), "active", 180),
        ("gpt-image-1", D(2026, 10, 23), "retired", 0),
        ("gpt-image-1.5", D(2026, 11, 23), "deprecated", 8),
        ("gpt-image-1-mini", D(2026, 12, 1), "retired", 0),
        ("gpt-image-2", D(2026, 11, 23), "active", None),
    ],
)
def test_status_on_a_date(model: str, on: datetime.date, status: str, left: int | None) -> None:
    spec = builtin_catalog().get(model)
    assert spec is not None
    assert spec.status_on(on) == status
    assert spec.days_left(on) == left


def test_successor_chain_skips_retired_models() -> None:
    catalog = builtin_catalog()
    assert catalog.first_active_successor("dall-e-3", D(2026, 11, 24)).id == "gpt-image-2"  # type: ignore[union-attr]
    moved = catalog.with_overrides(
        [{"id": "gpt-image-2", "shutdown_on": "2026-11-01", "successor": "gpt-image-2.5-flare"}]
    )
    assert moved.first_active_successor("dall-e-3", D(2026, 11, 24)).id == "gpt-image-2.5-flare"  # type: ignore[union-attr]
    dead_end = catalog.with_overrides([{"id": "gpt-image-2", "shutdown_on": "2026-11-01", "successor": None}])
    assert dead_end.first_active_successor("dall-e-3", D(2026, 11, 24)) is None


def test_aliases_resolve_to_the_family() -> None:
    spec = builtin_catalog().get("gpt-image-2-2026-04-21")
    assert spec is not None
    assert spec.id == "gpt-image-2"


def test_adding_a_model_like_another() -> None:
    catalog = builtin_catalog().with_overrides(
        [{"id": "gpt-image-3", "like": "gpt-image-2", "max_n": 4}], "test.toml"
    )
    spec = catalog.get("gpt-image-3")
    assert spec is not None
    assert spec.max_n == 4
    assert spec.size_rule == builtin_catalog().get("gpt-image-2").size_rule  # type: ignore[union-attr]
    assert spec.capability_source == "your configuration (test.toml)"


def test_gpt_image_2_size_rule() -> None:
    spec = builtin_catalog().get("gpt-image-2")
    assert spec is not None
    for ok in ("1024x1024", "1792x1024", "1024x1792", "3840x2160", "2048x1152", "1024x640"):
        w, h = map(int, ok.split("x"))
        assert spec.size_allowed(w, h), ok
    for bad in ("1920x1080", "256x256", "3856x1024", "4096x4096", "3072x1008"):
        w, h = map(int, bad.split("x"))
        assert not spec.size_allowed(w, h), bad


def test_chatgpt_image_latest_shuts_down_with_gpt_image_1_5() -> None:
    spec = builtin_catalog().get("chatgpt-image-latest")
    assert spec is not None
    assert spec.status_on(D(2026, 11, 24)) == "deprecated"
    assert spec.days_left(D(2026, 11, 24)) == 7
    assert spec.status_on(D(2026, 12, 1)) == "retired"
    assert spec.notice_on == D(2026, 6, 2)
    assert spec.successor == "gpt-image-2"
    assert spec.lifecycle_source == "https://developers.openai.com/api/docs/deprecations"
    # GPT image model facts stated by the SDK; the rest on the safe side (UNCERTAIN)
    assert spec.response_formats == ("b64_json",)
    assert spec.styles == ()
    assert spec.sizes == ("1024x1024", "1536x1024", "1024x1536")
    assert not spec.accepts_auto_size
    assert "transparent" not in spec.backgrounds
    assert (
        builtin_catalog().first_active_successor("chatgpt-image-latest", D(2026, 12, 2)).id == "gpt-image-2"
    )  # type: ignore[union-attr]


@pytest.mark.parametrize("model", ["gpt-image-2.6-sunburst", "gpt-image-2.6-flare"])
def test_gpt_image_2_6_models_take_only_what_the_sdk_states(model: str) -> None:
    spec = builtin_catalog().get(model)
    assert spec is not None
    assert spec.status_on(D(2026, 11, 24)) == "active"
    assert spec.size_rule is None  # custom sizes are stated for gpt-image-2 and 2.5 only
    assert spec.qualities == ("low", "medium", "high", "auto")  # xhigh/max are stated for 2.5 only
    assert spec.capability_source == "https://pypi.org/project/openai/3.57.0/"


def test_every_successor_is_in_the_catalog() -> None:
    catalog = builtin_catalog()
    for spec in catalog:
        if spec.successor is not None:
            assert spec.successor in catalog, spec.id


def test_dalle3_lifecycle_cites_openai() -> None:
    spec = builtin_catalog().get("dall-e-3")
    assert spec is not None
    assert spec.lifecycle_source == "https://developers.openai.com/api/docs/models/dall-e-3"


def test_prices_cite_their_source() -> None:
    catalog = builtin_catalog()
    for spec in catalog:
        if spec.price_per_image or spec.price_per_token:
            assert spec.price_source, spec.id
    gpt_image_2 = catalog.get("gpt-image-2")
    assert gpt_image_2 is not None
    assert gpt_image_2.price_source is not None
    assert gpt_image_2.price_source.startswith("https://openai.com/api/pricing/")
    # openai.md gives gpt-image-1 prices at 1024x1024 only (and marks them unverified)
    gpt_image_1 = catalog.get("gpt-image-1")
    assert gpt_image_1 is not None
    assert gpt_image_1.price_per_image is not None
    assert {size for table in gpt_image_1.price_per_image.values() for size in table} == {"1024x1024"}
    assert "UNCERTAIN" in (gpt_image_1.price_source or "")


def test_models_entries_record_what_the_user_set() -> None:
    from imageshim import builtin_catalog

    catalog = builtin_catalog().with_overrides(
        [{"id": "gpt-image-2", "max_n": 10}, {"id": "gpt-image-2", "shutdown_on": "2027-06-01"}],
        "imageshim.toml",
    )
    spec = catalog.get("gpt-image-2")
    assert spec is not None
    assert spec.user_fields == frozenset({"max_n", "shutdown_on"})
    assert builtin_catalog().get("gpt-image-2").user_fields == frozenset()  # type: ignore[union-attr]
