"""The fast path's last step: a plan whose every field PostgreSQL can render becomes one
statement that returns the response's ``data`` as JSON text, as PostGraphile does. Python
then does no work per row at all.

A field renders in SQL only when it is declared here (``SqlObject``): a column of a JSON-
safe type (text, integer, boolean, enum; a non-null GraphQL field needs a NOT NULL column),
a to-one or to-many relation, an expression, or an object embedded in its parent's row.
Personal fields are never declared (their masking is ``domain.masking.mask``, in Python),
nor dates, decimals and the like (their serialisation is the schema's scalars'), so a plan
selecting any of them keeps to the Python fast path (``schema.fastpath``). The rows and
the scope come from the same conditions as the resolvers'; tests compare the answers.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from graphql import GraphQLNonNull, get_named_type
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ColumnElement,
    Connection,
    Enum,
    FromClause,
    Integer,
    Select,
    SmallInteger,
    String,
    Table,
    Text,
    cast,
    func,
    literal_column,
    select,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by

from schema.context import Context
from schema.fastplan import Plan, Step

MAX_PAIRS = 50  # json_build_object takes at most 100 arguments
_NAME = re.compile(r"^[_A-Za-z][_0-9A-Za-z]*$")
_JSON_SAFE = (BigInteger, Boolean, Enum, Integer, SmallInteger, String, Text)
EMPTY: ColumnElement[Any] = literal_column("'[]'::json")
Join = Callable[[FromClause, FromClause], ColumnElement[bool]]
Tables = frozenset[Table]


class NotSql(Exception):
    """The plan selects something PostgreSQL does not render here."""


@dataclass(frozen=True)
class Column:
    name: str  # the table column


@dataclass(frozen=True)
class One:
    type: str  # the related GraphQL type
    on: Join  # (parent, child) -> condition
    needs: tuple[str, ...]  # the parent's columns ``on`` reads


@dataclass(frozen=True)
class Many:
    type: str
    on: Join
    needs: tuple[str, ...]
    order: Callable[[FromClause], Sequence[ColumnElement[Any]]]
    limit: int


@dataclass(frozen=True)
class Embedded:
    type: str  # an object built from the parent's row (e.g. a route's stats)


@dataclass(frozen=True)
class Expression:
    value: Callable[[FromClause], ColumnElement[Any]]  # never null
    needs: tuple[str, ...]


SqlField = Column | One | Many | Embedded | Expression


@dataclass(frozen=True)
class SqlObject:
    table: Table | None  # None: embedded in its parent's row
    fields: Mapping[str, SqlField]


@dataclass(frozen=True)
class SqlRoot:
    """A root field rendered in SQL: ``check`` raises ``NotSql`` for a selection it does
    not render; ``build(context, step, renderer, **arguments)`` gives its JSON value."""

    check: Callable[[Renderer, Step], None]
    build: Callable[..., ColumnElement[Any]]
    # ``params(context, step, **arguments)``: the form of ``build``'s expression for these
    # arguments (what decides its SQL text) and the values of its named bind parameters
    params: Callable[..., tuple[Hashable, dict[str, Any]]] | None = None


@dataclass(frozen=True)
class SqlPaths:
    types: Mapping[str, SqlObject]
    roots: Mapping[tuple[str, str], SqlRoot]


@dataclass(frozen=True)
class Template:
    """A plan's statement compiled once for one form; requests of that form run its text
    with their own values (building and compiling the statement anew cost more Python
    than PostgreSQL spends answering a small page)."""

    sql: str
    defaults: dict[str, Any]  # every parameter's value as compiled (constants included)
    names: frozenset[str]  # the request's values: named bind parameters, unprocessed

    @classmethod
    def compile(cls, statement: Select[Any], dialect: Any, names: Iterable[str]) -> Template:
        """Raises ``NotSql`` when the text cannot be reused with other values: a value
        rendered into the text, an expanding or processed parameter, or a name missing."""
        compiled = statement.compile(dialect=dialect)
        wanted = frozenset(names)
        binds = compiled.binds
        processors = compiled._bind_processors
        late = set(compiled.literal_execute_params) | set(compiled.post_compile_params)
        if compiled.positiontup is not None or late or not wanted <= binds.keys():
            raise NotSql("the statement's text depends on its values")
        if any(binds[n].expanding or n in processors for n in wanted):
            raise NotSql("a value needs processing")
        defaults = dict(compiled.construct_params())
        for name, value in defaults.items():
            if (process := processors.get(name)) is not None:
                defaults[name] = process(value)
        return cls(compiled.string, defaults, wanted)

    def parameters(self, values: Mapping[str, Any]) -> dict[str, Any]:
        if values.keys() != self.names:
            raise NotSql("other values than the template's")
        return {**self.defaults, **values}


MAX_TEMPLATES = 64  # forms kept per plan (scope form × filter names × order)


@dataclass(frozen=True)
class Renderer:
    """Builds the JSON expressions of a plan's objects (checked once by ``check``) and
    keeps its statements by form (``Template``)."""

    paths: SqlPaths
    templates: dict[Hashable, Template] = field(default_factory=dict, compare=False)

    def check(self, plan: Plan) -> None:
        """Raises ``NotSql`` unless every field of the plan renders in SQL (and one reads
        the database at all: ``{ __typename }`` needs no statement)."""
        if all(step.kind == "typename" for step in plan.steps):
            raise NotSql("no field reads the database")
        for step in plan.steps:
            _key(step.key)
            if step.kind == "typename":
                continue
            root = self.paths.roots.get(("Query", step.name))
            if root is None:
                raise NotSql(step.name)
            root.check(self, step)

    def check_object(self, type_name: str, steps: Sequence[Step]) -> None:
        sql = self.paths.types.get(type_name)
        if sql is None:
            raise NotSql(type_name)
        for step in steps:
            _key(step.key)
            if step.kind == "typename":
                continue
            spec = sql.fields.get(step.name)
            if spec is None:
                raise NotSql(f"{type_name}.{step.name}")
            if isinstance(spec, Column) and sql.table is not None:
                _check_column(sql.table, spec.name, step)
            elif isinstance(spec, One | Many | Embedded):
                self.check_object(spec.type, step.children)

    def columns(self, type_name: str, steps: Sequence[Step]) -> set[str]:
        """The columns of the object's row that rendering these fields reads (a page
        selects only those: building a select of every column costs more than running it)."""
        sql = self.paths.types[type_name]
        out: set[str] = set()
        for step in steps:
            spec = sql.fields.get(step.name)
            if isinstance(spec, Column):
                out.add(spec.name)
            elif isinstance(spec, One | Many | Expression):
                out.update(spec.needs)
            elif isinstance(spec, Embedded):
                out |= self.columns(spec.type, step.children)
        return out

    def object(
        self, type_name: str, steps: Sequence[Step], row: FromClause, outer: Tables = frozenset()
    ) -> Any:
        """``json_build_object`` of these fields of the object in ``row``; ``outer``: the
        tables of the enclosing subqueries (a relation to one of those is aliased)."""
        sql = self.paths.types[type_name]
        args: list[Any] = []
        for step in steps:
            args += [key_literal(step.key), self.value(type_name, sql, step, row, outer)]
        return json_object(args)

    def value(
        self, type_name: str, sql: SqlObject, step: Step, row: FromClause, outer: Tables
    ) -> Any:
        if step.kind == "typename":
            return key_literal(type_name)
        spec = sql.fields[step.name]
        if isinstance(spec, Column):
            return row.c[spec.name]
        if isinstance(spec, Expression):
            return spec.value(row)
        if isinstance(spec, Embedded):
            return self.object(spec.type, step.children, row, outer)
        table = self.paths.types[spec.type].table
        assert table is not None
        # aliasing copies every column of the table: only when the table encloses already
        child: FromClause = table.alias() if table in outer else table
        inside = outer | {table}
        if isinstance(spec, One):
            inner = self.object(spec.type, step.children, child, inside)
            return select(inner).where(spec.on(row, child)).scalar_subquery()
        read = [child.c[c] for c in sorted(self.columns(spec.type, step.children) | {"id"})]
        rows = (
            select(*read).where(spec.on(row, child)).order_by(*spec.order(child))
            .limit(spec.limit).correlate(row).subquery()
        )  # fmt: skip
        obj = self.object(spec.type, step.children, rows, inside)
        agg = func.json_agg(aggregate_order_by(obj, *spec.order(rows)))
        return select(func.coalesce(agg, EMPTY)).scalar_subquery()

    def statement(
        self, plan: Plan, ctx: Context, args: Mapping[str, dict[str, Any]]
    ) -> Select[Any]:
        """One row, one column: the ``data`` object as JSON text."""
        pairs: list[Any] = []
        for step in plan.steps:
            value: ColumnElement[Any]
            if step.kind == "typename":
                value = key_literal("Query")
            else:
                value = self.paths.roots["Query", step.name].build(
                    ctx, step, self, **args[step.key]
                )
            pairs += [key_literal(step.key), value]
        return select(cast(func.json_build_object(*pairs), Text))

    def run(
        self, plan: Plan, ctx: Context, args: Mapping[str, dict[str, Any]], conn: Connection
    ) -> str:
        """The ``data`` object as JSON text: by the plan's template for the request's form
        when its root gives one (one root field), else by a statement built for it."""
        steps = [s for s in plan.steps if s.kind != "typename"]
        root = self.paths.roots["Query", steps[0].name] if len(steps) == 1 else None
        if root is None or root.params is None:
            return _scalar_text(conn.execute(self.statement(plan, ctx, args)))
        form, values = root.params(ctx, steps[0], **args[steps[0].key])
        template = self.templates.get(form)
        if template is None:
            statement = self.statement(plan, ctx, args)
            try:
                template = Template.compile(statement, conn.dialect, values)
            except NotSql:
                return _scalar_text(conn.execute(statement))
            if len(self.templates) < MAX_TEMPLATES:
                self.templates[form] = template
        return _scalar_text(conn.exec_driver_sql(template.sql, template.parameters(values)))


def _scalar_text(result: Any) -> str:
    text = result.scalar_one()
    assert isinstance(text, str)
    return text


def json_object(args: Sequence[Any]) -> Any:
    """``json_build_object(k1, v1, ...)``; beyond its 100 arguments, the objects of each 50
    pairs are joined as text without their braces (keys keep their order; jsonb's ``||``
    would sort them)."""
    chunk = 2 * MAX_PAIRS
    if len(args) <= chunk:
        return func.json_build_object(*args)
    inner = [
        func.substr(func.left(cast(func.json_build_object(*args[i : i + chunk]), Text), -1), 2)
        for i in range(0, len(args), chunk)
    ]
    parts: list[Any] = ["{", inner[0]]
    for more in inner[1:]:
        parts += [", ", more]
    return cast(func.concat(*parts, "}"), JSON)


def _key(key: str) -> str:
    if not _NAME.match(key):  # GraphQL names are this already; inlined as SQL literals
        raise NotSql(key)
    return key


def key_literal(key: str) -> ColumnElement[Any]:
    """A response key or type name as an inline SQL string (a GraphQL name: no quotes)."""
    return literal_column(f"'{_key(key)}'")


def json_safe(table: Table, name: str) -> bool:
    """Whether PostgreSQL's JSON of the column is what the schema's scalar gives: text,
    integers, booleans and enums (not dates, decimals, JSON or geometry)."""
    return isinstance(table.c[name].type, _JSON_SAFE)


# The GraphQL scalar of a rendered column and the column types whose JSON it equals (a
# GraphQL enum would serialise its name, not the stored value: never rendered here; an Int
# beyond 32 bits, which graphql-core refuses, does not occur in these keys and counts).
_SAME_JSON: dict[str, tuple[type, ...]] = {
    "String": (String, Text, Enum),
    "Int": (Integer, SmallInteger, BigInteger),
    "Boolean": (Boolean,),
}


def _check_column(table: Table, name: str, step: Step) -> None:
    column = table.c[name]
    scalar = get_named_type(step.type)
    if not json_safe(table, name) or not isinstance(
        column.type, _SAME_JSON.get(getattr(scalar, "name", ""), ())
    ):
        raise NotSql(f"{table.name}.{name} is {column.type}, the field {scalar}")
    if isinstance(step.type, GraphQLNonNull) and column.nullable:
        raise NotSql(f"{table.name}.{name} may be null")
