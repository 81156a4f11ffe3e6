"""The three renderers of ``imageshim scan``: text for people, JSON for programs, SARIF for code scanning."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft7Validator
from tests.scan import factories as fx

from imageshim._scan import report_json, report_sarif, report_text
from imageshim._scan.findings import Finding, ScanReport, Skipped

SARIF_SCHEMA = json.loads((Path(__file__).parent / "sarif-2.1.0-rtm.5.json").read_text(encoding="utf-8"))
VALIDATOR = Draft7Validator(SARIF_SCHEMA)
#: RFC 3986 relative-ref made of path characters only: unreserved, sub-delims, "@", "/" and %XX escapes
RELATIVE_URI = re.compile(r"^(?:[A-Za-z0-9\-._~!$&'()*+,;=@/]|%[0-9A-F]{2})+$")
FINDING_KEYS = [
    "kind", "rule_id", "path", "language", "line", "column", "end_line", "end_column", "model", "written",
    "status", "shutdown_on", "days_left", "successor", "api", "flavour", "options", "not_visible", "target",
    "would_send", "warnings", "refused", "reads_url", "url_reads", "url_note", "cost_before_usd",
    "cost_after_usd", "edits", "manual", "notes",
]  # fmt: skip
LEVELS = {"retired": "error", "deprecated": "warning", "active": "note", "unknown": "note"}


def sarif(report: ScanReport, **kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("tool_version", "0.1.0")
    document: dict[str, Any] = json.loads(report_sarif.render(report, **kwargs))
    return document


def valid(document: dict[str, Any]) -> None:
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in VALIDATOR.iter_errors(document)]
    assert errors == []


def run_of(document: dict[str, Any]) -> dict[str, Any]:
    (run,) = document["runs"]
    return run  # type: ignore[no-any-return]


# ----- text ---------------------------------------------------------------------------------------------
def test_text_holds_every_fact_of_the_sample() -> None:
    text = report_text.render(fx.sample_report())
    lines = text.splitlines()
    assert "  12:11  retired 199 days ago  images.generate dall-e-3 -> gpt-image-2" in lines
    joined = " ".join(line.strip() for line in lines)  # details may wrap onto continuation lines
    for phrase in (
        "imageshim would send to openai:gpt-image-2: size 1536x1024 instead of 1792x1024, quality high "
        "instead of hd, style dropped",
        "reads .url: gpt-image-2 returns no URL (line 22)",
        "cost $0.1200 -> $0.2110 per call",
        "fix (imageshim scan --fix): model -> gpt-image-2, size -> 1536x1024, quality -> high, style removed",
        "manual: reads .url at line 22: gpt-image-2 returns base64 only",
        "3:18  deprecated, 4 days left  model id gpt-image-1.5 -> gpt-image-2",
        "9:24  active  generateImage gpt-image-2",
        "4:17  retired 199 days ago  config value openai/dall-e-3 (dall-e-3) -> gpt-image-2",
        "40:15  model not visible  images.generate (async)",
        "not visible: **settings",
        "note: without a model, openai-python sends none",
        'imageshim would refuse it: response_format "url" cannot be served',
        "cost $0.0200 -> $0.0530 per call",
    ):
        assert phrase in joined, phrase
    # a refused call is not also said to be sent
    legacy = text.split("src/app/legacy.py\n")[1].split("\n\n")[0]
    assert "would send" not in legacy


def test_text_groups_by_sorted_file_and_orders_by_position() -> None:
    report = fx.sample_report()
    text = report_text.render(report)
    reordered = report_text.render(dataclasses.replace(report, findings=report.findings[::-1]))
    assert reordered == text
    headers = [line for line in text.splitlines() if line and not line.startswith(" ") and "/" in line]
    files = [
        "config/images.yaml",
        "src/app/images.py",
        "src/app/legacy.py",
        "src/app/settings.py",
        "web/src/draw.ts",
    ]
    assert headers == files
    images = text.split("src/app/images.py\n")[1].split("\n\n")[0]
    assert images.index("12:11") < images.index("40:15")
    assert "web/src/draw.ts" not in images
    assert "legacy" not in images


def test_text_lists_docs_apart_then_skipped_notes_and_total() -> None:
    text = report_text.render(fx.sample_report())
    sections = text.rstrip("\n").split("\n\n")
    assert sections[-4].splitlines() == [
        "Mentions in documentation (not uses)",
        "  README.md:7:21  dall-e-3 (retired 199 days ago) -> gpt-image-2",
    ]
    assert sections[-3].splitlines() == [
        "Not scanned",
        "  data/ünïcode file.py: not UTF-8 text",
        "  web/src/broken.ts: does not parse (tree-sitter error at line 3)",
    ]
    assert sections[-2].splitlines() == ["Notes", "  .gitignore not applied: pathspec is not installed"]
    assert sections[-1] == (
        "6 findings in 5 files: 3 retired, 1 deprecated, 1 active, 1 not visible; 14 files scanned; "
        "2 not scanned; 1 mention in documentation"
    )
    assert sum("README.md" in section for section in sections) == 1


def test_text_lines_stay_readable_without_colour() -> None:
    finding = dataclasses.replace(fx.refused_call(), refused="refused because " + "the reason goes on " * 20)
    text = report_text.render(dataclasses.replace(fx.sample_report(), findings=(finding, fx.retired_call())))
    assert "\x1b" not in text
    *lines, total = text.splitlines()
    assert max(len(line) for line in lines) <= report_text.WIDTH  # the total stays one greppable line
    assert total.startswith("2 findings in 2 files")
    joined = " ".join(line.strip() for line in text.splitlines())
    assert joined.count("the reason goes on") == 20  # wrapped, nothing lost


def test_text_escapes_what_would_drive_a_terminal() -> None:
    hostile = dataclasses.replace(fx.deprecated_literal(path="src/\x1b[31mred\u202eyp.py\udcff"))
    report = dataclasses.replace(
        fx.clean_report(), findings=(hostile,), notes=("\x1b[2J cleared\nforged line",)
    )
    text = report_text.render(report)
    assert "\x1b" not in text
    assert "\u202e" not in text
    assert "src/\\x1b[31mred\\u202eyp.py\\udcff" in text.splitlines()
    assert "  \\x1b[2J cleared\\x0aforged line" in text.splitlines()
    text.encode("utf-8")  # a lone surrogate would make printing it fail


def test_text_clean_scan_is_one_line() -> None:
    assert report_text.render(fx.clean_report(9)) == (
        "Clean: no image-model calls or model ids in 9 files scanned (statuses on 2026-11-27).\n"
    )


def test_text_without_findings_still_lists_what_was_not_scanned() -> None:
    report = ScanReport(
        fx.ON, (".",), (), (Skipped("a.ts", "the scan extra is not installed"),), files_scanned=3
    )
    text = report_text.render(report)
    assert "  a.ts: the scan extra is not installed" in text.splitlines()
    assert text.splitlines()[-1] == "No findings on 2026-11-27: 3 files scanned; 1 not scanned."


@pytest.mark.parametrize(
    ("status", "days_left", "phrase"),
    [
        ("retired", -1, "retired 1 day ago"),
        ("retired", 0, "retired today"),
        ("retired", None, "retired"),
        ("deprecated", 1, "deprecated, 1 day left"),
        ("deprecated", 30, "deprecated, 30 days left"),
        ("active", None, "active"),
    ],
)
def test_status_phrases(status: str, days_left: int | None, phrase: str) -> None:
    finding = dataclasses.replace(fx.deprecated_literal(), status=status, days_left=days_left)
    assert report_text.status_phrase(finding) == phrase


def test_unknown_model_phrases() -> None:
    assert report_text.status_phrase(fx.hidden_call()) == "model not visible"
    assert report_text.subject(fx.hidden_call()) == "images.generate (async)"
    computed = dataclasses.replace(fx.hidden_call(), written="TIERS[tier]")
    assert report_text.subject(computed) == "images.generate (async), model from TIERS[tier]"
    named = dataclasses.replace(fx.hidden_call(), model="dall-e-4", written="dall-e-4")
    assert report_text.status_phrase(named) == "model not in the catalog"


def test_would_send_is_compared_with_the_options_seen() -> None:
    finding = dataclasses.replace(fx.retired_call(), warnings=(), would_send={"size": "1536x1024", "n": 1})
    finding = dataclasses.replace(finding, options={**finding.options, "n": "1"})
    (sending,) = [d for d in report_text.details(finding) if d.startswith("imageshim would send")]
    assert sending == "imageshim would send to openai:gpt-image-2: size 1536x1024 instead of 1792x1024"
    # a value the scanner did not see (a name, an expression) is never compared with what would be sent
    computed = dataclasses.replace(
        finding, options={"size": "SIZES[kind]", "n": "count"}, would_send={"size": "1536x1024", "n": 2}
    )
    assert report_text.details(computed)[0] == "imageshim would send it to openai:gpt-image-2 as written"


def test_a_url_note_that_is_a_sentence_is_not_prefixed() -> None:
    note = "reads the result's .url, but gpt-image-2 returns no URL: read data[0].b64_json"
    finding = dataclasses.replace(fx.retired_call(), url_note=note)
    assert f"{note} (line 22)" in report_text.details(finding)
    assert "reads .url: gpt-image-2 returns no URL (line 22)" in report_text.details(fx.retired_call())
    # said once when a manual step already holds the whole note
    told = dataclasses.replace(finding, manual=(f"22:7: {note}",))
    assert [d for d in report_text.details(told) if note in d] == [f"manual: 22:7: {note}"]
    assert "reads .url (line 22)" in report_text.details(told)


# ----- JSON ---------------------------------------------------------------------------------------------
def test_json_document_shape_and_summary() -> None:
    document = json.loads(report_json.render(fx.sample_report()))
    assert list(document) == ["schema", "on", "roots", "summary", "findings", "skipped", "notes"]
    assert document["schema"] == "imageshim-scan/1"
    assert document["on"] == "2026-11-27"
    assert document["roots"] == ["src", "web", "config", "README.md"]
    assert document["summary"] == {
        "findings": 6,
        "files_with_findings": 5,
        "files_scanned": 14,
        "not_scanned": 2,
        "retired": 3,
        "deprecated": 1,
        "active": 1,
        "unknown": 1,
        "docs": 1,
    }
    assert document["skipped"] == [
        {"path": "data/ünïcode file.py", "reason": "not UTF-8 text"},
        {"path": "web/src/broken.ts", "reason": "does not parse (tree-sitter error at line 3)"},
    ]
    assert document["notes"] == [".gitignore not applied: pathspec is not installed"]
    for finding in document["findings"]:
        assert list(finding) == FINDING_KEYS


def test_json_finding_fields() -> None:
    source = fx.retired_call()
    (finding,) = json.loads(report_json.render(dataclasses.replace(fx.clean_report(), findings=(source,))))[
        "findings"
    ]
    assert finding["rule_id"] == "retired-model-call"
    assert (finding["line"], finding["column"], finding["end_line"], finding["end_column"]) == (12, 11, 20, 6)
    assert finding["shutdown_on"] == "2026-05-12"
    assert finding["days_left"] == -199
    assert finding["would_send"] == {"model": "gpt-image-2", "n": 1, "quality": "high", "size": "1536x1024"}
    assert list(finding["options"]) == sorted(source.options)
    assert finding["warnings"][0] == {**source.warnings[0].to_dict(), "shutdown_on": "2026-05-12"}
    assert [w["category"] for w in finding["warnings"]] == [
        "ModelRetiredWarning",
        "OptionMappedWarning",
        "OptionMappedWarning",
        "OptionDroppedWarning",
    ]
    assert finding["url_reads"] == [{"line": 22, "column": 7}]
    assert (finding["cost_before_usd"], finding["cost_after_usd"]) == (0.12, 0.211)
    assert finding["edits"][3] == {
        "line": 17,
        "column": 9,
        "end_line": 17,
        "end_column": 22,
        "setting": "style",
        "replacement": "",
        "reason": "gpt-image-2 has no style option",
        "remove_argument": True,
    }
    assert finding["manual"] == list(source.manual)


def test_json_unknowns_are_null() -> None:
    document = json.loads(
        report_json.render(dataclasses.replace(fx.clean_report(), findings=(fx.hidden_call(),)))
    )
    (finding,) = document["findings"]
    for key in ("model", "written", "shutdown_on", "days_left", "successor", "target", "refused", "url_note"):
        assert finding[key] is None, key
    assert (finding["status"], finding["flavour"], finding["not_visible"]) == (
        "unknown",
        "async",
        ["**settings"],
    )


def test_json_is_ordered_and_byte_stable() -> None:
    report = fx.sample_report()
    text = report_json.render(report)
    assert report_json.render(dataclasses.replace(report, findings=report.findings[::-1])) == text
    found = [(f["path"], f["line"], f["column"]) for f in json.loads(text)["findings"]]
    assert found == sorted(found)
    assert text.isascii()
    assert text.endswith("}\n")


# ----- SARIF --------------------------------------------------------------------------------------------
ODD_PATHS = ("src/my app/ünïcode module.py", "docs v2/weird#name%.ts", "a:b/c.py", "./x/y.py")


def odd_report() -> ScanReport:
    findings = tuple(dataclasses.replace(fx.retired_call(path=p), edits=()) for p in ODD_PATHS)
    skipped = (Skipped("vendor/ø ø.ts", "the scan extra is not installed"),)
    return ScanReport(fx.ON, ("my project",), findings, skipped, files_scanned=4)


@pytest.mark.parametrize(
    "report",
    [
        fx.clean_report(),
        fx.sample_report(),
        ScanReport(fx.ON, (".",), (), (Skipped("a.ts", "needs the scan extra"),), notes=("a note",)),
        odd_report(),
    ],
    ids=["empty", "all-kinds", "skipped-only", "odd-paths"],
)
@pytest.mark.parametrize("root_uri", [None, "file:///home/me/repo/"])
def test_sarif_validates_against_the_schema(report: ScanReport, root_uri: str | None) -> None:
    document = sarif(report, root_uri=root_uri)
    valid(document)
    assert document["version"] == "2.1.0"
    assert document["$schema"] == "https://json.schemastore.org/sarif-2.1.0.json"
    run = run_of(document)
    assert run["columnKind"] == "unicodeCodePoints"
    assert run["invocations"][0]["executionSuccessful"] is True


def test_sarif_meets_github_code_scanning_requirements() -> None:
    report = fx.sample_report()
    run = run_of(sarif(report))
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == sorted({f.rule_id for f in report.findings if f.kind != "doc"})
    for rule in rules:
        assert rule["help"]["text"]
        assert rule["help"]["markdown"]
        assert rule["name"] == "".join(p.capitalize() for p in rule["id"].split("-"))
        assert rule["properties"]["tags"][0] == "imageshim"
        assert rule["properties"]["precision"] in ("very-high", "high", "medium", "low")
        assert rule["properties"]["problem.severity"] in ("error", "warning", "recommendation")
    by_id = {f.rule_id: f.status for f in report.findings}
    assert len(run["results"]) == 6
    for result in run["results"]:
        rule = rules[result["ruleIndex"]]
        assert rule["id"] == result["ruleId"]
        assert result["level"] == rule["defaultConfiguration"]["level"] == LEVELS[by_id[result["ruleId"]]]
        assert result["message"]["text"].strip()
        physical = result["locations"][0]["physicalLocation"]
        assert physical["artifactLocation"]["uriBaseId"] == "%SRCROOT%"
        assert RELATIVE_URI.match(physical["artifactLocation"]["uri"])
        assert not physical["artifactLocation"]["uri"].startswith("/")
        assert physical["region"]["startLine"] >= 1


def test_sarif_help_names_the_fix() -> None:
    rules = {r["id"]: r for r in run_of(sarif(fx.sample_report()))["tool"]["driver"]["rules"]}
    for rule_id in ("retired-model-call", "retired-model-config", "deprecated-model-id"):
        help_text = rules[rule_id]["help"]["text"]
        assert "Move to gpt-image-2" in help_text, rule_id
        assert "imageshim scan --fix" in help_text, rule_id
        assert "route the call through imageshim" in help_text
    assert rules["retired-model-call"]["properties"]["problem.severity"] == "error"
    assert rules["deprecated-model-id"]["properties"]["problem.severity"] == "warning"
    assert rules["unknown-model-call"]["defaultConfiguration"]["level"] == "note"


def test_sarif_result_message_and_properties() -> None:
    run = run_of(sarif(dataclasses.replace(fx.clean_report(), findings=(fx.retired_call(),))))
    (result,) = run["results"]
    text = result["message"]["text"]
    for phrase in (
        "images.generate dall-e-3 -> gpt-image-2: retired 199 days ago (2026-05-12)",
        "size 1536x1024 instead of 1792x1024",
        "reads .url: gpt-image-2 returns no URL",
        "cost $0.1200 -> $0.2110 per call",
    ):
        assert phrase in text
    assert result["properties"] == {
        "kind": "call",
        "api": "images.generate",
        "model": "dall-e-3",
        "status": "retired",
        "shutdown_on": "2026-05-12",
        "days_left": -199,
        "successor": "gpt-image-2",
        "cost_before_usd": 0.12,
        "cost_after_usd": 0.211,
        "manual": list(fx.retired_call().manual),
    }
    assert result["relatedLocations"][0]["physicalLocation"]["region"]["startLine"] == 22
    assert result["locations"][0]["physicalLocation"]["region"] == {
        "startLine": 12,
        "startColumn": 11,
        "endLine": 20,
        "endColumn": 6,
    }


def test_sarif_leaves_doc_mentions_out_and_says_so() -> None:
    run = run_of(sarif(fx.sample_report()))
    uris = [r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in run["results"]]
    assert "README.md" not in uris
    assert run["properties"]["docMentionsOmitted"] == 1
    notes = [n["message"]["text"] for n in run["invocations"][0]["toolExecutionNotifications"]]
    assert any("1 mention of model ids in documentation left out" in n for n in notes)


def test_sarif_notifications_for_skipped_files_and_notes() -> None:
    notifications = run_of(sarif(fx.sample_report()))["invocations"][0]["toolExecutionNotifications"]
    skipped = [n for n in notifications if n["level"] == "warning"]
    assert [n["message"]["text"] for n in skipped] == [
        "data/ünïcode file.py was not scanned: not UTF-8 text",
        "web/src/broken.ts was not scanned: does not parse (tree-sitter error at line 3)",
    ]
    location = skipped[0]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert location == {"uri": "data/%C3%BCn%C3%AFcode%20file.py", "uriBaseId": "%SRCROOT%"}
    assert {"level": "note", "message": {"text": fx.NOTES[0]}} in notifications


def test_sarif_uris_are_percent_encoded_relative_references() -> None:
    run = run_of(sarif(odd_report()))
    uris = [r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in run["results"]]
    assert sorted(uris) == sorted(
        [
            "src/my%20app/%C3%BCn%C3%AFcode%20module.py",
            "docs%20v2/weird%23name%25.ts",
            "a%3Ab/c.py",  # an unescaped ":" in the first segment would read as a scheme
            "x/y.py",
        ]
    )
    assert sorted(unquote(u) for u in uris) == sorted(p.removeprefix("./") for p in ODD_PATHS)
    assert all(RELATIVE_URI.match(u) for u in uris)


def test_sarif_uri_of_an_undecodable_file_name_keeps_its_bytes() -> None:
    assert report_sarif.artifact_location("bad\udcff name.py") == {
        "uri": "bad%FF%20name.py",
        "uriBaseId": "%SRCROOT%",
    }


def test_sarif_root_uri() -> None:
    assert "originalUriBaseIds" not in run_of(sarif(fx.sample_report()))
    run = run_of(sarif(fx.sample_report(), root_uri="file:///home/me/my%20repo"))
    assert run["originalUriBaseIds"] == {"%SRCROOT%": {"uri": "file:///home/me/my%20repo/"}}


def test_sarif_driver() -> None:
    driver = run_of(sarif(fx.clean_report(), tool_version="1.2.3"))["tool"]["driver"]
    assert driver == {
        "name": "imageshim",
        "version": "1.2.3",
        "semanticVersion": "1.2.3",
        "informationUri": "https://pypi.org/project/imageshim/",
        "rules": [],
    }
    dev = run_of(sarif(fx.clean_report(), tool_version="0.2.0.dev1"))["tool"]["driver"]
    assert dev["version"] == "0.2.0.dev1"
    assert "semanticVersion" not in dev  # not a semantic version


def test_sarif_fixes_for_plain_replacements_only() -> None:
    report = dataclasses.replace(fx.clean_report(), findings=(fx.deprecated_literal(), fx.retired_call()))
    literal, call = run_of(sarif(report))["results"][::-1]  # sorted by path: src/app/images.py first
    assert literal["ruleId"] == "deprecated-model-id"
    (fix,) = literal["fixes"]
    assert fix["description"]["text"] == "gpt-image-1.5 shuts down on 2026-12-01"
    (change,) = fix["artifactChanges"]
    assert change["artifactLocation"] == {"uri": "src/app/settings.py", "uriBaseId": "%SRCROOT%"}
    assert change["replacements"] == [
        {
            "deletedRegion": {"startLine": 3, "startColumn": 18, "endLine": 3, "endColumn": 31},
            "insertedContent": {"text": "gpt-image-2"},
        }
    ]
    # removing style= also removes a comma the finding does not locate: only `imageshim scan --fix` does that
    assert call["ruleId"] == "retired-model-call"
    assert "fixes" not in call
    without_removal = dataclasses.replace(fx.retired_call(), edits=fx.retired_call().edits[:3])
    (result,) = run_of(sarif(dataclasses.replace(fx.clean_report(), findings=(without_removal,))))["results"]
    assert [
        r["insertedContent"]["text"] for r in result["fixes"][0]["artifactChanges"][0]["replacements"]
    ] == [
        "gpt-image-2",
        '"1536x1024"',
        '"high"',
    ]


def fingerprint_of(findings: tuple[Finding, ...]) -> list[str]:
    results = run_of(sarif(dataclasses.replace(fx.clean_report(), findings=findings)))["results"]
    return [r["partialFingerprints"][report_sarif.FINGERPRINT] for r in results]


def test_fingerprints_survive_a_line_shift() -> None:
    before = fingerprint_of((fx.retired_call(line=12), fx.retired_call(line=30), fx.deprecated_literal()))
    moved = (fx.shifted(fx.retired_call(line=12), 7), fx.shifted(fx.retired_call(line=30), 7))
    after = fingerprint_of((*moved, fx.shifted(fx.deprecated_literal(), 3)))
    assert before == after


def test_fingerprints_tell_equal_calls_apart() -> None:
    first, second, other_file, other_model = fingerprint_of(
        (
            fx.retired_call(line=12),
            fx.retired_call(line=30),
            fx.retired_call(path="src/app/other.py"),
            dataclasses.replace(fx.retired_call(line=50), model="dall-e-2"),
        )
    )
    assert len({first, second, other_file, other_model}) == 4


# ----- properties ---------------------------------------------------------------------------------------
@settings(max_examples=100, deadline=None)
@given(report=fx.reports())
def test_json_stays_valid_for_any_report(report: ScanReport) -> None:
    text = report_json.render(report)
    document = json.loads(text)
    assert text.isascii()
    assert [f["path"] for f in document["findings"]] == sorted(f.path for f in report.findings)
    assert all(list(f) == FINDING_KEYS for f in document["findings"])
    summary = document["summary"]
    assert summary["findings"] + summary["docs"] == len(report.findings)
    assert sum(summary[s] for s in ("retired", "deprecated", "active", "unknown")) == summary["findings"]


@settings(max_examples=100, deadline=None)
@given(report=fx.reports(), root=st.none() | st.sampled_from(["file:///r", "file:///r/"]))
def test_sarif_stays_valid_for_any_report(report: ScanReport, root: str | None) -> None:
    document = sarif(report, root_uri=root)
    valid(document)
    run = run_of(document)
    uses = [f for f in report.findings if f.kind != "doc"]
    assert len(run["results"]) == len(uses)
    fingerprints = [r["partialFingerprints"][report_sarif.FINGERPRINT] for r in run["results"]]
    assert len(set(fingerprints)) == len(fingerprints)
    for result in run["results"]:
        assert run["tool"]["driver"]["rules"][result["ruleIndex"]]["id"] == result["ruleId"]
        location = result["locations"][0]["physicalLocation"]
        assert RELATIVE_URI.match(location["artifactLocation"]["uri"])
        assert location["region"]["startLine"] >= 1
        assert result["level"] == LEVELS[result["properties"]["status"]]


@settings(max_examples=100, deadline=None)
@given(report=fx.reports())
def test_text_never_raises_and_counts(report: ScanReport) -> None:
    text = report_text.render(report)
    uses = [f for f in report.findings if f.kind != "doc"]
    last = text.splitlines()[-1]
    if uses:
        assert last.startswith(f"{len(uses)} finding")
    else:
        assert last.startswith(("No findings on", "Clean: no image-model calls"))
    assert "\x1b" not in text
