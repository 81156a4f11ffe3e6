"""Name bindings in one Python module: the walk that knows each node's scope, and what a name holds.

:class:`ScopeWalk` walks a module's tree with an explicit stack (no recursion, so deep expressions cannot
exhaust Python's stack). Every node is visited with its scope (module, function, class or comprehension) and
its loop depth. The walk records every binding of every name: assignments, parameters, imports, loop and
``with`` targets, ``except ... as``, ``match`` captures and walrus targets. ``global`` / ``nonlocal`` move a
binding to the scope that owns the name. Subclasses add handlers for the nodes they look at
(:mod:`.python_sites`).

After the walk, two questions:

- :func:`latest`: the binding in effect at a place (what ``resp`` was last bound to before ``resp.data``);
- :func:`name_literal`: whether a name can only hold one literal there. That is a module constant (one
  module-level ``NAME = <literal>``, never rebound, with no later ``import *``), or a single
  ``name = <literal>`` earlier in the same function and outside loops.
"""

from __future__ import annotations

import ast
import dataclasses
from collections.abc import Callable, Iterable
from typing import Any, ClassVar, Literal

from imageshim._scan.python_tree import Pos, end, literal, start

__all__ = ["Binding", "Handler", "Scope", "ScopeWalk", "latest", "name_literal"]

#: a node handler: ``handler(walk, node, scope, loop depth)``
Handler = Callable[[Any, Any, "Scope", int], None]


@dataclasses.dataclass(eq=False)
class Binding:
    """One binding of a name: from where it holds, and what it binds when that is worth knowing."""

    at: Pos
    scope: Scope
    #: the literal of a ``name = <literal>`` outside loops
    literal: ast.expr | None = None
    #: the expression the whole name is bound to (an assignment's value, a loop's iterable)
    source: ast.expr | None = None


@dataclasses.dataclass(eq=False)
class Scope:
    kind: str  # "module" | "function" | "class" | "comprehension"
    parent: Scope | None
    bindings: dict[str, list[Binding]] = dataclasses.field(default_factory=dict)
    declared_global: set[str] = dataclasses.field(default_factory=set)
    declared_nonlocal: set[str] = dataclasses.field(default_factory=set)
    #: positions of ``from x import *`` (module scope)
    star_imports: list[Pos] = dataclasses.field(default_factory=list)

    def bind(self, name: str, binding: Binding) -> None:
        self.bindings.setdefault(name, []).append(binding)


_CHILD_FIELDS: dict[type[ast.AST], tuple[str, ...]] = {}


def _child_fields(kind: type[ast.AST]) -> tuple[str, ...]:
    """The fields of a node type that can hold code (not contexts and operators, which are leaves)."""
    fields = _CHILD_FIELDS.get(kind)
    if fields is None:
        fields = _CHILD_FIELDS[kind] = tuple(
            name for name in kind._fields if name not in ("ctx", "op", "ops")
        )
    return fields


