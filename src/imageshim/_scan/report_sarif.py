"""The scan as SARIF 2.1.0 for code scanning (GitHub, Azure DevOps, IDE viewers): ``--format sarif``.

One run, one rule per rule id in use (``retired-model-call``, ``deprecated-model-id`` ...: kind and status),
levels by status (retired: error, deprecated: warning, active and unknown: note), and ``help`` naming the
fix. Each result's message is the text report's facts as one sentence; its location is a relative URI
under ``%SRCROOT%`` (columns in Unicode code points, ``run.columnKind``); ``partialFingerprints`` hash the
rule, path, model, API and the occurrence among equal keys (not the line, so results keep their identity
when code moves). Edits become ``fixes`` where they are plain replacements. Files not scanned and notes
are tool execution notifications. Mentions in documentation are not uses and are left out (the run's
properties and a notification say how many).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
from collections.abc import Iterable, Sequence
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote

from imageshim._scan.findings import Edit, Finding, ScanReport
from imageshim._scan.report_text import ordered, sentence
from imageshim._scan.sites import Span

__all__ = ["FINGERPRINT", "SARIF_SCHEMA", "artifact_location", "fingerprints", "log", "render"]

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://pypi.org/project/imageshim/"
#: the partialFingerprints key: a new version when what is hashed changes
FINGERPRINT = "imageshim/v1"
SRCROOT = "%SRCROOT%"

_LEVEL = {"retired": "error", "deprecated": "warning", "active": "note", "unknown": "note"}
#: GitHub's problem.severity: error | warning | recommendation
_SEVERITY = {
    "retired": "error",
    "deprecated": "warning",
    "active": "recommendation",
    "unknown": "recommendation",
}
#: how often a result of the kind is a real use: a string that equals a model id may be a label
_PRECISION = {"call": "high", "config": "high", "model-id": "medium", "doc": "low"}
_KIND_WORD = {"call": "call", "model-id": "id", "config": "config", "doc": "doc"}
_STATUS_TEXT = {
    "retired": "The model is past its shutdown date: the provider refuses requests for it, so this code fails when it runs.",
    "deprecated": "The model has a shutdown date: requests for it fail after that day (each result gives the date and the days left).",
    "active": "The model is active. It is listed so that every image model in use is known before a shutdown is announced.",
    "unknown": "The scanner cannot see which model this uses (a variable, a parameter or **kwargs) or does not know it, so it cannot say whether it breaks.",
}
_KIND_TEXT = {
    "call": "An image call (images.generate / edit / create_variation, Image.create, generateImage, DallEAPIWrapper); the result lists what imageshim would send instead and the cost per call before and after.",
    "model-id": "A model id written as a whole string in code (a default, a constant, a setting passed on).",
    "config": "A model id in a configuration file (YAML, TOML, JSON, .env, .ini).",
    "doc": "A mention of a model id in documentation.",
}
_SEMVER = re.compile(r"^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$")
#: characters a URI path keeps as they are (RFC 3986 pchar minus ":", which would read as a scheme)
_URI_SAFE = "/!$&'()*+,;=@"


def render(report: ScanReport, *, tool_version: str, root_uri: str | None = None) -> str:
    """The SARIF log, indented, ASCII, ending with a newline."""
    return (
        json.dumps(log(report, tool_version=tool_version, root_uri=root_uri), indent=2, allow_nan=False)
        + "\n"
    )


def log(report: ScanReport, *, tool_version: str, root_uri: str | None = None) -> dict[str, Any]:
    """The SARIF log as plain data. ``root_uri`` (an absolute URI such as ``file:///repo/``; a missing
    final "/" is added, as SARIF requires one) becomes ``originalUriBaseIds["%SRCROOT%"]``."""
    uses = ordered(f for f in report.findings if f.kind != "doc")
    docs = len(report.findings) - len(uses)
    rule_ids = sorted({f.rule_id for f in uses})
    index = {rule_id: i for i, rule_id in enumerate(rule_ids)}
    driver: dict[str, Any] = {"name": "imageshim", "version": tool_version}
    if _SEMVER.match(tool_version):
        driver["semanticVersion"] = tool_version
    driver["informationUri"] = INFORMATION_URI
    driver["rules"] = [_rule(rule_id, [f for f in uses if f.rule_id == rule_id]) for rule_id in rule_ids]
    results = [_result(f, index[f.rule_id], fp) for f, fp in zip(uses, fingerprints(uses), strict=True)]
    run: dict[str, Any] = {"tool": {"driver": driver}}
    if root_uri is not None:
        run["originalUriBaseIds"] = {SRCROOT: {"uri": root_uri if root_uri.endswith("/") else f"{root_uri}/"}}
    run["invocations"] = [
        {"executionSuccessful": True, "toolExecutionNotifications": _notifications(report, docs)}
    ]
    run["columnKind"] = "unicodeCodePoints"
    run["results"] = results
    run["properties"] = {
        "on": report.on.isoformat(),
        "roots": list(report.roots),
        "filesScanned": report.files_scanned,
        "notScanned": len(report.skipped),
        "docMentionsOmitted": docs,
        "docMentions": "Mentions of model ids in documentation are not uses and are left out of SARIF.",
    }
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}


def fingerprints(findings: Sequence[Finding]) -> list[str]:
    """A stable identity per finding, in the order given (pass them :func:`ordered`): a hash of the rule,
    path, model and API, and the occurrence index among findings with the same four. Line numbers are
    left out so that a result keeps its identity when the code above it moves."""
    seen: dict[tuple[str, ...], int] = {}
    out = []
    for finding in findings:
        key = (finding.rule_id, finding.path, finding.model or "", finding.api or "")
        occurrence = seen.get(key, 0)
        seen[key] = occurrence + 1
        digest = hashlib.sha256(json.dumps([*key, occurrence]).encode("ascii")).hexdigest()
        out.append(digest[:32])
    return out


def artifact_location(path: str) -> dict[str, Any]:
    """A path as a SARIF artifactLocation: a relative one is a percent-encoded URI reference under
    ``%SRCROOT%``; an absolute one (not expected from the scanner) a ``file:`` URI."""
    if path.startswith("/"):
        return {"uri": "file://" + _quote(path)}
    relative = PurePosixPath(path).as_posix()  # drops "./" and doubled slashes
    return {"uri": _quote(relative), "uriBaseId": SRCROOT}


def _quote(path: str) -> str:
    """Percent-encode as UTF-8; a path decoded with ``surrogateescape`` gets its original bytes back."""
    try:
        return quote(path, _URI_SAFE, errors="surrogateescape")
    except UnicodeEncodeError:  # a surrogate that is no escaped byte: keep it visible, never fail
        return quote(path, _URI_SAFE, errors="backslashreplace")


def _region(span: Span) -> dict[str, int]:
    """The span as a region; positions out of range are clamped (a bad span must not void the log)."""
    line, column = max(1, span.line), max(1, span.column)
    end_line, end_column = max(line, span.end_line), max(1, span.end_column)
    if end_line == line and end_column < column:
        end_column = column
    return {"startLine": line, "startColumn": column, "endLine": end_line, "endColumn": end_column}


def _pascal(rule_id: str) -> str:
    return "".join(part.capitalize() for part in rule_id.split("-"))


def _short(status: str, kind: str) -> str:
    if kind == "call":
        if status == "unknown":
            return "Image call whose model is not visible"
        return f"Call to {'an' if status == 'active' else 'a'} {status} image model"
    where = {"model-id": "in a code string", "config": "in a config file", "doc": "in documentation"}[kind]
    if status == "unknown":
        return f"Image model id {where} that is not in the catalog"
    return f"{status.capitalize()} image model id {where}"


def _fix(status: str, successors: str) -> str:
    if status == "active":
        return "Nothing to change now. Routing the call through imageshim keeps it working when this model is retired."
    route = (
        "or route the call through imageshim (`imageshim.OpenAI()`, or the openai SDK with "
        "`http_client=imageshim.openai_http_client()`), which sends it to an active model and reports every change "
        "as a warning."
    )
    if status == "unknown":
        return f"Find which model reaches this code. If it is retired or deprecated, move to {successors}, {route}"
    return (
        f"Move to {successors}: run `imageshim scan --fix` to see the edits as a diff (the model id, and the "
        "size and quality values the successor takes; options it lacks removed) and `imageshim scan --fix "
        "--write` to apply them, then do the manual steps it lists (reads of `.url`: GPT image models return "
        f"base64); {route}"
    )


def _rule(rule_id: str, findings: Sequence[Finding]) -> dict[str, Any]:
    status, kind = findings[0].status, findings[0].kind
    named = sorted({f.successor for f in findings if f.successor})
    successors = " or ".join(named) if named else "the model's successor (`imageshim models` lists them)"
    short, full, fix = (
        _short(status, kind),
        f"{_STATUS_TEXT[status]} {_KIND_TEXT[kind]}",
        _fix(status, successors),
    )
    precision = "medium" if status == "unknown" else _PRECISION[kind]
    return {
        "id": rule_id,
        "name": _pascal(rule_id),
        "shortDescription": {"text": short},
        "fullDescription": {"text": full},
        "help": {"text": f"{full} Fix: {fix}", "markdown": f"**{short}**\n\n{full}\n\n**Fix:** {fix}"},
        "defaultConfiguration": {"level": _LEVEL[status]},
        "properties": {
            "tags": ["imageshim", "deprecation", "maintainability", f"model-{_KIND_WORD[kind]}"],
            "precision": precision,
            "problem.severity": _SEVERITY[status],
        },
    }


def _result(finding: Finding, rule_index: int, fingerprint: str) -> dict[str, Any]:
    location = {"artifactLocation": artifact_location(finding.path), "region": _region(finding.span)}
    result: dict[str, Any] = {
        "ruleId": finding.rule_id,
        "ruleIndex": rule_index,
        "level": _LEVEL[finding.status],
        "message": {"text": sentence(finding)},
        "locations": [{"physicalLocation": location}],
        "partialFingerprints": {FINGERPRINT: fingerprint},
    }
    if finding.url_reads:
        result["relatedLocations"] = [
            {
                "id": i,
                "physicalLocation": {
                    "artifactLocation": artifact_location(finding.path),
                    "region": _region(span),
                },
                "message": {"text": finding.url_note or "reads .url of the result"},
            }
            for i, span in enumerate(finding.url_reads, start=1)
        ]
    fix = _sarif_fix(finding.edits)
    if fix is not None:
        result["fixes"] = [fix]
    result["properties"] = {
        "kind": finding.kind,
        "api": finding.api,
        "model": finding.model,
        "status": finding.status,
        "shutdown_on": finding.shutdown_on.isoformat() if finding.shutdown_on else None,
        "days_left": finding.days_left,
        "successor": finding.successor,
        "cost_before_usd": _finite(finding.cost_before_usd),
        "cost_after_usd": _finite(finding.cost_after_usd),
        "manual": list(finding.manual),
    }
    return result


def _sarif_fix(edits: Iterable[Edit]) -> dict[str, Any] | None:
    """The edits as one SARIF fix, or None when there are none or they cannot all be expressed.

    An argument removal (``remove_argument``) also removes a comma whose place the finding does not hold;
    deleting only the argument could leave ``f(a, , b)``, so a finding with one gets no SARIF fix (the
    safe choice: ``imageshim scan --fix`` makes that edit). Overlapping edits get none either.
    """
    edits = list(edits)
    if not edits or any(e.remove_argument for e in edits):
        return None
    changes = []
    for path in sorted({e.path for e in edits}):
        mine = sorted((e for e in edits if e.path == path), key=lambda e: (e.span.offset, e.span.end_offset))
        if any(a.span.end_offset > b.span.offset for a, b in itertools.pairwise(mine)):
            return None
        replacements = [
            {"deletedRegion": _region(e.span), "insertedContent": {"text": e.replacement}} for e in mine
        ]
        changes.append({"artifactLocation": artifact_location(path), "replacements": replacements})
    reasons = [e.reason for e in edits if e.reason]
    text = "; ".join(dict.fromkeys(reasons)) or "the edits of `imageshim scan --fix`"
    return {"description": {"text": text}, "artifactChanges": changes}


def _notifications(report: ScanReport, docs: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [
        {
            "level": "warning",
            "message": {"text": f"{s.path} was not scanned: {s.reason}"},
            "locations": [{"physicalLocation": {"artifactLocation": artifact_location(s.path)}}],
        }
        for s in sorted(report.skipped, key=lambda s: (s.path, s.reason))
    ]
    out.extend({"level": "note", "message": {"text": note}} for note in report.notes)
    if docs:
        out.append(
            {
                "level": "note",
                "message": {
                    "text": f"{docs} mention{'s' if docs != 1 else ''} of model ids in documentation left out: "
                    "they are not uses (the text and JSON reports list them)."
                },
            }
        )
    return out


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None
