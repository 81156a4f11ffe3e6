"""The README's two set-up commands are what CI runs: a newcomer copies exactly what is tested."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Try it", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", section)


def test_readme_has_exactly_two_setup_commands() -> None:
    commands = _commands()
    assert len(commands) == 2
    run_main, run_tests = commands
    assert "pip install -e ." in run_main
    assert "imageshim generate" in run_main
    assert 'pip install -e ".[test]"' in run_tests
    assert run_tests.rstrip().endswith("python -m pytest")


def test_ci_installs_and_tests_as_the_readme_says() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    install, _, test = _commands()[1].rpartition(" && ")
    assert install in ci
    assert f"\n{test}\n" in ci
