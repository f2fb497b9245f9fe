"""A compiled executor for the hot query shapes, with the normal executor as fallback.

graphql-core spends a few microseconds on every value it resolves (resolver call, info,
completion, serialisation): a page of 100 customers with their manager, route and tickets
is some 1,500 values, several milliseconds of Python per request. For a document made
only of what ``schema.fastplan`` compiles, the operation is compiled once (per document
and operation name) and each request runs the plan: the root fields call the same
functions as their resolvers (so scope, filters and masking are those of the normal
path), nested fields read attributes, call ``self``-only resolvers, or call registered
batch loaders (one statement per field for the whole page, as the dataloaders do), and
leaves are serialised by the schema's own scalar and enum types. The result is the
``data`` graphql-core gives for the same document (tests compare both for every role).

It only runs documents that passed validation (``DocumentCache``) and are within the
cost limit for this request's variables. At run time any exception (an invalid variable,
a refused argument, the caller not signed in, a null in a non-null field) makes it give
up: the request then goes to the normal executor, which reports the error as always.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import strawberry
from graphql import (
    DocumentNode,
    GraphQLBoolean,
    GraphQLInt,
    GraphQLLeafType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLString,
    Undefined,
    get_argument_values,
    get_variable_values,
)
from strawberry.types.arguments import convert_arguments

from schema.context import Context
from schema.cost import cost_errors, first_variables
from schema.fastplan import HotPaths, Plan, Step, Unsupported, compile_plan
from schema.sqljson import NotSql, Renderer, SqlPaths

log = logging.getLogger("retailgis.graphql.fastpath")
MAX_PLANS = 256
MAX_COSTS = 64  # cost verdicts kept per plan (by the values of its `first` variables)
_NO_PLAN = object()
Pending = dict[int, tuple[Step, list[tuple[dict[str, Any], Any]]]]
Complete = Callable[[Any, Pending], Any]


class Fallback(Exception):
    """This request goes to the normal executor."""


class FastPath:
    """The plans of one schema's documents, and running them."""

    def __init__(
        self, schema: strawberry.Schema, hot: HotPaths, sql: SqlPaths | None = None
    ) -> None:
        self.schema, self.hot, self.sql = schema, hot, sql
        self._plans: OrderedDict[tuple[str, str | None], Any] = OrderedDict()
        self._lock = threading.Lock()

    def plan(self, query: str, document: DocumentNode, operation_name: str | None) -> Plan | None:
        """The compiled plan of a valid document, or None (not a hot shape)."""
        key = (query, operation_name)
        with self._lock:
            found = self._plans.get(key)
        if found is None:
            try:
                found = compile_plan(self.schema, self.hot, document, operation_name)
                for step in found.steps:
                    _attach(step)
                found.sql = self._renderer(found)
                found.cost_variables = tuple(sorted(first_variables(document)))
            except Unsupported:
                found = _NO_PLAN
            with self._lock:
                self._plans[key] = found
                while len(self._plans) > MAX_PLANS:
                    self._plans.popitem(last=False)
        return found if isinstance(found, Plan) else None

    def _renderer(self, plan: Plan) -> Renderer | None:
        if self.sql is None:
            return None
        renderer = Renderer(self.sql)
        try:
            renderer.check(plan)
        except NotSql:
            return None
        return renderer

    def _within_cost(self, plan: Plan, document: DocumentNode, variables: dict[str, Any]) -> bool:
        """The cost limit for these variables, known from an earlier request with the same
        values of the variables the cost reads (a document without any: from the first)."""
        key = tuple(variables.get(name) for name in plan.cost_variables)
        try:
            known = plan.within_cost.get(key)
        except TypeError:  # a list or object given as `first`: not kept (and refused later)
            return not cost_errors(self.schema._schema, document, variables)
        if known is None:
            known = not cost_errors(self.schema._schema, document, variables)
            if len(plan.within_cost) < MAX_COSTS:
                plan.within_cost[key] = known
        return known

    def execute(
        self,
        query: str,
        document: DocumentNode,
        operation_name: str | None,
        variables: dict[str, Any] | None,
        context: Context,
    ) -> dict[str, Any] | str | None:
        """The response's ``data`` (as JSON text when PostgreSQL rendered it), or None: run
        the normal executor instead."""
        plan = self.plan(query, document, operation_name)
        if plan is None or not self._within_cost(plan, document, variables or {}):
            return None
        try:
            run = _Run(self.schema, context, plan, variables or {})
            return run.sql() if plan.sql is not None else run.python()
        except Exception as exc:  # the normal executor answers, errors included
            log.debug("fast path fell back: %s", type(exc).__name__)
            return None


