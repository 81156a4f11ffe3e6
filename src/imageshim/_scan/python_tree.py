"""One parsed Python module, and the node helpers every step of :mod:`.python_sites` uses.

:func:`parse` runs :func:`ast.parse` once. :class:`ParsedModule` turns ``ast`` positions into
:class:`~.sites.Span` through :class:`~.positions.TextPositions`. ``ast`` positions are a line and a UTF-8
byte column; lines end at ``\\r\\n``, ``\\r`` and ``\\n``, as the tokenizer reads them. The helpers order
nodes by position and read scalar literals.
"""

from __future__ import annotations

import ast
import warnings

from imageshim._scan.positions import TextPositions
from imageshim._scan.sites import Span

__all__ = ["ParsedModule", "Pos", "Scalar", "end", "literal", "parse", "start"]

Scalar = str | int | float | bool | None
#: (line, UTF-8 byte column): the order of positions in the file
Pos = tuple[int, int]

_BOM = "\ufeff"


class ParsedModule:
    """One parsed module: its path, its text, its tree, and ``ast`` positions -> str offsets -> spans."""

    def __init__(self, path: str, text: str, tree: ast.Module) -> None:
        self.path = path
        self.text = text
        self.tree = tree
        self.positions = TextPositions(text)
        # The tree was parsed without a leading BOM: its columns on line 1 start after the BOM's bytes.
        self._bom_bytes = len(_BOM.encode()) if text.startswith(_BOM) else 0

    def bounds(self, node: ast.AST) -> tuple[int, int]:
        """The str offsets ``start, end`` of a node with a position."""
        line, column = start(node)
        end_line, end_column = end(node)
        return self._offset(line, column), self._offset(end_line, end_column)

    def span(self, node: ast.AST) -> Span:
        return self.positions.span(*self.bounds(node))

    def src(self, node: ast.AST) -> str:
        """The node's source text."""
        begin, finish = self.bounds(node)
        return self.text[begin:finish]

    def _offset(self, line: int, column: int) -> int:
        return self.positions.offset(line, column + self._bom_bytes if line == 1 else column)


def parse(path: str, text: str) -> ParsedModule:
    """Parse ``text`` (the decoded file, read with ``newline=""``; a leading BOM is kept in the offsets).

    Raises :class:`SyntaxError` when it does not parse.
    """
    try:
        with warnings.catch_warnings():
            # Invalid escape sequences warn at parse time; the scanned code's warnings are not ours to show.
            warnings.simplefilter("ignore")
            tree = ast.parse(text.removeprefix(_BOM), filename=path)
    except (ValueError, RecursionError) as exc:  # null bytes, lone surrogates, nesting beyond the parser
        raise SyntaxError(f"{path}: {exc}") from exc
    return ParsedModule(path, text, tree)


def start(node: ast.AST) -> Pos:
    return node.lineno, node.col_offset  # type: ignore[attr-defined]


def end(node: ast.AST) -> Pos:
    end_line = getattr(node, "end_lineno", None)
    end_column = getattr(node, "end_col_offset", None)
    return (end_line, end_column) if end_line is not None and end_column is not None else start(node)


def literal(node: ast.expr) -> tuple[bool, Scalar]:
    """``(True, value)`` for a str / int / float / bool / None literal, also ``-1``; else ``(False, None)``."""
    if isinstance(node, ast.Constant) and (node.value is None or isinstance(node.value, (str, int, float))):
        return True, node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        number = node.operand.value if isinstance(node.operand, ast.Constant) else None
        if isinstance(number, (int, float)) and not isinstance(number, bool):
            return True, -number if isinstance(node.op, ast.USub) else number
    return False, None
