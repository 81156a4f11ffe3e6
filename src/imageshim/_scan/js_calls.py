"""Which JS/TS calls are image calls, and their options by OpenAI's names (see :mod:`.js_sites`).

Calls are found from a few words (``generate``, ``edit``, ``createVariation``, ``image``, ``imageModel``,
``generateImage``, ``experimental_generateImage``, ``DallEAPIWrapper`` and the import aliases of these),
then checked against the tree: the receiver chain, and what the callee is bound to (an import from
``"ai"``, ``"@ai-sdk/openai"``, a ``require``, a ``createOpenAI(...)`` instance).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from imageshim._scan.js_scopes import Binding, bound_value, resolve
from imageshim._scan.js_tree import ParsedFile, call_of, first_argument, hits, literal, short, unwrap
from imageshim._scan.js_url_reads import response_flavour, url_reads
from imageshim._scan.js_values import Prop, join, prop_value, properties, value_of, weaker
from imageshim._scan.sites import CallSite, Origin, Span, Value

if TYPE_CHECKING:
    from collections.abc import Collection

    from tree_sitter import Node

__all__ = ["CALL_WORDS", "CallFinder"]

_IMAGE_METHODS = {
    "generate": "images.generate",
    "edit": "images.edit",
    "createVariation": "images.create_variation",
}
_GENERATE_IMAGE = frozenset({"generateImage", "experimental_generateImage"})
_IMAGE_FACTORIES = frozenset({"image", "imageModel"})
_WRAPPER = "DallEAPIWrapper"
#: the words an image call is recognised at (whole identifiers; import aliases are added per file)
CALL_WORDS = tuple(w.encode() for w in (*_IMAGE_METHODS, *_IMAGE_FACTORIES, *_GENERATE_IMAGE, _WRAPPER))
_AI_SDK_KEYS = frozenset({"model", "prompt", "n", "size", "aspectRatio", "seed"})
#: LangChain's fields -> OpenAI's names (the api key, organization and base URL are not options)
_WRAPPER_KEYS = {
    "model": "model",
    "modelName": "model",
    "size": "size",
    "quality": "quality",
    "style": "style",
    "n": "n",
    "user": "user",
    "dallEResponseFormat": "response_format",
    "responseFormat": "response_format",
}
_WRAPPER_URL = "DallEAPIWrapper returns the image URL (its response format defaults to 'url')"


class _Options:
    """A call's options as they are collected."""

    def __init__(self) -> None:
        self.options: dict[str, Value] = {}
        self.paths: dict[str, str] = {}
        self.spans: dict[str, Span] = {}
        self.hidden: list[str] = []

    def put(self, f: ParsedFile, name: str, value: Value, prop: Prop, path: str | None = None) -> None:
        self.options[name] = value
        self.spans[name] = f.span(prop.node)
        if path is not None and path != name:
            self.paths[name] = path


def _requires(f: ParsedFile, node: Node | None, module: str) -> bool:
    """``node`` is ``require("<module>")``."""
    if node is None:
        return False
    node = unwrap(node)
    callee = node.child_by_field_name("function") if node.type == "call_expression" else None
    argument = first_argument(node) if callee is not None else None
    return (
        callee is not None
        and f.src(callee) == "require"
        and argument is not None
        and literal(f, argument) == (True, module)
    )


def _imports(f: ParsedFile, binding: Binding | None, module: str, names: Collection[str]) -> bool:
    """The binding is one of ``names`` imported (or required) from ``module``."""
    if binding is None:
        return False
    if binding.kind == "import":
        return binding.detail == module and binding.key in names
    return binding.kind == "declare" and binding.key in names and _requires(f, binding.value, module)


def _is_namespace(f: ParsedFile, node: Node, module: str) -> bool:
    """``node`` names the module itself: ``import * as ai from "ai"`` or ``const ai = require("ai")``."""
    if node.type != "identifier":
        return False
    binding = resolve(f, f.src(node), node)
    if binding is None:
        return False
    if binding.kind == "import":
        return binding.detail == module and binding.key in ("*", "default")
    return binding.kind == "declare" and binding.key is None and _requires(f, binding.value, module)


