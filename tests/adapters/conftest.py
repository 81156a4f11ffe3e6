"""Fixtures for the adapter tests."""

from __future__ import annotations

import pytest

from imageshim._plumbing import drive as _drive


@pytest.fixture
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    """The execution policy's waits (retry backoff, recovery polls) never really sleep."""

    async def asleep(_: float) -> None:
        return None

    monkeypatch.setattr(_drive, "sleep", lambda _: None)
    monkeypatch.setattr(_drive, "asleep", asleep)
