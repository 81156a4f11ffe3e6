"""Positions shared by the Python and JS/TS extractors: str offsets, UTF-8 byte positions, spans.

The reference for every span is :func:`tests.scan.spans.span_at`, which counts lines and columns on its own.
The line breaks are checked against the parsers too: Python's ``ast`` line numbers and byte columns, and
tree-sitter's byte offsets.
"""

from __future__ import annotations

import ast

import pytest
import tree_sitter
import tree_sitter_javascript
from hypothesis import given, settings
from hypothesis import strategies as st

from imageshim._scan.positions import TextPositions
from imageshim._scan.sites import Span

from .spans import span_at

#: characters that end a line, that do not, and that take more than one UTF-8 byte
_TRICKY = [
    "a",
    " ",
    "é",
    "Ω",
    "🎨",
    "\r",
    "\n",
    "\r\n",
    "\f",
    "\v",
    "\x1c",
    "\x85",
    "\u2028",
    "\u2029",
    "\ufeff",
]
_TEXT = st.one_of(st.text(max_size=30), st.lists(st.sampled_from(_TRICKY), max_size=30).map("".join))
#: text of a file decoded with ``surrogateescape``: lone surrogates are three bytes each
_DECODED = st.one_of(
    _TEXT, st.lists(st.sampled_from([*_TRICKY, "\udcff", "\ud800"]), max_size=30).map("".join)
)


