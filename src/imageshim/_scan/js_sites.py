"""JavaScript and TypeScript sites: image calls and model-id strings, read from tree-sitter's syntax tree.

Needs the ``scan`` extra (tree-sitter with its JavaScript and TypeScript grammars), imported on first use:
:func:`available` says why JS/TS files cannot be scanned, :func:`extract` reads one file.

What counts as a call (``CallSite.api``, options by OpenAI's names, ``option_paths`` for other spellings):

- ``images.generate`` / ``images.edit`` / ``images.create_variation``: a member chain ending in
  ``.images.generate(`` / ``.edit(`` / ``.createVariation(`` on any receiver (openai-node); flavour
  ``"withResponse"`` or ``"asResponse"`` when the call is followed by that method. Every key of the
  request object is an option.
- ``generateImage``: the AI SDK's ``generateImage`` / ``experimental_generateImage`` (also under an import
  alias, or ``ai.generateImage`` on ``import * as ai from "ai"``). Options: ``model`` (from
  ``openai.image("...")`` / ``openai.imageModel("...")`` on ``openai`` or a ``createOpenAI(...)`` instance,
  or a plain AI Gateway string ``"openai/dall-e-3"``, prefix kept), ``prompt``, ``n``, ``size``,
  ``aspectRatio``, ``seed``, and every key of ``providerOptions.openai`` (sent as-is in the request body).
- ``openai.image``: ``openai.image("...")`` / ``openai.imageModel("...")`` outside a ``generateImage`` call
  that reads it (only the ``model`` option).
- ``DallEAPIWrapper``: LangChain's ``new DallEAPIWrapper({...})`` (``model`` / ``modelName``, ``size``,
  ``quality``, ``style``, ``n``, ``user``, ``dallEResponseFormat`` / ``responseFormat``; never the api key),
  with ``implied_url_read`` unless it visibly asks for ``b64_json``.

Options come from an object literal argument, or an identifier bound to one in the file. A value is
"literal" when written at the call; "constant" when read through a module-level ``const``; "assignment"
through a ``const`` in a function or a ``let`` / ``var`` never assigned again; else "computed" (not
guessed). Spreads and other argument forms are listed in ``hidden``.

``url_reads``: ``.url`` / ``["url"]`` / ``{ url }`` reads on the call's result: directly on the call
(``(await call).data[0].url``), on the variable it is bound to and on names derived from it (a ``const``
of it, a ``for ... of`` over it, a ``.map`` / ``.then`` callback's parameter; up to four steps), within the
scope of that variable. An ``asResponse`` call gives a raw ``Response`` (its ``url`` is the HTTP one) and a
``withResponse`` call's ``response`` is that too: neither counts.

Model ids: every string and substitution-free template string whose whole value is a model id
(:meth:`~imageshim._scan.matching.ModelMatcher.whole`), escapes excluded (the span must be the id's own
characters). Comments are never sites; the parser tells them apart.

tree-sitter recovers from syntax errors: sites are still extracted and :attr:`JsSites.errors` says where
the parser had to recover, so the report can say the file's sites may be incomplete.

The parts: :mod:`.js_tree` (the parsed file, literal values), :mod:`.js_scopes` (what a name is bound
to), :mod:`.js_values` (the value an expression visibly has), :mod:`.js_calls` (which calls, which options)
and :mod:`.js_url_reads` (reads of the result's ``url``); byte offsets become spans in :mod:`.positions`,
shared with the Python extractor.
"""

from __future__ import annotations

import functools
import importlib
import threading
from collections.abc import Collection
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from imageshim._scan.js_calls import CALL_WORDS, CallFinder
from imageshim._scan.js_tree import ParsedFile, hits
from imageshim._scan.matching import CALL_TRIGGERS, ModelMatcher, matcher_for
from imageshim._scan.sites import CallSite, LiteralSite, Span

if TYPE_CHECKING:
    from tree_sitter import Parser

__all__ = ["Dialect", "JsSites", "available", "extract"]

Dialect = Literal["javascript", "typescript", "tsx"]

#: dialect -> (grammar module, the function returning its language pointer)
_GRAMMARS: dict[str, tuple[str, str]] = {
    "javascript": ("tree_sitter_javascript", "language"),
    "typescript": ("tree_sitter_typescript", "language_typescript"),
    "tsx": ("tree_sitter_typescript", "language_tsx"),
}
_INSTALL = "pip install 'imageshim[scan]'"
#: tree-sitter Language objects, built once per process (they are immutable and shared by threads)
_LANGUAGES: dict[str, Any] = {}
#: parsers are not thread-safe: one per thread and dialect
_LOCAL = threading.local()
_MAX_ERRORS = 5


