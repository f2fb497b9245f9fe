"""Limits on what one GraphQL document may ask for, and the production hardening.

Depth, aliases and tokens use strawberry's limiters; the cost limit is ours: every field
costs 1, and a list's selection is multiplied by its `first` (default 50, capped 200).
Fragments are expanded once each (memoised), so a document that spreads fragments many
times, or in a cycle, cannot make a walker run for long.

In production introspection is off and "Did you mean ..." suggestions are removed.
"""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import strawberry
from graphql import (
    ASTValidationRule,
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
    get_named_type,
    get_nullable_type,
    is_list_type,
    value_from_ast_untyped,
)
from graphql.language.ast import OperationType
from graphql.type import GraphQLInterfaceType, GraphQLObjectType
from strawberry.extensions import (
    DisableIntrospection,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)
from strawberry.types.execution import ExecutionContext

from domain.errors import DomainError
from schema.pagination import DEFAULT_FIRST, MAX_FIRST

MAX_DEPTH = 10
MAX_ALIASES = 30
MAX_TOKENS = 2000
MAX_COST = 50_000
# Selections after expanding fragments; far above any real query (2000 tokens), it keeps
# strawberry's depth and alias walkers (which re-walk a fragment at every spread) linear.
MAX_EXPANDED = 10_000
_CEILING = 10**15  # costs saturate here: nested lists would otherwise grow without bound
log = logging.getLogger("retailgis.graphql")
_SUGGESTION = re.compile(r"\s*Did you mean .*$", re.DOTALL)

# --- expansion: how big a document is once its fragments are spread -----------------------


@dataclass
class _Expansion:
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


def _fragments(context: ValidationContext) -> dict[str, FragmentDefinitionNode]:
    defs = context.document.definitions
    return {d.name.value: d for d in defs if isinstance(d, FragmentDefinitionNode)}


def _operations(context: ValidationContext) -> list[OperationDefinitionNode]:
    return [d for d in context.document.definitions if isinstance(d, OperationDefinitionNode)]


def _walkable(context: ValidationContext) -> bool:
    """True when a naive fragment walker terminates quickly on this document."""
    expansion = _Expansion(_fragments(context))
    sizes = [expansion.size(op.selection_set) for op in _operations(context)]
    small = all(s <= MAX_EXPANDED for s in sizes)
    return small and not expansion.unsound and expansion.empty is None


def _guarded(rule: type[ASTValidationRule]) -> type[ValidationRule]:
    """Run a rule that does all its work in ``__init__`` only on a walkable document.

    The other cases are reported by graphql-core (unknown fragment, cycle) or by the cost
    rule (too large an expansion, an empty selection set), so the document is refused.
    """

    class Guarded(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            if _walkable(context):
                rule(context)

    Guarded.__name__ = f"Guarded{rule.__name__}"
    return Guarded


class DepthLimit(QueryDepthLimiter):
    def __init__(self) -> None:
        super().__init__(max_depth=MAX_DEPTH)
        self.validation_rules = [_guarded(r) for r in self.validation_rules]


class AliasLimit(MaxAliasesLimiter):
    def __init__(self) -> None:
        super().__init__(max_alias_count=MAX_ALIASES)
        self.validation_rules = [_guarded(r) for r in self.validation_rules]


class TokenLimit(MaxTokensLimiter):
    def __init__(self) -> None:
        super().__init__(max_token_count=MAX_TOKENS)


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


def query_cost(context: ValidationContext, variables: Mapping[str, Any]) -> dict[str, int]:
    """The cost of each operation in the validated document, by operation name."""
    fragments = _fragments(context)
    costs: dict[str, int] = {}
    for op in _operations(context):
        walker = _Cost(context.schema, fragments, _effective(op, variables))
        name = op.name.value if op.name else "anonymous"
        costs[name] = walker.selection_set(_root(context.schema, op), op.selection_set)
    return costs


def cost_rule(variables: Mapping[str, Any], max_cost: int = MAX_COST) -> type[ValidationRule]:
    class CostLimit(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            expansion = _Expansion(_fragments(context))
            for op in _operations(context):
                name = op.name.value if op.name else "anonymous"
                if expansion.size(op.selection_set) > MAX_EXPANDED:
                    msg = f"'{name}' expands to more than {MAX_EXPANDED} selections"
                    context.report_error(GraphQLError(msg, op))
                    return
            if expansion.empty is not None:
                msg = "A selection set must select at least one field"
                context.report_error(GraphQLError(msg, expansion.empty))
                return
            for name, cost in query_cost(context, variables).items():
                if cost > max_cost:
                    msg = (
                        f"'{name}' costs {cost}, above the maximum of {max_cost} "
                        f"(each field costs 1; a list multiplies its selection by `first`, "
                        f"default {DEFAULT_FIRST}, at most {MAX_FIRST})"
                    )
                    context.report_error(GraphQLError(msg))

    return CostLimit


class CostLimiter(SchemaExtension):
    """Adds the cost rule, bound to this request's variables (validation has none)."""

    def __init__(self, max_cost: int = MAX_COST) -> None:
        self.max_cost = max_cost

    def on_operation(self) -> Iterator[None]:
        ctx = self.execution_context
        rule = cost_rule(ctx.variables or {}, self.max_cost)
        ctx.validation_rules = (*ctx.validation_rules, rule)
        yield


# --- the schema variants -----------------------------------------------------------------


def limits(*, production: bool) -> list[type[SchemaExtension]]:
    """The extensions of the development or the production schema: classes, so that each
    request gets its own instances (strawberry sets the execution context on them)."""
    extensions: list[type[SchemaExtension]] = [TokenLimit, DepthLimit, AliasLimit, CostLimiter]
    if production:
        extensions.append(DisableIntrospection)
    return extensions


def describe_unexpected(exc: BaseException, path: object) -> str:
    """A log line for an unexpected error: its type, SQLSTATE and where it was raised
    (file, line, function), never its message nor source lines: database messages and
    validation errors echo values, which may be personal data."""
    sqlstate = getattr(getattr(exc, "orig", None), "sqlstate", None)
    state = f" (SQLSTATE {sqlstate})" if sqlstate else ""
    frames = " <- ".join(
        f"{f.filename}:{f.lineno} in {f.name}"
        for f in reversed(traceback.extract_tb(exc.__traceback__))
    )
    return f"unexpected {type(exc).__name__}{state} in {path} at {frames}"


class HardenedSchema(strawberry.Schema):
    """Removes every "Did you mean ..." (fields, arguments, types, enum values), not only
    the field suggestions strawberry's ``disable_field_suggestions`` covers; logs only
    unexpected errors, described without their messages (strawberry's own logging would
    write every error's message, variable values included)."""

    @staticmethod
    def remove_field_suggestion(error: GraphQLError) -> None:
        error.message = _SUGGESTION.sub("", error.message)

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        context = execution_context.context if execution_context else None
        request_id = getattr(context, "request_id", None)
        for error in errors:
            original = error.original_error
            if original is None or isinstance(original, GraphQLError | DomainError):
                continue  # expected: answered to the client, not logged
            log.error("request %s: %s", request_id, describe_unexpected(original, error.path))


def production_config() -> strawberry.schema.config.StrawberryConfig:
    return strawberry.schema.config.StrawberryConfig(disable_field_suggestions=True)


__all__ = [
    "MAX_ALIASES",
    "MAX_COST",
    "MAX_DEPTH",
    "MAX_TOKENS",
    "CostLimiter",
    "HardenedSchema",
    "describe_unexpected",
    "limits",
    "production_config",
    "query_cost",
]