class ScopeWalk:
    """The walk of one module, recording the bindings of every scope.

    Subclasses extend :attr:`HANDLERS` and override the hooks :meth:`_docstring` and :meth:`_imported`.
    """

    HANDLERS: ClassVar[dict[type[ast.AST], Handler]] = {}

    def __init__(self) -> None:
        self.module_scope = Scope("module", None)
        self.scopes = [self.module_scope]
        self.stack: list[tuple[ast.AST, Scope, int]] = []
        #: bindings prepared by a statement for its target ``Name`` nodes (keyed by node id)
        self.prepared: dict[int, Binding] = {}

    def walk(self, tree: ast.Module) -> None:
        self._docstring(tree.body)
        self.stack = [(node, self.module_scope, 0) for node in tree.body]
        stack, handlers = self.stack, self.HANDLERS
        while stack:
            node, scope, loop = stack.pop()
            kind = type(node)
            if kind is ast.Name and type(node.ctx) is ast.Load:  # type: ignore[attr-defined]
                continue  # the commonest node: reads are looked at from the calls and accesses
            handler = handlers.get(kind)
            if handler is not None:
                handler(self, node, scope, loop)
                continue
            for field in _child_fields(kind):
                value = getattr(node, field, None)
                if type(value) is list:
                    stack.extend([(child, scope, loop) for child in value if isinstance(child, ast.AST)])
                elif isinstance(value, ast.AST):
                    stack.append((value, scope, loop))
        self._route_declarations()

    # -- hooks --------------------------------------------------------------------------------------

    def _docstring(self, body: list[ast.stmt]) -> None:
        """Called with the body of the module, of each class and of each function, before it is walked."""

    def _imported(self, module: str | None, name: str, bound: str) -> None:
        """Called for each name an import binds: ``from <module> import <name> as <bound>``; module None for
        ``import <name> as <bound>``."""

    # -- the walk -----------------------------------------------------------------------------------

    def _push(self, nodes: Iterable[ast.AST | None], scope: Scope, loop: int) -> None:
        self.stack.extend((node, scope, loop) for node in nodes if node is not None)

    def _scope(self, kind: str, parent: Scope) -> Scope:
        scope = Scope(kind, parent)
        self.scopes.append(scope)
        return scope

    def _function(
        self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda, scope: Scope, loop: int
    ) -> None:
        inner = self._scope("function", scope)
        args = node.args
        for arg in (*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg):
            if arg is not None:
                inner.bind(arg.arg, Binding(start(node), inner))
                self._push([arg.annotation], scope, loop)
        self._push([*args.defaults, *args.kw_defaults], scope, loop)
        if isinstance(node, ast.Lambda):
            self._push([node.body], inner, 0)
            return
        scope.bind(node.name, Binding(start(node), scope))
        self._push([*node.decorator_list, node.returns], scope, loop)
        self._docstring(node.body)
        self._push(node.body, inner, 0)

    def _class(self, node: ast.ClassDef, scope: Scope, loop: int) -> None:
        scope.bind(node.name, Binding(start(node), scope))
        self._push([*node.decorator_list, *node.bases, *node.keywords], scope, loop)
        self._docstring(node.body)
        self._push(node.body, self._scope("class", scope), loop)

    def _comprehension(
        self, node: ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp, scope: Scope, loop: int
    ) -> None:
        inner = self._scope("comprehension", scope)
        for index, generator in enumerate(node.generators):
            outer, outer_loop = (scope, loop) if index == 0 else (inner, loop + 1)
            self._bind_iteration(generator.target, generator.iter, start(node), outer)
            self._push([generator.iter], outer, outer_loop)
            self._push([generator.target, *generator.ifs], inner, loop + 1)
        elements = [node.key, node.value] if isinstance(node, ast.DictComp) else [node.elt]
        self._push(elements, inner, loop + 1)

    def _bind_iteration(self, target: ast.expr, iterable: ast.expr, at: Pos, scope: Scope) -> None:
        """``for item in resp.data`` / ``for i, item in enumerate(resp.data)``: ``item`` comes from the data."""
        if (
            isinstance(target, ast.Tuple)
            and len(target.elts) == 2
            and isinstance(iterable, ast.Call)
            and isinstance(iterable.func, ast.Name)
            and iterable.func.id == "enumerate"
            and iterable.args
        ):
            target, iterable = target.elts[1], iterable.args[0]
        if isinstance(target, ast.Name):
            self.prepared[id(target)] = Binding(at, scope, source=iterable)

    def _for(self, node: ast.For | ast.AsyncFor, scope: Scope, loop: int) -> None:
        self._bind_iteration(node.target, node.iter, end(node.iter), scope)
        self._push([node.target, node.iter], scope, loop)
        self._push([*node.body, *node.orelse], scope, loop + 1)

    def _while(self, node: ast.While, scope: Scope, loop: int) -> None:
        self._push([node.test], scope, loop)
        self._push([*node.body, *node.orelse], scope, loop + 1)

    def _assign(self, node: ast.Assign | ast.AnnAssign, scope: Scope, loop: int) -> None:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        if node.value is None:  # a bare annotation binds nothing
            self._push(
                [node.annotation, None if isinstance(node.target, ast.Name) else node.target], scope, loop
            )
            return
        bound_literal = node.value if loop == 0 and literal(node.value)[0] else None
        for target in targets:
            if isinstance(target, ast.Name):
                self.prepared[id(target)] = Binding(
                    end(node.value), scope, literal=bound_literal, source=node.value
                )
        self._push([*targets, node.value, getattr(node, "annotation", None)], scope, loop)

    def _with(self, node: ast.With | ast.AsyncWith, scope: Scope, loop: int) -> None:
        for item in node.items:
            if isinstance(item.optional_vars, ast.Name):
                binding = Binding(end(item.context_expr), scope, source=item.context_expr)
                self.prepared[id(item.optional_vars)] = binding
            self._push([item.context_expr, item.optional_vars], scope, loop)
        self._push(node.body, scope, loop)

    def _named_expr(self, node: ast.NamedExpr, scope: Scope, loop: int) -> None:
        owner = scope
        while owner.kind == "comprehension" and owner.parent is not None:
            owner = owner.parent
        owner.bind(node.target.id, Binding(end(node), owner, source=node.value))
        self._push([node.value], scope, loop)

    def _import(self, node: ast.Import | ast.ImportFrom, scope: Scope, loop: int) -> None:
        module = (node.module or "") if isinstance(node, ast.ImportFrom) else None
        for alias in node.names:
            if alias.name == "*":
                scope.star_imports.append(start(node))
                continue
            bound = alias.asname or alias.name.split(".")[0]
            scope.bind(bound, Binding(end(node), scope))
            self._imported(module, alias.name, bound)

    def _declaration(self, node: ast.Global | ast.Nonlocal, scope: Scope, loop: int) -> None:
        names = scope.declared_global if isinstance(node, ast.Global) else scope.declared_nonlocal
        names.update(node.names)

    def _capture(
        self, node: ast.ExceptHandler | ast.MatchAs | ast.MatchStar, scope: Scope, loop: int
    ) -> None:
        if node.name is not None:
            scope.bind(node.name, Binding(start(node), scope))
        self._push(ast.iter_child_nodes(node), scope, loop)

    def _match_mapping(self, node: ast.MatchMapping, scope: Scope, loop: int) -> None:
        if node.rest is not None:
            scope.bind(node.rest, Binding(start(node), scope))
        self._push(ast.iter_child_nodes(node), scope, loop)

    def _name(self, node: ast.Name, scope: Scope, loop: int) -> None:
        if not isinstance(node.ctx, ast.Load):
            prepared = self.prepared.pop(id(node)) if id(node) in self.prepared else None
            scope.bind(node.id, prepared or Binding(end(node), scope))

    def _route_declarations(self) -> None:
        """Bindings under ``global`` / ``nonlocal`` belong to the scope the name is declared in."""
        for scope in self.scopes:
            for name in scope.declared_global:
                self.module_scope.bindings.setdefault(name, []).extend(scope.bindings.pop(name, []))
            for name in scope.declared_nonlocal:
                owner = scope.parent
                while owner is not None and (owner.kind != "function" or name not in owner.bindings):
                    owner = owner.parent
                (owner or self.module_scope).bindings.setdefault(name, []).extend(
                    scope.bindings.pop(name, [])
                )


