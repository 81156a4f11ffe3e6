"""Where the whole scalars of a config file are: one small scanner per format, and the helpers they share.

Each scanner takes the text and its :class:`~.positions.TextPositions` and yields ``(start, end)`` offsets
of every scalar that is a whole key or value (quotes excluded, plain scalars trimmed); :mod:`.text_sites`
keeps those that are model ids. None is a full parser and none raises on malformed input: a broken file
gives fewer scalars, not an error. YAML, the largest, is in :mod:`.scalars_yaml`.

Lines end at ``\\r\\n``, ``\\r`` or ``\\n`` (SARIF's line terminators), as :mod:`.positions` counts them.

Every scanner is linear in the text's length, also on a file of one long line (minified JSON): each
looks at a character a bounded number of times, and where it needs the end of the line it is on, it
takes it from the line starts :class:`~.positions.TextPositions` computes once (:func:`line_end`), never
by searching ahead again for each string.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator

from imageshim._scan.positions import TextPositions

__all__ = [
    "WS",
    "before_comment",
    "close_quote",
    "line_end",
    "scan_env",
    "scan_ini",
    "scan_json",
    "scan_toml",
    "skip_ws",
    "trim",
]

#: the blanks between tokens on a line
WS = " \t"


# -- shared lexing helpers ------------------------------------------------------------------------


def close_quote(s: str, i: int, quote: str, escape: str | None, stop: int) -> int:
    """The index of the quote closing a string whose content starts at ``i`` (before ``stop``), else -1.

    ``escape``: ``"\\\\"`` (a backslash escapes the next character), the quote itself (a doubled quote
    is one quote, YAML's ``''``), or None.
    """
    while i < stop:
        c = s[i]
        if c == quote:
            if escape == quote and i + 1 < stop and s[i + 1] == quote:
                i += 2
                continue
            return i
        i += 2 if (c == "\\" and escape == "\\") else 1
    return -1


def line_end(index: TextPositions, i: int) -> int:
    """Where the line holding offset ``i`` ends: at its line break (``i`` when ``i`` is on one), or at the
    text's end. A binary search in the line starts: O(log lines), however far the end is."""
    text, starts = index.text, index.line_starts
    line = bisect.bisect_right(starts, i)
    if line == len(starts):
        return len(text)
    following = starts[line]
    end = following - 2 if following >= 2 and text[following - 2 : following] == "\r\n" else following - 1
    return max(end, i)


def skip_ws(s: str, i: int) -> int:
    while i < len(s) and s[i] in WS:
        i += 1
    return i


def trim(s: str, start: int, end: int) -> tuple[int, int]:
    while start < end and s[start] in WS:
        start += 1
    while end > start and s[end - 1] in WS:
        end -= 1
    return start, end


_HASH_COMMENT = re.compile(r"[ \t]#")


def before_comment(line: str, i: int, comment: re.Pattern[str] = _HASH_COMMENT) -> int:
    """Where a comment (whitespace + marker) starts on ``line`` after ``i``, else the line's end."""
    match = comment.search(line, i)
    return match.start() if match else len(line)


# -- TOML ---------------------------------------------------------------------------------------

_TOML_BARE = re.compile(r"[A-Za-z0-9_-]+")
#: a run of characters that mean nothing to the scanner (blanks, ".", numbers' signs ...)
_TOML_OTHER = re.compile(r"[^#\r\n\"'\[\]{},=A-Za-z0-9_-]+")


def _toml_multiline_end(text: str, i: int, quote: str) -> int:
    while True:
        j = text.find(quote * 3, i)
        if j < 0:
            return len(text)
        k = j
        while quote == '"' and k > i and text[k - 1] == "\\":
            k -= 1
        if (j - k) % 2:  # an escaped quote
            i = j + 1
            continue
        end = j + 3
        while end < len(text) and end - j < 5 and text[end] == quote:  # up to two quotes end the content
            end += 1
        return end


def scan_toml(text: str, index: TextPositions) -> Iterator[tuple[int, int]]:
    """Every single-line string (a key or a value, always whole in TOML) and every bare key."""
    i, n = 0, len(text)
    stack: list[str] = []
    key = True  # a bare word now is a key: at a line's start, in a [table] header, after "{" or ","
    while i < n:
        c = text[i]
        if c == "#":
            i = line_end(index, i)
        elif c in "\r\n":
            key = key or not stack
            i += 1
        elif c in "\"'":
            if text.startswith(c * 3, i):  # multi-line strings are prose, not an id
                i = _toml_multiline_end(text, i + 3, c)
                continue
            stop = line_end(index, i + 1)
            end = close_quote(text, i + 1, c, "\\" if c == '"' else None, stop)
            if end >= 0:
                yield i + 1, end
            i = stop if end < 0 else end + 1
        elif c in "[{":
            if c == "{" or stack or not key:  # else: a [table] header, where words are keys
                stack.append(c)
                key = c == "{"
            i += 1
        elif c in "]}":
            if stack and stack[-1] == {"]": "[", "}": "{"}[c]:
                stack.pop()
                key = False
            i += 1
        elif c in ",=":
            key = c == "," and bool(stack) and stack[-1] == "{"
            i += 1
        else:
            match = _TOML_BARE.match(text, i)
            if match is None:
                other = _TOML_OTHER.match(text, i)
                i = other.end() if other else i + 1
                continue
            if key:
                yield i, match.end()
            i = match.end()


# -- JSON ---------------------------------------------------------------------------------------

_JSON_TOKEN = re.compile(r'["/]')


def scan_json(text: str, index: TextPositions) -> Iterator[tuple[int, int]]:
    """Every string, key or value; ``//`` and ``/* */`` comments (JSONC, tsconfig.json) skipped."""
    i, n = 0, len(text)
    while True:
        match = _JSON_TOKEN.search(text, i)
        if match is None:
            return
        i = match.start()
        if text[i] == '"':
            stop = line_end(index, i + 1)
            end = close_quote(text, i + 1, '"', "\\", stop)
            if end >= 0:
                yield i + 1, end
            i = stop if end < 0 else end + 1
        elif text.startswith("//", i):
            i = line_end(index, i)
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            i = n if j < 0 else j + 2
        else:
            i += 1


# -- .env ---------------------------------------------------------------------------------------

_ENV_ASSIGN = re.compile(r"(?:export[ \t]+)?[A-Za-z_][A-Za-z0-9_.-]*[ \t]*=[ \t]*")


def scan_env(text: str, index: TextPositions) -> Iterator[tuple[int, int]]:
    """Whole values of ``NAME=value`` / ``export NAME="value"`` (a ``#`` after a space is a comment)."""
    quote: str | None = None  # inside a quoted value spanning lines
    for base, line in index.lines():
        if quote is not None:
            if close_quote(line, 0, quote, "\\" if quote == '"' else None, len(line)) >= 0:
                quote = None
            continue
        match = _ENV_ASSIGN.match(line, skip_ws(line, 0))
        if match is None:
            continue
        v = match.end()
        if v < len(line) and line[v] in "\"'":
            q = line[v]
            end = close_quote(line, v + 1, q, "\\" if q == '"' else None, len(line))
            if end < 0:
                quote = q
            else:
                yield base + v + 1, base + end
        else:
            start, end = trim(line, v, before_comment(line, v))
            yield base + start, base + end


# -- INI / .cfg ---------------------------------------------------------------------------------

_INI_COMMENT = re.compile(r"[ \t][;#]")
_INI_DELIMITER = re.compile(r"[=:]")


def _unquote(line: str, start: int, end: int) -> tuple[int, int]:
    if end - start >= 2 and line[start] in "\"'" and line[end - 1] == line[start]:
        return start + 1, end - 1
    return start, end


def scan_ini(text: str, index: TextPositions) -> Iterator[tuple[int, int]]:
    """Section names, keys and whole values (quotes stripped), and whole continuation lines.

    ``;`` or ``#`` starts a comment at a line's start or after whitespace (configparser itself keeps
    inline comments in the value; tools built on INI mostly strip them, and so do we). A continuation
    line that is ``name = value`` (tox's ``setenv``, entry points) also offers its value.
    """
    in_value = False
    for base, line in index.lines():
        s = skip_ws(line, 0)
        if s == len(line) or line[s] in ";#":
            continue
        stop = before_comment(line, s, _INI_COMMENT)
        if s > 0 and in_value:
            pieces = [trim(line, s, stop)]
            delimiter = _INI_DELIMITER.search(line, s, stop)
            if delimiter is not None:
                pieces.append(trim(line, delimiter.end(), stop))
            for start, end in pieces:
                start, end = _unquote(line, start, end)
                yield base + start, base + end
            continue
        if line[s] == "[":
            close = line.find("]", s + 1)
            if close > 0:
                start, end = trim(line, s + 1, close)
                yield base + start, base + end
            in_value = False
            continue
        in_value = True
        delimiter = _INI_DELIMITER.search(line, s, stop)
        key_end = delimiter.start() if delimiter else stop
        start, end = trim(line, s, key_end)
        yield base + start, base + end
        if delimiter is not None:
            start, end = _unquote(line, *trim(line, delimiter.end(), stop))
            yield base + start, base + end
