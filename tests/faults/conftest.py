"""Collects the fault matrix and prints it as a table at the end of the test run."""

from __future__ import annotations

from typing import Any

import pytest

MATRIX: list[dict[str, Any]] = []


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not MATRIX:
        return
    rows = sorted(MATRIX, key=lambda r: (r["fault"], r["provider"], r["mode"]))
    columns = ["fault", "provider", "mode", "outcome", "generate", "getResponse", "leaked"]
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in columns}
    terminalreporter.section("fault-injection matrix")
    terminalreporter.write_line("  ".join(c.ljust(widths[c]) for c in columns))
    for row in rows:
        terminalreporter.write_line("  ".join(str(row[c]).ljust(widths[c]) for c in columns))


@pytest.fixture
def matrix() -> list[dict[str, Any]]:
    return MATRIX