ScopeWalk.HANDLERS = {
    ast.FunctionDef: ScopeWalk._function,
    ast.AsyncFunctionDef: ScopeWalk._function,
    ast.Lambda: ScopeWalk._function,
    ast.ClassDef: ScopeWalk._class,
    ast.ListComp: ScopeWalk._comprehension,
    ast.SetComp: ScopeWalk._comprehension,
    ast.GeneratorExp: ScopeWalk._comprehension,
    ast.DictComp: ScopeWalk._comprehension,
    ast.For: ScopeWalk._for,
    ast.AsyncFor: ScopeWalk._for,
    ast.While: ScopeWalk._while,
    ast.Assign: ScopeWalk._assign,
    ast.AnnAssign: ScopeWalk._assign,
    ast.With: ScopeWalk._with,
    ast.AsyncWith: ScopeWalk._with,
    ast.NamedExpr: ScopeWalk._named_expr,
    ast.Import: ScopeWalk._import,
    ast.ImportFrom: ScopeWalk._import,
    ast.Global: ScopeWalk._declaration,
    ast.Nonlocal: ScopeWalk._declaration,
    ast.ExceptHandler: ScopeWalk._capture,
    ast.MatchAs: ScopeWalk._capture,
    ast.MatchStar: ScopeWalk._capture,
    ast.MatchMapping: ScopeWalk._match_mapping,
    ast.Name: ScopeWalk._name,
}


def latest(scope: Scope, name: str, at: Pos) -> Binding | None:
    """The binding of ``name`` in effect at ``at``: the latest one before it, in this function or module."""
    while scope.kind == "comprehension" and name not in scope.bindings and scope.parent is not None:
        scope = scope.parent
    best: Binding | None = None
    for binding in scope.bindings.get(name, ()):
        if binding.at <= at and (best is None or binding.at >= best.at):
            best = binding
    return best


def name_literal(
    name: str, scope: Scope, at: Pos
) -> tuple[Literal["constant", "assignment"], ast.expr] | None:
    """("constant" | "assignment", the literal) when ``name`` at ``at`` can only hold one literal."""
    while scope.kind == "comprehension":
        if name in scope.bindings or scope.parent is None:
            return None
        scope = scope.parent
    home, owner = scope, scope
    while True:
        if name in owner.declared_global:
            while owner.parent is not None:
                owner = owner.parent
            break
        if (name in owner.bindings and (owner is home or owner.kind != "class")) or owner.parent is None:
            break
        owner = owner.parent
    bindings = owner.bindings.get(name, [])
    bound = bindings[0].literal if len(bindings) == 1 else None
    if bound is None:
        return None
    bound_at = bindings[0].at
    if owner.kind == "module":
        if home is owner and bound_at > at:
            return None
        if any(star > bound_at for star in owner.star_imports):
            return None  # a later ``import *`` may rebind it
        return "constant", bound
    if owner is home and owner.kind == "function" and bound_at <= at:
        return "assignment", bound
    return None
