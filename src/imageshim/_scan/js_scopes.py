"""What a name is bound to where it is used: block scopes, parameters, loops and imports.

Enough of JavaScript's scoping for the scanner's questions ("is ``SIZE`` a module constant?", "is ``r`` the
variable this call's result went into?"): ``const`` / ``let`` / ``var`` declarations of a block (``var`` is
treated like ``let``), destructuring patterns, function and callback parameters, ``for ... of`` and
imports. Each block is indexed once per file, and lookups are memoised on the :class:`~.js_tree.ParsedFile`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, NamedTuple

from imageshim._scan.js_tree import FUNCTIONS, SCOPES, ParsedFile, hits, key_text, string_value, unwrap
from imageshim._scan.sites import Origin

if TYPE_CHECKING:
    from tree_sitter import Node

__all__ = [
    "DEPTH",
    "Binding",
    "binds",
    "bound_names",
    "bound_value",
    "callback_receiver",
    "changed",
    "resolve",
]

#: how many names a value is followed through (const A = B; const B = "x"), and a result's url through
DEPTH = 4
_DECLARED = frozenset(
    {
        "function_declaration",
        "generator_function_declaration",
        "class_declaration",
        "abstract_class_declaration",
        "enum_declaration",
    }
)


class Binding(NamedTuple):
    """What a name is bound to where it is used."""

    #: "declare" (const/let/var), "param", "of" (for...of / for...in), "import", "other"
    kind: str
    node: Node
    #: the initializer; for a callback's parameter, what the method is called on; for "of", the collection
    value: Node | None
    #: for a destructured name, the first-level key it comes from; for an import, the imported name
    key: str | None = None
    #: "const" / "let" / "var"; for an import, the module
    detail: str = ""
    module_level: bool = False


def bound_names(f: ParsedFile, node: Node, key: str | None = None) -> Iterator[tuple[str, str | None]]:
    """The names a pattern binds, each with the first-level key it takes its value from."""
    kind = node.type
    if kind == "identifier":
        yield f.src(node), key
    elif kind == "shorthand_property_identifier_pattern":
        name = f.src(node)
        yield name, name if key is None else key
    elif kind == "object_pattern":
        for child in node.named_children:
            own: Node | None
            if child.type == "pair_pattern":
                own, inner = child.child_by_field_name("key"), child.child_by_field_name("value")
            elif child.type == "object_assignment_pattern":
                own = inner = child.child_by_field_name("left")
            else:  # { name }, { ...rest }
                own, inner = None, child
            if inner is not None:
                own_key = key_text(f, own) if own is not None else None
                yield from bound_names(f, inner, key if key is not None else own_key)
    elif kind == "assignment_pattern":
        left = node.child_by_field_name("left")
        if left is not None:
            yield from bound_names(f, left, key)
    elif kind in ("required_parameter", "optional_parameter"):
        pattern = node.child_by_field_name("pattern")
        if pattern is not None:
            yield from bound_names(f, pattern, key)
    elif kind in ("array_pattern", "rest_pattern", "formal_parameters"):
        for child in node.named_children:
            yield from bound_names(f, child, key)


def binds(f: ParsedFile, node: Node | None, name: str) -> tuple[bool, str | None]:
    """Whether the pattern ``node`` binds ``name``, and the first-level key it takes it from."""
    if node is not None:
        for bound, key in bound_names(f, node):
            if bound == name:
                return True, key
    return False, None


def resolve(f: ParsedFile, name: str, at: Node) -> Binding | None:
    """The nearest binding of ``name`` seen from ``at`` (block scopes, parameters, loops, imports)."""
    memo = (name, at.id)
    if memo not in f.resolved:
        f.resolved[memo] = _lookup(f, name, at)
    return f.resolved[memo]


def _lookup(f: ParsedFile, name: str, at: Node) -> Binding | None:
    node = at
    while True:
        parent = node.parent
        if parent is None:
            return None
        kind = parent.type
        if kind in SCOPES:
            found = _declared_in(f, parent, name, None if kind == "program" else at.start_byte)
            if found is not None:
                return found
        elif kind in FUNCTIONS:
            params = f.params.get(parent.id)
            if params is None:
                node_params = parent.child_by_field_name("parameters") or parent.child_by_field_name(
                    "parameter"
                )
                params = f.params[parent.id] = (
                    dict(bound_names(f, node_params)) if node_params is not None else {}
                )
            if name in params:
                return Binding("param", parent, callback_receiver(parent), params[name])
        elif kind == "for_in_statement":
            bound, key = binds(f, parent.child_by_field_name("left"), name)
            if bound:
                return Binding("of", parent, parent.child_by_field_name("right"), key)
        elif kind in ("for_statement", "catch_clause") and _binds_below(f, parent, node, name):
            return Binding("other", parent, None)
        node = parent


def _binds_below(f: ParsedFile, statement: Node, came_from: Node, name: str) -> bool:
    # A for (let i ...) initializer or a catch (e) parameter: bound, but never to a visible value.
    for field in ("initializer", "parameter"):
        child = statement.child_by_field_name(field)
        if child is None or child == came_from:
            continue
        if child.type in ("lexical_declaration", "variable_declaration"):
            return any(binds(f, d.child_by_field_name("name"), name)[0] for d in child.named_children)
        if binds(f, child, name)[0]:
            return True
    return False


def _declared_in(f: ParsedFile, block: Node, name: str, before: int | None) -> Binding | None:
    found = [b for b in _scope(f, block).get(name, ()) if before is None or b.node.start_byte < before]
    if len(found) > 1:  # declared twice (var): not a single visible value
        return Binding("other", found[-1].node, None)
    return found[0] if found else None


def _scope(f: ParsedFile, block: Node) -> dict[str, list[Binding]]:
    """The names a block's own statements declare (indexed once per block)."""
    index = f.scopes.get(block.id)
    if index is not None:
        return index
    index = f.scopes[block.id] = {}
    module_level = block.type == "program"
    for child in block.named_children:
        statement = child
        if statement.type == "export_statement":
            statement = child.child_by_field_name("declaration") or child
        kind = statement.type
        if kind in ("lexical_declaration", "variable_declaration"):
            keyword = statement.child_by_field_name("kind")
            detail = f.src(keyword) if keyword is not None else "var"
            for declarator in statement.named_children:
                target = (
                    declarator.child_by_field_name("name")
                    if declarator.type == "variable_declarator"
                    else None
                )
                if target is None:
                    continue
                value = declarator.child_by_field_name("value")
                for name, key in bound_names(f, target):
                    binding = Binding("declare", declarator, value, key, detail, module_level)
                    index.setdefault(name, []).append(binding)
        elif kind == "import_statement":
            for name, binding in _imported(f, statement):
                index.setdefault(name, []).append(binding)
        elif kind in _DECLARED:
            declared = statement.child_by_field_name("name")
            if declared is not None:
                index.setdefault(f.src(declared), []).append(Binding("other", statement, None))
    return index


