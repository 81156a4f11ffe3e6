"""JavaScript / TypeScript and config-file edits, spliced into the text by offsets.

:func:`apply_script` (JS/TS) checks each edit against tree-sitter's tree: a whole literal is replaced by
a literal of the same kind, characters inside a string by a plain model id, and an object property is
removed with its comma: the comma after it and the whitespace up to the next property, or, for the last
property, the comma before it; a property alone on its line goes with its line (and the comment at its
end). The result is parsed again, and the file's edits are refused when it has syntax errors the
original did not. :func:`apply_config` does the same for YAML, TOML, JSON, INI and .env values, and
checks the file still loads when a parser for it is at hand. In both, a key or section name (a property
name, ``"dall-e-3" = [...]`` in a routes table, ``[dall-e-2]``, YAML's ``? dall-e-2``) is never renamed:
only values are. Nor is the value of ``model_name`` (:data:`ALIAS_KEYS`): in a LiteLLM proxy's
``model_list`` it is the public name clients call, which must stay when the model behind it changes.

Edits arrive checked by :mod:`.fix` (in range, positions consistent, no overlaps) and are applied from
the end of the file backwards, so the offsets of the ones still to come stay valid.
"""

from __future__ import annotations

import configparser
import functools
import importlib
import json
import re
import sys
from collections.abc import Callable, Sequence
from typing import Any

from imageshim._scan.findings import Edit

__all__ = ["ALIAS", "ALIAS_KEYS", "INSTALL_HINT", "apply_config", "apply_script", "grammar_for"]

INSTALL_HINT = "pip install 'imageshim[scan]'"
Refusal = tuple[Edit, str]
_Range = tuple[int, int]

#: what may replace characters inside a string or an unquoted value: a model id, nothing to escape
_PLAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@/+-]*")
_NUMBER = re.compile(r"-?[0-9][0-9_]*(\.[0-9_]+)?([eE][-+]?[0-9]+)?")
_QUOTES = "\"'`"
#: after a property or its comma: the rest of the line when it holds nothing but comments. A ``/* */``
#: comment ends at its first ``*/`` (its body cannot hold one), so the match is linear: a lazy body that
#: could run on past ``*/`` made ``/**/ /**/ ... x`` backtrack exponentially.
_LINE_TAIL = re.compile(r"[ \t]*(?:/\*(?:(?!\*/)[^\r\n])*\*/[ \t]*)*(?://[^\r\n]*)?(?:\r\n|\n|\r)")
_LITERAL_NODES = ("string", "number", "true", "false", "null", "template_string")
_PROPERTY_NODES = ("pair", "shorthand_property_identifier")
#: what follows a key (after its closing quote): a separator, or the end of a [section] header
_KEY_END = re.compile(r"[\"']?[ \t]*([:=\]])")
_KEY = "it is a key or section name, not a value: renaming it changes what the file means"
#: a YAML explicit key's line up to the id: ``? dall-e-2``, ``- ? "openai/dall-e-2"`` (the value follows on
#: a ``:`` line)
_EXPLICIT_KEY = re.compile(r"[ \t]*(?:-[ \t]+)*\?[ \t]+(?:[-?][ \t]+)*[\"']?(?:[a-z][a-z0-9_-]*/)?")
#: keys whose value is the public name clients call, not the model called: a LiteLLM proxy's ``model_name``
ALIAS_KEYS = frozenset({"model_name"})
ALIAS = (
    "it is model_name, the public name clients call (a LiteLLM proxy's alias), not the model it routes to: "
    "renaming it breaks every client that asks for it; keep it, and route it to the successor in "
    "litellm_params.model"
)
#: the text before a value of an :data:`ALIAS_KEYS` key, on its line or the line above (searched with
#: ``endpos`` at the value: ``model_name: dall-e-3``, ``"model_name": "openai/dall-e-3"``)
_ALIAS_BEFORE = re.compile(
    rf"(?<![\w.-])[\"']?(?:{'|'.join(map(re.escape, sorted(ALIAS_KEYS)))})[\"']?[ \t]*[:=][ \t]*"
    r"(?:(?:\r\n|\n|\r)[ \t]*)?[\"']?(?:[a-z][a-z0-9_-]*/)?\Z"
)


def grammar_for(path: str) -> str:
    """The tree-sitter grammar for a JS/TS file: "typescript", "tsx" or "javascript"."""
    suffix = path.rsplit(".", 1)[-1].lower()
    return {"ts": "typescript", "mts": "typescript", "cts": "typescript", "tsx": "tsx"}.get(
        suffix, "javascript"
    )


def literal_ok(old: str, new: str) -> bool:
    """Whether ``new`` can stand where the literal ``old`` is: a string with the same quotes and nothing
    in it to escape, or a number for a number."""
    quote = old[:1]
    if quote and quote in _QUOTES and len(old) >= 2 and old.endswith(quote):
        if quote == "`" and "${" in old:
            return False  # a template with substitutions is computed, not a literal
        inner = new[1:-1]
        return (
            len(new) >= 2
            and new[0] == new[-1] == quote
            and not any(c in inner for c in (quote, "\\", "\n", "\r"))
            and "${" not in inner
        )
    return bool(_NUMBER.fullmatch(old) and _NUMBER.fullmatch(new))