class JsSites(NamedTuple):
    """What :func:`extract` found in one file (unpacks as ``calls, literals, errors``)."""

    calls: list[CallSite]
    literals: list[LiteralSite]
    #: where the parser recovered from a syntax error (the first few): the sites may be incomplete
    errors: tuple[Span, ...] = ()

    @property
    def had_errors(self) -> bool:
        return bool(self.errors)


def available() -> str | None:
    """None when JS/TS can be scanned; else why not (naming the extra to install). Never raises."""
    try:
        _languages()
    except Exception as exc:  # ImportError, a grammar built for another ABI (ValueError), a broken binary
        return (
            f"JavaScript/TypeScript not scanned: tree-sitter or its grammars are unavailable "
            f"({type(exc).__name__}: {exc}); install them with {_INSTALL}"
        )
    return None


def extract(path: str, text: str, dialect: Dialect, models: Collection[str]) -> JsSites:
    """The image calls and model-id strings of one JS/TS file.

    ``text`` is the decoded file (read with ``newline=""``); spans are str offsets into exactly it (lines
    end at ``\\r\\n``, ``\\r`` or ``\\n``; columns count code points). Raises RuntimeError when
    :func:`available` gives a reason.
    """
    data = text.encode("utf-8", "surrogatepass")
    calls_at = hits(data, CALL_WORDS, whole_words=True) if _has_trigger(text) else []
    ids_at = hits(data, _needles(frozenset(models)), whole_words=False)
    if not calls_at and not ids_at:
        return JsSites([], [])  # nothing to find: no parse
    tree = _parser(dialect).parse(data)
    f = ParsedFile(
        path, "javascript" if dialect == "javascript" else "typescript", text, data, tree.root_node
    )
    calls = CallFinder(f).find(calls_at)
    literals = _literals(f, ids_at, matcher_for(models))
    return JsSites(calls, literals, _errors(f))


def _languages() -> dict[str, Any]:
    if not _LANGUAGES:
        ts = importlib.import_module("tree_sitter")
        built = {
            dialect: ts.Language(getattr(importlib.import_module(module), function)())
            for dialect, (module, function) in _GRAMMARS.items()
        }
        _LANGUAGES.update(built)
    return _LANGUAGES


def _parser(dialect: str) -> Parser:
    parsers: dict[str, Parser] | None = getattr(_LOCAL, "parsers", None)
    if parsers is None:
        parsers = _LOCAL.parsers = {}
    parser = parsers.get(dialect)
    if parser is None:
        reason = available()
        language = _LANGUAGES.get(dialect)
        if reason is not None or language is None:
            raise RuntimeError(reason or f"unknown JS/TS dialect {dialect!r}")
        parser = parsers[dialect] = importlib.import_module("tree_sitter").Parser(language)
    return parser


def _has_trigger(text: str) -> bool:
    return any(trigger in text for trigger in CALL_TRIGGERS)


@functools.lru_cache(maxsize=8)
def _needles(models: frozenset[str]) -> tuple[bytes, ...]:
    # Only where to look: a string holding any id is then judged whole by the shared matcher.
    return tuple(m.encode() for m in models if m)


def _errors(f: ParsedFile) -> tuple[Span, ...]:
    if not f.root.has_error:
        return ()
    found: list[Span] = []
    stack = [f.root]
    while stack and len(found) < _MAX_ERRORS:
        node = stack.pop()
        if node.is_error or node.is_missing:
            found.append(f.span(node))
            continue
        stack.extend(child for child in reversed(node.children) if child.has_error)
    return tuple(found)


def _literals(f: ParsedFile, ids_at: list[tuple[int, int]], matcher: ModelMatcher) -> list[LiteralSite]:
    """The strings holding a model id somewhere in ``ids_at`` whose whole value is a model id."""
    out: list[LiteralSite] = []
    seen: set[int] = set()
    for start, end in ids_at:
        fragment = f.root.descendant_for_byte_range(start, end)
        if fragment is None or fragment.type != "string_fragment":
            continue
        string = fragment.parent
        if string is None or string.type not in ("string", "template_string") or string.id in seen:
            continue
        seen.add(string.id)
        if string.named_child_count != 1:  # escapes, substitutions: not the id's own characters
            continue
        written = f.src(fragment)
        match = matcher.whole(written)
        if match is None:
            continue
        begin = fragment.start_byte + match.start  # the prefix "openai/" is ASCII
        span = f.positions.byte_span(begin, begin + len(match.model.encode()))
        out.append(LiteralSite(f.path, f.language, "code", span, match.model, written))
    return sorted(out, key=lambda site: site.span.offset)
