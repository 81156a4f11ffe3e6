"""Spans computed from source text, for hand-made sites, findings and edits in tests, and the checks that an
extractor's spans are where they say.

Positions follow :mod:`imageshim._scan.sites`: 1-based lines (a line ends at ``\\r\\n``, ``\\n`` or
``\\r``), 1-based columns in code points, ``end_column`` exclusive (SARIF), and ``offset`` /
``end_offset`` as str indices into the text read with ``newline=""``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from imageshim._scan.sites import CallSite, LiteralSite, Span

__all__ = ["check_sites", "check_span", "cut", "span_at", "span_of"]

_NEWLINE = re.compile(r"\r\n|\r|\n")


def span_at(text: str, offset: int, end_offset: int) -> Span:
    """The span of ``text[offset:end_offset]``."""
    if not 0 <= offset <= end_offset <= len(text):
        raise ValueError(f"{offset}:{end_offset} is not inside a text of {len(text)} characters")
    line, column = _position(text, offset)
    end_line, end_column = _position(text, end_offset)
    return Span(line, column, end_line, end_column, offset, end_offset)


def span_of(text: str, needle: str, *, after: str | None = None, nth: int = 0) -> Span:
    """The span of the ``nth`` occurrence (0-based) of ``needle`` in ``text``, counting from the first
    occurrence of ``after`` when given (``span_of(src, "dall-e-3", after="model=")``)."""
    start = 0
    if after is not None:
        start = text.index(after)
    for _ in range(nth + 1):
        found = text.find(needle, start)
        if found < 0:
            raise ValueError(f"{needle!r} occurs fewer than {nth + 1} times")
        start = found + 1
    return span_at(text, found, found + len(needle))


def cut(text: str, span: Span) -> str:
    """What ``span`` covers in ``text``."""
    return text[span.offset : span.end_offset]


def check_span(text: str, span: Span) -> None:
    """``span`` lies in ``text`` and its lines and columns are those of its offsets (counted here,
    independently of the extractors)."""
    assert 0 <= span.offset <= span.end_offset <= len(text)
    assert span == span_at(text, span.offset, span.end_offset)


def check_sites(
    text: str, calls: Sequence[CallSite], literals: Sequence[LiteralSite], *, url_read: str
) -> None:
    """Every span of a code extractor's sites is where it says and covers exactly what it names; sites come
    in source order. ``url_read``: a pattern the end of each ``.url`` read matches."""
    for call in calls:
        check_span(text, call.span)
        assert cut(text, call.span).endswith(")")
        for name, value in call.options.items():
            check_span(text, value.span)
            assert cut(text, value.span) == value.text
            check_span(text, call.arg_spans[name])
            arg = call.arg_spans[name]
            assert (
                value.origin != "literal"
                or arg.offset <= value.span.offset < value.span.end_offset <= arg.end_offset
            )
        for read in call.url_reads:
            check_span(text, read)
            assert re.search(url_read, cut(text, read))
    for site in literals:
        check_span(text, site.span)
        assert cut(text, site.span) == site.model
        assert site.written.endswith(site.model)
    assert [c.span.offset for c in calls] == sorted(c.span.offset for c in calls)
    assert [s.span.offset for s in literals] == sorted(s.span.offset for s in literals)


def _position(text: str, offset: int) -> tuple[int, int]:
    line, line_start = 1, 0
    for match in _NEWLINE.finditer(text, 0, offset):
        if match.end() > offset:
            break
        line, line_start = line + 1, match.end()
    return line, offset - line_start + 1
