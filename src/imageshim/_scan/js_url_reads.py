"""Reads of ``url`` on an image call's result: what breaks when the model returns no URL.

Bounded on purpose: the read must come from the call itself (``(await call).data[0].url``), from the
variable its result went into, or from names derived from that one (a ``const`` of it, destructuring, a
``for ... of`` over it, a ``.map`` / ``.then`` callback's parameter; up to :data:`~.js_scopes.DEPTH`
steps), within that variable's scope (closures included) and after the call.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from imageshim._scan.js_scopes import DEPTH, callback_receiver, changed, resolve
from imageshim._scan.js_tree import FUNCTIONS, SCOPES, WRAPPERS, ParsedFile, call_of
from imageshim._scan.sites import Span

if TYPE_CHECKING:
    from tree_sitter import Node

__all__ = ["response_flavour", "url_reads"]

_URL = re.compile(rb"(?<![\w$])url(?![\w$])")
_RESPONSE_METHODS = frozenset({"withResponse", "asResponse"})
_PATTERNS = frozenset(
    {
        "object_pattern",
        "array_pattern",
        "pair_pattern",
        "object_assignment_pattern",
        "assignment_pattern",
        "rest_pattern",
        "required_parameter",
        "optional_parameter",
        "formal_parameters",
    }
)


def response_flavour(f: ParsedFile, call: Node) -> tuple[str | None, Node]:
    """``call.withResponse()`` / ``.asResponse()``: (that method, the outer call); else (None, call)."""
    member = call.parent
    if (
        member is not None
        and member.type == "member_expression"
        and member.child_by_field_name("object") == call
    ):
        prop = member.child_by_field_name("property")
        outer = call_of(member, "function")
        if prop is not None and outer is not None and f.src(prop) in _RESPONSE_METHODS:
            return f.src(prop), outer
    return None, call


def url_reads(f: ParsedFile, result: Node, flavour: str | None) -> tuple[Span, ...]:
    """Reads of ``url`` on what ``result`` (the call) returns, in the scope its value is kept in."""
    target, scope = _result_target(f, result)
    if f.url_tokens is None:
        f.url_tokens = []
        for match in _URL.finditer(f.data):
            node = f.root.descendant_for_byte_range(*match.span())
            found = _url_read_at(f, node) if node is not None else None
            if found is not None and found[1] is not None:
                f.url_tokens.append((found[0], found[1], match.start()))
    # After the call, or in the pattern the result is destructured into (const { data: [{ url }] } = ...)
    inside = (
        (target.start_byte, target.end_byte) if target is not None else (result.end_byte, result.end_byte)
    )
    reads = [
        f.span(read)
        for read, root, at in f.url_tokens
        if scope.start_byte <= at < scope.end_byte
        and (at >= result.end_byte or inside[0] <= at < inside[1])
        and _flows_from(f, root, result, target, flavour, at)
    ]
    return tuple(reads)


def _operator(node: Node) -> str | None:
    operator = node.child_by_field_name("operator")
    return operator.type if operator is not None else None


def _result_target(f: ParsedFile, result: Node) -> tuple[Node | None, Node]:
    """The declarator the call's result is kept in (if any), and the scope to look for reads in."""
    node = result
    parent = node.parent
    while parent is not None and (parent.type in WRAPPERS or parent.type == "await_expression"):
        node, parent = parent, parent.parent
    target: Node | None = None
    if (
        parent is not None
        and parent.type == "variable_declarator"
        and parent.child_by_field_name("value") == node
    ):
        target = parent
    elif (
        parent is not None
        and parent.type == "assignment_expression"
        and parent.child_by_field_name("right") == node
    ):
        left = parent.child_by_field_name("left")
        binding = resolve(f, f.src(left), left) if left is not None and left.type == "identifier" else None
        target = binding.node if binding is not None and binding.kind == "declare" else None
    scope = target if target is not None else result
    while scope.parent is not None and scope.type not in SCOPES:
        scope = scope.parent
    return target, scope


def _url_read_at(f: ParsedFile, node: Node) -> tuple[Node, Node | None] | None:
    """At a ``url`` token: (the read expression or pattern element, the expression it reads from)."""
    parent = node.parent
    if parent is None:
        return None
    if node.type == "property_identifier" and parent.type == "member_expression":
        if parent.child_by_field_name("property") == node:
            return parent, parent.child_by_field_name("object")
        return None
    if node.type == "string_fragment" and parent.type == "string":
        holder = parent.parent
        if (
            holder is not None
            and holder.type == "subscript_expression"
            and holder.child_by_field_name("index") == parent
        ):
            return holder, holder.child_by_field_name("object")
        return None
    element: Node | None = None
    if node.type == "shorthand_property_identifier_pattern":
        element = parent if parent.type == "object_assignment_pattern" else node
    elif parent.type == "pair_pattern" and parent.child_by_field_name("key") == node:
        element = parent
    if element is None:
        return None
    binder = element.parent
    while binder is not None and binder.type in _PATTERNS:
        binder = binder.parent
    if binder is None:
        return None
    if binder.type == "variable_declarator":
        return element, binder.child_by_field_name("value")
    if binder.type == "for_in_statement":
        return element, binder.child_by_field_name("right")
    if binder.type in FUNCTIONS:
        return element, callback_receiver(binder)
    return None


def _flows_from(
    f: ParsedFile, expr: Node, result: Node, target: Node | None, flavour: str | None, read_at: int
) -> bool:
    """Whether ``expr`` (read at ``read_at``) is part of ``result``'s value: members, names, callbacks."""
    node: Node | None = expr
    for _ in range(DEPTH + 1):
        while node is not None and node != result:
            if node.type in ("member_expression", "subscript_expression"):
                node = node.child_by_field_name("object")
            elif node.type == "call_expression":
                node = node.child_by_field_name("function")
            elif node.type in WRAPPERS or node.type == "await_expression":
                node = node.named_children[0] if node.named_child_count else None
            elif node.type == "binary_expression" and _operator(node) in ("??", "||"):
                # (data ?? []).map(...): the fallback is not the result, the left side is
                node = node.child_by_field_name("left")
            else:
                break
        if node is None:
            return False
        if node == result:
            return True
        if node.type != "identifier":
            return False
        binding = resolve(f, f.src(node), node)
        if binding is None:
            return False
        if target is not None and binding.node == target:
            # withResponse() gives { data, response }: response is the HTTP Response, its url is not an image's
            if flavour == "withResponse" and binding.key == "response":
                return False
            # let r = await call; r = other(); r.url: r no longer holds the result
            again = changed(f, f.src(node), binding)[0] if binding.detail != "const" else ()
            return not any(result.end_byte <= at < read_at for at in again)
        node = binding.value
    return False
