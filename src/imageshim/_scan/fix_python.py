"""Python edits through libcst's concrete syntax tree, so formatting and comments stay as written.

:func:`apply_python` gets edits the driver (:mod:`.fix`) already checked against the text (in range,
positions consistent, no overlaps). Each edit must land on a node of the right kind, found by position
(``PositionProvider``: 1-based lines, 0-based columns in code points):

- a whole literal (``"1792x1024"``, quotes included): replaced by the literal ``replacement`` parses to;
- characters inside a string literal (a model id): replaced in place, when ``replacement`` is a plain id;
- a keyword argument (``remove_argument``): removed from its call together with its comma. The argument's
  own line goes with the comment at its end; comments on the lines above it stay; a trailing comma stays
  a trailing comma.

A dict key is never rewritten (``{"dall-e-3": ...}`` may be a route or a price table: renaming the key
changes what the dict means), nor the value of a ``"model_name"`` key (a LiteLLM ``model_list`` entry's
public name, :data:`.fix_text.ALIAS_KEYS`). Anything else is refused (the file changed since the scan, or the span is
not what the edit says). The
result must still parse (:func:`ast.parse`), else every edit of the file is refused.
"""

from __future__ import annotations

import ast
import re
import warnings
from collections.abc import Mapping, Sequence

import libcst as cst
from libcst.metadata import CodeRange, MetadataWrapper, PositionProvider

from imageshim._scan.findings import Edit
from imageshim._scan.fix_text import ALIAS, ALIAS_KEYS
from imageshim._scan.positions import TextPositions

__all__ = ["apply_python", "parse_problem"]

#: what may replace characters inside a string literal: a model id, nothing that needs escaping
_PLAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@/+-]*")
_CONSTANTS = ("True", "False", "None")
_Pos = tuple[int, int]
Refusal = tuple[Edit, str]


def parse_problem(source: str) -> str | None:
    """Why ``source`` is not valid Python for this interpreter, or None when it parses."""
    with warnings.catch_warnings():
        # invalid escape sequences and the like warn at parse time; they are the file's business
        warnings.simplefilter("ignore")
        try:
            ast.parse(source)
        except SyntaxError as exc:
            return f"{exc.msg} (line {exc.lineno})"
        except ValueError as exc:  # null bytes
            return str(exc)
    return None


def apply_python(text: str, edits: Sequence[Edit]) -> tuple[str, list[Refusal]]:
    """``text`` with ``edits`` applied, and the edits refused with why (the rest were applied)."""
    body = text
    try:
        module = cst.parse_module(body)
    except cst.ParserSyntaxError as exc:
        return text, [(edit, f"libcst cannot parse the file: {exc.message}") for edit in edits]
    if module.code != body:  # libcst drops a byte-order mark (the driver passes the text after it)
        return text, [(edit, "libcst does not reproduce this file exactly") for edit in edits]
    positions = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    plan = _Plan(_Index(body, positions))
    refused = [(edit, why) for edit in edits if (why := plan.add(edit)) is not None]
    if not plan.edits:
        return text, refused
    new_body = module.visit(_Apply(plan.replace, plan.remove)).code
    problem = parse_problem(new_body)
    if problem is not None:
        if parse_problem(body) is not None:
            why = f"the file does not parse with this Python, before or after the edit ({problem})"
        else:
            why = f"the edited file would not parse ({problem})"
        return text, refused + [(edit, why) for edit in plan.edits]
    return new_body, refused


class _Index:
    """The literals and call arguments of a module, by their start and end positions."""

    def __init__(self, body: str, positions: Mapping[cst.CSTNode, CodeRange]) -> None:
        self._positions = TextPositions(body)
        #: (start, end) -> the nodes there (a positional argument and its value share a range)
        self.exact: dict[tuple[_Pos, _Pos], list[cst.CSTNode]] = {}
        self.strings: list[tuple[int, int, cst.SimpleString]] = []
        #: id(arg) -> (the call, the argument's index)
        self.arg_of: dict[int, tuple[cst.Call, int]] = {}
        #: ids of the dict keys, and of the values of ALIAS_KEYS keys
        self.keys: set[int] = set()
        self.aliases: set[int] = set()
        for node, where in positions.items():
            if isinstance(node, (cst.SimpleString, cst.Integer, cst.Float, cst.Name, cst.Arg)):
                key = ((where.start.line, where.start.column), (where.end.line, where.end.column))
                self.exact.setdefault(key, []).append(node)
            if isinstance(node, cst.SimpleString):
                self.strings.append((self.offset(where.start), self.offset(where.end), node))
            if isinstance(node, cst.Call):
                for index, arg in enumerate(node.args):
                    self.arg_of[id(arg)] = (node, index)
            if isinstance(node, cst.Dict):
                for element in node.elements:
                    if isinstance(element, cst.DictElement):
                        self.keys.add(id(element.key))
                        if (
                            isinstance(element.key, cst.SimpleString)
                            and element.key.evaluated_value in ALIAS_KEYS
                        ):
                            self.aliases.add(id(element.value))

    def offset(self, pos: cst.metadata.CodePosition) -> int:
        return self._positions.line_starts[pos.line - 1] + pos.column

    def position(self, offset: int) -> _Pos:
        """libcst's position of ``offset``: 1-based line, 0-based column."""
        line, column = self._positions.position(offset)
        return line, column - 1


