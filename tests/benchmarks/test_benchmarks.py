"""Each benchmark's --quick mode runs to completion and prints its table (no timing assertions: these
machines are noisy; the numbers are read by people, as ratios against baselines of the same run)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = sorted((Path(__file__).resolve().parents[2] / "benchmarks").glob("bench_*.py"))


@pytest.mark.parametrize("script", BENCHMARKS, ids=[b.stem for b in BENCHMARKS])
def test_quick_mode_completes(script: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(script), "--quick"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=script.parent,
    )
    assert done.returncode == 0, done.stderr
    assert "ratio" in done.stdout
    assert "target" in done.stdout