class CallFinder:
    """The image calls of one file."""

    def __init__(self, f: ParsedFile) -> None:
        self.f = f
        #: openai.image(...) calls a generateImage call reads as its model (not reported on their own)
        self.consumed: set[int] = set()
        #: the local names of generateImage / DallEAPIWrapper (import aliases added by :meth:`_nodes`)
        self.generate_names: set[str] = set(_GENERATE_IMAGE)
        self.wrapper_names: set[str] = {_WRAPPER}

    def find(self, words_at: list[tuple[int, int]]) -> list[CallSite]:
        """The calls at the byte ranges of :data:`CALL_WORDS` found in the file, in source order."""
        f = self.f
        nodes = self._nodes(words_at)
        found: dict[int, CallSite] = {}
        factories: list[Node] = []
        for node in nodes:
            parent = node.parent
            name = f.src(node)
            if (
                node.type == "property_identifier"
                and parent is not None
                and parent.type == "member_expression"
            ):
                self._member(node, parent, name, found, factories)
            elif node.type == "identifier":
                call = call_of(node, "function")
                if call is not None and name in self.generate_names and self._is_generate_image(node, call):
                    found[call.id] = self._generate_image(call)
                new = call_of(node, "constructor")
                if new is not None and self._is_wrapper(node):
                    found[new.id] = self._wrapper(new)
        for call in factories:
            if call.id not in self.consumed:
                found[call.id] = self._factory(call)
        return sorted(found.values(), key=lambda site: site.span.offset)

    def _nodes(self, words_at: list[tuple[int, int]]) -> list[Node]:
        """The identifiers at those ranges, plus those named by an import alias of a known name."""
        f = self.f
        nodes: list[Node] = []
        aliases: set[str] = set()
        for start, end in words_at:
            node = f.root.descendant_for_byte_range(start, end)
            if node is None or node.start_byte != start or node.end_byte != end:
                continue
            nodes.append(node)
            parent = node.parent
            if parent is not None and parent.type in ("import_specifier", "pair_pattern"):
                alias = parent.child_by_field_name("alias") or parent.child_by_field_name("value")
                if alias is not None and alias.type == "identifier" and alias != node:
                    aliases.add(f.src(alias))
        if aliases:
            for start, end in hits(f.data, [alias.encode() for alias in aliases], whole_words=True):
                node = f.root.descendant_for_byte_range(start, end)
                if (
                    node is not None
                    and node.type == "identifier"
                    and node.start_byte == start
                    and node.end_byte == end
                ):
                    nodes.append(node)
            self.generate_names |= aliases
            self.wrapper_names |= aliases
        return nodes

    def _member(
        self, node: Node, member: Node, name: str, found: dict[int, CallSite], factories: list[Node]
    ) -> None:
        if member.child_by_field_name("property") != node:
            return
        call = call_of(member, "function")
        if call is None:
            new = call_of(member, "constructor")
            if new is not None and name == _WRAPPER:
                found[new.id] = self._wrapper(new)
            return
        receiver = member.child_by_field_name("object")
        if receiver is None:
            return
        if name in _IMAGE_METHODS:
            images = unwrap(receiver)
            prop = images.child_by_field_name("property") if images.type == "member_expression" else None
            if prop is not None and self.f.src(prop) == "images":
                found[call.id] = self._openai_node(call, _IMAGE_METHODS[name])
        elif name in _IMAGE_FACTORIES:
            if self._is_openai_factory(call):
                factories.append(call)
        elif name in _GENERATE_IMAGE and _is_namespace(self.f, unwrap(receiver), "ai"):
            found[call.id] = self._generate_image(call)

    # -- which calls ---------------------------------------------------------------------------------------

    def _is_generate_image(self, callee: Node, call: Node) -> bool:
        f = self.f
        name = f.src(callee)
        binding = resolve(f, name, callee)
        if binding is None:  # a global (a snippet, a bundle): the AI SDK's if called with an options object
            argument = first_argument(call)
            return name in _GENERATE_IMAGE and argument is not None and unwrap(argument).type == "object"
        return _imports(f, binding, "ai", _GENERATE_IMAGE)

    def _is_wrapper(self, callee: Node) -> bool:
        f = self.f
        name = f.src(callee)
        if name not in self.wrapper_names:
            return False
        binding = resolve(f, name, callee)
        if binding is None:
            return name == _WRAPPER
        if binding.kind == "import":
            return binding.key == _WRAPPER
        return binding.kind == "declare" and binding.key == _WRAPPER

    def _is_openai_factory(self, call: Node) -> bool:
        """``<provider>.image(...)`` / ``.imageModel(...)`` where the provider is the AI SDK's OpenAI one."""
        callee = call.child_by_field_name("function")
        receiver = callee.child_by_field_name("object") if callee is not None else None
        return receiver is not None and self._is_openai_provider(unwrap(receiver))

    def _is_openai_provider(self, node: Node) -> bool:
        f = self.f
        if node.type == "call_expression":  # createOpenAI({...}).image("dall-e-3")
            callee = node.child_by_field_name("function")
            return callee is not None and callee.type == "identifier" and self._is_create_openai(callee)
        if node.type != "identifier":
            return False
        name = f.src(node)
        binding = resolve(f, name, node)
        if binding is None:
            return name == "openai"
        if _imports(f, binding, "@ai-sdk/openai", ("openai",)):
            return True
        bound = bound_value(f, name, binding)
        return bound is not None and self._is_openai_provider(bound[0])

    def _is_create_openai(self, callee: Node) -> bool:
        name = self.f.src(callee)
        binding = resolve(self.f, name, callee)
        if binding is None:
            return name == "createOpenAI"
        return _imports(self.f, binding, "@ai-sdk/openai", ("createOpenAI",))

    # -- the sites -----------------------------------------------------------------------------------------

    def _site(self, call: Node, api: str, collected: _Options, **extra: Any) -> CallSite:
        return CallSite(
            path=self.f.path,
            language=self.f.language,
            api=api,
            span=self.f.span(call),
            options=collected.options,
            hidden=tuple(collected.hidden),
            option_paths=collected.paths,
            arg_spans=collected.spans,
            **extra,
        )

    def _arguments(self, call: Node) -> tuple[list[Prop], _Options]:
        collected = _Options()
        argument = first_argument(call)
        if argument is None:
            return [], collected
        found = properties(self.f, argument)
        if found is None:
            collected.hidden.append("arguments not visible")
            return [], collected
        collected.hidden.extend(found[1])
        return found[0], collected

    def _openai_node(self, call: Node, api: str) -> CallSite:
        props, collected = self._arguments(call)
        for prop in props:
            collected.put(self.f, prop.key, prop_value(self.f, prop), prop)
        flavour, result = response_flavour(self.f, call)
        reads = () if flavour == "asResponse" else url_reads(self.f, result, flavour)
        return self._site(call, api, collected, flavour=flavour, url_reads=reads)

    def _generate_image(self, call: Node) -> CallSite:
        f = self.f
        props, collected = self._arguments(call)
        for prop in props:
            if prop.key == "model":
                collected.put(f, "model", self._model(prop), prop)
            elif prop.key in _AI_SDK_KEYS:
                collected.put(f, prop.key, prop_value(f, prop), prop)
            elif prop.key == "providerOptions":
                self._provider_options(prop, collected)
        return self._site(call, "generateImage", collected)

    def _provider_options(self, prop: Prop, collected: _Options) -> None:
        f = self.f
        for provider in self._object_props(prop, "providerOptions", collected):
            if provider.key == "openai":
                for option in self._object_props(provider, "providerOptions.openai", collected):
                    path = f"providerOptions.openai.{option.key}"
                    collected.put(f, option.key, prop_value(f, option), option, path)

    def _object_props(self, prop: Prop, path: str, collected: _Options) -> list[Prop]:
        """The properties of the object ``prop`` (at ``path``) holds; what hides any of them is hidden."""
        found = properties(self.f, prop.value, prop.origin, join(prop.via, prop.key))
        if found is None:
            collected.hidden.append(f"{path}: {short(self.f.src(prop.value))}")
            return []
        collected.hidden.extend(found[1])
        return found[0]

    def _model(self, prop: Prop) -> Value:
        """generateImage's model: the id in ``openai.image("...")`` (also through a name), else the value."""
        f = self.f
        node = unwrap(prop.value)
        factory: Node | None = None
        origin: Origin | None = prop.origin
        via: str | None = join(prop.via, prop.key)
        if node.type == "call_expression" and self._is_factory_call(node):
            factory = node
        elif node.type in ("identifier", "shorthand_property_identifier"):
            name = f.src(node)
            bound = bound_value(f, name, resolve(f, name, node))
            if bound is not None and bound[0].type == "call_expression" and self._is_factory_call(bound[0]):
                factory, origin, via = bound[0], weaker(origin or "literal", bound[1]), name
        if factory is None:
            return prop_value(f, prop)
        self.consumed.add(factory.id)
        argument = first_argument(factory)
        if argument is None:
            return Value(f.src(factory), None, "computed", f.span(factory))
        return value_of(f, argument, origin, via)

    def _is_factory_call(self, call: Node) -> bool:
        callee = call.child_by_field_name("function")
        prop = (
            callee.child_by_field_name("property")
            if callee is not None and callee.type == "member_expression"
            else None
        )
        return prop is not None and self.f.src(prop) in _IMAGE_FACTORIES and self._is_openai_factory(call)

    def _factory(self, call: Node) -> CallSite:
        collected = _Options()
        argument = first_argument(call)
        if argument is not None:
            collected.options["model"] = value_of(self.f, argument)
            collected.spans["model"] = self.f.span(argument)
        return self._site(call, "openai.image", collected)

    def _wrapper(self, new: Node) -> CallSite:
        f = self.f
        props, collected = self._arguments(new)
        for prop in props:
            name = _WRAPPER_KEYS.get(prop.key)
            if name is not None:
                collected.put(f, name, prop_value(f, prop), prop, prop.key)
        response_format = collected.options.get("response_format")
        b64 = response_format is not None and response_format.visible and response_format.value == "b64_json"
        return self._site(new, "DallEAPIWrapper", collected, implied_url_read=None if b64 else _WRAPPER_URL)