def apply_script(text: str, edits: Sequence[Edit], *, grammar: str) -> tuple[str, list[Refusal]]:
    """``text`` (JS/TS) with ``edits`` applied, and the edits refused with why."""
    try:
        parse = _parser(grammar)
    except ImportError:
        return text, [(edit, f"tree-sitter is not installed: {INSTALL_HINT}") for edit in edits]
    errors_before = _errors(parse(text.encode()))
    current, applied, refused = text, [], []
    for edit in sorted(edits, key=lambda e: e.span.offset, reverse=True):
        change = _script_change(parse, current, edit)
        if isinstance(change, str):
            refused.append((edit, change))
            continue
        current = _splice(current, change)
        applied.append(edit)
    if applied and _errors(parse(current.encode())) > errors_before:
        why = "the edited file would have syntax errors (tree-sitter)"
        return text, refused + [(edit, why) for edit in applied]
    return current, refused


def apply_config(text: str, edits: Sequence[Edit], *, path: str) -> tuple[str, list[Refusal]]:
    """``text`` (a config file) with ``edits`` applied, and the edits refused with why."""
    load = _loader(path)
    loaded_before = load is not None and _loads(load, text)
    current, applied, refused = text, [], []
    for edit in sorted(edits, key=lambda e: e.span.offset, reverse=True):
        start, end = edit.span.offset, edit.span.end_offset
        old = current[start:end]
        if edit.remove_argument:
            refused.append((edit, "settings are not removed from config files automatically"))
        elif _config_key(current, start, end):
            refused.append((edit, _KEY))
        elif _ALIAS_BEFORE.search(current, max(0, start - 200), start):
            refused.append((edit, ALIAS))
        elif not (
            literal_ok(old, edit.replacement)
            or (_PLAIN.fullmatch(old) and _PLAIN.fullmatch(edit.replacement))
        ):
            refused.append((edit, f"{edit.replacement!r} cannot replace {old!r} as it is"))
        else:
            current = _splice(current, [(start, end, edit.replacement)])
            applied.append(edit)
    if applied and loaded_before and load is not None and not _loads(load, current):
        return text, refused + [(edit, "the edited file would no longer load") for edit in applied]
    return current, refused


def _config_key(text: str, start: int, end: int) -> bool:
    """Whether ``text[start:end]`` is in a key or a section name (``"dall-e-3" = [...]``, ``[dall-e-2]``,
    ``dall-e-3:``) rather than in a value. Unsure cases count as keys: the edit is left to a person."""
    before = text[max(text.rfind("\n", 0, start), text.rfind("\r", 0, start)) + 1 : start]
    if _EXPLICIT_KEY.fullmatch(before):  # YAML's "? dall-e-2" (its value on the ": ..." line below)
        return True
    follows = _KEY_END.match(text, end)
    if follows is None:
        return False
    if follows.group(1) == "]":  # a [section] header, not a [list, of, values]
        return before.lstrip(" \t").startswith("[") and "=" not in before and ":" not in before
    return True


# -- JavaScript / TypeScript ---------------------------------------------------------------------------


def _script_change(parse: Callable[[bytes], Any], text: str, edit: Edit) -> str | list[tuple[int, int, str]]:
    """The splices ``edit`` makes in ``text`` (start, end, new text), or why it cannot be made."""
    data = text.encode()
    offsets = _Offsets(text, data)
    start, end = edit.span.offset, edit.span.end_offset
    node = parse(data).root_node.descendant_for_byte_range(offsets.byte(start), offsets.byte(end))
    exact = node is not None and (offsets.char(node.start_byte), offsets.char(node.end_byte)) == (start, end)
    if edit.remove_argument:
        if node is None or not exact or node.type not in _PROPERTY_NODES or node.parent is None:
            return "no object property at this position (the file changed since the scan?)"
        ranges = _property_removal(node, text, offsets)
        return ranges if isinstance(ranges, str) else [(a, b, "") for a, b in ranges]
    literal = node.parent if node is not None and node.type == "string_fragment" else node
    if literal is not None and literal.parent is not None and literal.parent.type == "pair":
        key = literal.parent.child_by_field_name("key")
        if key is not None and key.start_byte == literal.start_byte:
            return _KEY
        if key is not None and key.text.decode("utf-8", "replace").strip(_QUOTES) in ALIAS_KEYS:
            return ALIAS
    if node is not None and exact and node.type in _LITERAL_NODES:
        if not literal_ok(text[start:end], edit.replacement):
            return f"{edit.replacement!r} is not a literal of the same kind as {text[start:end]!r}"
        return [(start, end, edit.replacement)]
    if node is not None and node.type == "string_fragment":
        if not _PLAIN.fullmatch(edit.replacement):
            return f"{edit.replacement!r} cannot be put inside a string literal as it is"
        return [(start, end, edit.replacement)]
    return "no literal at this position (the file changed since the scan?)"


