"""``imageshim scan`` end to end: the fixture tree, this repository, every format, exit statuses and --fix.

The fixture tree (tests/scan/fixtures/tree) holds every pattern the scanner knows in Python, JavaScript,
TypeScript and config files, plus negative cases; the unit tests of each extractor pin its sites, and these
tests pin what the command makes of them.
"""

from __future__ import annotations

import ast
import io
import json
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import jsonschema
import pytest

from imageshim._frontends.cli import main

HERE = Path(__file__).resolve().parent
TREE = HERE / "fixtures" / "tree"
REPO = HERE.parents[1]
SCHEMA = json.loads((HERE / "sarif-2.1.0-rtm.5.json").read_text(encoding="utf-8"))
TODAY = date(2026, 11, 27)

#: (path, line, kind, model, status) of every finding in the tree on 2026-11-27 (docs excluded)
EXPECTED = {
    ("config/.env.example", 2, "config", "gpt-image-1-mini", "deprecated"),
    ("config/.env.example", 4, "config", "dall-e-2", "retired"),
    ("config/app.cfg", 2, "config", "gpt-image-1.5", "deprecated"),
    ("config/app.cfg", 6, "config", "dall-e-2", "retired"),
    ("config/imageshim.toml", 4, "config", "dall-e-3", "retired"),
    ("config/imageshim.toml", 11, "config", "gpt-image-1.5", "deprecated"),
    ("config/imageshim.toml", 12, "config", "gpt-image-2", "active"),
    ("config/litellm_config.yaml", 6, "config", "dall-e-3", "retired"),
    ("config/litellm_config.yaml", 10, "config", "dall-e-2", "retired"),
    ("config/settings.json", 3, "config", "dall-e-3", "retired"),
    ("config/settings.json", 4, "config", "gpt-image-1", "retired"),
    ("config/settings.json", 4, "config", "gpt-image-1-mini", "deprecated"),
    ("config/setup.ini", 3, "config", "gpt-image-1", "retired"),
    ("config/setup.ini", 5, "config", "dall-e-3", "retired"),
    ("generated/kept.yaml", 2, "config", "gpt-image-1", "retired"),
    ("js/ai_sdk.ts", 5, "call", "dall-e-3", "retired"),
    ("js/ai_sdk.ts", 19, "call", "gpt-image-1", "retired"),
    ("js/ai_sdk.ts", 29, "call", "gpt-image-1-mini", "deprecated"),
    ("js/ai_sdk_alias.mjs", 8, "call", "dall-e-3", "retired"),
    ("js/component.tsx", 3, "model-id", "gpt-image-1.5", "deprecated"),
    ("js/component.tsx", 19, "model-id", "gpt-image-1.5", "deprecated"),
    ("js/constants.ts", 17, "call", "dall-e-3", "retired"),
    ("js/constants.ts", 27, "call", "dall-e-3", "retired"),
    ("js/deprecated.cjs", 7, "call", "gpt-image-1-mini", "deprecated"),
    ("js/gateway_string.js", 5, "call", "dall-e-3", "retired"),
    ("js/langchain.js", 3, "call", "dall-e-3", "retired"),
    ("js/langchain.js", 12, "call", "dall-e-2", "retired"),
    ("js/openai_node.ts", 8, "call", "dall-e-3", "retired"),
    ("js/openai_node.ts", 21, "call", "gpt-image-1", "retired"),
    ("js/openai_node.ts", 31, "call", "dall-e-2", "retired"),
    ("js/openai_node.ts", 41, "call", "dall-e-3", "retired"),
    ("js/spread.ts", 7, "model-id", "gpt-image-1.5", "deprecated"),
    ("js/spread.ts", 7, "model-id", "dall-e-3", "retired"),
    ("js/spread.ts", 8, "call", None, "unknown"),
    ("js/spread.ts", 17, "call", None, "unknown"),
    ("py/active.py", 11, "call", "gpt-image-2", "active"),
    ("py/app_async.py", 11, "call", "dall-e-3", "retired"),
    ("py/app_async.py", 16, "call", "dall-e-2", "retired"),
    ("py/app_sync.py", 9, "call", "dall-e-3", "retired"),
    ("py/constants.py", 13, "call", "dall-e-3", "retired"),
    ("py/deprecated.py", 8, "model-id", "gpt-image-1.5", "deprecated"),
    ("py/deprecated.py", 9, "model-id", "gpt-image-1-mini", "deprecated"),
    ("py/deprecated.py", 10, "model-id", "chatgpt-image-latest", "deprecated"),
    ("py/deprecated.py", 15, "call", None, "unknown"),
    ("py/deprecated.py", 20, "call", "gpt-image-1-mini", "deprecated"),
    ("py/dynamic.py", 11, "call", None, "unknown"),
    ("py/dynamic.py", 16, "call", None, "unknown"),
    ("py/dynamic.py", 17, "model-id", "dall-e-3", "retired"),
    ("py/edits.py", 12, "call", "gpt-image-1", "retired"),
    ("py/edits.py", 24, "call", "dall-e-2", "retired"),
    ("py/langchain_tool.py", 5, "call", "dall-e-3", "retired"),
    ("py/langchain_tool.py", 6, "call", "dall-e-2", "retired"),
    ("py/legacy_0x.py", 7, "call", "dall-e-2", "retired"),
    ("py/legacy_0x.py", 18, "call", "dall-e-2", "retired"),
    ("py/litellm_style.py", 5, "model-id", "dall-e-3", "retired"),
    ("py/litellm_style.py", 14, "model-id", "dall-e-3", "retired"),
    ("py/no_model.py", 9, "call", "dall-e-2", "retired"),
}


