"""Findings and scan reports built by hand, as the scanner would report them on 2026-11-27.

The sample report holds one finding of every kind: a retired DALL·E 3 call (mapping warnings, ``.url``
reads, cost, edits and a manual step), a deprecated ``gpt-image-1.5`` literal, an active ``gpt-image-2``
call in TypeScript, a config value, a call whose model is not visible, a refused 0.x call, a mention in
docs; plus files not scanned and a note. The warnings are the ones a live call gives (texts as
``imageshim._core`` writes them). :func:`findings` and :func:`reports` are hypothesis strategies that
cover the optional fields, odd paths and spans. :data:`MODELS` are the ids the extractor tests look for.
"""

from __future__ import annotations

import dataclasses
from datetime import date
from typing import Any

from hypothesis import strategies as st

from imageshim._core.warnings import WarningRecord
from imageshim._scan.findings import Edit, Finding, FindingKind, ScanReport, Skipped
from imageshim._scan.sites import Language, Span

ON = date(2026, 11, 27)
DALLE_SHUTDOWN = date(2026, 5, 12)
GPT15_SHUTDOWN = date(2026, 12, 1)
TARGET = "openai:gpt-image-2"
#: the model ids the Python and config/docs extractor tests look for: fixed here, not read from the catalog,
#: so that a catalog entry added later moves none of their sites
MODELS = (
    "dall-e-2",
    "dall-e-3",
    "gpt-image-1",
    "gpt-image-1-mini",
    "gpt-image-1.5",
    "gpt-image-2",
    "gpt-image-2-2026-04-21",
    "chatgpt-image-latest",
)


def span(line: int, column: int, length: int = 1, *, offset: int | None = None) -> Span:
    """A one-line span of ``length`` characters (end exclusive); ``offset`` defaults to one from the line."""
    start = offset if offset is not None else (line - 1) * 80 + column - 1
    return Span(line, column, line, column + length, start, start + length)


def shifted(finding: Finding, lines: int) -> Finding:
    """The same finding ``lines`` lines further down (code inserted above it)."""

    def move(s: Span) -> Span:
        return Span(s.line + lines, s.column, s.end_line + lines, s.end_column, s.offset, s.end_offset)

    return dataclasses.replace(
        finding,
        span=move(finding.span),
        url_reads=tuple(move(s) for s in finding.url_reads),
        edits=tuple(dataclasses.replace(e, span=move(e.span)) for e in finding.edits),
    )


def retired(
    kind: FindingKind, path: str, language: Language, span: Span, model: str = "dall-e-3", **fields: Any
) -> Finding:
    """A finding of a DALL·E model (retired on 2026-05-12, succeeded by gpt-image-2) as the scanner reports
    it on :data:`ON`. ``fields``: the finding's other fields (``written`` defaults to ``model``)."""
    fields.setdefault("written", model)
    return Finding(
        kind=kind,
        path=path,
        language=language,
        span=span,
        model=model,
        status="retired",
        shutdown_on=DALLE_SHUTDOWN,
        days_left=(DALLE_SHUTDOWN - ON).days,
        successor="gpt-image-2",
        **fields,
    )


def _mapped(setting: str, requested: Any, applied: Any, reason: str) -> WarningRecord:
    return WarningRecord(
        "option_mapped", setting, requested, applied, reason, model="gpt-image-2", target=TARGET
    )


def retired_call(path: str = "src/app/images.py", line: int = 12, column: int = 11) -> Finding:
    """``client.images.generate(model="dall-e-3", size="1792x1024", quality="hd", style="vivid",
    response_format="url")`` whose ``.data[0].url`` is read two lines below."""
    return retired(
        "call",
        path,
        "python",
        Span(line, column, line + 8, 6, (line - 1) * 80 + column - 1, (line + 7) * 80 + 5),
        api="images.generate",
        options={
            "model": '"dall-e-3"',
            "prompt": "prompt",
            "size": '"1792x1024"',
            "quality": '"hd"',
            "style": '"vivid"',
            "response_format": '"url"',
        },
        target=TARGET,
        would_send={"model": "gpt-image-2", "size": "1536x1024", "quality": "high", "n": 1},
        warnings=(
            WarningRecord(
                "model_retired",
                "model",
                "dall-e-3",
                "gpt-image-2",
                f"dall-e-3 was retired on 2026-05-12 (199 days ago); this request went to {TARGET} instead",
                model="dall-e-3",
                shutdown_on=DALLE_SHUTDOWN,
                days_left=-199,
                successor="gpt-image-2",
                target=TARGET,
            ),
            _mapped(
                "size",
                "1792x1024",
                "1536x1024",
                "size 1792x1024 is not offered by gpt-image-2; sent 1536x1024",
            ),
            _mapped("quality", "hd", "high", "quality 'hd' is not offered by gpt-image-2; sent 'high'"),
            WarningRecord(
                "option_dropped",
                "style",
                "vivid",
                None,
                "gpt-image-2 has no style option; style 'vivid' was not sent",
                model="gpt-image-2",
                target=TARGET,
            ),
        ),
        reads_url=True,
        url_reads=(span(line + 10, 7, 3),),
        url_note="gpt-image-2 returns no URL",
        cost_before_usd=0.12,
        cost_after_usd=0.211,
        edits=(
            Edit(path, span(line + 1, 15, 8), "gpt-image-2", "dall-e-3 was retired on 2026-05-12", "model"),
            Edit(path, span(line + 3, 14, 11), '"1536x1024"', "gpt-image-2 has no 1792x1024", "size"),
            Edit(path, span(line + 4, 17, 4), '"high"', "gpt-image-2 has no quality 'hd'", "quality"),
            Edit(
                path,
                span(line + 5, 9, 13),
                "",
                "gpt-image-2 has no style option",
                "style",
                remove_argument=True,
            ),
        ),
        manual=(
            f"reads .url at line {line + 10}: gpt-image-2 returns base64 only; read b64_json, or call through "
            "imageshim, which makes a data: URI",
        ),
    )