class _Plan:
    """What to change: literal nodes to replace, call arguments to remove (by node identity)."""

    def __init__(self, index: _Index) -> None:
        self._index = index
        self.edits: list[Edit] = []
        self.replace: dict[int, cst.BaseExpression] = {}
        #: id(call) -> indexes of the arguments to remove
        self.remove: dict[int, set[int]] = {}

    def add(self, edit: Edit) -> str | None:
        """Plan ``edit``; the reason it cannot be applied, or None."""
        start, end = edit.span.offset, edit.span.end_offset
        here = self._index.exact.get((self._index.position(start), self._index.position(end)), [])
        if edit.remove_argument:
            why = self._removal(edit, next((n for n in here if isinstance(n, cst.Arg)), None))
        else:
            node = next((n for n in here if not isinstance(n, cst.Arg)), None)
            why = self._replacement(edit, node, start, end)
        if why is None:
            self.edits.append(edit)
        return why

    def _replacement(self, edit: Edit, node: cst.CSTNode | None, start: int, end: int) -> str | None:
        if isinstance(node, (cst.SimpleString, cst.Integer, cst.Float, cst.Name)):
            if isinstance(node, cst.Name) and node.value not in _CONSTANTS:
                return f"{node.value!r} is a name, not a literal (the file changed since the scan?)"
            new = _literal(edit.replacement, like=node)
            if new is None:
                return f"{edit.replacement!r} is not a literal of the same kind as {_code(node)}"
            return self._put(node, new.with_changes(lpar=node.lpar, rpar=node.rpar))
        for s_start, s_end, string in self._index.strings:
            inner_start = s_start + len(string.prefix) + len(string.quote)
            if inner_start <= start and end <= s_end - len(string.quote):
                if "b" in string.prefix.lower():
                    return "the span is inside a bytes literal"
                if not _PLAIN.fullmatch(edit.replacement):
                    return f"{edit.replacement!r} cannot be put inside a string literal as it is"
                value = string.value
                a, b = start - s_start, end - s_start
                return self._put(string, string.with_changes(value=value[:a] + edit.replacement + value[b:]))
        return "no literal at this position (the file changed since the scan?)"

    def _put(self, node: cst.CSTNode, new: cst.BaseExpression) -> str | None:
        if id(node) in self._index.keys:
            return "it is a dict key, not a value: renaming it changes what the dict means"
        if id(node) in self._index.aliases:
            return ALIAS
        if id(node) in self.replace:
            return "another edit already changes this literal"
        self.replace[id(node)] = new
        return None

    def _removal(self, edit: Edit, node: cst.Arg | None) -> str | None:
        if node is None or id(node) not in self._index.arg_of:
            return "no call argument at this position (the file changed since the scan?)"
        if node.keyword is None or node.star:
            return "only a keyword argument is removed automatically"
        if node.keyword.value != edit.setting:
            # every Python API the scanner knows spells its options as OpenAI does
            return f"the argument here is {node.keyword.value}=, not {edit.setting}= (the file changed since the scan?)"
        call, index = self._index.arg_of[id(node)]
        # Whitespace around a comma normally holds no line break; when it does (a comment before a comma),
        # the rules below could drop it, so leave that to a person.
        around = [call.args[index - 1]] if index else []
        for arg in (*around, node):
            if isinstance(arg.comma, cst.Comma) and (
                _breaks(arg.whitespace_after_arg) or _breaks(arg.comma.whitespace_before)
            ):
                return "a line break or comment before a comma next to this argument"
        self.remove.setdefault(id(call), set()).add(index)
        return None


