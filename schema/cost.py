"""The cost limit: every field costs 1, and a list's selection is multiplied by its `first`
(default 50, capped 200). Fragments are expanded once each (memoised), so a document that
spreads fragments many times, or in a cycle, cannot make a walker run for long.

The cost depends on the request's variables (`first: $n`), so it is checked on every
request, after the document-only rules (whose result is cached with the document).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    ArgumentNode,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLNamedType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
    VariableNode,
    Visitor,
    get_named_type,
    get_nullable_type,
    is_list_type,
    value_from_ast_untyped,
    visit,
)
from graphql.language.ast import OperationType
from graphql.type import GraphQLInterfaceType, GraphQLObjectType

from schema.pagination import DEFAULT_FIRST, MAX_FIRST

MAX_COST = 50_000
# Selections after expanding fragments; far above any real query (2000 tokens), it keeps
# strawberry's depth and alias walkers (which re-walk a fragment at every spread) linear.
MAX_EXPANDED = 10_000
_CEILING = 10**15  # costs saturate here: nested lists would otherwise grow without bound

# --- expansion: how big a document is once its fragments are spread -----------------------


@dataclass
class Expansion:
    """Selections per operation after spreading fragments (each fragment counted once per
    spread, computed once); notes what strawberry's walkers cannot handle."""

    fragments: Mapping[str, FragmentDefinitionNode]
    unsound: bool = False  # an unknown fragment or a cycle (graphql-core reports both)
    # graphql-core parses `{ }` although the spec wants one selection at least; the cost rule
    # refuses it (strawberry's depth walker would fail on it).
    empty: SelectionSetNode | None = None
    _sizes: dict[str, int] = field(default_factory=dict)
    _visiting: set[str] = field(default_factory=set)

    def size(self, selection_set: SelectionSetNode | None) -> int:
        if selection_set is None:
            return 0
        if not selection_set.selections and self.empty is None:
            self.empty = selection_set
        total = 0
        for sel in selection_set.selections:
            if isinstance(sel, FragmentSpreadNode):
                total += 1 + self._fragment(sel.name.value)
            elif isinstance(sel, FieldNode | InlineFragmentNode):
                total += 1 + self.size(sel.selection_set)
            if total > MAX_EXPANDED:
                return total
        return total

    def _fragment(self, name: str) -> int:
        if name in self._sizes:
            return self._sizes[name]
        fragment = self.fragments.get(name)
        if fragment is None or name in self._visiting:
            self.unsound = True
            return 0
        self._visiting.add(name)
        self._sizes[name] = self.size(fragment.selection_set)
        self._visiting.discard(name)
        return self._sizes[name]


def fragments_of(document: DocumentNode) -> dict[str, FragmentDefinitionNode]:
    defs = document.definitions
    return {d.name.value: d for d in defs if isinstance(d, FragmentDefinitionNode)}


def operations_of(document: DocumentNode) -> list[OperationDefinitionNode]:
    return [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]


def walkable(document: DocumentNode) -> bool:
    """True when a naive fragment walker terminates quickly on this document."""
    expansion = Expansion(fragments_of(document))
    sizes = [expansion.size(op.selection_set) for op in operations_of(document)]
    small = all(s <= MAX_EXPANDED for s in sizes)
    return small and not expansion.unsound and expansion.empty is None


# --- cost --------------------------------------------------------------------------------


