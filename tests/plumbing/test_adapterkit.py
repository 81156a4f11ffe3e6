"""The adapter kit is enough: the built-in adapters import nothing private from imageshim, and the README's
third-party adapter, run as it is printed, serves calls and meets the fault suite like the built-in ones."""

from __future__ import annotations

import ast
import asyncio
import re
from pathlib import Path
from typing import Any

import pytest
from tests.faults import server as s

import imageshim
from imageshim import AdapterRegistry, adapterkit

ROOT = Path(__file__).resolve().parents[2]
KEY = "sh-selfhosted-key-0123456789"


def test_built_in_adapters_import_nothing_private_from_imageshim() -> None:
    private = []
    for path in sorted((ROOT / "adapters" / "imageshim_adapters").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            private += [
                f"{path.name}: {n}"
                for n in names
                if n.startswith("imageshim.") and n != "imageshim.adapterkit"
            ]
    assert private == []


def test_the_kit_exports_what_it_names() -> None:
    assert sorted(adapterkit.__all__) == sorted(set(adapterkit.__all__))
    for name in adapterkit.__all__:
        assert getattr(adapterkit, name) is not None


def _readme_adapter() -> type[adapterkit.ImageAdapter]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("### Writing an adapter", 1)[1]
    (code,) = re.findall(r"```python\n(.+?)\n```", section, flags=re.S)[:1]
    assert len(code.splitlines()) <= 50  # about 40 lines, as promised
    namespace: dict[str, Any] = {}
    exec(compile(code, "README.md", "exec"), namespace)
    adapter: type[adapterkit.ImageAdapter] = namespace["SelfHostedAdapter"]
    return adapter


@pytest.fixture
def fault_server() -> Any:
    srv = s.FaultServer(provider="openai")
    yield srv
    srv.close()


def _client(srv: s.FaultServer, asynchronous: bool, clock: Any) -> Any:
    registry = AdapterRegistry(entry_points=False)
    registry.register("selfhosted", _readme_adapter())
    config = {
        "routes": {"*": ["selfhosted:gpt-image-2"]},
        "providers": {"selfhosted": {"api_key": KEY, "base_url": srv.base_url, "timeout": 1.0}},
        "retry": {"initial_backoff": 0.01, "max_backoff": 0.02, "deadline": 10},
    }
    cls = imageshim.AsyncOpenAI if asynchronous else imageshim.OpenAI
    return cls(config=config, registry=registry, clock=clock)


def _generate(client: Any, asynchronous: bool) -> imageshim.ImagesResponse:
    call = client.images.generate(model="gpt-image-2", prompt="a lighthouse", size="1024x1024")
    return asyncio.run(call) if asynchronous else call  # type: ignore[no-any-return]


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize(
    ("fault", "outcome", "generates"),
    [
        (s.ok, "ok", 1),
        (s.status(503), "ok", 2),  # retried by the core
        (s.status(429, {"retry-after": "0"}), "ok", 2),
        (s.stall(3.0, then_finish=True), "ResultUnknownError", 1),  # lost: never sent again
        (s.reset, "ResultUnknownError", 1),
        (s.raw(401, b'{"error": {"message": "bad key"}}'), "AuthenticationError", 1),
        (s.bad_image, "InternalServerError", 1),  # not an image: a 502, never passed on
    ],
    ids=["ok", "503", "429", "stall", "reset", "401", "not an image"],
)
def test_the_readme_adapter_meets_the_fault_suite(
    fault_server: s.FaultServer, fault: Any, outcome: str, generates: int, asynchronous: bool, clock: Any
) -> None:
    fault_server.script[:] = [fault]
    try:
        resp = _generate(_client(fault_server, asynchronous, clock), asynchronous)
        got = "ok" if len(resp.data) == 1 else "short"
    except imageshim.ImageShimError as exc:
        got = type(exc).__name__
    assert got == outcome
    assert fault_server.count("generate") == generates
