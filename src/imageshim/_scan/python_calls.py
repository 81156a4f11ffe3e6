"""Which Python calls are image calls, and their options as written (see :mod:`.python_sites`).

- ``<receiver>.images.generate / edit / create_variation``, also through ``.with_raw_response`` /
  ``.with_streaming_response``. Any receiver counts, so an unrelated object with an ``images.generate``
  method is reported too: a person judges a false positive, nobody sees a missed call.
- The 0.x ``openai.Image.create* / acreate*`` (also ``openai`` imported under another name, and ``Image``
  imported from ``openai``).
- LangChain's ``DallEAPIWrapper(...)`` (also under an import alias), whose ``model_name`` is the model.

Option values: a literal; a name that can only hold one literal there (:func:`~.python_scopes.name_literal`);
anything else is "computed". ``**kwargs`` and positional arguments go to ``hidden``; ``**{"size": ...}``
with string keys gives its options. Credential keywords are left out entirely: their values must never reach
a report.
"""

from __future__ import annotations

import ast

from imageshim._scan.python_scopes import Scope, name_literal
from imageshim._scan.python_tree import ParsedModule, Pos, literal, start
from imageshim._scan.sites import CallSite, Span, Value

__all__ = ["ImageCalls"]

_IMAGE_METHODS = {
    "generate": "images.generate",
    "edit": "images.edit",
    "create_variation": "images.create_variation",
}
_RESPONSE_WRAPPERS = ("with_raw_response", "with_streaming_response")
#: 0.x ``openai.Image`` methods: api, and whether the method is the async one
_LEGACY_METHODS = {
    f"{prefix}{name}": (f"Image.{name}", prefix == "a")
    for name in ("create", "create_edit", "create_variation")
    for prefix in ("", "a")
}
_WRAPPER = "DallEAPIWrapper"
_WRAPPER_MODEL_KEYWORDS = ("model", "model_name")
_WRAPPER_URL_NOTE = (
    "DallEAPIWrapper.run() returns the images' URLs (item.url); a GPT image model returns base64 only, "
    "so it returns no URL (langchain-community#663)"
)
_CALL_ATTRS = frozenset({*_IMAGE_METHODS, *_LEGACY_METHODS, _WRAPPER})
_CREDENTIALS = frozenset({"api_key", "openai_api_key", "azure_ad_token"})
_FLAVOUR_ORDER = ("imageshim", "openai 0.x", "async", *_RESPONSE_WRAPPERS)
#: the clients a module may make its image calls with
_IMAGESHIM_CLIENTS = frozenset({"OpenAI", "AsyncOpenAI"})


