"""Reads of ``url`` on a Python image call's result: what breaks when the model returns no URL.

The walk notes each ``x.url``, ``x["url"]`` and ``x.get("url")`` with what it reads from and its scope
(:func:`url_read_base`). After the walk, :func:`url_reads` follows what each read reads from back to a call.
That is the call itself (``client.images.generate(...).data[0].url``), or the names bound in the same scope:
a name bound to the call (``resp = ...``), its aliases (``data = resp.data``) and loop variables
(``for item in resp.data``), up to eight steps. The latest binding before the read wins. Methods that hand
back the same data (``raw.parse()``, ``resp.model_dump()["data"]``, ``response.get("data")``) are seen
through. Never across functions.
"""

from __future__ import annotations

import ast
from collections.abc import Container, Iterable

from imageshim._scan.python_scopes import Scope, latest
from imageshim._scan.python_tree import start

__all__ = ["UrlRead", "url_read_base", "url_reads"]

#: a read of ``url``: the read, the expression it reads from, its scope
UrlRead = tuple[ast.expr, ast.expr, Scope]

#: method calls that hand back the same response data (``raw.parse()``, ``resp.model_dump()["data"]``)
_TRANSPARENT_METHODS = frozenset({"parse", "model_dump", "to_dict", "dict"})
_MAX_ALIAS_DEPTH = 8


def url_read_base(node: ast.Attribute | ast.Subscript | ast.Call) -> ast.expr | None:
    """What ``node`` reads ``url`` from: ``x`` for ``x.url``, ``x["url"]`` and ``x.get("url")``; else None."""
    if isinstance(node, ast.Attribute):
        return node.value if node.attr == "url" and isinstance(node.ctx, ast.Load) else None
    if isinstance(node, ast.Subscript):
        return node.value if isinstance(node.ctx, ast.Load) and _is_string(node.slice, "url") else None
    func = node.func
    if isinstance(func, ast.Attribute) and func.attr == "get" and len(node.args) == 1:
        return func.value if _is_string(node.args[0], "url") else None
    return None


def url_reads(reads: Iterable[UrlRead], calls: Container[int]) -> dict[int, list[ast.expr]]:
    """The reads of each call's result, by the call's ``id`` (``calls``: the ids of the calls to follow)."""
    found: dict[int, list[ast.expr]] = {}
    for read, base, scope in reads:
        call = _result_of(base, scope, calls, 0)
        if call is not None:
            found.setdefault(call, []).append(read)
    return found


def _result_of(expr: ast.expr, scope: Scope, calls: Container[int], depth: int) -> int | None:
    """The call in ``calls`` whose result ``expr`` reads from, through names bound in the same scope."""
    root = _root(expr)
    if isinstance(root, ast.Call):
        return id(root) if id(root) in calls else None
    if not isinstance(root, ast.Name) or depth >= _MAX_ALIAS_DEPTH:
        return None
    binding = latest(scope, root.id, start(root))
    if binding is None or binding.source is None:
        return None
    return _result_of(binding.source, binding.scope, calls, depth + 1)


def _root(node: ast.expr) -> ast.expr:
    """What an access chain starts from: ``resp`` for ``resp.parse().data[0]["url"]``."""
    while True:
        if isinstance(node, (ast.Attribute, ast.Subscript, ast.Await)):
            node = node.value
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and _transparent(node):
            node = node.func.value
        else:
            return node


def _transparent(call: ast.Call) -> bool:
    attr = call.func.attr  # type: ignore[attr-defined]
    if attr == "get":  # dict access of a 0.x response: response.get("data")
        return len(call.args) == 1 and isinstance(call.args[0], ast.Constant)
    return attr in _TRANSPARENT_METHODS and not call.args


def _is_string(node: ast.expr, value: str) -> bool:
    return isinstance(node, ast.Constant) and node.value == value and isinstance(node.value, str)
