"""The scan as text for people: findings grouped by file, one headline per finding, details beneath.

The phrasing lives here once and the SARIF renderer reuses it: :func:`status_phrase` ("retired 199 days
ago", "deprecated, 4 days left", "active", "model not visible"), :func:`subject` (what was found: the API
and the model, with its successor), :func:`details` (what imageshim would send, the refusal, the ``.url``
reads, the cost, the fix and the manual steps) and :func:`sentence` (all of it as one sentence).
:func:`ordered` is the order every renderer lists findings in. No colour codes: the output is read in CI
logs as often as in terminals.
"""

from __future__ import annotations

import re
import textwrap
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any

from imageshim._scan.findings import Edit, Finding, ScanReport

__all__ = ["details", "ordered", "render", "safe_text", "sentence", "status_phrase", "subject"]

WIDTH = 100
#: lifecycle records say what the headline already says; the details list what the mapping changes
_LIFECYCLE = ("model_retired", "model_deprecation")
_QUOTES = ("'", '"', "`")
_NUMBER = re.compile(r"^-?\d+(?:\.\d+)?$")
#: Unicode categories escaped in the text report: controls, format (bidi overrides), separators, surrogates
_UNSAFE = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def ordered(findings: Iterable[Finding]) -> list[Finding]:
    """Findings by path, then position (then kind and model, so that equal positions keep one order)."""
    return sorted(
        findings,
        key=lambda f: (
            f.path,
            f.span.line,
            f.span.column,
            f.span.end_line,
            f.span.end_column,
            f.kind,
            f.model or "",
            f.written or "",
        ),
    )


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def status_phrase(finding: Finding, *, dated: bool = False) -> str:
    """The model's status on the scan's day; ``dated`` adds the shutdown date."""
    left, day = finding.days_left, finding.shutdown_on
    if finding.status == "retired":
        phrase = "retired"
        if left is not None and left < 0:
            phrase = f"retired {_plural(-left, 'day')} ago"
        elif left == 0:
            phrase = "retired today"
        return f"{phrase} ({day.isoformat()})" if dated and day is not None else phrase
    if finding.status == "deprecated":
        phrase = "deprecated"
        if left is not None and left > 0:
            phrase = f"deprecated, {_plural(left, 'day')} left"
        return f"{phrase} (shuts down {day.isoformat()})" if dated and day is not None else phrase
    if finding.status == "active":
        return "active"
    return "model not visible" if finding.model is None else "model not in the catalog"


def _model_text(finding: Finding) -> str:
    """The model as written, with the catalog id beside an alias or a ``provider/`` prefix."""
    if finding.model is None:
        return finding.written or "?"
    if finding.written and finding.written != finding.model:
        return f"{finding.written} ({finding.model})"
    return finding.model


def _arrow(finding: Finding) -> str:
    successor = finding.successor
    return f" -> {successor}" if successor and successor != finding.model else ""


def subject(finding: Finding) -> str:
    """What was found: ``images.generate (async) dall-e-3 -> gpt-image-2``, ``model id ... -> ...``."""
    if finding.kind == "call":
        api = finding.api or "image call"
        if finding.flavour:
            api = f"{api} ({finding.flavour})"
        if finding.model is None:  # not visible: the expression it comes from, when there is one
            return f"{api}, model from {finding.written}" if finding.written else api
        return f"{api} {_model_text(finding)}{_arrow(finding)}"
    kind = {"model-id": "model id", "config": "config value", "doc": "mention of"}[finding.kind]
    return f"{kind} {_model_text(finding)}{_arrow(finding)}"


def _bare(value: Any) -> str:
    """A value as people write it: ``1792x1024`` for the source text ``"1792x1024"``, ``1`` for ``1``."""
    if isinstance(value, str):
        text = value.strip()
        if len(text) >= 2 and text[0] == text[-1] and text[0] in _QUOTES:
            return text[1:-1]
        return text
    if value is None:
        return "null"
    return str(value)


