"""``imageshim estimate``: each target's estimate, nothing sent; and ``generate``'s cost lines on the mock."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from tests.faults import server as fake

from imageshim._frontends.cli import main

DAY = date(2026, 11, 24)
PROMPT = "a lighthouse at dusk"  # 5 prompt tokens


def _run(capsys: Any, *argv: str) -> tuple[int, str, str]:
    code = main(["estimate", PROMPT, *argv], clock=lambda: DAY)
    out, err = capsys.readouterr()
    return code, out, err


def test_without_keys_the_default_route_is_shown_as_with_keys(capsys: Any) -> None:
    code, out, err = _run(capsys, "--size", "1792x1024", "--quality", "hd")
    assert code == 0
    assert "showing the default route as it would be with those keys" in err
    assert "estimate for dall-e-3 (nothing is sent):" in out
    assert "1. openai:gpt-image-2: $0.1519 (1792x1024, quality high, n=1)" in out
    assert "2. runware:gpt-image-2: $0.1519 (1792x1024, quality high, n=1)" in out
    assert "5063 image output tokens + ~5 prompt tokens per image" in out
    assert "size rule (UNCERTAIN)" in out
    assert "OptionMappedWarning: quality 'hd' is not offered by gpt-image-2; sent 'high'" in out


def test_json_report(capsys: Any) -> None:
    code, out, _ = _run(capsys, "-n", "2", "--json")
    report = json.loads(out)
    assert code == 0
    assert (report["requested_model"], report["sent"], report["assumed_keys"]) == ("dall-e-3", False, True)
    first = report["targets"][0]
    assert first["target"] == "openai:gpt-image-2"
    assert (first["size"], first["quality"], first["n"], first["in_plan"]) == ("1024x1024", "medium", 2, True)
    assert first["estimate_usd"] == pytest.approx(2 * (1756 * 30e-6 + 5 * 5e-6))
    assert (first["basis"], first["output_tokens"], first["text_tokens"]) == ("tokens", 1756, 5)
    assert first["price_as_of"] == "2026-11-24"
    assert first["source"].startswith("https://openai.com/api/pricing/")
    assert report["targets"][1]["source"].startswith("https://runware.ai/docs/models/openai-gpt-image-2")
    assert report["refused"] is None


def test_a_cap_that_refuses_exits_1_and_names_what_fits(tmp_path: Path, capsys: Any) -> None:
    (tmp_path / "imageshim.toml").write_text("[budget]\nmax_usd_per_call = 0.10\n", encoding="utf-8")
    code, out, _ = _run(capsys, "--quality", "hd", "--json")
    report = json.loads(out)
    assert code == 1
    assert report["max_usd_per_call"] == 0.1
    assert "above [budget] max_usd_per_call = $0.1000" in report["refused"]
    assert report["fits"] == {"quality": "medium", "size": "1024x1024", "estimate_usd": 0.052705}
    assert [t["in_plan"] for t in report["targets"]] == [False, False]
    code, out, _ = _run(capsys, "--quality", "hd")
    assert code == 1
    assert "budget: [budget] max_usd_per_call = $0.1000: refused:" in out


def test_cheapest_order_and_a_fitting_cap(tmp_path: Path, capsys: Any) -> None:
    (tmp_path / "imageshim.toml").write_text(
        '[routes]\n"dall-e-3" = ["mock:gpt-image-2", "mock:dall-e-3"]\n'
        '[lifecycle]\non_retired = "allow"\n[routing]\nprefer = "cheapest"\n'
        "[budget]\nmax_usd_per_call = 0.13\n",
        encoding="utf-8",
    )
    code, out, err = _run(capsys, "--size", "1792x1024", "--quality", "hd")
    assert code == 0
    assert err == ""
    assert "1. mock:dall-e-3: $0.1200 (1792x1024, quality hd, n=1)" in out
    assert (
        "2. mock:gpt-image-2: $0.1519 (1792x1024, quality high, n=1)  (left out: over the cap or unpriced)"
        in out
    )
    assert 'order: [routing] prefer = "cheapest"' in out
    assert "budget: [budget] max_usd_per_call = $0.1300: the call fits" in out


def test_nothing_is_sent_to_a_configured_provider(tmp_path: Path, capsys: Any) -> None:
    srv = fake.FaultServer(provider="openai")
    try:
        (tmp_path / "imageshim.toml").write_text(
            f'[routes]\n"*" = ["openai:gpt-image-2"]\n[providers.openai]\napi_key = "fake-openai-test-key-0123"\n'
            f'base_url = "{srv.base_url}"\n',
            encoding="utf-8",
        )
        code, out, _ = _run(capsys, "--model", "gpt-image-2", "--quality", "low")
        assert code == 0
        assert "1. openai:gpt-image-2: $0.0059 (size auto, quality low, n=1)" in out
        assert "size 'auto' priced at 1024x1024, the dearest listed size" in out
        assert srv.requests == []
    finally:
        srv.close()


def test_an_unpriced_target_says_so(capsys: Any) -> None:
    code, out, _ = _run(capsys, "--model", "gpt-image-2.5-flare", "--adapter", "mock")
    assert code == 0
    assert "1. mock:gpt-image-2.5-flare: no price in the catalog (size auto, quality auto, n=1)" in out


def test_invalid_config_exits_2(tmp_path: Path, capsys: Any) -> None:
    (tmp_path / "imageshim.toml").write_text('[routing]\nprefer = "fastest"\n', encoding="utf-8")
    code, _, err = _run(capsys)
    assert code == 2
    assert "routing.prefer" in err


def test_generate_on_the_mock_says_what_the_same_call_would_cost(capsys: Any) -> None:
    estimate = main(["estimate", PROMPT, "--adapter", "mock", "--quality", "hd", "--json"], clock=lambda: DAY)
    planned = json.loads(capsys.readouterr().out)["targets"][0]["estimate_usd"]
    assert estimate == 0
    code = main(["generate", PROMPT, "--quality", "hd"], clock=lambda: DAY)
    out, _ = capsys.readouterr()
    assert code == 0
    assert f"estimate before the call: ${planned:.4f}" in out
    assert f"cost: nothing charged (mock); the same call would cost about ${planned:.4f}" in out
