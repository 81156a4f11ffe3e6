"""What ``import imageshim`` costs, by what it loads (benchmarks/bench_import.py measures the time): in a
fresh interpreter, neither the import nor reaching the clients loads an adapter, the gateway's server
stack, an image library, importlib.metadata, the TOML parser or pydantic (models load with the first
request). Nothing here depends on the machine's speed."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = (
    "imageshim_adapters",
    "imageshim._frontends.cli",
    "imageshim._frontends.gateway",
    "imageshim._core.request",
    "imageshim._core.response",
    "openai",
    "starlette",
    "uvicorn",
    "PIL",
    "importlib.metadata",
    "tomllib",
    "tomli",
    "pydantic",
)


def _loaded_after(statement: str) -> set[str]:
    code = f"import sys, json; {statement}; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout))


def _heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY))


def test_import_loads_only_the_package() -> None:
    loaded = _loaded_after("import imageshim")
    assert not {m for m in loaded if m.startswith("imageshim.")}
    assert "httpx" not in loaded
    assert _heavy(loaded) == []


@pytest.mark.parametrize("name", ["OpenAI", "AsyncOpenAI", "ImagesResponse", "BadRequestError"])
def test_public_names_load_without_the_heavy_modules(name: str) -> None:
    loaded = _loaded_after(f"import imageshim; imageshim.{name}")
    heavy = _heavy(loaded)
    if name == "ImagesResponse":  # the response model itself is pydantic
        heavy = [m for m in heavy if not m.startswith(("pydantic", "imageshim._core.response"))]
    assert heavy == []