def run(*argv: str, cwd: Path, on: date = TODAY) -> tuple[int, str, str]:
    """``imageshim scan`` in this process, as the console script runs it."""
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(cwd)
        patch.setattr(sys, "stdout", out)
        patch.setattr(sys, "stderr", err)
        code = main(["scan", *argv], clock=lambda: on)
    return code, out.getvalue(), err.getvalue()


def scan_json(*argv: str, cwd: Path = TREE, on: date = TODAY) -> dict[str, object]:
    code, out, _ = run("--format", "json", "--fail-on", "never", *argv, cwd=cwd, on=on)
    assert code == 0
    document: dict[str, object] = json.loads(out)
    return document


def keys(document: dict[str, object]) -> set[tuple[object, ...]]:
    findings = document["findings"]
    assert isinstance(findings, list)
    return {
        (f["path"], f["line"], f["kind"], f["model"], f["status"]) for f in findings if f["kind"] != "doc"
    }


@pytest.fixture
def tree_repo(tmp_path: Path) -> Path:
    """A copy of the fixture tree in a git repository of its own (for git apply)."""
    root = tmp_path / "project"
    shutil.copytree(TREE, root)
    for command in (
        ["init", "-q"],
        ["add", "-A"],
        ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x"],
    ):
        subprocess.run(["git", *command], cwd=root, check=True, capture_output=True)
    return root


def test_the_fixture_tree_gives_exactly_the_expected_findings() -> None:
    document = scan_json()
    assert keys(document) == EXPECTED
    summary = document["summary"]
    assert isinstance(summary, dict)
    assert summary["not_scanned"] == 0
    assert document["skipped"] == []
    notes = " ".join(str(n) for n in document["notes"])  # type: ignore[attr-defined]
    assert "node_modules" in notes
    assert "vendor" in notes
    assert "build" in notes
    assert "tools-env" in notes


def test_negative_cases_give_no_findings() -> None:
    document = scan_json(
        "py/negatives.py", "js/negatives.js", "config/negatives.yaml", "config/tsconfig.json"
    )
    assert document["findings"] == []


