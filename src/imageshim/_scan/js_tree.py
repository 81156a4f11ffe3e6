"""One parsed JavaScript / TypeScript file, and the node helpers every step of :mod:`.js_sites` uses.

tree-sitter works on UTF-8 bytes: :class:`ParsedFile` turns byte offsets into :class:`~.sites.Span`
through :class:`~.positions.TextPositions` (lines as Python's and the other extractors' lines). The helpers
read literal values (strings with their escapes, numbers, booleans, null), see through parentheses and type
casts, and find words in the bytes.
"""

from __future__ import annotations

import html
from collections.abc import Collection
from typing import TYPE_CHECKING, Literal

from imageshim._scan.positions import TextPositions
from imageshim._scan.sites import Span

if TYPE_CHECKING:
    from tree_sitter import Node

    from imageshim._scan.js_scopes import Binding

__all__ = [
    "FUNCTIONS",
    "SCOPES",
    "WRAPPERS",
    "ParsedFile",
    "call_of",
    "first_argument",
    "hits",
    "key_text",
    "literal",
    "short",
    "string_value",
    "unwrap",
]

#: nodes that only wrap an expression: parentheses, `as` / `satisfies` / `!` / `<T>` casts
WRAPPERS = frozenset(
    {
        "parenthesized_expression",
        "as_expression",
        "satisfies_expression",
        "non_null_expression",
        "type_assertion",
    }
)
#: nodes whose statements declare names for what they hold
SCOPES = frozenset({"program", "statement_block", "class_static_block"})
FUNCTIONS = frozenset(
    {
        "function_declaration",
        "function_expression",
        "function",
        "arrow_function",
        "method_definition",
        "generator_function",
        "generator_function_declaration",
    }
)
#: bytes that continue a JS identifier ($, _, ASCII letters and digits, and any non-ASCII byte)
_WORD_BYTES = frozenset(b"$_0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") | frozenset(
    range(0x80, 0x100)
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "v": "\v", "0": "\0"}


def hits(
    data: bytes, words: Collection[bytes], *, whole_words: bool, start: int = 0, end: int | None = None
) -> list[tuple[int, int]]:
    """Where the words occur in ``data[start:end]`` (``bytes.find`` beats a regex alternation here)."""
    out: list[tuple[int, int]] = []
    size = len(data)
    stop = size if end is None else end
    for word in words:
        at = data.find(word, start, stop)
        while at >= 0:
            after = at + len(word)
            if not whole_words or (
                (at == 0 or data[at - 1] not in _WORD_BYTES)
                and (after == size or data[after] not in _WORD_BYTES)
            ):
                out.append((at, after))
            at = data.find(word, at + 1, stop)
    return out


class ParsedFile:
    """One parsed file: its text, its UTF-8 bytes, the tree, and byte offsets -> :class:`Span`."""

    def __init__(
        self, path: str, language: Literal["javascript", "typescript"], text: str, data: bytes, root: Node
    ):
        self.path = path
        self.language: Literal["javascript", "typescript"] = language
        self.data = data
        self.root = root
        self.positions = TextPositions(text, data)
        #: per block (node id): the names its statements declare; per function: its parameters
        self.scopes: dict[int, dict[str, list[Binding]]] = {}
        self.params: dict[int, dict[str, str | None]] = {}
        self.resolved: dict[tuple[str, int], Binding | None] = {}
        self.changed: dict[tuple[str, int], tuple[tuple[int, ...], bool]] = {}
        #: every read of a ``url`` (the read, the expression it reads from, where the word is), on first need
        self.url_tokens: list[tuple[Node, Node, int]] | None = None

    def src(self, node: Node) -> str:
        """The node's source text."""
        return self.data[node.start_byte : node.end_byte].decode("utf-8", "surrogatepass")

    def span(self, node: Node) -> Span:
        return self.positions.byte_span(node.start_byte, node.end_byte)


