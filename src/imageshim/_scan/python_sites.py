"""The Python extractor of ``imageshim scan``: image calls, their options, ``.url`` reads and model ids.

One ``ast.parse`` and one walk. What needs the whole file (imports, every binding of a name) is resolved
after the walk from what it recorded.

- Calls (:mod:`.python_calls`): ``<receiver>.images.generate / edit / create_variation``, also through
  ``.with_raw_response`` / ``.with_streaming_response``; the 0.x ``openai.Image.create* / acreate*``;
  LangChain's ``DallEAPIWrapper(...)``.
- Option values: a literal; a module constant (one module-level ``NAME = <literal>``, never rebound); a
  single ``name = <literal>`` earlier in the same function, outside loops (:mod:`.python_scopes`); anything
  else is "computed". ``**kwargs`` and positional arguments go to ``hidden``. Credential keywords are left
  out entirely: their values must never reach a report.
- ``.url`` / ``["url"]`` / ``.get("url")`` reads on a call's result (:mod:`.python_urls`): a name bound to
  the call, aliases (``data = resp.data``) and loop variables (``for item in resp.data``) in the same scope,
  the latest binding before the read winning; or a direct chain on the call. Never across functions.
- Literals (here): a string whose whole value is a model id or ``<provider>/<id>``; docstrings are not uses,
  their word-bounded mentions come back with ``context="doc"``. Comments are never sites.

Positions (:mod:`.python_tree`, :mod:`.positions`): ``ast`` columns are UTF-8 byte offsets in lines split at
``\\r\\n``, ``\\r`` and ``\\n`` (as the tokenizer splits them); they become ``str`` offsets into ``text``, and
every line and column is derived from those offsets, so a span's slice of ``text`` is exactly what it covers.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Collection

from imageshim._scan.matching import ModelMatcher, matcher_for
from imageshim._scan.python_calls import ImageCalls
from imageshim._scan.python_scopes import Scope, ScopeWalk
from imageshim._scan.python_tree import ParsedModule, parse
from imageshim._scan.python_urls import UrlRead, url_read_base, url_reads
from imageshim._scan.sites import CallSite, Language, LiteralSite, SiteContext

__all__ = ["extract"]

_STRING_OPEN = re.compile(r"[rRuUbBfF]*('''|\"\"\"|'|\")")


def extract(path: str, text: str, models: Collection[str]) -> tuple[list[CallSite], list[LiteralSite]]:
    """The image calls and model-id literals of one Python file, each in source order.

    ``text`` is the decoded file as read with ``newline=""``; offsets index it. A leading BOM is kept in the
    offsets and columns. Raises :class:`SyntaxError` when the file does not parse.
    """
    module = parse(path, text)
    extractor = _Extractor(module, matcher_for(models))
    extractor.walk(module.tree)
    return extractor.finish()


class _Extractor(ScopeWalk):
    """The walk with the sites' handlers: calls, reads of ``url`` and string literals."""

    def __init__(self, module: ParsedModule, matcher: ModelMatcher) -> None:
        super().__init__()
        self.module = module
        self.matcher = matcher
        self.calls = ImageCalls(module)
        self.reads: list[UrlRead] = []
        self.docstrings: set[int] = set()
        self.literals: list[LiteralSite] = []

    # -- the walk's hooks and handlers ------------------------------------------------------------

    def _docstring(self, body: list[ast.stmt]) -> None:
        first = body[0] if body else None
        if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
            self.docstrings.add(id(first.value))

    def _imported(self, module: str | None, name: str, bound: str) -> None:
        self.calls.imported(module, name, bound)

    def _async_with(self, node: ast.AsyncWith, scope: Scope, loop: int) -> None:
        self.calls.awaited.update(id(item.context_expr) for item in node.items)
        self._with(node, scope, loop)

    def _await(self, node: ast.Await, scope: Scope, loop: int) -> None:
        self.calls.awaited.add(id(node.value))
        self._push([node.value], scope, loop)

    def _call(self, node: ast.Call, scope: Scope, loop: int) -> None:
        self.calls.see(node, scope)
        self._read(node, scope)
        self._push([node.func, *node.args, *node.keywords], scope, loop)

    def _attribute(self, node: ast.Attribute, scope: Scope, loop: int) -> None:
        self._read(node, scope)
        self._push([node.value], scope, loop)

    def _subscript(self, node: ast.Subscript, scope: Scope, loop: int) -> None:
        self._read(node, scope)
        self._push([node.value, node.slice], scope, loop)

    def _read(self, node: ast.Attribute | ast.Subscript | ast.Call, scope: Scope) -> None:
        base = url_read_base(node)
        if base is not None:
            self.reads.append((node, base, scope))

    def _joined_str(self, node: ast.JoinedStr, scope: Scope, loop: int) -> None:
        # f-string pieces are not literals (and before 3.12 they carry the whole f-string's position)
        self._push((value for value in node.values if isinstance(value, ast.FormattedValue)), scope, loop)

    def _constant(self, node: ast.Constant, scope: Scope, loop: int) -> None:
        value = node.value
        if not isinstance(value, str):
            return
        if id(node) in self.docstrings:
            self._mentions(node)
            return
        whole = self.matcher.whole(value)
        if whole is None:
            return
        start, end = self.module.bounds(node)
        source = self.module.text[start:end]
        found = source.find(value)
        if found < 0 or source.find(value, found + 1) >= 0:
            return  # implicit concatenation, escapes, a comment repeating it: no exact place to point at
        at = start + found + whole.start
        self.literals.append(self._literal_site("python", "code", at, whole.model, value))

    # -- model ids ----------------------------------------------------------------------------------

    def _mentions(self, node: ast.Constant) -> None:
        start, end = self.module.bounds(node)
        source = self.module.text[start:end]
        opening = _STRING_OPEN.match(source)
        if opening is None:
            return
        quote = opening.group(1)
        content = source[opening.end() : len(source) - len(quote) if source.endswith(quote) else len(source)]
        for match in self.matcher.mentions(content):
            written = (self.matcher.provider_before(content, match.start()) or "") + match.group()
            at = start + opening.end() + match.start()
            self.literals.append(self._literal_site("docs", "doc", at, match.group(), written))

    def _literal_site(
        self, language: Language, context: SiteContext, at: int, model: str, written: str
    ) -> LiteralSite:
        span = self.module.positions.span(at, at + len(model))
        return LiteralSite(self.module.path, language, context, span, model, written)

    # -- after the walk -----------------------------------------------------------------------------

    def finish(self) -> tuple[list[CallSite], list[LiteralSite]]:
        recognised = self.calls.recognised()
        # LangChain's wrapper returns URLs, not a response: its reads are implied, not found
        followed = {key for key, (*_, family) in recognised.items() if family != "langchain"}
        reads = url_reads(self.reads, followed)
        calls = [
            self.calls.site(node, scope, api, family, [self.module.span(read) for read in reads.get(key, [])])
            for key, (node, scope, api, family) in recognised.items()
        ]
        calls.sort(key=lambda site: site.span.offset)
        self.literals.sort(key=lambda site: site.span.offset)
        return calls, self.literals


_Extractor.HANDLERS = {
    **ScopeWalk.HANDLERS,
    ast.AsyncWith: _Extractor._async_with,
    ast.Await: _Extractor._await,
    ast.Call: _Extractor._call,
    ast.Attribute: _Extractor._attribute,
    ast.Subscript: _Extractor._subscript,
    ast.JoinedStr: _Extractor._joined_str,
    ast.Constant: _Extractor._constant,
}
