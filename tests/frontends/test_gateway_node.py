"""The real openai npm package (the JavaScript SDK, pinned in node/package.json and node/package-lock.json)
against a real ``imageshim serve`` process on 127.0.0.1 answering from the mock adapter.

The cases are in node/gateway_cases.mjs (one Node process per case, printing one JSON line that is asserted
on here). The SDK is installed once per session into tests/frontends/node/node_modules with ``npm ci`` (the
only network use: the npm registry, at install time; reused while the pinned version is installed). Without
node or npm, or when the install fails, the tests are skipped saying why; with ``CI`` set they fail instead,
so CI never silently loses the JavaScript coverage."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

import httpx
import pytest

NODE_DIR = Path(__file__).resolve().with_name("node")
SCRIPT = NODE_DIR / "gateway_cases.mjs"
SDK_VERSION: str = json.loads((NODE_DIR / "package.json").read_text(encoding="utf-8"))["dependencies"][
    "openai"
]
MIN_NODE_MAJOR = 20  # openai 6.x supports Node.js 20 LTS or later
GATEWAY_KEY = "sk-test-1234567890abcdef"
PNG_MAGIC = "89504e470d0a1a0a"
INSTALL_TIMEOUT = 300  # seconds, npm ci
NODE_TIMEOUT = 60  # seconds, one case
START_TIMEOUT = 30  # seconds, until `imageshim serve` answers HTTP
STOP_TIMEOUT = 30  # seconds, after SIGTERM (the gateway drains for up to 30 s), then SIGKILL


def _unavailable(reason: str) -> NoReturn:
    """Skip, saying why; under CI (``CI`` set, as .ci/run does) fail: the coverage must not vanish."""
    if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
        pytest.fail(
            f"{reason} (CI is set: the openai npm package tests must run, not be skipped)", pytrace=False
        )
    pytest.skip(reason)


def _installed_sdk() -> str | None:
    manifest = NODE_DIR / "node_modules" / "openai" / "package.json"
    try:
        version: str = json.loads(manifest.read_text(encoding="utf-8"))["version"]
    except (OSError, ValueError, KeyError):
        return None
    return version


def _tail(text: str, limit: int = 3000) -> str:
    return text.strip()[-limit:]


def _npm_summary(output: str, lines: int = 8) -> str:
    """npm's first error lines (code, errno, the failed request), without the stack traces."""
    kept = [
        line for line in output.splitlines() if line.strip() and not line.split(None, 2)[-1].startswith("at ")
    ]
    return "\n".join(kept[:lines])


