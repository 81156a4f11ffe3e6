"""The scan as JSON for programs: ``imageshim scan --format json``, schema ``imageshim-scan/1``.

Stability: within ``imageshim-scan/1`` fields are only ever added, never renamed, removed or retyped; a
change of meaning gets a new schema string. Every key below is always present (``null`` when not known),
so a consumer can index without ``.get``. The output is ASCII (non-ASCII text is ``\\uXXXX``-escaped) and
ends with a newline; findings are sorted by path, line and column, and the keys of ``options`` and
``would_send`` are sorted, so the same scan gives the same bytes.

Top level::

    schema       "imageshim-scan/1"
    on           "YYYY-MM-DD": the day the statuses are for (``--on``, default today)
    roots        the paths scanned, as given
    summary      findings (uses: every kind but "doc"), files_with_findings, files_scanned, not_scanned,
                 retired, deprecated, active, unknown (uses by status), docs (mentions in documentation)
    findings     the findings (below), docs included when ``--include-docs`` asked for them
    skipped      [{"path", "reason"}]: files not scanned, and why
    notes        [str]: notes on the scan as a whole

A finding::

    kind             "call" | "model-id" | "config" | "doc"
    rule_id          "<status>-model-<call|id|config|doc>": the SARIF rule id
    path             the file, relative to the scan root, "/"-separated
    language         "python" | "javascript" | "typescript" | "config" | "docs"
    line, column, end_line, end_column
                     1-based; columns in Unicode code points; the end is exclusive
    model            the catalog id (canonical), or null for a call whose model is not visible
    written          the text as written ("openai/dall-e-3", an alias ...), or null
    status           "retired" | "deprecated" | "active" | "unknown" on ``on``
    shutdown_on      "YYYY-MM-DD" or null
    days_left        days from ``on`` to shutdown (negative once past), or null
    successor        the model to move to, or null
    api              a call's API ("images.generate", "generateImage" ...), else null
    flavour          "async", "with_raw_response" ..., else null
    options          {name: source text}: a call's options as seen (OpenAI's names)
    not_visible      [str]: what the scanner could not see ("**kwargs", ...)
    target           "provider:model" imageshim would send the call to, or null
    would_send       {name: value}: what imageshim would send
    warnings         [WarningRecord.to_dict()]: the warnings a live call through imageshim gives
    refused          the refusal's message when imageshim would refuse the call, else null
    reads_url        whether the code reads the result's .url
    url_reads        [{"line", "column"}]: where
    url_note         why that matters ("gpt-image-2 returns no URL"), or null
    cost_before_usd  estimated cost per call (all n images) as written, or null
    cost_after_usd   the same after migration, or null
    edits            [{"line", "column", "end_line", "end_column", "setting", "replacement", "reason",
                     "remove_argument"}]: the safe local edits of ``--fix``
    manual           [str]: the steps ``--fix`` cannot take
    notes            [str]
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import date
from typing import Any

from imageshim._scan.findings import Edit, Finding, ScanReport
from imageshim._scan.report_text import ordered
from imageshim._scan.sites import Span

__all__ = ["SCHEMA", "document", "finding_dict", "render"]

SCHEMA = "imageshim-scan/1"


def render(report: ScanReport) -> str:
    """The JSON document, indented, ASCII, ending with a newline."""
    # ASCII on purpose: the document is piped through CI consoles whose encoding is not always UTF-8.
    return json.dumps(document(report), indent=2, ensure_ascii=True, allow_nan=False) + "\n"


def document(report: ScanReport) -> dict[str, Any]:
    """The JSON document as plain data (what :func:`render` dumps)."""
    uses = [f for f in report.findings if f.kind != "doc"]
    counts = report.counts()
    summary = {
        "findings": len(uses),
        "files_with_findings": len({f.path for f in uses}),
        "files_scanned": report.files_scanned,
        "not_scanned": len(report.skipped),
        **{status: counts[status] for status in ("retired", "deprecated", "active", "unknown")},
        "docs": len(report.findings) - len(uses),
    }
    return {
        "schema": SCHEMA,
        "on": report.on.isoformat(),
        "roots": list(report.roots),
        "summary": summary,
        "findings": [finding_dict(f) for f in ordered(report.findings)],
        "skipped": [
            {"path": s.path, "reason": s.reason}
            for s in sorted(report.skipped, key=lambda s: (s.path, s.reason))
        ],
        "notes": list(report.notes),
    }


def finding_dict(finding: Finding) -> dict[str, Any]:
    """One finding as plain, JSON-ready data; every key always present."""
    return {
        "kind": finding.kind,
        "rule_id": finding.rule_id,
        "path": finding.path,
        "language": finding.language,
        **_region(finding.span),
        "model": finding.model,
        "written": finding.written,
        "status": finding.status,
        "shutdown_on": _day(finding.shutdown_on),
        "days_left": finding.days_left,
        "successor": finding.successor,
        "api": finding.api,
        "flavour": finding.flavour,
        "options": _sorted_map(finding.options),
        "not_visible": list(finding.not_visible),
        "target": finding.target,
        "would_send": _sorted_map(finding.would_send),
        "warnings": [_plain(record.to_dict()) for record in finding.warnings],
        "refused": finding.refused,
        "reads_url": finding.reads_url,
        "url_reads": [{"line": s.line, "column": s.column} for s in finding.url_reads],
        "url_note": finding.url_note,
        "cost_before_usd": _plain(finding.cost_before_usd),
        "cost_after_usd": _plain(finding.cost_after_usd),
        "edits": [_edit(edit) for edit in finding.edits],
        "manual": list(finding.manual),
        "notes": list(finding.notes),
    }


def _edit(edit: Edit) -> dict[str, Any]:
    return {
        **_region(edit.span),
        "setting": edit.setting,
        "replacement": edit.replacement,
        "reason": edit.reason,
        "remove_argument": edit.remove_argument,
    }


def _region(span: Span) -> dict[str, int]:
    """Where a finding or an edit is: its first and last line and column (offsets are left out)."""
    return {
        "line": span.line,
        "column": span.column,
        "end_line": span.end_line,
        "end_column": span.end_column,
    }


def _day(day: date | None) -> str | None:
    return None if day is None else day.isoformat()


def _sorted_map(mapping: Mapping[str, Any]) -> dict[str, Any]:
    return {str(key): _plain(mapping[key]) for key in sorted(mapping, key=str)}


def _plain(value: Any) -> Any:
    """``value`` as JSON data: dates as ISO strings, tuples and sets as lists, NaN and infinities as null
    (JSON has none), anything else unknown as its ``str``: rendering never raises."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((_plain(v) for v in value), key=repr)
    return str(value)