def _imported(f: ParsedFile, statement: Node) -> Iterator[tuple[str, Binding]]:
    source = statement.child_by_field_name("source")
    module = (string_value(f, source)[1] or "") if source is not None else ""
    clause = next((c for c in statement.named_children if c.type == "import_clause"), None)
    for part in clause.named_children if clause is not None else ():
        if part.type == "identifier":
            yield f.src(part), Binding("import", part, None, "default", module)
        elif part.type == "namespace_import":
            for name in part.named_children:
                yield f.src(name), Binding("import", part, None, "*", module)
        elif part.type == "named_imports":
            for spec in part.named_children:
                imported = spec.child_by_field_name("name")
                local = spec.child_by_field_name("alias") or imported
                if imported is not None and local is not None:
                    yield f.src(local), Binding("import", spec, None, key_text(f, imported), module)


def callback_receiver(function: Node) -> Node | None:
    """For ``x.map((item) => ...)`` / ``p.then((r) => ...)``: ``x`` / ``p``; else None."""
    arguments = function.parent
    call = arguments.parent if arguments is not None and arguments.type == "arguments" else None
    callee = (
        call.child_by_field_name("function") if call is not None and call.type == "call_expression" else None
    )
    return (
        callee.child_by_field_name("object")
        if callee is not None and callee.type == "member_expression"
        else None
    )


def bound_value(f: ParsedFile, name: str, binding: Binding | None) -> tuple[Node, Origin] | None:
    """The value a plain (not destructured) const/let/var name always holds, and its origin."""
    if binding is None or binding.kind != "declare" or binding.key is not None or binding.value is None:
        return None
    if binding.detail != "const" and changed(f, name, binding)[0]:
        return None
    origin: Origin = "constant" if binding.detail == "const" and binding.module_level else "assignment"
    return unwrap(binding.value), origin


def changed(f: ParsedFile, name: str, binding: Binding) -> tuple[tuple[int, ...], bool]:
    """(where ``name`` is assigned again, whether one of its properties is) in the declaration's scope.

    Any ``name = ...`` in that scope counts, even one of a shadowing name: it only makes values computed.
    """
    memo = (name, binding.node.id)
    found = f.changed.get(memo)
    if found is None:
        found = f.changed[memo] = _assignments(f, name, binding.node)
    return found


def _assignments(f: ParsedFile, name: str, declaration: Node) -> tuple[tuple[int, ...], bool]:
    scope = declaration
    while scope.parent is not None and scope.type not in SCOPES:
        scope = scope.parent
    reassigned: list[int] = []
    mutated = False
    for match_start, match_end in hits(
        f.data, (name.encode(),), whole_words=True, start=scope.start_byte, end=scope.end_byte
    ):
        node = f.root.descendant_for_byte_range(match_start, match_end)
        parent = node.parent if node is not None else None
        if node is None or parent is None or node.type != "identifier" or node.start_byte != match_start:
            continue
        if parent.type == "update_expression" or (
            parent.type in ("assignment_expression", "augmented_assignment_expression")
            and parent.child_by_field_name("left") == node
        ):
            reassigned.append(parent.start_byte)
        elif (
            parent.type in ("member_expression", "subscript_expression")
            and parent.child_by_field_name("object") == node
        ):
            outer = parent.parent
            if outer is not None and outer.type in (
                "assignment_expression",
                "augmented_assignment_expression",
            ):
                mutated = mutated or outer.child_by_field_name("left") == parent
    return tuple(reassigned), mutated