@dataclass
class _Cost:
    schema: GraphQLSchema
    fragments: Mapping[str, FragmentDefinitionNode]
    variables: Mapping[str, Any]
    _memo: dict[str, int] = field(default_factory=dict)
    _visiting: set[str] = field(default_factory=set)

    def selection_set(self, parent: GraphQLNamedType | None, sel_set: SelectionSetNode) -> int:
        return sum(self.selection(parent, s) for s in sel_set.selections)

    def selection(self, parent: GraphQLNamedType | None, sel: SelectionNode) -> int:
        if isinstance(sel, FieldNode):
            return self.field(parent, sel)
        if isinstance(sel, InlineFragmentNode):
            cond = sel.type_condition
            inner = self.schema.get_type(cond.name.value) if cond else parent
            return self.selection_set(inner, sel.selection_set)
        if isinstance(sel, FragmentSpreadNode):
            return self.fragment(sel.name.value)
        return 0

    def fragment(self, name: str) -> int:
        fragment = self.fragments.get(name)
        if fragment is None or name in self._visiting:  # graphql-core reports both
            return 0
        if name not in self._memo:
            self._visiting.add(name)
            inner = self.schema.get_type(fragment.type_condition.name.value)
            self._memo[name] = self.selection_set(inner, fragment.selection_set)
            self._visiting.discard(name)
        return self._memo[name]

    def field(self, parent: GraphQLNamedType | None, node: FieldNode) -> int:
        name = node.name.value
        if name.startswith("__"):  # introspection: off in production, GraphiQL's in dev
            return 0
        composite = isinstance(parent, GraphQLObjectType | GraphQLInterfaceType)
        definition = parent.fields.get(name) if composite else None  # type: ignore[union-attr]
        if definition is None or node.selection_set is None:
            return 1
        inner = self.selection_set(get_named_type(definition.type), node.selection_set)
        cost = 1 + self.multiplier(parent, node, definition.args, definition.type) * inner
        return min(cost, _CEILING)

    def multiplier(
        self, parent: GraphQLNamedType | None, node: FieldNode, args: Mapping[str, Any], type_: Any
    ) -> int:
        if "first" in args:
            return self.first(node)
        if is_list_type(get_nullable_type(type_)):
            # A connection's `edges` is the page its `first` already counted.
            in_connection = parent is not None and parent.name.endswith("Connection")
            return 1 if in_connection and node.name.value == "edges" else DEFAULT_FIRST
        return 1

    def first(self, node: FieldNode) -> int:
        arg = next((a for a in node.arguments or () if a.name.value == "first"), None)
        value: Any = None
        if arg is not None and isinstance(arg.value, IntValueNode):
            value = int(arg.value.value)
        elif arg is not None and isinstance(arg.value, VariableNode):
            value = self.variables.get(arg.value.name.value)
        if not isinstance(value, int) or isinstance(value, bool):
            return DEFAULT_FIRST
        return max(0, min(value, MAX_FIRST))


def _root(schema: GraphQLSchema, op: OperationDefinitionNode) -> GraphQLObjectType | None:
    if op.operation == OperationType.MUTATION:
        return schema.mutation_type
    if op.operation == OperationType.SUBSCRIPTION:
        return schema.subscription_type
    return schema.query_type


def _effective(op: OperationDefinitionNode, variables: Mapping[str, Any]) -> dict[str, Any]:
    """The request's variables with the operation's defaults for those not given."""
    values = dict(variables)
    for var in op.variable_definitions or ():
        name = var.variable.name.value
        if name not in values and var.default_value is not None:
            values[name] = value_from_ast_untyped(var.default_value)
    return values


def query_cost(
    schema: GraphQLSchema, document: DocumentNode, variables: Mapping[str, Any]
) -> dict[str, int]:
    """The cost of each operation in a validated document, by operation name."""
    fragments = fragments_of(document)
    costs: dict[str, int] = {}
    for op in operations_of(document):
        walker = _Cost(schema, fragments, _effective(op, variables))
        name = op.name.value if op.name else "anonymous"
        costs[name] = walker.selection_set(_root(schema, op), op.selection_set)
    return costs


def cost_errors(
    schema: GraphQLSchema,
    document: DocumentNode,
    variables: Mapping[str, Any],
    max_cost: int = MAX_COST,
) -> list[GraphQLError]:
    """The refusals of a document the other rules accepted: too large once its fragments are
    spread, an empty selection set, or a cost above ``max_cost``."""
    expansion = Expansion(fragments_of(document))
    for op in operations_of(document):
        name = op.name.value if op.name else "anonymous"
        if expansion.size(op.selection_set) > MAX_EXPANDED:
            return [GraphQLError(f"'{name}' expands to more than {MAX_EXPANDED} selections", op)]
    if expansion.empty is not None:
        return [GraphQLError("A selection set must select at least one field", expansion.empty)]
    errors = []
    for name, cost in query_cost(schema, document, variables).items():
        if cost > max_cost:
            msg = (
                f"'{name}' costs {cost:,}, above the maximum of {max_cost:,} "
                f"(each field costs 1; a list multiplies its selection by `first`, "
                f"default {DEFAULT_FIRST}, at most {MAX_FIRST})"
            )
            errors.append(GraphQLError(msg))
    return errors


def first_variables(document: DocumentNode) -> frozenset[str]:
    """The variables given as a ``first`` argument anywhere in the document: the only
    variables the cost reads (``_Cost.first``), so a document's cost is the same for every
    request with the same values of these."""
    names: set[str] = set()

    class _Firsts(Visitor):
        def enter_argument(self, node: ArgumentNode, *_: Any) -> None:
            if node.name.value == "first" and isinstance(node.value, VariableNode):
                names.add(node.value.name.value)

    visit(document, _Firsts())
    return frozenset(names)


def cost_rule(variables: Mapping[str, Any], max_cost: int = MAX_COST) -> type[ValidationRule]:
    """The cost check as a graphql-core validation rule (bound to these variables)."""

    class CostLimit(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            for error in cost_errors(context.schema, context.document, variables, max_cost):
                context.report_error(error)

    return CostLimit