def _changes(finding: Finding) -> list[str]:
    """What imageshim changes: the mapping warnings, then what ``would_send`` differs in from ``options``."""
    out: list[str] = []
    covered: set[str] = {"model"}
    for record in finding.warnings:
        if record.kind in _LIFECYCLE:
            continue
        covered.add(record.setting)
        if record.kind == "option_dropped" or record.applied is None:
            out.append(f"{record.setting} dropped")
        else:
            out.append(f"{record.setting} {_bare(record.applied)} instead of {_bare(record.requested)}")
    for key in sorted(finding.would_send):
        asked = _literal(finding.options.get(key))
        if key in covered or asked is None:
            continue
        sent = _bare(finding.would_send[key])
        if sent != asked:
            out.append(f"{key} {sent} instead of {asked}")
    return out


def _literal(text: str | None) -> str | None:
    """The value of an option's source text when it is a literal (a quoted string, a number, a boolean);
    None for a name or an expression, whose value the scanner did not see (never compared, never guessed)."""
    if text is None:
        return None
    bare = _bare(text)
    if bare != text.strip() or _NUMBER.match(bare) or bare in ("True", "False", "true", "false"):
        return bare
    return None


def _sending(finding: Finding) -> str | None:
    changes = _changes(finding)
    where = f" to {finding.target}" if finding.target else ""
    if changes:
        return f"imageshim would send{where}: {', '.join(changes)}"
    if finding.target:
        return f"imageshim would send it{where} as written"
    return None


def _cost(before: float | None, after: float | None) -> str | None:
    if before is not None and after is not None:
        return f"cost ${before:.4f} -> ${after:.4f} per call"
    if before is not None:
        return f"cost ${before:.4f} per call (after migration: not known)"
    if after is not None:
        return f"cost ${after:.4f} per call after migration (now: not known)"
    return None


def _edit_phrase(edit: Edit) -> str:
    if edit.remove_argument or not edit.replacement:
        return f"{edit.setting} removed"
    return f"{edit.setting} -> {_bare(edit.replacement)}"


def details(finding: Finding) -> list[str]:
    """The facts beyond the headline, one phrase each (no trailing full stop)."""
    out: list[str] = []
    if finding.kind == "call" and not finding.refused:
        sending = _sending(finding)
        if sending:
            out.append(sending)
    if finding.refused:
        out.append(f"imageshim would refuse it: {finding.refused}")
    if finding.reads_url:
        lines = sorted({span.line for span in finding.url_reads})
        where = f" (line{'s' if len(lines) > 1 else ''} {', '.join(map(str, lines))})" if lines else ""
        note = finding.url_note
        if note and any(note in step for step in finding.manual):
            note = None  # a manual step says it in full
        if note and note.startswith("reads"):  # a note that is a whole sentence of its own
            out.append(f"{note}{where}")
        else:
            out.append(f"reads .url: {note}{where}" if note else f"reads .url{where}")
    if finding.not_visible:
        out.append(f"not visible: {', '.join(finding.not_visible)}")
    cost = _cost(finding.cost_before_usd, finding.cost_after_usd)
    if cost:
        out.append(cost)
    if finding.edits:
        out.append(f"fix (imageshim scan --fix): {', '.join(_edit_phrase(e) for e in finding.edits)}")
    out.extend(f"manual: {step}" for step in finding.manual)
    out.extend(f"note: {note}" for note in finding.notes)
    return out


def sentence(finding: Finding) -> str:
    """The finding as one sentence: what, the status with its date, the successor, then the details."""
    what = subject(finding)
    if finding.kind == "call" and finding.model is None and not finding.written:
        what = f"{what} with a model that is not visible"
    head = f"{what}: {status_phrase(finding, dated=True)}" if finding.status != "unknown" else what
    text = "; ".join([head, *details(finding)])
    return text if text.endswith(".") else f"{text}."