def test_docs_are_listed_apart_only_when_asked_and_never_fail_a_scan() -> None:
    assert not any(f["kind"] == "doc" for f in scan_json()["findings"])  # type: ignore[attr-defined]
    document = scan_json("docs", "--include-docs")
    findings = document["findings"]
    assert isinstance(findings, list)
    assert findings
    assert {f["kind"] for f in findings} == {"doc"}
    assert all(not f["edits"] for f in findings)
    code, out, _ = run("docs", "--include-docs", "--fail-on", "deprecated", cwd=TREE)
    assert code == 0
    assert "Mentions in documentation" in out


def test_a_call_finding_says_what_imageshim_would_send_and_what_it_costs() -> None:
    findings = scan_json("py/app_sync.py")["findings"]
    assert isinstance(findings, list)
    (call,) = findings
    assert call["target"] == "openai:gpt-image-2"
    assert call["successor"] == "gpt-image-2"
    assert call["days_left"] == -199
    assert call["shutdown_on"] == "2026-05-12"
    assert call["would_send"]["quality"] == "high"
    assert {w["setting"] for w in call["warnings"]} >= {"model", "quality", "style"}
    assert call["reads_url"]
    assert "no URL" in call["url_note"]
    assert call["cost_before_usd"] == pytest.approx(0.12)
    assert call["cost_after_usd"] is not None
    assert call["cost_after_usd"] > 0
    assert {e["setting"] for e in call["edits"]} == {"model", "quality", "style", "response_format"}


def test_exit_status_follows_fail_on_and_on() -> None:
    only_deprecated = ("py/deprecated.py",)
    assert run(*only_deprecated, cwd=TREE)[0] == 0  # default --fail-on retired: nothing retired yet
    assert run(*only_deprecated, "--fail-on", "deprecated", cwd=TREE)[0] == 1
    assert run(*only_deprecated, "--on", "2026-12-01", cwd=TREE)[0] == 1  # what breaks on that day
    assert run(*only_deprecated, "--on", "2026-12-01", "--fail-on", "never", cwd=TREE)[0] == 0
    assert run("py/active.py", "--fail-on", "deprecated", cwd=TREE)[0] == 0


def test_on_a_later_day_deprecated_findings_become_retired() -> None:
    later = {k for k in keys(scan_json(on=date(2026, 12, 1))) if k[3] == "gpt-image-1.5"}
    assert later
    assert {k[4] for k in later} == {"retired"}


def test_text_output_groups_by_file_and_totals() -> None:
    code, out, _ = run("py", cwd=TREE)
    assert code == 1
    assert "py/app_sync.py\n" in out
    assert "retired 199 days ago" in out
    assert (
        out.rstrip()
        .splitlines()[-1]
        .startswith(f"{len([k for k in EXPECTED if k[0].startswith('py/')])} findings")
    )


def test_sarif_output_validates_against_the_schema(tmp_path: Path) -> None:
    target = tmp_path / "out.sarif"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "imageshim",
            "scan",
            "--format",
            "sarif",
            "--output",
            str(target),
            "--on",
            "2026-11-27",
        ],
        cwd=TREE,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stderr  # retired findings under the default --fail-on
    log = json.loads(target.read_text(encoding="utf-8"))
    jsonschema.Draft7Validator(SCHEMA).validate(log)
    results = log["runs"][0]["results"]
    assert len(results) == len(EXPECTED)
    assert {r["level"] for r in results} == {"error", "warning", "note"}