def unwrap(node: Node) -> Node:
    """The expression inside parentheses, ``as`` / ``satisfies`` / ``!`` and ``<T>`` casts."""
    while True:
        if node.type == "member_expression":
            # tree-sitter-typescript reads `{...} satisfies A.B.C` as (`{...} satisfies A.B`).C: a member
            # of a cast is that misparse (a real one needs parentheses), so it is still the cast.
            inner_cast = node.child_by_field_name("object")
            if inner_cast is None or inner_cast.type not in ("as_expression", "satisfies_expression"):
                return node
            node = inner_cast
        if node.type not in WRAPPERS:
            return node
        inner = [c for c in node.named_children if c.type != "comment"]
        if not inner:
            return node
        node = inner[-1] if node.type == "type_assertion" else inner[0]


def literal(f: ParsedFile, node: Node) -> tuple[bool, str | int | float | bool | None]:
    """(True, the value) for a string without substitutions, a number, a boolean, null or undefined."""
    kind = node.type
    if kind in ("string", "template_string"):
        return string_value(f, node)
    if kind == "number":
        return _number(f.src(node))
    if kind in ("true", "false"):
        return True, kind == "true"
    if kind in ("null", "undefined") or (kind == "identifier" and f.src(node) == "undefined"):
        return True, None
    if kind == "unary_expression":
        argument = node.child_by_field_name("argument")
        operator = node.child_by_field_name("operator")
        if argument is not None and argument.type == "number" and operator is not None:
            ok, value = _number(f.src(argument))
            if ok and isinstance(value, (int, float)) and operator.type in ("-", "+"):
                return True, -value if operator.type == "-" else value
    return False, None


def string_value(f: ParsedFile, node: Node) -> tuple[bool, str | None]:
    """A string's or a substitution-free template's value, escapes decoded; (False, None) otherwise."""
    parts: list[str] = []
    for child in node.named_children:
        kind = child.type
        if kind == "string_fragment":
            fragment = f.src(child)
            parts.append(fragment.replace("\r\n", "\n") if node.type == "template_string" else fragment)
        elif kind == "escape_sequence":
            parts.append(_unescape(f.src(child)))
        elif kind == "html_character_reference":
            parts.append(html.unescape(f.src(child)))
        else:  # a template substitution (or anything unknown): not a literal
            return False, None
    return True, "".join(parts)


def _unescape(sequence: str) -> str:
    body = sequence[1:]
    if body[:1] in ("x", "u") and len(body) > 1:
        try:
            return chr(int(body[1:].strip("{}"), 16))
        except ValueError:
            return body
    if body[:1] in ("\r", "\n", "\u2028", "\u2029"):
        return ""  # a line continuation
    return _ESCAPES.get(body, body)


def _number(source: str) -> tuple[bool, int | float | None]:
    source = source.replace("_", "")
    try:
        return True, int(source.removesuffix("n"), 0)
    except ValueError:
        pass
    try:
        return True, float(source)
    except ValueError:
        return False, None


def key_text(f: ParsedFile, node: Node) -> str | None:
    """An object key or pattern key as a name (``size``, ``"size"``, ``0``); None when computed."""
    if node.type in ("property_identifier", "identifier", "shorthand_property_identifier_pattern"):
        return f.src(node)
    if node.type == "string":
        ok, value = string_value(f, node)
        return value if ok and isinstance(value, str) else None
    if node.type == "number":
        return f.src(node)
    return None


def first_argument(call: Node) -> Node | None:
    """A call's or ``new``'s first argument (comments skipped); None without one."""
    arguments = call.child_by_field_name("arguments")
    if arguments is None or arguments.type != "arguments":
        return None
    return next((c for c in arguments.named_children if c.type != "comment"), None)


def call_of(node: Node, field: str) -> Node | None:
    """The call or ``new`` whose ``field`` (function / constructor) is ``node``."""
    parent = node.parent
    if parent is None or parent.type not in ("call_expression", "new_expression"):
        return None
    return parent if parent.child_by_field_name(field) == node else None


def short(text: str, limit: int = 80) -> str:
    """Source text on one line, cut at ``limit`` characters (for ``hidden``)."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
