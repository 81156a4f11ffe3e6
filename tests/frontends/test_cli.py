"""The ``imageshim`` command: generate on the mock without keys, models on a date, exit codes."""

from __future__ import annotations

import json
import struct
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from imageshim._frontends.cli import main

DAY = date(2026, 11, 24)


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_generate_without_keys_uses_the_mock_and_says_so(tmp_path: Path, capsys: Any) -> None:
    code = main(
        ["generate", "a lighthouse at dusk", "--size", "1792x1024", "--quality", "hd"], clock=lambda: DAY
    )
    out, err = capsys.readouterr()
    assert code == 0
    assert "MOCK adapter" in err
    (image,) = tmp_path.glob("*.png")
    assert image.name == "a-lighthouse-at-dusk.png"
    assert _png_size(image) == (1792, 1024)
    assert f"wrote {image}" in out
    assert "route: mock:gpt-image-2 (requested dall-e-3)" in out
    assert "ModelRetiredWarning: dall-e-3 was retired on 2026-05-12 (196 days ago)" in out
    assert "OptionMappedWarning: quality 'hd' is not offered by gpt-image-2; sent 'high'" in out


def test_generate_json_report_and_out_dir(tmp_path: Path, capsys: Any) -> None:
    out_dir = tmp_path / "shots"
    code = main(
        [
            "generate",
            "two cats",
            "-n",
            "2",
            "--size",
            "1024x1536",
            "--style",
            "vivid",
            "--out",
            str(out_dir),
            "--json",
        ],
        clock=lambda: DAY,
    )
    report = json.loads(capsys.readouterr().out)
    assert code == 0
    assert report["mock"] is True
    assert report["route"] == "mock:gpt-image-2"
    assert sorted(Path(f).name for f in report["files"]) == ["two-cats-1.png", "two-cats-2.png"]
    assert all(_png_size(Path(f)) == (1024, 1536) for f in report["files"])
    categories = {w["category"] for w in report["warnings"]}
    assert {"ModelRetiredWarning", "OptionDroppedWarning"} <= categories  # retired; style dropped
    assert categories <= {"ModelRetiredWarning", "OptionDroppedWarning", "OptionMappedWarning"}


def test_generate_to_a_file(tmp_path: Path, capsys: Any) -> None:
    target = tmp_path / "out" / "hero.png"
    assert main(["generate", "hero", "--model", "gpt-image-2", "--out", str(target)], clock=lambda: DAY) == 0
    assert target.is_file()
    assert "wrote" in capsys.readouterr().out


def test_generate_invalid_value_is_a_clean_error(capsys: Any) -> None:
    code = main(["generate", "x", "--quality", "ultra"], clock=lambda: DAY)
    err = capsys.readouterr().err
    assert code == 1
    assert "BadRequestError" in err
    assert "'quality'" in err
    assert "Traceback" not in err


def test_generate_with_a_key_does_not_use_the_mock(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: Any
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-0000000000000000")
    # A closed loopback port: the request fails, proving the real adapter was chosen.
    config = tmp_path / "imageshim.toml"
    config.write_text('[retry]\nmax_retries = 0\n[providers.openai]\nbase_url = "http://127.0.0.1:9/v1"\n')
    code = main(["generate", "x", "--model", "gpt-image-2", "--config", str(config)], clock=lambda: DAY)
    err = capsys.readouterr().err
    assert code == 1
    assert "MOCK" not in err
    assert "sk-test-0000000000000000" not in err


def test_models_on_a_date(capsys: Any) -> None:
    assert main(["models", "--on", "2026-11-23", "--json"]) == 0
    rows = {r["id"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["dall-e-3"]["status"] == "retired"
    assert rows["dall-e-3"]["shutdown_on"] == "2026-05-12"
    assert rows["dall-e-3"]["successor"] == "gpt-image-2"
    assert rows["gpt-image-1.5"]["status"] == "deprecated"
    assert rows["gpt-image-1.5"]["days_left"] == 8
    assert rows["gpt-image-2"]["status"] == "active"
    assert rows["gpt-image-2"]["days_left"] is None
    assert all(r["source"] for r in rows.values())


def test_models_table_uses_the_clock(capsys: Any) -> None:
    assert main(["models"], clock=lambda: date(2026, 11, 23)) == 0
    out = capsys.readouterr().out
    assert "models on 2026-11-23" in out
    line = next(row for row in out.splitlines() if row.startswith("gpt-image-1.5"))
    assert "deprecated" in line
    assert "8 days left" in line


def test_models_bad_date_is_a_usage_error(capsys: Any) -> None:
    assert main(["models", "--on", "tomorrow"]) == 2
    assert "error" in capsys.readouterr().err


def test_serve_without_the_gateway_extra_is_a_clear_message(
    monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    for missing in ("uvicorn", "starlette"):
        with monkeypatch.context() as patch:
            patch.setitem(sys.modules, missing, None)  # what an environment without the extra looks like
            assert main(["serve", "--port", "0"]) == 2
        err = capsys.readouterr().err
        assert "pip install 'imageshim[gateway]'" in err
        assert "Traceback" not in err


def test_serve_passes_its_options_to_the_gateway(monkeypatch: pytest.MonkeyPatch) -> None:
    import imageshim._frontends.gateway

    seen: dict[str, Any] = {}
    monkeypatch.setattr(imageshim._frontends.gateway, "serve", lambda **kwargs: seen.update(kwargs))
    argv = ["serve", "--host", "127.0.0.1", "--port", "8123", "--public-url", "https://img.example.com"]
    assert main(argv) == 0
    assert {k: v for k, v in seen.items() if v is not None} == {
        "host": "127.0.0.1",
        "port": 8123,
        "public_url": "https://img.example.com",
    }
    argv += ["--store", "file", "--ttl", "600", "--cors-origin", "https://a.example", "--log-format", "json"]
    assert main(argv) == 0
    assert (seen["store"], seen["ttl_seconds"], seen["cors_origins"], seen["log_format"]) == (
        "file",
        600.0,
        ["https://a.example"],
        "json",
    )


def test_serve_with_a_bad_public_url_is_a_usage_error(capsys: Any) -> None:
    assert main(["serve", "--port", "0", "--public-url", "img.example.com"]) == 2
    assert "public URL 'img.example.com' is not an absolute http(s) URL" in capsys.readouterr().err
