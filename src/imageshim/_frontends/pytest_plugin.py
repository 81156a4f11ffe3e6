"""The pytest plugin registered by installing imageshim: the ``imageshim_mock`` fixture.

Inside a test that uses it, every route goes to the mock adapter (``IMAGESHIM_ADAPTER=mock``; the model
mapping still applies), ``imageshim_mock.calls`` lists the calls received, and
``imageshim_mock.fail_next(429)`` (or an exception) makes the next call fail. Imports are lazy so
that the plugin costs nothing in test runs that do not use it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from imageshim_adapters.mock import MockBackend


@pytest.fixture
def imageshim_mock(monkeypatch: pytest.MonkeyPatch) -> MockBackend:
    """Route every imageshim request to the mock adapter and expose its recorded calls."""
    from imageshim._plumbing.registry import default_registry

    adapter = default_registry().get("mock")
    backend: MockBackend = type(adapter.backend)()  # type: ignore[attr-defined]
    monkeypatch.setattr(adapter, "backend", backend)
    monkeypatch.setenv("IMAGESHIM_ADAPTER", "mock")
    return backend
