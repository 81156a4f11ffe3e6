"""Where the whole scalars of a YAML file are (see :mod:`.scalars` for what a scanner yields)."""

from __future__ import annotations

import re

from imageshim._scan.positions import TextPositions
from imageshim._scan.scalars import WS, before_comment, close_quote, skip_ws, trim

__all__ = ["scan_yaml"]

_YAML_ESCAPES = {'"': "\\", "'": "'"}
_KEY_COLON = re.compile(r":(?=[ \t]|$)")
_FLOW_COLON = re.compile(r":(?=[ \t,\[\]{}]|$)")


class _Yaml:
    """Scalars that are whole keys, values or sequence items, line by line.

    Skipped: comments, block scalars (``|``, ``>``: prose), quoted scalars spanning lines, and plain
    scalars spanning lines (``description: we used`` + ``  dall-e-3``: the value is the whole text), whose
    continuation lines are no nodes either. Flow collections (``[a, b]``, ``{k: v}``) may span lines.
    """

    def __init__(self) -> None:
        self.out: list[tuple[int, int]] = []
        self.base = 0
        self.block: int | None = None  # skipping a block scalar: lines indented more than this
        self.quote: str | None = None  # inside a quoted scalar that spans lines
        self.flow = 0  # depth of an open flow collection
        self.plain: int | None = None  # a plain scalar goes on over lines indented more than this
        self.pending: tuple[int, int] | None = None  # a whole plain scalar, unless the next line continues it
        self.below: int | None = None  # after "key:" or "-" alone: a node indented more than this may follow
        self.open = False  # flow: a plain scalar ran to the end of the line above
        self.open_span: tuple[int, int] | None = None  # ... and was a whole scalar there

    def run(self, index: TextPositions) -> list[tuple[int, int]]:
        for start, line in index.lines():
            self.base = start
            self._line(line)
        self._settle()
        return self.out

    def _settle(self) -> None:
        if self.pending is not None:
            self.out.append(self.pending)
        self.pending, self.plain = None, None

    def _trimmed(self, line: str, start: int, end: int) -> tuple[int, int] | None:
        start, end = trim(line, start, end)
        return (self.base + start, self.base + end) if start < end else None

    def _line(self, line: str) -> None:
        indent = skip_ws(line, 0)
        if self.block is not None:
            if indent == len(line) or indent > self.block:
                return
            self.block = None
        pos = 0
        if self.quote is not None:
            end = close_quote(line, 0, self.quote, _YAML_ESCAPES[self.quote], len(line))
            if end < 0:
                return
            self.quote, pos = None, end + 1
            if not self.flow:
                return
        if self.flow:
            self._flow(line, pos)
            return
        if indent == len(line):
            return
        comment = line[indent] == "#"
        if self.plain is not None:
            if indent > self.plain and not comment:  # the plain scalar above goes on here
                self.pending = None
                return
            self._settle()
        if comment:
            return
        below, self.below = self.below, None
        if line.startswith("%") or re.match(r"(?:---|\.\.\.)(?:[ \t]|$)", line):
            return
        pos = parent = indent
        item = False
        # "- ", "? " and ": " open a node on the same line ("- - x", "- key: v")
        while pos < len(line) and line[pos] in "-?:" and (pos + 1 == len(line) or line[pos + 1] in WS):
            parent, item = pos, True
            pos = skip_ws(line, pos + 1)
        if not item and below is not None and indent > below:  # the value of the "key:" above
            self._node(line, pos, below, whole=True, key=True)
        else:
            self._node(line, pos, parent, whole=item, key=True)

    def _node(self, line: str, pos: int, parent: int, *, whole: bool, key: bool) -> None:
        while pos < len(line) and line[pos] in "!&":  # a tag or an anchor before the node
            while pos < len(line) and line[pos] not in WS:
                pos += 1
            pos = skip_ws(line, pos)
        if pos >= len(line) or line[pos] == "#":
            if whole:
                self.below = parent
            return
        c = line[pos]
        if c == "*":
            return
        if c in "[{":
            self._flow(line, pos)
        elif c in "|>":
            self.block = parent
        elif c in "\"'":
            end = close_quote(line, pos + 1, c, _YAML_ESCAPES[c], len(line))
            if end < 0:
                self.quote = c
                return
            after = skip_ws(line, end + 1)
            if key and _KEY_COLON.match(line, after):
                self.out.append((self.base + pos + 1, self.base + end))  # quoted: never trimmed
                self._node(line, skip_ws(line, after + 1), pos, whole=True, key=False)
            elif whole and (after == len(line) or line[after] == "#"):
                self.out.append((self.base + pos + 1, self.base + end))
        else:
            stop = before_comment(line, pos)
            # endpos=stop: "$" also matches at the comment, so "key: # note" is a key with no value
            colon = _KEY_COLON.search(line, pos, stop) if key else None
            if colon is not None:
                found = self._trimmed(line, pos, colon.start())
                if found is not None:
                    self.out.append(found)
                self._node(line, skip_ws(line, colon.end()), pos, whole=True, key=False)
                return
            self.plain = parent
            if whole and stop == len(line):  # else a comment ends it here: it cannot go on
                self.pending = self._trimmed(line, pos, stop)
            elif whole:
                found = self._trimmed(line, pos, stop)
                self.out.extend([found] if found is not None else [])
                self.plain = None

    def _flow(self, line: str, i: int) -> None:
        n = len(line)
        token = -1  # start of the plain scalar being read
        continued = False  # that scalar began on a line above: it is not whole here
        quoted = False  # just after a quoted scalar, where ":" always separates ({"model":"dall-e-3"})
        if self.open and skip_ws(line, i) < n:
            j = skip_ws(line, i)
            if line[j] in ",]}#" or (line[j] == ":" and _FLOW_COLON.match(line, j)):
                self.out.extend([self.open_span] if self.open_span is not None else [])
            else:
                token, continued = j, True
            self.open, self.open_span = False, None
        while i < n:
            c = line[i]
            if c == "#" and (i == 0 or line[i - 1] in WS):
                n = i  # a comment ends the line, and any plain scalar with it
                break
            if c in "\"'" and token < 0:
                end = close_quote(line, i + 1, c, _YAML_ESCAPES[c], n)
                if end < 0:
                    self.quote = c
                    return
                after = skip_ws(line, end + 1)
                if after == n or line[after] in ",]}:#":
                    self.out.append((self.base + i + 1, self.base + end))
                i, quoted = end + 1, True
                continue
            if c in ",[]{}" or (c == ":" and (quoted or _FLOW_COLON.match(line, i))):
                if token >= 0 and not continued:
                    found = self._trimmed(line, token, i)
                    self.out.extend([found] if found is not None else [])
                token, continued = -1, False
                if c in "[{":
                    self.flow += 1
                elif c in "]}":
                    self.flow -= 1
                    if self.flow <= 0:
                        self.flow = 0
                        return
            elif token < 0 and c not in WS:
                token = i
            quoted = quoted and c in WS
            i += 1
        if token < 0:
            return
        if i == len(line):  # the scalar may go on over the next line
            self.open, self.open_span = True, None if continued else self._trimmed(line, token, i)
        elif not continued:
            found = self._trimmed(line, token, n)
            self.out.extend([found] if found is not None else [])


def scan_yaml(text: str, index: TextPositions) -> list[tuple[int, int]]:
    return _Yaml().run(index)