class _Apply(cst.CSTTransformer):
    def __init__(self, replace: Mapping[int, cst.BaseExpression], remove: Mapping[int, set[int]]) -> None:
        super().__init__()
        self._replace = replace
        self._remove = remove

    def leave_SimpleString(
        self, original_node: cst.SimpleString, updated_node: cst.SimpleString
    ) -> cst.BaseExpression:
        return self._replace.get(id(original_node), updated_node)

    def leave_Integer(self, original_node: cst.Integer, updated_node: cst.Integer) -> cst.BaseExpression:
        return self._replace.get(id(original_node), updated_node)

    def leave_Float(self, original_node: cst.Float, updated_node: cst.Float) -> cst.BaseExpression:
        return self._replace.get(id(original_node), updated_node)

    def leave_Name(self, original_node: cst.Name, updated_node: cst.Name) -> cst.BaseExpression:
        return self._replace.get(id(original_node), updated_node)

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        drop = self._remove.get(id(original_node))
        if not drop:
            return updated_node
        before, args = updated_node.whitespace_before_args, list(updated_node.args)
        for index in sorted(drop, reverse=True):
            before, args = _remove_arg(before, args, index)
        return updated_node.with_changes(whitespace_before_args=before, args=args)


def _remove_arg(
    before_args: cst.BaseParenthesizableWhitespace, args: list[cst.Arg], index: int
) -> tuple[cst.BaseParenthesizableWhitespace, list[cst.Arg]]:
    """Remove ``args[index]``: the whitespace that led to it and the one after it become one gap."""
    arg, last = args[index], index == len(args) - 1
    prev = args[index - 1] if index else None
    before = before_args if prev is None else _comma(prev).whitespace_after
    trailing = isinstance(arg.comma, cst.Comma)
    after = arg.comma.whitespace_after if isinstance(arg.comma, cst.Comma) else arg.whitespace_after_arg
    gap = _join(before, after, closing=last)
    rest = args[:index] + args[index + 1 :]
    if prev is None:
        return gap, rest
    if last and not trailing:
        # the previous argument is now the last one, without a trailing comma (as this one was)
        rest[index - 1] = prev.with_changes(comma=cst.MaybeSentinel.DEFAULT, whitespace_after_arg=gap)
    else:
        rest[index - 1] = prev.with_changes(comma=_comma(prev).with_changes(whitespace_after=gap))
    return before_args, rest


def _join(
    before: cst.BaseParenthesizableWhitespace, after: cst.BaseParenthesizableWhitespace, *, closing: bool
) -> cst.BaseParenthesizableWhitespace:
    """The whitespace left where an argument was. ``before`` led up to it, ``after`` followed it;
    ``closing``: the gap now ends at the closing parenthesis."""
    if isinstance(before, cst.ParenthesizedWhitespace) and isinstance(after, cst.ParenthesizedWhitespace):
        # The argument had a line of its own: the line goes, with the comment at its end; the comment
        # lines above it and below it stay.
        return cst.ParenthesizedWhitespace(
            first_line=before.first_line,
            empty_lines=(*before.empty_lines, *after.empty_lines),
            indent=after.indent,
            last_line=after.last_line,
        )
    if isinstance(after, cst.ParenthesizedWhitespace):
        # It shared its line with what came before: that line keeps its line break and comment.
        return after
    if isinstance(before, cst.ParenthesizedWhitespace):
        if not closing:
            return before
        if _comments(before):
            # keep the comments; the parenthesis goes on a line of its own, at the statement's indent
            return before.with_changes(indent=True, last_line=cst.SimpleWhitespace(""))
        return after
    return after if closing else before


def _comma(arg: cst.Arg) -> cst.Comma:
    if not isinstance(arg.comma, cst.Comma):  # pragma: no cover - only the last argument lacks one
        raise AssertionError("an argument before another one has a comma")
    return arg.comma


def _comments(ws: cst.ParenthesizedWhitespace) -> bool:
    return ws.first_line.comment is not None or any(line.comment is not None for line in ws.empty_lines)


def _breaks(ws: cst.BaseParenthesizableWhitespace) -> bool:
    return isinstance(ws, cst.ParenthesizedWhitespace)


def _literal(source: str, *, like: cst.CSTNode) -> cst.BaseExpression | None:
    """The literal ``source`` parses to, when it is the same kind as ``like`` (text, bytes, number, constant)."""
    try:
        new = cst.parse_expression(source)
    except cst.ParserSyntaxError:
        return None
    if new.lpar or new.rpar:
        return None
    if isinstance(like, cst.SimpleString):
        ok = isinstance(new, cst.SimpleString) and _is_bytes(new) == _is_bytes(like)
    elif isinstance(like, (cst.Integer, cst.Float)):
        ok = isinstance(new, (cst.Integer, cst.Float))
    else:
        ok = isinstance(new, cst.Name) and new.value in _CONSTANTS
    return new if ok else None


def _is_bytes(node: cst.SimpleString) -> bool:
    return "b" in node.prefix.lower()


def _code(node: cst.CSTNode) -> str:
    return cst.Module(body=[]).code_for_node(node)