def _property_removal(prop: Any, text: str, offsets: _Offsets) -> str | list[_Range]:
    """The ranges to delete to remove ``prop`` from its object literal, with its comma."""
    siblings = list(prop.parent.children)
    index = next(i for i, n in enumerate(siblings) if n.start_byte == prop.start_byte and n.type == prop.type)
    after = _next_token(siblings, index, +1)
    before = _next_token(siblings, index, -1)
    start, end = offsets.char(prop.start_byte), offsets.char(prop.end_byte)
    line_start = max(text.rfind("\n", 0, start), text.rfind("\r", 0, start)) + 1
    own_line = text[line_start:start].strip(" \t") == ""
    if after is not None and after.type == ",":
        comma_end = offsets.char(after.end_byte)
        tail = _LINE_TAIL.match(text, comma_end)
        if own_line and tail:
            return [(line_start, tail.end())]
        return (
            [(start, _spaces_after(text, comma_end))]
            if _more_on_line(text, comma_end)
            else [(_spaces_before(text, start), comma_end)]
        )
    if after is None or after.type != "}":
        return "unexpected syntax after the property"
    tail = _LINE_TAIL.match(text, end)
    if own_line and tail:
        mine = (line_start, tail.end())
    elif own_line:
        mine = (start, _spaces_after(text, end))
    else:
        mine = (_spaces_before(text, start), end)
    if before is not None and before.type == ",":
        comma = (offsets.char(before.start_byte), offsets.char(before.end_byte))
        if text[comma[1] : mine[0]].strip(" \t") == "":
            return [(comma[0], mine[1])]
        return [comma, mine]
    if before is not None and before.type == "{":
        return [mine]
    return "unexpected syntax before the property"


def _next_token(siblings: list[Any], index: int, step: int) -> Any:
    """The nearest sibling that is not a comment, going ``step`` from ``index``."""
    index += step
    while 0 <= index < len(siblings) and siblings[index].type == "comment":
        index += step
    return siblings[index] if 0 <= index < len(siblings) else None


def _spaces_after(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t":
        pos += 1
    return pos


def _spaces_before(text: str, pos: int) -> int:
    while pos > 0 and text[pos - 1] in " \t":
        pos -= 1
    return pos


def _more_on_line(text: str, pos: int) -> bool:
    rest = _spaces_after(text, pos)
    return rest < len(text) and text[rest] not in "\r\n"


def _errors(tree: Any) -> int:
    """How many syntax errors (ERROR and MISSING nodes) a tree has."""
    if not tree.root_node.has_error:
        return 0
    count, stack = 0, [tree.root_node]
    while stack:
        node = stack.pop()
        count += node.type == "ERROR" or node.is_missing
        stack.extend(node.children)
    return count


@functools.cache
def _parser(grammar: str) -> Callable[[bytes], Any]:
    tree_sitter = importlib.import_module("tree_sitter")
    if grammar == "javascript":
        language = importlib.import_module("tree_sitter_javascript").language()
    else:
        module = importlib.import_module("tree_sitter_typescript")
        language = module.language_tsx() if grammar == "tsx" else module.language_typescript()
    parser = tree_sitter.Parser(tree_sitter.Language(language))
    parse: Callable[[bytes], Any] = parser.parse
    return parse


class _Offsets:
    """Character offsets (str indices) <-> tree-sitter's byte offsets into the UTF-8 text."""

    def __init__(self, text: str, data: bytes) -> None:
        self._text, self._data = text, data
        self._ascii = len(text) == len(data)

    def byte(self, char: int) -> int:
        return char if self._ascii else len(self._text[:char].encode())

    def char(self, byte: int) -> int:
        return byte if self._ascii else len(self._data[:byte].decode())


# -- shared --------------------------------------------------------------------------------------------


def _splice(text: str, changes: Sequence[tuple[int, int, str]]) -> str:
    for start, end, new in sorted(changes, reverse=True):
        text = text[:start] + new + text[end:]
    return text


def _loader(path: str) -> Callable[[str], object] | None:
    """A function that raises when the config text does not load, for the formats a parser is at hand for."""
    name = path.replace("\\", "/").rsplit("/", 1)[-1].lower()
    suffix = name.rsplit(".", 1)[-1] if "." in name else ""
    if suffix == "json":
        return json.loads
    if suffix == "toml":
        toml = importlib.import_module("tomllib" if sys.version_info >= (3, 11) else "tomli")
        return functools.partial(toml.loads)
    if suffix in ("ini", "cfg"):
        return lambda source: configparser.ConfigParser(interpolation=None).read_string(source)
    if suffix in ("yaml", "yml"):
        try:  # PyYAML is not a dependency: check with it when it is there
            yaml = importlib.import_module("yaml")
        except ImportError:
            return None
        return lambda source: list(yaml.safe_load_all(source))
    return None  # .env and the rest: no parser to check with


def _loads(load: Callable[[str], object], text: str) -> bool:
    try:
        load(text)
    except Exception:  # every parser has its own error classes; any failure means "does not load"
        return False
    return True
