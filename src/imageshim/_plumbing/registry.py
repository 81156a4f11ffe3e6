"""Adapters by name: a built-in table of lazy import paths, then the ``imageshim.adapters`` entry points.

The core never imports an adapter module directly; it asks the registry, which imports on first use.
"""

from __future__ import annotations

import importlib
import os
import threading
from collections.abc import Callable

from imageshim._core.adapter import ADAPTER_SPEC_VERSION, ImageAdapter
from imageshim._core.errors import ConfigurationError, UnknownAdapterError

__all__ = ["BUILTIN_ADAPTERS", "AdapterRegistry", "default_registry"]

ENTRY_POINT_GROUP = "imageshim.adapters"

BUILTIN_ADAPTERS: dict[str, str] = {
    "mock": "imageshim_adapters.mock:MockAdapter",
    "openai": "imageshim_adapters.openai:OpenAIAdapter",
    "runware": "imageshim_adapters.runware:RunwareAdapter",
}

AdapterFactory = Callable[..., ImageAdapter]


class AdapterRegistry:
    """Maps adapter names to adapter classes. An instance, not module state, so tests can make their own."""

    def __init__(self, builtins: dict[str, str] | None = None, *, entry_points: bool = True) -> None:
        self._paths = dict(BUILTIN_ADAPTERS if builtins is None else builtins)
        self._classes: dict[str, type[ImageAdapter]] = {}
        self._entry_points_loaded = not entry_points
        self._lock = threading.Lock()

    def register(self, name: str, adapter: type[ImageAdapter] | str) -> None:
        """Add or replace an adapter: a class, or a ``"module:Class"`` path imported on first use."""
        with self._lock:
            if isinstance(adapter, str):
                self._paths[name] = adapter
                self._classes.pop(name, None)
            else:
                self._classes[name] = adapter

    def unregister(self, name: str) -> None:
        with self._lock:
            self._paths.pop(name, None)
            self._classes.pop(name, None)

    def names(self) -> list[str]:
        self._load_entry_points()
        return sorted(set(self._paths) | set(self._classes))

    def get(self, name: str) -> type[ImageAdapter]:
        cls = self._classes.get(name)
        if cls is not None:
            return cls
        if name not in self._paths:
            self._load_entry_points()
        path = self._paths.get(name)
        if path is None:
            raise UnknownAdapterError(name, self.names())
        cls = _import(name, path)
        with self._lock:
            self._classes[name] = cls
        return cls

    def _load_entry_points(self) -> None:
        if self._entry_points_loaded or os.environ.get("IMAGESHIM_LOAD_ENTRY_POINTS") == "0":
            return
        from importlib.metadata import entry_points

        with self._lock:
            for ep in entry_points(group=ENTRY_POINT_GROUP):
                self._paths.setdefault(ep.name, ep.value)
            self._entry_points_loaded = True


def _import(name: str, path: str) -> type[ImageAdapter]:
    module_name, _, attr = path.partition(":")
    try:
        obj = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigurationError(f"Adapter {name!r} could not be imported from {path!r}: {exc}") from exc
    if not (isinstance(obj, type) and issubclass(obj, ImageAdapter)):
        raise ConfigurationError(f"Adapter {name!r} at {path!r} is not an imageshim.ImageAdapter subclass")
    from packaging.version import Version

    if Version(obj.spec_version).major != Version(ADAPTER_SPEC_VERSION).major:
        raise ConfigurationError(
            f"Adapter {name!r} implements adapter spec {obj.spec_version}; this imageshim speaks "
            f"{ADAPTER_SPEC_VERSION} (same major version required)"
        )
    return obj


_DEFAULT: AdapterRegistry | None = None


def default_registry() -> AdapterRegistry:
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = AdapterRegistry()
    return _DEFAULT
