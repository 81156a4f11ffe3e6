"""Spans computed from source text, for hand-made sites, findings and edits in tests.

Positions follow :mod:`imageshim._scan.sites`: 1-based lines (a line ends at ``\\r\\n``, ``\\n`` or
``\\r``), 1-based columns in code points, ``end_column`` exclusive (SARIF), and ``offset`` /
``end_offset`` as str indices into the text read with ``newline=""``.
"""

from __future__ import annotations

import re

from imageshim._scan.sites import Span

__all__ = ["span_at", "span_of"]

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


def _position(text: str, offset: int) -> tuple[int, int]:
    line, line_start = 1, 0
    for match in _NEWLINE.finditer(text, 0, offset):
        if match.end() > offset:
            break
        line, line_start = line + 1, match.end()
    return line, offset - line_start + 1