def deprecated_literal(path: str = "src/app/settings.py") -> Finding:
    """``DEFAULT_MODEL = "gpt-image-1.5"``: 4 days before its shutdown."""
    return Finding(
        kind="model-id",
        path=path,
        language="python",
        span=span(3, 18, 13),
        model="gpt-image-1.5",
        written="gpt-image-1.5",
        status="deprecated",
        shutdown_on=GPT15_SHUTDOWN,
        days_left=(GPT15_SHUTDOWN - ON).days,
        successor="gpt-image-2",
        edits=(
            Edit(path, span(3, 18, 13), "gpt-image-2", "gpt-image-1.5 shuts down on 2026-12-01", "model"),
        ),
    )


def active_call(path: str = "web/src/draw.ts") -> Finding:
    """``generateImage({model: openai.image('gpt-image-2'), ...})``: nothing to change."""
    return Finding(
        kind="call",
        path=path,
        language="typescript",
        span=span(9, 24, 120),
        model="gpt-image-2",
        written="gpt-image-2",
        status="active",
        shutdown_on=None,
        days_left=None,
        successor=None,
        api="generateImage",
        options={"model": "'gpt-image-2'", "size": "'1024x1024'", "n": "1"},
        target=TARGET,
        would_send={"model": "gpt-image-2", "size": "1024x1024", "n": 1},
        cost_before_usd=0.053,
        cost_after_usd=0.053,
    )


def config_value(path: str = "config/images.yaml") -> Finding:
    """``model: openai/dall-e-3`` in a LiteLLM-style config."""
    return retired(
        "config",
        path,
        "config",
        span(4, 17, 8),
        written="openai/dall-e-3",
        edits=(Edit(path, span(4, 17, 8), "gpt-image-2", "dall-e-3 was retired on 2026-05-12", "model"),),
    )


def hidden_call(path: str = "src/app/images.py") -> Finding:
    """``await client.images.generate(prompt=p, **settings)``: the model is not visible."""
    return Finding(
        kind="call",
        path=path,
        language="python",
        span=span(40, 15, 44),
        model=None,
        written=None,
        status="unknown",
        shutdown_on=None,
        days_left=None,
        successor=None,
        api="images.generate",
        flavour="async",
        options={"prompt": "p"},
        not_visible=("**settings",),
        manual=("the model comes from **settings: check that it is not a retired model",),
        notes=("without a model, openai-python sends none and the API uses dall-e-2",),
    )


def refused_call(path: str = "src/app/legacy.py") -> Finding:
    """0.x ``openai.Image.create(model="dall-e-2", ...)`` that imageshim would refuse."""
    return retired(
        "call",
        path,
        "python",
        span(5, 7, 60),
        "dall-e-2",
        api="Image.create",
        options={"model": "'dall-e-2'", "response_format": "'url'"},
        target=TARGET,
        refused='response_format "url" cannot be served: gpt-image-2 returns base64 only and [mapping] url = "error"',
        cost_before_usd=0.02,
        cost_after_usd=0.053,
    )


def doc_mention(path: str = "README.md") -> Finding:
    return retired("doc", path, "docs", span(7, 21, 8))


SKIPPED = (
    Skipped("web/src/broken.ts", "does not parse (tree-sitter error at line 3)"),
    Skipped("data/ünïcode file.py", "not UTF-8 text"),
)
NOTES = (".gitignore not applied: pathspec is not installed",)


def sample_report() -> ScanReport:
    findings = (
        retired_call(),
        hidden_call(),
        deprecated_literal(),
        active_call(),
        config_value(),
        refused_call(),
        doc_mention(),
    )
    return ScanReport(
        ON, ("src", "web", "config", "README.md"), findings, SKIPPED, files_scanned=14, notes=NOTES
    )