@pytest.fixture(scope="session")
def node() -> str:
    """The path of a node (>= 20) with the pinned openai package installed next to the scripts."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        missing = " and ".join(name for name, path in (("node", node), ("npm", npm)) if path is None)
        _unavailable(f"openai npm package tests: {missing} not found on PATH")
    try:
        version = subprocess.run(
            [node, "--version"], capture_output=True, text=True, timeout=30, check=True
        ).stdout.strip()
        major = int(version.lstrip("v").split(".")[0])
    except (subprocess.SubprocessError, OSError, ValueError) as exc:
        _unavailable(f"openai npm package tests: `node --version` failed: {exc}")
    if major < MIN_NODE_MAJOR:
        _unavailable(
            f"openai npm package tests: node {version} is too old (openai {SDK_VERSION} needs >= {MIN_NODE_MAJOR})"
        )
    if _installed_sdk() != SDK_VERSION:
        command = [npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"]
        env = {**os.environ, "npm_config_update_notifier": "false"}
        try:
            done = subprocess.run(
                command, cwd=NODE_DIR, capture_output=True, text=True, timeout=INSTALL_TIMEOUT, env=env
            )
        except subprocess.TimeoutExpired:
            _unavailable(f"openai npm package tests: `npm ci` in {NODE_DIR} took over {INSTALL_TIMEOUT} s")
        except OSError as exc:
            _unavailable(f"openai npm package tests: `npm ci` could not run: {exc}")
        if done.returncode != 0:
            _unavailable(
                f"openai npm package tests: `npm ci` in {NODE_DIR} failed (exit {done.returncode}; registry "
                f"unreachable?):\n{_npm_summary(done.stderr + done.stdout)}"
            )
        if _installed_sdk() != SDK_VERSION:
            _unavailable(
                f"openai npm package tests: npm ci installed openai {_installed_sdk()}, not {SDK_VERSION}"
            )
    return node


# ----- a real `imageshim serve` ---------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _serve_command() -> list[str]:
    """The `imageshim` console script of this environment (else `python -m imageshim`, the same command)."""
    script = Path(sys.executable).with_name("imageshim")
    return [str(script)] if script.exists() else [sys.executable, "-m", "imageshim"]


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT)


@contextlib.contextmanager
def _serve(workdir: Path, keys: str | None = None) -> Iterator[str]:
    """``imageshim serve`` on 127.0.0.1 (mock adapter, no provider keys), until the block ends: its base URL.
    The working directory is an empty one (no imageshim.toml or pyproject.toml is discovered)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IMAGESHIM_", "OPENAI_", "RUNWARE_"))}
    env["IMAGESHIM_ADAPTER"] = "mock"
    if keys is not None:
        env["IMAGESHIM_GATEWAY_KEYS"] = keys
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = workdir / f"serve-{port}.log"
    command = [*_serve_command(), "serve", "--host", "127.0.0.1", "--port", str(port)]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=workdir, stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while True:
                if process.poll() is not None:
                    pytest.fail(
                        f"`{' '.join(command)}` exited with {process.returncode} before serving:\n"
                        f"{_tail(log_path.read_text(errors='replace'))}",
                        pytrace=False,
                    )
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"`imageshim serve` did not answer on {base} within {START_TIMEOUT} s", pytrace=False
                    )
                try:
                    httpx.get(f"{base}/v1/models", timeout=1)  # any HTTP answer (a 401 too): it is up
                    break
                except httpx.TransportError:
                    time.sleep(0.05)
            yield base
        finally:
            _stop(process)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A gateway without keys (allowed: it is bound to loopback)."""
    with _serve(tmp_path_factory.mktemp("gateway-node-open")) as base:
        yield base


@pytest.fixture(scope="module")
def keyed_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A gateway that accepts one bearer key, from IMAGESHIM_GATEWAY_KEYS."""
    with _serve(tmp_path_factory.mktemp("gateway-node-keyed"), keys=GATEWAY_KEY) as base:
        yield base