def encoded(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def byte_offset(text: str, offset: int) -> int:
    return len(encoded(text[:offset]))


@st.composite
def text_and_range(draw: st.DrawFn, texts: st.SearchStrategy[str] = _DECODED) -> tuple[str, int, int]:
    """A text and two offsets in it, neither between the two characters of a "\\r\\n" (no position is)."""
    text = draw(texts)
    places = [at for at in range(len(text) + 1) if text[at - 1 : at + 1] != "\r\n"]
    first, second = draw(st.sampled_from(places)), draw(st.sampled_from(places))
    return text, min(first, second), max(first, second)


# -- examples ---------------------------------------------------------------------------------------


def test_lines_end_at_crlf_cr_and_lf_only() -> None:
    text = "a\r\nb\rc\nd\fe\vf\x85g\u2028h\u2029i"
    positions = TextPositions(text)
    assert positions.line_starts == [0, 3, 5, 7]
    at = text.index("i")
    assert positions.span(at, at + 1) == Span(4, 11, 4, 12, at, at + 1)


def test_columns_count_code_points_and_offsets_index_the_str() -> None:
    text = "é🎨x = 1\r\ny"
    positions = TextPositions(text)
    # "é" is two bytes, "🎨" four: x is byte 6, str offset 2, column 3
    assert positions.offset_of_byte(6) == 2
    assert positions.byte_span(6, 7) == Span(1, 3, 1, 4, 2, 3)
    assert positions.offset(1, 6) == 2
    y = byte_offset(text, text.index("y"))
    assert positions.byte_span(y, y + 1) == Span(2, 1, 2, 2, 9, 10)


def test_ast_byte_columns_become_str_offsets() -> None:
    text = "s = 'Ωmega 🎨'; x = 1\rt = 'é'\r\n"
    tree = ast.parse(text)
    names = [node for node in ast.walk(tree) if isinstance(node, ast.Name)]
    positions = TextPositions(text)
    assert [
        text[positions.offset(n.lineno, n.col_offset) : positions.offset(n.lineno, n.end_col_offset or 0)]
        for n in names
    ] == ["s", "x", "t"]
    x = names[1]
    assert (x.lineno, x.col_offset) == (1, len("s = 'Ωmega 🎨'; ".encode()))
    assert positions.offset(x.lineno, x.col_offset) == text.index("x")


def test_an_ascii_line_of_a_non_ascii_text() -> None:
    positions = TextPositions("é\nabc")
    assert not positions.ascii
    assert positions.offset(2, 2) == 4
    assert positions.byte_line_starts == [0, 3]
    assert positions.byte_span(5, 6) == Span(2, 3, 2, 4, 4, 5)


def test_ascii_text_has_equal_byte_and_str_offsets() -> None:
    positions = TextPositions("ab\ncd", b"ab\ncd")
    assert positions.ascii
    assert positions.byte_line_starts is positions.line_starts
    assert positions.byte_span(3, 5) == positions.span(3, 5) == Span(2, 1, 2, 3, 3, 5)


def test_empty_text_and_the_end_of_a_text() -> None:
    assert TextPositions("").span(0, 0) == Span(1, 1, 1, 1, 0, 0)
    assert TextPositions("a\r\n").span(3, 3) == Span(2, 1, 2, 1, 3, 3)
    assert TextPositions("a\r").byte_span(1, 2) == Span(1, 2, 2, 1, 1, 2)


def test_lines_are_the_texts_between_line_breaks() -> None:
    positions = TextPositions("a\r\nb\rc\n\fd\u2028e\n")
    assert list(positions.lines()) == [(0, "a"), (3, "b"), (5, "c"), (7, "\fd\u2028e"), (12, "")]
    assert positions.position(8) == (4, 2)
    assert list(TextPositions("").lines()) == [(0, "")]


@pytest.mark.parametrize("given_data", [True, False])
def test_lone_surrogates_are_three_bytes(given_data: bool) -> None:
    text = "\udcffx\n\ud800y"
    positions = TextPositions(text, encoded(text) if given_data else None)
    assert positions.offset_of_byte(3) == 1
    assert positions.byte_span(8, 9) == Span(2, 2, 2, 3, 4, 5)


# -- properties -------------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(text_and_range())
def test_spans_agree_with_an_independent_count(case: tuple[str, int, int]) -> None:
    text, start, end = case
    assert TextPositions(text).span(start, end) == span_at(text, start, end)


@settings(max_examples=300, deadline=None)
@given(text_and_range())
def test_lines_and_positions_agree_with_an_independent_count(case: tuple[str, int, int]) -> None:
    text, start, _ = case
    positions = TextPositions(text)
    span = span_at(text, start, start)
    assert positions.position(start) == (span.line, span.column)
    lines = list(positions.lines())
    assert [at for at, _ in lines] == positions.line_starts
    line_start, line = lines[span.line - 1]
    assert line_start == start - span.column + 1
    assert text.startswith(line, line_start)
    end = line_start + len(line)
    assert not {"\r", "\n"} & set(line)
    assert text[end : end + 1] in ("", "\r", "\n")


@settings(max_examples=300, deadline=None)
@given(text_and_range(), st.booleans())
def test_byte_offsets_give_the_same_spans_as_str_offsets(
    case: tuple[str, int, int], given_data: bool
) -> None:
    text, start, end = case
    positions = TextPositions(text, encoded(text) if given_data else None)
    begin, finish = byte_offset(text, start), byte_offset(text, end)
    assert positions.offset_of_byte(begin) == start
    assert positions.byte_span(begin, finish) == span_at(text, start, end)


@settings(max_examples=300, deadline=None)
@given(text_and_range())
def test_a_line_and_its_byte_column_give_the_offset(case: tuple[str, int, int]) -> None:
    text, start, _ = case
    span = span_at(text, start, start)
    line_start = start - span.column + 1
    assert TextPositions(text).offset(span.line, byte_offset(text[line_start:], start - line_start)) == start


_BREAKS = st.sampled_from(["\n", "\r\n", "\r"])
#: inside strings and comments: none of these may end a line, or ast and the spans would disagree
_INLINE = st.lists(
    st.sampled_from(["a", " ", "é", "🎨", "\f", "\v", "\x1c", "\x85", "\u2028", "\u2029", "\ufeff"]),
    max_size=8,
).map("".join)


#: statements holding odd characters in strings and comments, and line breaks inside strings and parentheses
_PYTHON = (
    "x{i} = '{text}'",
    "x{i} = 1  # {text}",
    "x{i} = '''{text}{br}{text}'''",
    "x{i} = ({br}    '{text}', y{i})",
)
_JAVASCRIPT = (
    "const x{i} = '{text}';",
    "let x{i} = 1; /* {text}{br}{text} */",
    "x{i} = `{text}{br}{text}`;",
)


@st.composite
def program(draw: st.DrawFn, statements: tuple[str, ...]) -> str:
    """One to six of ``statements``, each filled in and ended with a line break."""
    parts = [
        draw(st.sampled_from(statements)).format(i=index, text=draw(_INLINE), br=draw(_BREAKS))
        + draw(_BREAKS)
        for index in range(draw(st.integers(1, 6)))
    ]
    return "".join(parts)


@settings(max_examples=200, deadline=None)
@given(program(_PYTHON))
def test_lines_and_byte_columns_are_those_of_pythons_ast(source: str) -> None:
    positions = TextPositions(source)
    nodes = [node for node in ast.walk(ast.parse(source)) if isinstance(node, (ast.Name, ast.Constant))]
    assert nodes
    for node in nodes:
        assert node.end_lineno is not None
        assert node.end_col_offset is not None
        start = positions.offset(node.lineno, node.col_offset)
        end = positions.offset(node.end_lineno, node.end_col_offset)
        written = source[start:end]
        if isinstance(node, ast.Name):
            assert written == node.id
        else:
            assert ast.literal_eval(written) == node.value
        span = positions.span(start, end)
        assert (span.line, span.end_line) == (node.lineno, node.end_lineno)
        assert span == span_at(source, start, end)


_JS_LANGUAGE = tree_sitter.Language(tree_sitter_javascript.language())


@settings(max_examples=200, deadline=None)
@given(program(_JAVASCRIPT))
def test_tree_sitter_byte_offsets_give_the_nodes_text(source: str) -> None:
    data = encoded(source)
    positions = TextPositions(source, data)
    tree = tree_sitter.Parser(_JS_LANGUAGE).parse(data)
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        stack.extend(node.children)
        span = positions.byte_span(node.start_byte, node.end_byte)
        assert source[span.offset : span.end_offset] == data[node.start_byte : node.end_byte].decode()
        assert span == span_at(source, span.offset, span.end_offset)
