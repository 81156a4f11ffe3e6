"""Routing and lifecycle: default routes by credentials, explicit routes, on_retired policies, warnings."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

import imageshim

MOCK_ROUTE = {"routes": {"*": ["mock:gpt-image-2"]}}


def day(text: str) -> Any:
    return lambda: datetime.date.fromisoformat(text)


def test_no_keys_no_config_raises_naming_both_variables(clock: Any) -> None:
    client = imageshim.OpenAI(clock=clock)
    with pytest.raises(imageshim.MissingAPIKeyError) as info:
        client.images.generate(model="dall-e-3", prompt="x")
    assert "OPENAI_API_KEY" in str(info.value)
    assert "RUNWARE_API_KEY" in str(info.value)
    assert info.value.env_var == "OPENAI_API_KEY"


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        ({"OPENAI_API_KEY": "sk-a-000000000000"}, ["openai:gpt-image-2"]),
        ({"RUNWARE_API_KEY": "rw-000000000000"}, ["runware:gpt-image-2"]),
        (
            {"OPENAI_API_KEY": "sk-a-000000000000", "RUNWARE_API_KEY": "rw-0000000000"},
            ["openai:gpt-image-2", "runware:gpt-image-2"],
        ),
    ],
)
def test_default_route_uses_providers_with_keys_openai_first(
    keys: dict[str, str], expected: list[str], monkeypatch: pytest.MonkeyPatch, clock: Any
) -> None:
    for name, value in keys.items():
        monkeypatch.setenv(name, value)
    plan = imageshim.OpenAI(clock=clock)._engine.plan(_request("dall-e-3"))
    assert [m.target for m in plan.targets] == expected


def _request(model: str, **kw: Any) -> Any:
    from imageshim._core.request import request_from_kwargs

    return request_from_kwargs({"prompt": "a lighthouse", "model": model, **kw})


def test_imageshim_adapter_env_sends_everything_to_the_mock(
    monkeypatch: pytest.MonkeyPatch, clock: Any
) -> None:
    monkeypatch.setenv("IMAGESHIM_ADAPTER", "mock")
    config = {"routes": {"dall-e-3": ["openai:gpt-image-2", "runware:gpt-image-1.5"]}}
    plan = imageshim.OpenAI(config=config, clock=clock)._engine.plan(_request("dall-e-3"))
    assert [m.target for m in plan.targets] == ["mock:gpt-image-2", "mock:gpt-image-1.5"]


def test_redirect_warns_with_date_and_new_target(clock: Any) -> None:
    client = imageshim.OpenAI(config={"routes": {"dall-e-3": ["mock:dall-e-3"]}}, clock=clock)
    with (
        pytest.warns(imageshim.OptionMappedWarning, match="quality 'standard' \\(the dall-e-3 default\\)"),
        pytest.warns(imageshim.ModelRetiredWarning) as caught,
    ):
        resp = client.images.generate(model="dall-e-3", prompt="x", response_format="b64_json")
    record = caught[0].message.record  # type: ignore[union-attr]
    assert str(caught[0].message) == (
        "dall-e-3 was retired on 2026-05-12 (196 days ago); this request went to mock:gpt-image-2 instead"
    )
    assert record.shutdown_on == datetime.date(2026, 5, 12)
    assert record.days_left == -196
    assert record.successor == "gpt-image-2"
    assert record.target == "mock:gpt-image-2"
    assert resp.imageshim.route == "mock:gpt-image-2"


def test_on_retired_error_refuses_before_any_call(clock: Any, imageshim_mock: Any) -> None:
    config = {"routes": {"dall-e-3": ["mock:dall-e-3"]}, "lifecycle": {"on_retired": "error"}}
    client = imageshim.OpenAI(config=config, clock=clock)
    with pytest.raises(imageshim.ModelRetiredError) as info:
        client.images.generate(model="dall-e-3", prompt="x")
    assert info.value.successor == "gpt-image-2"
    assert info.value.shutdown_on == datetime.date(2026, 5, 12)
    assert "retired on 2026-05-12" in str(info.value)
    assert imageshim_mock.calls == []


def test_on_retired_allow_sends_anyway_and_warns(clock: Any, imageshim_mock: Any) -> None:
    config = {"routes": {"dall-e-3": ["mock:dall-e-3"]}, "lifecycle": {"on_retired": "allow"}}
    with pytest.warns(imageshim.ModelRetiredWarning, match="anyway"):
        resp = imageshim.OpenAI(config=config, clock=clock).images.generate(model="dall-e-3", prompt="x")
    assert resp.imageshim.route == "mock:dall-e-3"
    assert imageshim_mock.calls[0].model == "dall-e-3"
    assert resp.data[0].revised_prompt == "x"


@pytest.mark.parametrize(
    ("today", "warns", "left"),
    [("2026-09-01", False, None), ("2026-09-02", True, 90), ("2026-11-24", True, 7), ("2026-11-30", True, 1)],
)
def test_deprecation_warning_window(today: str, warns: bool, left: int | None) -> None:
    client = imageshim.OpenAI(config={"routes": {"*": ["mock:gpt-image-1.5"]}}, clock=day(today))
    if warns:
        with pytest.warns(imageshim.ModelDeprecationWarning) as caught:
            client.images.generate(model="gpt-image-1.5", prompt="x")
        record = caught[0].message.record  # type: ignore[union-attr]
        assert record.days_left == left
        assert f"shuts down on 2026-12-01 ({left} day" in str(caught[0].message)
    else:
        resp = client.images.generate(model="gpt-image-1.5", prompt="x")
        assert resp.imageshim.warnings == []


def test_after_shutdown_the_dying_model_is_redirected() -> None:
    client = imageshim.OpenAI(config={"routes": {"*": ["mock:gpt-image-1.5"]}}, clock=day("2026-12-01"))
    with pytest.warns(imageshim.ModelRetiredWarning, match="went to mock:gpt-image-2"):
        resp = client.images.generate(model="gpt-image-1.5", prompt="x")
    assert resp.imageshim.route == "mock:gpt-image-2"


def test_warn_days_is_configurable(clock: Any) -> None:
    config = {"routes": {"*": ["mock:gpt-image-1.5"]}, "lifecycle": {"warn_days": 3}}
    resp = imageshim.OpenAI(config=config, clock=clock).images.generate(model="gpt-image-1.5", prompt="x")
    assert resp.imageshim.warnings == []


def test_explicit_route_to_a_live_model_still_reports_the_retired_request(clock: Any) -> None:
    client = imageshim.OpenAI(config={"routes": {"dall-e-3": ["mock:gpt-image-2"]}}, clock=clock)
    with pytest.warns(imageshim.ImageShimWarning) as caught:
        client.images.generate(model="dall-e-3", prompt="x")
    assert "went to mock:gpt-image-2 instead (your [routes])" in str(caught[0].message)


def test_unknown_model_without_route_is_a_bad_request(clock: Any) -> None:
    with pytest.raises(imageshim.BadRequestError, match="not a known model") as info:
        imageshim.OpenAI(
            config={"providers": {"openai": {"api_key": "k" * 20}}}, clock=clock
        ).images.generate(model="dalle-4", prompt="x")
    assert info.value.param == "model"


def test_star_route_serves_unknown_models(clock: Any) -> None:
    resp = imageshim.OpenAI(config=MOCK_ROUTE, clock=clock).images.generate(
        model="my-house-model", prompt="x"
    )
    assert resp.imageshim.route == "mock:gpt-image-2"


def test_route_to_unknown_catalog_model_is_a_configuration_error(clock: Any) -> None:
    client = imageshim.OpenAI(config={"routes": {"*": ["mock:gpt-image-9"]}}, clock=clock)
    with pytest.raises(imageshim.ConfigurationError, match="gpt-image-9"):
        client.images.generate(model="gpt-image-2", prompt="x")


def test_unknown_adapter_suggests_a_name(clock: Any) -> None:
    client = imageshim.OpenAI(config={"routes": {"*": ["runwaer:gpt-image-2"]}}, clock=clock)
    with pytest.raises(imageshim.UnknownAdapterError, match="Did you mean 'runware'"):
        client.images.generate(model="gpt-image-2", prompt="x")


def test_models_config_changes_the_lifecycle(clock: Any) -> None:
    config = {
        "routes": {"*": ["mock:gpt-image-2"]},
        "models": [
            {"id": "gpt-image-2", "shutdown_on": "2026-12-20", "successor": "gpt-image-2.5-sunburst"},
        ],
    }
    with pytest.warns(imageshim.ModelDeprecationWarning) as caught:
        imageshim.OpenAI(config=config, clock=clock).images.generate(model="gpt-image-2", prompt="x")
    assert str(caught[0].message) == (
        "gpt-image-2 shuts down on 2026-12-20 (26 days left). Migrate to gpt-image-2.5-sunburst. "
        "Source: your configuration (<dict>)"
    )