def clean_report(files: int = 9) -> ScanReport:
    return ScanReport(ON, (".",), (), files_scanned=files)


# ----- hypothesis -------------------------------------------------------------------------------------
#: any character but "/", and often the ones that need care: escapes, bidi overrides, a byte decoded with
#: surrogateescape, URI delimiters, spaces
_ODD = st.sampled_from(["\x1b", "\u202e", "\udcff", "\n", " ", "%", "#", "?", ":", "\\", "é", "漢"])
_SEGMENT = st.text(st.characters(blacklist_characters="/") | _ODD, min_size=1, max_size=12).filter(
    lambda s: s not in (".", "..")
)
paths = st.lists(_SEGMENT, min_size=1, max_size=4).map("/".join)
_TEXT = st.text(max_size=16)
_NUMBER = st.floats(allow_nan=True, allow_infinity=True) | st.none()


@st.composite
def spans(draw: st.DrawFn) -> Span:
    line = draw(st.integers(1, 100_000))
    column = draw(st.integers(1, 500))
    end_line = draw(st.integers(line, line + 50))
    end_column = draw(st.integers(column if end_line == line else 1, 600))
    offset = draw(st.integers(0, 10_000_000))
    return Span(line, column, end_line, end_column, offset, offset + draw(st.integers(0, 5000)))


_SCALAR = st.none() | st.booleans() | st.integers() | st.floats() | _TEXT | st.dates()
_VALUE = st.recursive(
    _SCALAR,
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(_TEXT, inner, max_size=2),
    max_leaves=4,
)

warning_records = st.builds(
    WarningRecord,
    kind=st.sampled_from(["option_mapped", "option_dropped", "model_deprecation", "model_retired"]),
    setting=_TEXT,
    requested=_VALUE,
    applied=_VALUE,
    reason=_TEXT,
    model=st.none() | _TEXT,
    shutdown_on=st.none() | st.dates(),
    days_left=st.none() | st.integers(-5000, 5000),
    successor=st.none() | _TEXT,
    target=st.none() | _TEXT,
)


@st.composite
def findings(draw: st.DrawFn, path: st.SearchStrategy[str] = paths) -> Finding:
    where = draw(path)
    status = draw(st.sampled_from(["retired", "deprecated", "active", "unknown"]))
    shutdown = draw(st.none() | st.dates(date(2020, 1, 1), date(2035, 1, 1)))
    edit = st.builds(
        Edit,
        path=st.just(where),
        span=spans(),
        replacement=_TEXT,
        reason=_TEXT,
        setting=_TEXT,
        remove_argument=st.booleans(),
    )
    return Finding(
        kind=draw(st.sampled_from(["call", "model-id", "config", "doc"])),
        path=where,
        language=draw(st.sampled_from(["python", "javascript", "typescript", "config", "docs"])),
        span=draw(spans()),
        model=draw(
            st.none() | st.sampled_from(["dall-e-3", "dall-e-2", "gpt-image-1.5", "gpt-image-2"]) | _TEXT
        ),
        written=draw(st.none() | _TEXT),
        status=status,
        shutdown_on=shutdown,
        days_left=None if shutdown is None else (shutdown - ON).days,
        successor=draw(st.none() | st.just("gpt-image-2") | _TEXT),
        api=draw(st.none() | st.sampled_from(["images.generate", "Image.create", "generateImage"])),
        flavour=draw(st.none() | st.sampled_from(["async", "with_raw_response"])),
        options=draw(st.dictionaries(_TEXT, _TEXT, max_size=4)),
        not_visible=tuple(draw(st.lists(_TEXT, max_size=2))),
        target=draw(st.none() | st.just(TARGET)),
        would_send=draw(st.dictionaries(_TEXT, _VALUE, max_size=4)),
        warnings=tuple(draw(st.lists(warning_records, max_size=3))),
        refused=draw(st.none() | _TEXT),
        reads_url=draw(st.booleans()),
        url_reads=tuple(draw(st.lists(spans(), max_size=2))),
        url_note=draw(st.none() | _TEXT),
        cost_before_usd=draw(_NUMBER),
        cost_after_usd=draw(_NUMBER),
        edits=tuple(draw(st.lists(edit, max_size=3))),
        manual=tuple(draw(st.lists(_TEXT, max_size=2))),
        notes=tuple(draw(st.lists(_TEXT, max_size=2))),
    )


@st.composite
def reports(draw: st.DrawFn) -> ScanReport:
    day = draw(st.dates(date(2024, 1, 1), date(2030, 1, 1)))
    return ScanReport(
        on=day,
        roots=tuple(draw(st.lists(paths, max_size=3))),
        findings=tuple(draw(st.lists(findings(), max_size=5))),
        skipped=tuple(draw(st.lists(st.builds(Skipped, path=paths, reason=_TEXT), max_size=3))),
        files_scanned=draw(st.integers(0, 100_000)),
        notes=tuple(draw(st.lists(_TEXT, max_size=2))),
    )
