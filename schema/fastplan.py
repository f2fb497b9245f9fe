"""Compiling a query document for the fast path (``schema.fastpath``) into a plan.

What compiles: a query operation without directives; fragments and inline fragments on
the exact object type (merged by response key, as graphql-core merges them); aliases;
``__typename``; on each object type, fields that are plain attributes (no resolver, no
extension), resolvers taking only ``self``, and the registered root and batch fields
(``HotPaths``). Anything else (an argument on a nested field, a directive, an interface,
a resolver needing ``info``) raises ``Unsupported``: the document is left to the normal
executor.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import strawberry
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLField,
    GraphQLLeafType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    InlineFragmentNode,
    OperationType,
    SelectionSetNode,
)
from strawberry.types.field import StrawberryField
from strawberry.types.unset import UNSET

from schema.context import Context
from schema.documents import operation_of

BACKREF = "strawberry-definition"

# (context, compiled root field, arguments by Python name) -> the field's value
RootField = Callable[..., Any]
# (context, parent objects) -> the field's value for each parent, in order
BatchField = Callable[[Context, list[Any]], list[Any]]


@dataclass(frozen=True)
class HotPaths:
    """The fields the fast path may run beyond plain attributes, by (type, field)."""

    roots: Mapping[tuple[str, str], RootField]
    batches: Mapping[tuple[str, str], BatchField]
    # roots that read one row by a unique key (one index lookup): a plan of only these and
    # plain fields may run on the event loop (``Plan.lookup``)
    lookups: frozenset[tuple[str, str]] = frozenset()


def _all_defaulted(sfield: StrawberryField) -> bool:
    return all(a.default is not UNSET for a in sfield.arguments)


class Unsupported(Exception):
    """The document is not one the fast path runs (decided once, when compiling)."""


@dataclass
class Step:
    """One field of a plan: where its value comes from and how it is completed."""

    key: str  # the response key (alias or name)
    name: str
    kind: str  # typename | attr | call | batch | root
    type: GraphQLOutputType | None = None
    read: Any = None  # attr: the attribute; call: the resolver; batch/root: the function
    gfield: GraphQLField | None = None
    node: FieldNode | None = None
    children: list[Step] = field(default_factory=list)
    object_type: GraphQLObjectType | None = None
    complete: Any = None  # (value, pending) -> the completed value; set by schema.fastpath

    def names(self, *path: str) -> set[str]:
        """The field names selected below this field along ``path`` (e.g. edges, node)."""
        steps = self.children
        for name in path:
            steps = [c for s in steps if s.name == name for c in s.children]
        return {s.name for s in steps}


@dataclass
class Plan:
    operation_variables: Any  # the operation's variable definitions
    steps: list[Step]
    sql: Any = None  # a ``schema.sqljson.Renderer`` when PostgreSQL renders the whole data
    # every root a unique-key lookup (``HotPaths.lookups``), nothing below it batched
    lookup: bool = False
    # the cost limit's verdict by the values of the variables it reads (``first``)
    cost_variables: tuple[str, ...] = ()
    within_cost: dict[tuple[Any, ...], bool] = field(default_factory=dict)


class _Compiler:
    def __init__(self, schema: strawberry.Schema, document: DocumentNode, hot: HotPaths) -> None:
        self.gschema = schema._schema
        self.hot = hot
        defs = document.definitions
        self.fragments = {d.name.value: d for d in defs if isinstance(d, FragmentDefinitionNode)}

    def collect(
        self, parent: GraphQLObjectType, sets: list[SelectionSetNode]
    ) -> dict[str, list[FieldNode]]:
        """Fields by response key in first-seen order, fragments spread in place."""
        out: dict[str, list[FieldNode]] = {}
        seen: set[str] = set()

        def visit(selection_set: SelectionSetNode) -> None:
            for sel in selection_set.selections:
                if sel.directives:
                    raise Unsupported("directive")
                if isinstance(sel, FieldNode):
                    out.setdefault(sel.alias.value if sel.alias else sel.name.value, []).append(sel)
                elif isinstance(sel, InlineFragmentNode):
                    cond = sel.type_condition
                    if cond is not None and cond.name.value != parent.name:
                        raise Unsupported("fragment on another type")
                    visit(sel.selection_set)
                elif isinstance(sel, FragmentSpreadNode) and sel.name.value not in seen:
                    seen.add(sel.name.value)
                    fragment = self.fragments[sel.name.value]
                    if fragment.directives or fragment.type_condition.name.value != parent.name:
                        raise Unsupported("fragment on another type")
                    visit(fragment.selection_set)

        for selection_set in sets:
            visit(selection_set)
        return out

    def steps(self, parent: GraphQLObjectType, sets: list[SelectionSetNode]) -> list[Step]:
        return [self.step(parent, key, nodes) for key, nodes in self.collect(parent, sets).items()]

    def step(self, parent: GraphQLObjectType, key: str, nodes: list[FieldNode]) -> Step:
        name = nodes[0].name.value
        if name == "__typename":
            return Step(key, name, "typename", read=parent.name)
        gfield = parent.fields[name]
        sfield: StrawberryField = gfield.extensions[BACKREF]
        given = any(n.arguments for n in nodes)
        kind, read = self.source(parent.name, name, gfield, sfield, given)
        step = Step(key, name, kind, gfield.type, read, gfield, nodes[0])
        named = _named(gfield.type)
        if isinstance(named, GraphQLObjectType):
            if named.is_type_of is not None:
                raise Unsupported("type with is_type_of")
            sets = [n.selection_set for n in nodes if n.selection_set is not None]
            step.object_type, step.children = named, self.steps(named, sets)
        elif not isinstance(named, GraphQLLeafType):
            raise Unsupported("abstract type")
        return step

    def source(
        self,
        type_name: str,
        name: str,
        gfield: GraphQLField,
        sfield: StrawberryField,
        given: bool = False,
    ) -> tuple[str, Any]:
        """Where a field's value comes from. A field whose arguments all have defaults and
        are not given (``location`` without ``crs``) runs its resolver with the defaults."""
        if (type_name, name) in self.hot.roots:
            return "root", self.hot.roots[type_name, name]
        if given or (gfield.args and not _all_defaulted(sfield)):
            raise Unsupported("field with arguments")
        if (type_name, name) in self.hot.batches:
            return "batch", self.hot.batches[type_name, name]
        if sfield.is_basic_field:
            return "attr", sfield.python_name
        resolver = sfield.base_resolver
        if resolver is None or sfield.extensions or resolver.is_async:
            raise Unsupported("resolver")
        if resolver.info_parameter or resolver.parent_parameter or resolver.root_parameter:
            raise Unsupported("resolver needs info")
        return "call", (resolver, resolver.self_parameter is not None)

    def plan(self, document: DocumentNode, operation_name: str | None) -> Plan:
        """Raises ``Unsupported`` unless every root field is registered or __typename."""
        op = operation_of(document, operation_name)
        query_type = self.gschema.query_type
        if op is None or op.operation != OperationType.QUERY or op.directives:
            raise Unsupported("not a query")
        assert query_type is not None
        steps = self.steps(query_type, [op.selection_set])
        if not all(s.kind in ("root", "typename") for s in steps):
            raise Unsupported("root field")
        lookup = any(s.kind == "root" for s in steps) and all(
            s.kind == "typename" or (("Query", s.name) in self.hot.lookups and _unbatched(s))
            for s in steps
        )
        return Plan(op.variable_definitions, steps, lookup=lookup)


def _unbatched(step: Step) -> bool:
    return all(c.kind != "batch" and _unbatched(c) for c in step.children)


def _named(type_: Any) -> Any:
    while isinstance(type_, GraphQLNonNull | GraphQLList):
        type_ = type_.of_type
    return type_


def compile_plan(
    schema: strawberry.Schema, hot: HotPaths, document: DocumentNode, operation_name: str | None
) -> Plan:
    """The plan of a valid document's operation; ``Unsupported`` if it has none."""
    return _Compiler(schema, document, hot).plan(document, operation_name)