def test_fix_prints_a_diff_that_git_applies_and_the_fixed_python_parses(tree_repo: Path) -> None:
    code, diff, manual = run("--fix", cwd=tree_repo)
    assert code == 1
    assert diff.count("diff --git") >= 10
    assert "# py/app_sync.py:" in diff
    assert "style" in diff
    assert "reads .url" in manual  # what it cannot rewrite is a manual step
    (tree_repo / "fix.diff").write_text(diff, encoding="utf-8")
    subprocess.run(["git", "apply", "--check", "fix.diff"], cwd=tree_repo, check=True, capture_output=True)
    subprocess.run(["git", "apply", "fix.diff"], cwd=tree_repo, check=True, capture_output=True)
    for path in (tree_repo / "py").glob("*.py"):
        ast.parse(path.read_text(encoding="utf-8"))
    fixed = (tree_repo / "py" / "app_sync.py").read_text(encoding="utf-8")
    assert 'model="gpt-image-2"' in fixed
    assert "style=" not in fixed
    assert 'quality="high"' in fixed
    # fixed: a second --fix has nothing left to change
    (tree_repo / "fix.diff").unlink()
    assert "diff --git" not in run("--fix", cwd=tree_repo)[1]


def test_fix_write_applies_the_same_edits(tree_repo: Path) -> None:
    _, diff, _ = run("--fix", cwd=tree_repo)
    _code, out, _ = run("--fix", "--write", cwd=tree_repo)
    assert "fixed py/app_sync.py" in out or "app_sync.py" in out
    changed = subprocess.run(
        ["git", "diff"], cwd=tree_repo, check=True, capture_output=True, text=True
    ).stdout
    assert changed.count("diff --git") == diff.count("diff --git")
    after = keys(scan_json(cwd=tree_repo))
    left = {k[:2] for k in after if k[4] in ("retired", "deprecated") and k[2] in ("model-id", "config")}
    # left to a person: strings in code that may be compared or listed rather than called, imageshim's own
    # config, Azure deployment names, an INI section named after a model
    assert left == {
        ("js/component.tsx", 3),
        ("js/component.tsx", 19),
        ("js/spread.ts", 7),
        ("py/deprecated.py", 8),
        ("py/deprecated.py", 9),
        ("py/deprecated.py", 10),
        ("py/dynamic.py", 17),
        ("py/litellm_style.py", 5),
        ("py/litellm_style.py", 14),
        ("config/imageshim.toml", 4),
        ("config/imageshim.toml", 11),
        ("config/litellm_config.yaml", 10),
        ("config/app.cfg", 6),
    }


def test_write_without_fix_is_a_usage_error() -> None:
    assert run("--write", cwd=TREE)[0] == 2


def test_this_repository_scans_cleanly_with_the_expected_findings() -> None:
    document = scan_json("src", "adapters", cwd=REPO)
    assert document["skipped"] == []
    findings = document["findings"]
    assert isinstance(findings, list)
    by_file: dict[str, set[str]] = {}
    for f in findings:
        by_file.setdefault(f["path"], set()).add(f["model"])
    # the catalog names every model it knows, and the request's documented default is dall-e-2
    assert {"dall-e-2", "dall-e-3", "gpt-image-1", "gpt-image-1.5", "gpt-image-2"} <= by_file[
        "src/imageshim/_core/catalog_data.py"
    ]
    assert "dall-e-2" in by_file["src/imageshim/_core/request.py"]
    assert not any(path.startswith(("tests/", ".venv")) for path in by_file)
    # the library's one image call of its own is the CLI's generate, whose model comes from its flag
    calls = [(f["path"], f["status"], f["written"]) for f in findings if f["kind"] == "call"]
    assert calls == [("src/imageshim/_frontends/cli.py", "unknown", "args.model")]


