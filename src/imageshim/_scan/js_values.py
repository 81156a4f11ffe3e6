"""The value an expression always has, when the file shows it: literals, constants, simple assignments.

:func:`visible` follows names (``SIZE`` -> ``const SIZE = "1024x1024"``) and properties of object literals
(``CONFIG.size``); :func:`properties` reads the properties of an object literal, or of the one a name is
bound to. What cannot be seen is "computed" (never guessed); spreads are reported as hidden.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from imageshim._scan.js_scopes import DEPTH, bound_value, changed, resolve
from imageshim._scan.js_tree import ParsedFile, key_text, literal, short, unwrap
from imageshim._scan.sites import Origin, Value

if TYPE_CHECKING:
    from tree_sitter import Node

__all__ = ["Prop", "Seen", "join", "object_of", "prop_value", "properties", "value_of", "visible", "weaker"]


class Seen(NamedTuple):
    """A visible value: the literal node it was read from, the value, where it came from, the name."""

    node: Node
    value: str | int | float | bool | None
    origin: Origin
    via: str | None


class Prop(NamedTuple):
    """One property of an object literal: its key, the whole property, and its value expression."""

    key: str
    node: Node  # the whole property (for arg_spans)
    value: Node
    #: set when the object was read through a name: that binding's origin and the path to the object
    origin: Origin | None
    via: str | None


def weaker(first: Origin, second: Origin) -> Origin:
    """The origin of a value read through two steps: assignment beats constant beats literal."""
    if "assignment" in (first, second):
        return "assignment"
    if "constant" in (first, second):
        return "constant"
    return "literal"


def join(via: str | None, key: str) -> str | None:
    return f"{via}.{key}" if via else None


def visible(f: ParsedFile, node: Node, depth: int = DEPTH) -> Seen | None:
    """The literal value ``node`` always has, read through names and object properties; else None."""
    node = unwrap(node)
    ok, value = literal(f, node)
    if ok:
        return Seen(node, value, "literal", None)
    if depth <= 0:
        return None
    if node.type in ("identifier", "shorthand_property_identifier"):
        name = f.src(node)
        bound = bound_value(f, name, resolve(f, name, node))
        inner = visible(f, bound[0], depth - 1) if bound is not None else None
        if bound is None or inner is None:
            return None
        return Seen(inner.node, inner.value, weaker(bound[1], inner.origin), name)
    member = _member(f, node, depth)
    inner = visible(f, member[1], depth - 1) if member is not None else None
    if member is None or inner is None:
        return None
    origin = member[0] or "literal"
    return Seen(inner.node, inner.value, weaker(origin, inner.origin), inner.via or f.src(node))


def object_of(f: ParsedFile, node: Node, depth: int = DEPTH) -> tuple[Node, Origin | None, str | None] | None:
    """The object literal ``node`` is or names: (object, origin when read through a name, the name)."""
    node = unwrap(node)
    if node.type == "object":
        return node, None, None
    if depth <= 0:
        return None
    if node.type in ("identifier", "shorthand_property_identifier"):
        name = f.src(node)
        binding = resolve(f, name, node)
        bound = bound_value(f, name, binding)
        if bound is None or binding is None or changed(f, name, binding)[1]:
            return None
        inner = object_of(f, bound[0], depth - 1)
        if inner is None:
            return None
        return inner[0], weaker(bound[1], inner[1] or "literal"), name
    member = _member(f, node, depth)
    inner = object_of(f, member[1], depth - 1) if member is not None else None
    if member is None or inner is None:
        return None
    return inner[0], weaker(member[0] or "literal", inner[1] or "literal"), f.src(node)


def _member(f: ParsedFile, node: Node, depth: int) -> tuple[Origin | None, Node] | None:
    """For ``holder.key`` where ``holder`` is or names an object literal: (the origin it was read through,
    the value of its property ``key``); else None."""
    if node.type != "member_expression" or node.child_by_field_name("optional_chain") is not None:
        return None
    target = node.child_by_field_name("object")
    prop = node.child_by_field_name("property")
    holder = object_of(f, target, depth - 1) if target is not None and prop is not None else None
    found = _property(f, holder[0], f.src(prop)) if holder is not None and prop is not None else None
    return (holder[1], found) if holder is not None and found is not None else None


def _property(f: ParsedFile, obj: Node, name: str) -> Node | None:
    """The value of property ``name`` in an object literal (the last one written wins, as in JS)."""
    found: Node | None = None
    for child in obj.named_children:
        if child.type == "pair":
            key = child.child_by_field_name("key")
            if key is not None and key_text(f, key) == name:
                found = child.child_by_field_name("value")
        elif child.type == "shorthand_property_identifier" and f.src(child) == name:
            found = child
    return found


def properties(
    f: ParsedFile, node: Node, origin: Origin | None = None, via: str | None = None
) -> tuple[list[Prop], list[str]] | None:
    """The properties of the object ``node`` is or names, and what hides others; None if not visible."""
    holder = object_of(f, node)
    if holder is None:
        return None
    obj, bound_origin, name = holder
    if bound_origin is not None:
        origin = weaker(origin or "literal", bound_origin)
        via = name
    props: list[Prop] = []
    hidden: list[str] = []
    for child in obj.named_children:
        if child.type == "pair":
            key_node = child.child_by_field_name("key")
            value = child.child_by_field_name("value")
            key = key_text(f, key_node) if key_node is not None else None
            if key is None or value is None:
                hidden.append(short(f.src(child)))
            else:
                props.append(Prop(key, child, value, origin, via))
        elif child.type == "shorthand_property_identifier":
            props.append(Prop(f.src(child), child, child, origin, via))
        elif child.type == "spread_element":
            hidden.append(short(f.src(child)))
    return props, hidden


def prop_value(f: ParsedFile, prop: Prop) -> Value:
    """A property's value as an option :class:`~.sites.Value` (``via`` names the object it came from)."""
    return value_of(f, prop.value, prop.origin, join(prop.via, prop.key))


def value_of(f: ParsedFile, node: Node, origin: Origin | None = None, via: str | None = None) -> Value:
    """``node``'s value; ``origin`` / ``via``: it was read through a name (an object bound to one)."""
    seen = visible(f, node)
    if seen is None:
        return Value(f.src(node), None, "computed", f.span(node))
    if origin is None:
        return Value(f.src(seen.node), seen.value, seen.origin, f.span(seen.node), seen.via)
    return Value(
        f.src(seen.node), seen.value, weaker(origin, seen.origin), f.span(seen.node), seen.via or via
    )
