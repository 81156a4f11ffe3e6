"""Fixtures for the adapter tests."""

from __future__ import annotations

import pytest

from imageshim_adapters import runware as runware_module


@pytest.fixture
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    """Runware's recovery polls and their waits never really sleep."""

    async def asleep(_: float) -> None:
        return None

    monkeypatch.setattr(runware_module, "_sleep", lambda _: None)
    monkeypatch.setattr(runware_module, "_asleep", asleep)
