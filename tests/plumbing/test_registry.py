"""Adapters by name: the built-in table, third-party classes, entry points, and version checks."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any, ClassVar

import pytest

import imageshim
from imageshim import AdapterRegistry, AdapterResult, GeneratedImage, ImageAdapter, ImageCall, ModelSpec
from imageshim._plumbing.registry import ENTRY_POINT_GROUP


class EchoAdapter(ImageAdapter):
    """A third-party adapter: answers with a PNG signature followed by the prompt as the 'image'."""

    name: ClassVar[str] = "echo"

    def generate(self, calls: Sequence[ImageCall], spec: ModelSpec) -> AdapterResult:
        return AdapterResult(
            images=[GeneratedImage(b64_json=_echo(c.prompt)) for c in calls for _ in range(c.n)]
        )

    async def agenerate(self, calls: Sequence[ImageCall], spec: ModelSpec) -> AdapterResult:
        return self.generate(calls, spec)


def _echo(prompt: str) -> str:
    return base64.b64encode(b"\x89PNG\r\n\x1a\n" + prompt.encode()).decode()


class FutureAdapter(EchoAdapter):
    spec_version: ClassVar[str] = "2.0"


def test_builtin_names_import_lazily() -> None:
    registry = AdapterRegistry(entry_points=False)
    assert registry.names() == ["mock", "openai", "runware"]
    assert registry.get("mock").__name__ == "MockAdapter"


def test_a_registered_class_serves_routes(clock: Any) -> None:
    registry = AdapterRegistry(entry_points=False)
    registry.register("echo", EchoAdapter)
    client = imageshim.OpenAI(config={"routes": {"*": ["echo:gpt-image-2"]}}, registry=registry, clock=clock)
    resp = client.images.generate(model="gpt-image-2", prompt="hello", n=2)
    assert [d.b64_json for d in resp.data] == [_echo("hello")] * 2
    assert resp.imageshim.route == "echo:gpt-image-2"
    registry.unregister("echo")
    with pytest.raises(imageshim.UnknownAdapterError):
        registry.get("echo")


def test_entry_points_are_found(monkeypatch: pytest.MonkeyPatch) -> None:
    class EntryPoint:
        name = "echo"
        value = f"{__name__}:EchoAdapter"

    def entry_points(group: str) -> list[EntryPoint]:
        return [EntryPoint()] if group == ENTRY_POINT_GROUP else []

    monkeypatch.setattr("importlib.metadata.entry_points", entry_points)
    registry = AdapterRegistry()
    assert "echo" in registry.names()
    assert registry.get("echo") is EchoAdapter


def test_entry_points_can_be_switched_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMAGESHIM_LOAD_ENTRY_POINTS", "0")
    assert AdapterRegistry().names() == ["mock", "openai", "runware"]


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("no_such_module:Thing", "could not be imported"),
        (f"{__name__}:Missing", "could not be imported"),
        (f"{__name__}:EntryPointLike", "is not an imageshim.ImageAdapter subclass"),
        (f"{__name__}:FutureAdapter", "adapter spec 2.0"),
    ],
)
def test_bad_adapters_are_configuration_errors(path: str, message: str) -> None:
    registry = AdapterRegistry(entry_points=False)
    registry.register("bad", path)
    with pytest.raises(imageshim.ConfigurationError, match=message):
        registry.get("bad")


EntryPointLike = object