def safe_text(text: str) -> str:
    """``text`` with control, format (bidirectional overrides: "Trojan Source"), line-separator and lone
    surrogate characters escaped (``\\x1b``, ``\\u202e``, ``\\udcff``): file names, notes and source text
    reach a terminal, where they must not move the cursor, colour or reorder what it shows, nor fail to
    encode (a path decoded with ``surrogateescape``)."""
    if text.isprintable():
        return text
    return "".join(_escape(c) if unicodedata.category(c) in _UNSAFE else c for c in text)


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _wrap(text: str, indent: str, more: str = "  ") -> list[str]:
    return textwrap.wrap(
        safe_text(text),
        WIDTH,
        initial_indent=indent,
        subsequent_indent=indent + more,
        break_long_words=False,
        break_on_hyphens=False,
    ) or [indent.rstrip()]


def _group(findings: Iterable[Finding]) -> Mapping[str, list[Finding]]:
    groups: dict[str, list[Finding]] = {}
    for finding in ordered(findings):
        groups.setdefault(finding.path, []).append(finding)
    return groups


def _file_section(path: str, findings: list[Finding]) -> list[str]:
    places = [f"{f.span.line}:{f.span.column}" for f in findings]
    width = max(len(p) for p in places)
    out = [safe_text(path)]
    for place, finding in zip(places, findings, strict=True):
        out.extend(_wrap(f"{place:<{width}}  {status_phrase(finding)}  {subject(finding)}", "  ", "    "))
        pad = " " * (2 + width + 2)
        for detail in details(finding):
            out.extend(_wrap(detail, pad))
    return out


def _docs_section(docs: list[Finding]) -> list[str]:
    out = ["Mentions in documentation (not uses)"]
    for finding in ordered(docs):
        where = f"{finding.path}:{finding.span.line}:{finding.span.column}"
        status = status_phrase(finding)
        out.extend(_wrap(f"{where}  {_model_text(finding)} ({status}){_arrow(finding)}", "  ", "    "))
    return out


def _total(report: ScanReport, uses: list[Finding], docs: int) -> str:
    scanned = f"{_plural(report.files_scanned, 'file')} scanned; {len(report.skipped)} not scanned"
    extra = f"; {_plural(docs, 'mention')} in documentation" if docs else ""
    if not uses:
        return f"No findings on {report.on.isoformat()}: {scanned}{extra}."
    counts = report.counts()
    files = len({f.path for f in uses})
    return (
        f"{_plural(len(uses), 'finding')} in {_plural(files, 'file')}: {counts['retired']} retired, "
        f"{counts['deprecated']} deprecated, {counts['active']} active, {counts['unknown']} not visible; "
        f"{scanned}{extra}"
    )


def render(report: ScanReport) -> str:
    """The text report; ends with a newline. A clean scan is one line."""
    uses = [f for f in report.findings if f.kind != "doc"]
    docs = [f for f in report.findings if f.kind == "doc"]
    if not (uses or docs or report.skipped or report.notes):
        return (
            f"Clean: no image-model calls or model ids in {_plural(report.files_scanned, 'file')} scanned "
            f"(statuses on {report.on.isoformat()}).\n"
        )
    sections: list[list[str]] = []
    if uses or docs:
        sections.append([f"Model statuses on {report.on.isoformat()}"])
    sections.extend(_file_section(path, group) for path, group in _group(uses).items())
    if docs:
        sections.append(_docs_section(docs))
    if report.skipped:
        skipped = sorted(report.skipped, key=lambda s: (s.path, s.reason))
        sections.append(
            ["Not scanned", *(line for s in skipped for line in _wrap(f"{s.path}: {s.reason}", "  "))]
        )
    if report.notes:
        sections.append(["Notes", *(line for note in report.notes for line in _wrap(note, "  "))])
    sections.append([_total(report, uses, len(docs))])
    return "\n\n".join("\n".join(section) for section in sections) + "\n"