def test_the_command_parses_in_worker_processes_with_the_same_findings(tmp_path: Path) -> None:
    """Above 400 files the command parses in forked workers; the report is the one a single process makes."""
    from imageshim._core.config import load_config
    from imageshim._scan import report_json
    from imageshim._scan.scan import scan

    call = 'resp = client.images.generate(model="dall-e-3", prompt="p", size="1792x1024")\nprint(resp.data[0].url)\n'
    for i in range(450):
        folder = tmp_path / f"pkg{i // 50}"
        folder.mkdir(exist_ok=True)
        (folder / f"m{i}.py").write_text(call if i % 30 == 0 else f"VALUE_{i} = {i}\n", encoding="utf-8")
        (folder / f"c{i}.ts").write_text(
            'export const M = "gpt-image-1.5";\n' if i % 45 == 0 else "", encoding="utf-8"
        )
    done = subprocess.run(
        [sys.executable, "-m", "imageshim", "scan", ".", "--format", "json", "--on", "2026-11-27"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    single = scan([tmp_path], on=TODAY, config=load_config({}), base=tmp_path, workers=1)
    assert json.loads(done.stdout) == json.loads(report_json.render(single))
    assert single.files_scanned == 900
    assert len(single.findings) == 15 + 10


def test_a_path_that_does_not_exist_is_a_usage_error_not_a_clean_scan() -> None:
    code, _, err = run("srcc", cwd=TREE)
    assert code == 2
    assert "no such file or folder: srcc" in err


def test_fix_writes_its_diff_to_output_and_an_unwritable_output_is_a_usage_error(tree_repo: Path) -> None:
    assert run("--fix", "--output", "fix.diff", cwd=tree_repo)[0] == 1
    assert "diff --git" in (tree_repo / "fix.diff").read_text(encoding="utf-8")
    code, _, err = run("--format", "json", "--output", "no/such/dir/r.json", cwd=tree_repo)
    assert code == 2
    assert "FileNotFoundError" in err


def test_a_file_no_parser_reads_is_listed_when_it_names_a_model(tmp_path: Path) -> None:
    (tmp_path / "demo.ipynb").write_text(
        '{"cells": [{"source": ["model=\\"dall-e-3\\""]}]}', encoding="utf-8"
    )
    (tmp_path / "deploy.sh").write_text("echo building\n", encoding="utf-8")
    document = scan_json(cwd=tmp_path)
    assert document["skipped"] == [
        {
            "path": "demo.ipynb",
            "reason": "holds a model id, but the scanner has no parser for this kind of file: "
            "check it by hand",
        }
    ]


def test_calls_through_imageshims_own_client_are_shown_but_neither_fixed_nor_failed(tmp_path: Path) -> None:
    (tmp_path / "shim.py").write_text(
        "import imageshim\n\nclient = imageshim.OpenAI()\n"
        'resp = client.images.generate(model="dall-e-3", prompt="x", style="vivid")\nprint(resp.data[0].url)\n',
        encoding="utf-8",
    )
    (tmp_path / "direct.py").write_text(
        'from openai import OpenAI\n\nOpenAI().images.generate(model="dall-e-3", prompt="x")\n',
        encoding="utf-8",
    )
    findings = {f["path"]: f for f in scan_json(cwd=tmp_path)["findings"]}  # type: ignore[attr-defined]
    shim, direct = findings["shim.py"], findings["direct.py"]
    assert shim["flavour"] == "imageshim"
    assert shim["edits"] == []
    assert shim["manual"] == []
    assert any("keeps working" in note for note in shim["notes"])
    assert direct["flavour"] is None
    assert direct["edits"]
    assert run("shim.py", cwd=tmp_path)[0] == 0  # nothing breaks
    assert run("direct.py", cwd=tmp_path)[0] == 1


def test_without_fork_the_scan_runs_in_this_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Windows has no fork: workers > 1 must not fail there, only scan in one process."""
    import multiprocessing

    from imageshim._core.config import load_config
    from imageshim._scan.scan import scan

    for i in range(410):
        (tmp_path / f"m{i}.py").write_text('M = "dall-e-3"\n' if i % 100 == 0 else "", encoding="utf-8")
    monkeypatch.setattr(multiprocessing, "get_all_start_methods", lambda: ["spawn"])

    def no_fork(method: str | None = None) -> object:
        raise ValueError(f"cannot find context for {method!r}")  # what Windows answers for "fork"

    monkeypatch.setattr(multiprocessing, "get_context", no_fork)
    report = scan([tmp_path], on=TODAY, config=load_config({}), base=tmp_path, workers=4)
    assert report.files_scanned == 410
    assert len(report.findings) == 5