class _Run:
    def __init__(
        self, schema: strawberry.Schema, context: Context, plan: Plan, variables: dict[str, Any]
    ) -> None:
        self.schema, self.context, self.plan = schema, context, plan
        coerced = get_variable_values(schema._schema, plan.operation_variables or (), variables)
        if isinstance(coerced, list):
            raise Fallback("variables")
        self.variables = coerced

    def arguments(self, step: Step) -> dict[str, Any]:
        """A root field's arguments by Python name, as strawberry gives them a resolver."""
        assert step.gfield is not None and step.node is not None
        raw = get_argument_values(step.gfield, step.node, self.variables)
        return convert_arguments(
            raw, step.gfield.extensions["strawberry-definition"].arguments,
            scalar_registry=self.schema.schema_converter.scalar_registry,
            config=self.schema.config,
        )  # fmt: skip

    def sql(self) -> str:
        args = {s.key: self.arguments(s) for s in self.plan.steps if s.kind != "typename"}
        return self.plan.sql.run(self.plan, self.context, args, self.context.session.connection())

    def python(self) -> dict[str, Any]:
        pending: Pending = {}
        data: dict[str, Any] = {}
        for step in self.plan.steps:
            if step.kind == "typename":
                data[step.key] = step.read
                continue
            value = step.read(self.context, step, **self.arguments(step))
            data[step.key] = step.complete(value, pending)
        while pending:
            _, (step, entries) = pending.popitem()
            values = step.read(self.context, [parent for _, parent in entries])
            for (out, _), value in zip(entries, values, strict=True):
                out[step.key] = step.complete(value, pending)
        return data


# --- completion: one function per step, specialised on its type when compiled --------------


def _attach(step: Step) -> None:
    for child in step.children:
        _attach(child)
    if step.kind != "typename":
        step.complete = _completer(step.type, step)


def _completer(type_: Any, step: Step) -> Complete:
    if isinstance(type_, GraphQLNonNull):
        inner = _completer(type_.of_type, step)

        def non_null(value: Any, pending: Pending) -> Any:
            if value is None:
                raise Fallback("null in a non-null field")
            return inner(value, pending)

        return non_null
    if isinstance(type_, GraphQLList):
        item = _completer(type_.of_type, step)

        def list_(value: Any, pending: Pending) -> Any:
            if value is None:
                return None
            if isinstance(value, str | bytes | dict):
                raise Fallback("not a list")
            return [item(v, pending) for v in value]

        return list_
    if isinstance(type_, GraphQLLeafType):
        return _leaf(type_)
    children = step.children

    def object_(value: Any, pending: Pending) -> Any:
        return None if value is None else _object(children, value, pending)

    return object_


def _leaf(type_: GraphQLLeafType) -> Complete:
    serialize = type_.serialize
    same: type | None = None
    if type_ is GraphQLString:
        same = str
    elif type_ is GraphQLBoolean:
        same = bool

    def leaf(value: Any, pending: Pending) -> Any:
        if value is None:
            return None
        if value.__class__ is same:
            return value
        if type_ is GraphQLInt and value.__class__ is int and -(2**31) <= value < 2**31:
            return value
        out = serialize(value)
        if out is None or out is Undefined:
            raise Fallback("leaf did not serialise")
        return out

    return leaf


def _object(steps: list[Step], obj: Any, pending: Pending) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for step in steps:
        kind = step.kind
        if kind == "attr":
            out[step.key] = step.complete(getattr(obj, step.read), pending)
        elif kind == "typename":
            out[step.key] = step.read
        elif kind == "call":
            resolver, with_self = step.read
            out[step.key] = step.complete(resolver(obj) if with_self else resolver(), pending)
        else:  # batch: filled in when the whole level is known
            out[step.key] = None
            pending.setdefault(id(step), (step, []))[1].append((out, obj))
    return out
