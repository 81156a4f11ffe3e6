"""Positions in one decoded text: UTF-8 byte positions from the parsers -> str offsets -> :class:`~.sites.Span`.

The parsers count in UTF-8 bytes: Python's :mod:`ast` gives a line and a byte column, tree-sitter a byte
offset into the encoded text. A :class:`~.sites.Span` holds str offsets into the decoded text, 1-based lines
and 1-based columns in code points. :class:`TextPositions` converts for both code extractors, and
gives the config scanners and ``--fix`` their lines and positions.

Lines end at ``\\r\\n``, ``\\r`` or ``\\n``, and at nothing else:

- This is how Python's tokenizer reads source text: it turns the three into ``\\n`` before it counts
  lines and columns. ``\\f``, ``\\v``, ``\\x1c``-``\\x1e``, ``\\x85``, U+2028 and U+2029 stay on their
  line, also inside strings and comments. So ``ast``'s line numbers are these lines, and its byte columns
  count from these line starts.
- JavaScript also ends a line at U+2028 / U+2029, and tree-sitter's rows count only ``\\n``. Neither is
  used here: JS/TS spans are made from byte offsets and these lines, so a ``.ts`` file and a ``.py`` file
  with the same line breaks get the same line numbers.
- :mod:`.sites` (for SARIF) counts lines the same way; the config scanners (:mod:`.scalars`) and ``--fix``
  (:mod:`.fix`, :mod:`.fix_python`) use this class for theirs.

A fast path covers the common case. In ASCII text, byte offsets and str offsets are equal. In an ASCII line
of any text, byte columns and code-point columns are equal. Other lines are encoded once, when first asked
for. Nothing is computed until the first question, since most files hold no site at all.
"""

from __future__ import annotations

import bisect
import functools
import re
from collections.abc import Iterator

from imageshim._scan.sites import Span

__all__ = ["LINE_BREAK", "TextPositions"]

#: what ends a line (see the module's docstring)
LINE_BREAK = re.compile(r"\r\n|\r|\n")
_LINE_BREAK_BYTES = re.compile(rb"\r\n|\r|\n")


class TextPositions:
    """One text's lines, and its positions as str offsets, UTF-8 byte offsets and :class:`Span`.

    ``data`` is ``text`` encoded as UTF-8 with ``surrogatepass``, when the caller already has it (a lone
    surrogate, from a file decoded with ``surrogateescape``, is three bytes, as tree-sitter saw it).
    """

    def __init__(self, text: str, data: bytes | None = None) -> None:
        self.text = text
        self._data = data
        #: per line (1-based): its UTF-8 bytes, or None for an ASCII line
        self._encoded: dict[int, bytes | None] = {}

    @functools.cached_property
    def ascii(self) -> bool:
        return len(self._data) == len(self.text) if self._data is not None else self.text.isascii()

    @functools.cached_property
    def line_starts(self) -> list[int]:
        """The str offset each line starts at (index 0: line 1)."""
        return [0, *(match.end() for match in LINE_BREAK.finditer(self.text))]

    @functools.cached_property
    def byte_line_starts(self) -> list[int]:
        """The UTF-8 byte offset each line starts at (the same list as :attr:`line_starts` for ASCII)."""
        if self.ascii:
            return self.line_starts
        data = self._data if self._data is not None else self.text.encode("utf-8", "surrogatepass")
        return [0, *(match.end() for match in _LINE_BREAK_BYTES.finditer(data))]

    def offset(self, line: int, byte_column: int) -> int:
        """The str offset at ``byte_column`` (a UTF-8 byte count, 0-based) of the 1-based ``line``.

        This is the position :mod:`ast` gives (``lineno``, ``col_offset``); ``byte_column`` must fall on a
        character boundary.
        """
        start = self.line_starts[line - 1]
        if byte_column == 0 or self.ascii:
            return start + byte_column
        encoded = self._line_bytes(line, start)
        if encoded is None:
            return start + byte_column
        return start + len(encoded[:byte_column].decode("utf-8", "surrogatepass"))

    def offset_of_byte(self, at: int) -> int:
        """The str offset of the UTF-8 byte offset ``at`` (on a character boundary)."""
        return self._from_byte(at)[1]

    def lines(self) -> Iterator[tuple[int, str]]:
        """Each line's str offset and its text, without the line break."""
        start = 0
        for match in LINE_BREAK.finditer(self.text):
            yield start, self.text[start : match.start()]
            start = match.end()
        yield start, self.text[start:]

    def position(self, offset: int) -> tuple[int, int]:
        """The 1-based line and 1-based column (in code points) of the str offset ``offset``."""
        starts = self.line_starts
        line = bisect.bisect_right(starts, offset)
        return line, offset - starts[line - 1] + 1

    def span(self, start: int, end: int) -> Span:
        """The span of the str offsets ``start:end``."""
        line, column = self.position(start)
        end_line, end_column = (line, column) if end == start else self.position(end)
        return Span(line, column, end_line, end_column, start, end)

    def byte_span(self, start: int, end: int) -> Span:
        """The span of the UTF-8 byte offsets ``start:end`` (tree-sitter's ``start_byte``, ``end_byte``)."""
        line, offset = self._from_byte(start)
        end_line, end_offset = (line, offset) if end == start else self._from_byte(end)
        starts = self.line_starts
        return Span(
            line,
            offset - starts[line - 1] + 1,
            end_line,
            end_offset - starts[end_line - 1] + 1,
            offset,
            end_offset,
        )

    def _from_byte(self, at: int) -> tuple[int, int]:
        """A byte offset -> (its 1-based line, its str offset)."""
        line = bisect.bisect_right(self.byte_line_starts, at)
        if self.ascii:
            return line, at
        return line, self.offset(line, at - self.byte_line_starts[line - 1])

    def _line_bytes(self, line: int, start: int) -> bytes | None:
        if line not in self._encoded:
            starts = self.line_starts
            segment = self.text[start : starts[line] if line < len(starts) else len(self.text)]
            self._encoded[line] = None if segment.isascii() else segment.encode("utf-8", "surrogatepass")
        return self._encoded[line]
