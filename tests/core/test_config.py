"""Configuration discovery order and validation errors that name the file, the key and what is allowed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import imageshim
from imageshim import load_config


def _toml(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_any_file() -> None:
    config = load_config()
    assert config.source is None
    assert config.routes == {}
    assert config.lifecycle.on_retired == "redirect"
    assert config.lifecycle.warn_days == 90
    assert config.mapping.quality == {"standard": "medium", "hd": "high"}
    assert config.mapping.url == "data-uri"
    assert config.retry.max_retries == 2


def test_discovery_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _toml(tmp_path / "pyproject.toml", "[tool.imageshim.lifecycle]\nwarn_days = 10\n")
    assert load_config().lifecycle.warn_days == 10
    assert load_config().source == "pyproject.toml [tool.imageshim]"
    _toml(tmp_path / "imageshim.toml", "[lifecycle]\nwarn_days = 20\n")
    assert load_config().lifecycle.warn_days == 20
    env_file = _toml(tmp_path / "other.toml", "[lifecycle]\nwarn_days = 30\n")
    monkeypatch.setenv("IMAGESHIM_CONFIG", str(env_file))
    assert load_config().lifecycle.warn_days == 30
    explicit = _toml(tmp_path / "explicit.toml", "[lifecycle]\nwarn_days = 40\n")
    assert load_config(explicit).lifecycle.warn_days == 40
    assert load_config({"lifecycle": {"warn_days": 50}}).lifecycle.warn_days == 50


def test_pyproject_without_section_means_defaults(tmp_path: Path) -> None:
    _toml(tmp_path / "pyproject.toml", '[project]\nname = "x"\n')
    assert load_config().source is None


def test_full_example_from_the_contract(tmp_path: Path) -> None:
    path = _toml(
        tmp_path / "imageshim.toml",
        """
[routes]
"dall-e-3" = ["openai:gpt-image-2", "runware:gpt-image-2"]
"*" = ["mock:gpt-image-2"]

[lifecycle]
warn_days = 90
on_retired = "redirect"

[mapping]
quality = { standard = "medium", hd = "high" }
style = "drop"
url = "data-uri"
url_dir = ".imageshim/images"

[providers.openai]
base_url = "https://api.openai.com/v1"
[providers.runware]
base_url = "https://api.runware.ai/v1"