# ----- the Node side --------------------------------------------------------------------------------------
def _run(node: str, case: str, base: str, key: str = "sk-unused-by-an-open-gateway") -> dict[str, Any]:
    """Run one case of gateway_cases.mjs against ``base``; its JSON result (checked to come from the SDK)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    command = [node, str(SCRIPT), case, f"{base}/v1", key]
    try:
        done = subprocess.run(
            command, cwd=NODE_DIR, capture_output=True, text=True, timeout=NODE_TIMEOUT, env=env
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"node case {case!r} took over {NODE_TIMEOUT} s", pytrace=False)
    assert done.returncode == 0, f"node case {case!r} failed (exit {done.returncode}):\n{_tail(done.stderr)}"
    lines = done.stdout.strip().splitlines()
    assert lines, f"node case {case!r} printed nothing; stderr:\n{_tail(done.stderr)}"
    result: dict[str, Any] = json.loads(lines[-1])
    assert result["case"] == case
    assert result["sdk"] == SDK_VERSION  # the pinned openai package answered, not another one
    return result


def _size(text: str) -> tuple[int, int]:
    width, _, height = text.partition("x")
    return int(width), int(height)


def _assert_png(png: dict[str, Any], size: tuple[int, int]) -> None:
    assert png["magic"] == PNG_MAGIC
    assert png["is_png"] is True
    assert (png["width"], png["height"]) == size  # the IHDR chunk
    assert png["bytes"] > 100


def _assert_one_call(calls: list[dict[str, Any]], base: str, status: int) -> None:
    assert len(calls) == 1, calls  # the SDK (maxRetries left at its default, 2) sent exactly one request
    assert calls[0]["method"] == "POST"
    assert calls[0]["url"] == f"{base}/v1/images/generations"
    assert calls[0]["status"] == status


# ----- the cases ------------------------------------------------------------------------------------------
def test_dall_e_3_url_is_hosted_by_the_gateway(node: str, gateway: str) -> None:
    result = _run(node, "url", gateway)
    url = urlsplit(result["url"])
    assert (url.scheme, url.hostname, url.port) == ("http", "127.0.0.1", urlsplit(gateway).port)
    assert result["url"].endswith(".png")
    assert result["has_b64"] is False
    assert result["size"] == "1792x1024"
    assert result["quality"] == "high"  # hd, mapped onto GPT Image 2
    assert result["image_status"] == 200
    assert result["content_type"].split(";")[0] == "image/png"
    _assert_png(result["png"], _size(result["size"]))
    _assert_one_call(result["calls"], gateway, 200)


def test_b64_json_decodes_to_a_png(node: str, gateway: str) -> None:
    result = _run(node, "b64", gateway)
    assert result["has_url"] is False
    assert result["size"] == "1024x1792"
    _assert_png(result["png"], _size(result["size"]))
    _assert_one_call(result["calls"], gateway, 200)


def test_stream_ends_with_a_completed_png(node: str, gateway: str) -> None:
    result = _run(node, "stream", gateway)
    assert result["stream_class"] == "Stream"  # the SDK's SSE stream, iterated with for await
    events = result["events"]
    assert events, "the stream had no events"
    assert {e["type"] for e in events} <= {"image_generation.partial_image", "image_generation.completed"}
    completed = [e for e in events if e["type"] == "image_generation.completed"]
    assert len(completed) == 1
    assert events[-1]["type"] == "image_generation.completed"  # the final image ends the stream
    assert completed[0]["size"] == "1536x1024"
    assert completed[0]["output_format"] == "png"
    _assert_png(completed[0]["png"], _size(completed[0]["size"]))
    _assert_one_call(result["calls"], gateway, 200)


def test_invalid_size_is_a_bad_request_error_not_retried(node: str, gateway: str) -> None:
    result = _run(node, "bad-request", gateway)
    thrown = result["thrown"]
    assert thrown is not None, f"no error: the gateway answered with size {result.get('size')}"
    assert thrown["class"] == "BadRequestError"
    assert thrown["is_bad_request"] is True
    assert thrown["status"] == 400
    assert thrown["param"] == "size"
    assert thrown["code"] == "invalid_value"
    assert thrown["type"] == "invalid_request_error"
    assert "'size'" in thrown["message"]
    assert "1792-by-1024" in thrown["message"]
    _assert_one_call(result["calls"], gateway, 400)
    assert result["calls"][0]["should_retry"] == "false"


def test_wrong_gateway_key_is_an_authentication_error(node: str, keyed_gateway: str) -> None:
    result = _run(node, "auth", keyed_gateway, key=GATEWAY_KEY)
    thrown = result["thrown"]
    assert thrown is not None, "a wrong key was accepted"
    assert thrown["class"] == "AuthenticationError"
    assert thrown["is_authentication"] is True
    assert thrown["status"] == 401
    assert thrown["code"] == "invalid_api_key"
    _assert_one_call(result["wrong_calls"], keyed_gateway, 401)
    right = result["right"]  # the same gateway, the right key: served
    assert right["size"] == "1024x1024"
    _assert_png(right["png"], _size(right["size"]))
    _assert_one_call(right["calls"], keyed_gateway, 200)
