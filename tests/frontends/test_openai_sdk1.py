"""The openai SDK 1.x line (httpx, not httpx2) against imageshim: generate, edit, create_variation,
models.retrieve and a new parameter, in-process and through a real gateway. The suite's own environment has
openai 3.x; .ci/run builds a second one with openai 1.109 (`.venv-openai1`), and this test runs the calls
there. Skipped, saying so, where that environment is absent."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from imageshim._frontends.gateway import create_app

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("sdk1") / "calls.py"
PYTHON = Path(os.environ.get("IMAGESHIM_OPENAI1_PYTHON", ROOT / ".venv-openai1" / "bin" / "python"))
KEY = "gw-sdk1-key-123456789"

pytestmark = pytest.mark.skipif(
    not PYTHON.exists(),
    reason=f"no openai 1.x environment at {PYTHON} (.ci/run builds it: python3 -m venv .venv-openai1 && "
    '.venv-openai1/bin/pip install -e . "openai==1.109.1")',
)


def _run(*args: str) -> dict[str, Any]:
    done = subprocess.run(
        [str(PYTHON), str(SCRIPT), *args], capture_output=True, text=True, timeout=120, cwd=ROOT, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _check(result: dict[str, Any]) -> None:
    assert result["sdk"].startswith("1.")
    assert result["generate_url"].startswith(("data:image/png;base64,", "http://127.0.0.1"))
    assert result["generate_b64_png"] is True
    assert result["edit"] is True
    assert result["variation"] is True
    assert result["retrieve"] == "gpt-image-2"
    assert result["bad_request_param"] == "quality"


def test_sdk1_in_process() -> None:
    _check(_run("in-process"))


def test_sdk1_through_the_gateway(serve_app: Any, clock: Any, recwarn: Any) -> None:
    config = {"routes": {"*": ["mock:gpt-image-2.5-sunburst"]}}
    with serve_app(create_app(config, keys=[KEY], clock=clock)) as base:
        _check(_run(f"{base}/v1", KEY))
    assert sys.version_info >= (3, 10)