[[models]]
id = "gpt-image-2"
shutdown_on = "2027-06-01"
successor = "gpt-image-2.5-sunburst"
""",
    )
    config = load_config(path)
    assert config.routes["dall-e-3"] == ("openai:gpt-image-2", "runware:gpt-image-2")
    assert config.provider("runware").base_url == "https://api.runware.ai/v1"
    assert config.models[0]["successor"] == "gpt-image-2.5-sunburst"


@pytest.mark.parametrize(
    ("data", "key", "fragment"),
    [
        ({"lifecycle": {"on_retired": "panic"}}, "lifecycle.on_retired", "'redirect', 'error' or 'allow'"),
        ({"lifecycle": {"warn_days": -1}}, "lifecycle.warn_days", "greater than or equal to 0"),
        ({"mapping": {"url": "ftp"}}, "mapping.url", "'data-uri', 'file' or 'error'"),
        ({"mapping": {"style": "loud"}}, "mapping.style", "'drop' or 'prompt'"),
        ({"routes": {"dall-e-3": "openai:gpt-image-2"}}, "routes.dall-e-3", "valid list"),
        ({"routes": {"dall-e-3": ["gpt-image-2"]}}, "routes.dall-e-3", "'provider:model'"),
        ({"routes": {"dall-e-3": []}}, "routes.dall-e-3", "at least one target"),
        ({"providers": {"openai": {"timeout": "fast"}}}, "providers.openai.timeout", "valid number"),
        ({"providers": {"openai": {"api_kee": "x"}}}, "providers.openai.api_kee", "unknown key"),
        ({"colour": "blue"}, "colour", "unknown key"),
        ({"models": [{"id": "gpt-image-9"}]}, "models[0]", 'like = "<known model>"'),
        ({"models": [{"id": "gpt-image-9", "like": "gpt-image-8"}]}, "models[0]", "names no known model"),
        ({"models": [{"id": "gpt-image-2", "max_edge": 4}]}, "models[0]", "Unknown field(s) ['max_edge']"),
        ({"models": [{"id": "gpt-image-2", "shutdown_on": "soon"}]}, "models[0]", "Invalid [[models]]"),
        ({"models": [{"successor": "x"}]}, "models[0]", "needs an 'id'"),
    ],
)
def test_invalid_config_names_key_and_allowed(data: dict[str, Any], key: str, fragment: str) -> None:
    with pytest.raises(imageshim.ConfigurationError) as info:
        load_config(data)
    assert info.value.key == key
    assert fragment in str(info.value)
    assert info.value.file == "<dict>"


def test_invalid_file_names_the_file(tmp_path: Path) -> None:
    path = _toml(tmp_path / "imageshim.toml", "[lifecycle]\non_retired = 3\n")
    with pytest.raises(imageshim.ConfigurationError) as info:
        load_config()
    assert info.value.file == "imageshim.toml"
    assert "lifecycle.on_retired" in str(info.value)
    broken = _toml(tmp_path / "broken.toml", "[lifecycle\n")
    with pytest.raises(imageshim.ConfigurationError, match="not valid TOML"):
        load_config(broken)
    with pytest.raises(imageshim.ConfigurationError, match="not found"):
        load_config(tmp_path / "missing.toml")
    assert path.exists()


def test_provider_key_never_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    config = load_config({"providers": {"openai": {"api_key": "sk-secret-abcdefghijklmnop"}}})
    assert "sk-secret" not in repr(config)
    assert "sk-secret" not in repr(config.provider("openai"))


def test_api_key_env_names_another_variable(monkeypatch: pytest.MonkeyPatch, clock: Any) -> None:
    monkeypatch.setenv("MY_OPENAI_KEY", "sk-mine-0000000000000")
    from imageshim._core.request import request_from_kwargs

    config = {"providers": {"openai": {"api_key_env": "MY_OPENAI_KEY"}}}
    plan = imageshim.OpenAI(config=config, clock=clock)._engine.plan(
        request_from_kwargs({"prompt": "x", "model": "gpt-image-2"})
    )
    assert plan.targets[0].target == "openai:gpt-image-2"


def test_invalid_provider_settings_never_echo_the_value(clock: object) -> None:
    with pytest.raises(imageshim.ConfigurationError) as caught:
        imageshim.OpenAI(config={"providers": {"runware": "rwKEY-very-secret-0123456789"}}, clock=clock)
    assert "rwKEY" not in str(caught.value)
    assert "providers.runware" in str(caught.value)
    assert "type str" in str(caught.value)


def test_provider_keys_and_auth_headers_are_redacted_everywhere(clock: object) -> None:
    from imageshim._core.errors import redact

    imageshim.OpenAI(
        config={
            "providers": {
                "runware": {
                    "api_key": "rw-plain-key-0000111122223333",
                    "headers": {"X-Proxy-Auth": "tok-9988776655443322", "X-Flag": "true"},
                }
            }
        },
        clock=clock,
    )
    assert redact("key rw-plain-key-0000111122223333 token tok-9988776655443322 flag true") == (
        "key [REDACTED] token [REDACTED] flag true"
    )
    error = imageshim.APIError(
        "x",
        body={
            "error": {"message": "bad key rw-plain-key-0000111122223333", "n": [1, "tok-9988776655443322"]}
        },
    )
    assert "rw-plain-key" not in repr(error.body)
    assert "tok-99887" not in repr(error.body)
    assert error.body["error"]["n"][0] == 1