class ImageCalls:
    """The image calls of one module: the candidates the walk saw, which of them are image calls, and the
    site of each."""

    def __init__(self, module: ParsedModule) -> None:
        self.module = module
        #: calls whose callee could name an image call, with their scopes, in walk order
        self.candidates: list[tuple[ast.Call, Scope]] = []
        #: ids of the expressions that are awaited (``await x``, ``async with x``)
        self.awaited: set[int] = set()
        self.openai_names = {"openai"}
        self.image_names: set[str] = set()
        self.wrapper_names = {_WRAPPER}
        #: which clients the module imports: imageshim's (``from imageshim import OpenAI``, ``import
        #: imageshim``) and openai's; a module with only imageshim's makes its calls through imageshim
        self.clients: set[str] = set()

    def see(self, node: ast.Call, scope: Scope) -> None:
        """Keep ``node`` when its callee could name an image call (decided after the walk)."""
        func = node.func
        if isinstance(func, ast.Name) or (isinstance(func, ast.Attribute) and func.attr in _CALL_ATTRS):
            self.candidates.append((node, scope))

    def imported(self, module: str | None, name: str, bound: str) -> None:
        """Note the local names of ``openai``, its ``Image`` and ``DallEAPIWrapper``, and whose clients the
        module imports."""
        root = (module or name).split(".")[0]
        if root in ("imageshim", "openai") and (module is None or name in _IMAGESHIM_CLIENTS):
            self.clients.add(root)
        if module is None and name == "openai":
            self.openai_names.add(bound)
        elif module is not None and name == "Image" and module.split(".")[0] == "openai":
            self.image_names.add(bound)
        elif module is not None and name == _WRAPPER:
            self.wrapper_names.add(bound)

    def recognised(self) -> dict[int, tuple[ast.Call, Scope, str, str]]:
        """The image calls among the candidates, by id: (call, scope, api, family). Families: "images",
        "images/<response wrapper>", "legacy", "legacy-async", "langchain"."""
        found: dict[int, tuple[ast.Call, Scope, str, str]] = {}
        for node, scope in self.candidates:
            kind = self._recognise(node)
            if kind is not None:
                found[id(node)] = (node, scope, *kind)
        return found

    def site(self, node: ast.Call, scope: Scope, api: str, family: str, url_reads: list[Span]) -> CallSite:
        """The site of a recognised call, with its options and the spans of the reads of its ``url``."""
        module = self.module
        options: dict[str, Value] = {}
        arg_spans: dict[str, Span] = {}
        paths: dict[str, str] = {}
        hidden: dict[str, None] = {}
        call_at = start(node)

        def add(name: str, value: ast.expr, begin: int, finish: int) -> None:
            if name in _CREDENTIALS:
                return
            if family == "langchain" and name in _WRAPPER_MODEL_KEYWORDS:
                if name != "model":
                    paths["model"] = name
                name = "model"
            options[name] = self._value(value, scope, call_at)
            arg_spans[name] = module.positions.span(begin, finish)

        for arg in node.args:
            hidden[module.src(arg) if isinstance(arg, ast.Starred) else "positional arguments"] = None
        for keyword in node.keywords:
            if keyword.arg is not None:
                add(keyword.arg, keyword.value, *module.bounds(keyword))
            elif pairs := _string_keyed(keyword.value):
                for key, name, value in pairs:
                    add(name, value, module.bounds(key)[0], module.bounds(value)[1])
            else:
                hidden[module.src(keyword)] = None
        return CallSite(
            path=module.path,
            language="python",
            api=api,
            span=module.span(node),
            options=options,
            hidden=tuple(hidden),
            url_reads=tuple(sorted(url_reads, key=lambda span: span.offset)),
            implied_url_read=_WRAPPER_URL_NOTE if family == "langchain" else None,
            option_paths=paths,
            arg_spans=arg_spans,
            flavour=self._flavour(node, family),
        )

    def _recognise(self, node: ast.Call) -> tuple[str, str] | None:
        """(api, family) of an image call; None for any other call."""
        func = node.func
        if isinstance(func, ast.Name):
            return (_WRAPPER, "langchain") if func.id in self.wrapper_names else None
        if not isinstance(func, ast.Attribute):
            return None
        if func.attr == _WRAPPER:
            return _WRAPPER, "langchain"
        receiver = func.value
        if func.attr in _IMAGE_METHODS:
            family = "images"
            if isinstance(receiver, ast.Attribute) and receiver.attr in _RESPONSE_WRAPPERS:
                family, receiver = f"images/{receiver.attr}", receiver.value
            if isinstance(receiver, ast.Attribute) and receiver.attr == "images":
                return _IMAGE_METHODS[func.attr], family
        legacy = _LEGACY_METHODS.get(func.attr)
        if legacy is not None and self._is_legacy_image(receiver):
            return legacy[0], "legacy-async" if legacy[1] else "legacy"
        return None

    def _is_legacy_image(self, node: ast.expr) -> bool:
        if isinstance(node, ast.Name):
            return node.id in self.image_names
        return (
            isinstance(node, ast.Attribute)
            and node.attr == "Image"
            and isinstance(node.value, ast.Name)
            and node.value.id in self.openai_names
        )

    def _flavour(self, node: ast.Call, family: str) -> str | None:
        parts = {"legacy": ["openai 0.x"], "legacy-async": ["openai 0.x", "async"]}.get(family, [])
        parts += family.split("/")[1:]
        if family.startswith("images") and self.clients == {"imageshim"}:
            parts.append("imageshim")  # only imageshim's client is imported: the call goes through it
        if id(node) in self.awaited:
            parts.append("async")
        return ", ".join(part for part in _FLAVOUR_ORDER if part in parts) or None

    def _value(self, node: ast.expr, scope: Scope, call_at: Pos) -> Value:
        module = self.module
        visible, value = literal(node)
        if visible:
            return Value(module.src(node), value, "literal", module.span(node))
        if isinstance(node, ast.Name):
            found = name_literal(node.id, scope, call_at)
            if found is not None:
                origin, bound = found
                return Value(module.src(bound), literal(bound)[1], origin, module.span(bound), via=node.id)
        return Value(module.src(node), None, "computed", module.span(node))


def _string_keyed(node: ast.expr) -> list[tuple[ast.Constant, str, ast.expr]]:
    """The ``(key node, key, value)`` triples of a ``{"size": ...}`` dict literal whose keys are all strings."""
    if not isinstance(node, ast.Dict):
        return []
    pairs = [
        (key, key.value, value)
        for key, value in zip(node.keys, node.values, strict=True)
        if isinstance(key, ast.Constant) and isinstance(key.value, str)
    ]
    return pairs if len(pairs) == len(node.keys) else []
