"""The customer page rendered as JSON by PostgreSQL (``schema.sqljson``), for selections
without personal fields, dates or decimals: the bench's nested page and `near` search.

The page is the resolver's: the same conditions (``customer_where``: the caller's scope,
the filters), order, offset and size (``page_size``, ``decode_cursor``). The nested
objects are the loaders': a customer's manager and route (not scoped, as in the normal
path), the route's stop count over the whole route, the latest 50 tickets, newest first.
Field by field these mirror the node builders (``user_node``: name is the display name);
tests compare both paths for every field declared here, for every role.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

from sqlalchemy import ColumnElement, FromClause, Integer, Table, bindparam, func, select
from sqlalchemy.dialects.postgresql import aggregate_order_by

from domain.access.scope import scope_values
from domain.models import Customer as CustomerRow
from domain.models import DeliveryRoute, Ticket, User
from schema.context import Context
from schema.customers.columns import COLUMNS
from schema.customers.queries import (
    CustomerFilter,
    CustomerOrder,
    customer_where,
    filter_values,
)
from schema.fastplan import Step
from schema.loaders import TICKETS_PER_CUSTOMER
from schema.pagination import decode_cursor, page_size
from schema.sqljson import (
    EMPTY,
    Column,
    Embedded,
    Expression,
    Many,
    NotSql,
    One,
    Renderer,
    SqlObject,
    SqlPaths,
    SqlRoot,
    json_safe,
    key_literal,
)

CUSTOMERS: Table = CustomerRow.__table__  # type: ignore[assignment]
ROUTES: Table = DeliveryRoute.__table__  # type: ignore[assignment]
USERS: Table = User.__table__  # type: ignore[assignment]
TICKETS: Table = Ticket.__table__  # type: ignore[assignment]


def _columns(table: Table, names: dict[str, str]) -> dict[str, Column]:
    assert all(c in table.c for c in names.values())
    return {graphql: Column(column) for graphql, column in names.items()}


def _stops(route: FromClause) -> ColumnElement[Any]:
    """The whole route's stops, whoever asks: counted by a SECURITY DEFINER function, past
    row-level security (migration 0012); a count, no shop's data."""
    return func.route_stop_count(route.c.id)


TYPES: dict[str, SqlObject] = {
    "Customer": SqlObject(
        CUSTOMERS,
        {
            # personal fields are masked in Python: never rendered here
            **{
                n: Column(c.column)
                for n, c in COLUMNS.items()
                if c.personal_type is None and json_safe(CUSTOMERS, c.column)
            },
            "customerManager": One(
                "User", lambda c, u: u.c.id == c.c.customer_manager_id, ("customer_manager_id",)
            ),
            "route": One(
                "DeliveryRoute",
                lambda c, r: r.c.id == c.c.delivery_route_id,
                ("delivery_route_id",),
            ),
            "tickets": Many(
                "Ticket",
                lambda c, t: t.c.customer_id == c.c.id,
                ("id",),
                order=lambda t: [t.c.id.desc()],
                limit=TICKETS_PER_CUSTOMER,
            ),
        },
    ),
    "User": SqlObject(
        USERS,
        _columns(
            USERS, {"id": "id", "username": "username", "name": "display_name", "role": "role"}
        ),
    ),
    "DeliveryRoute": SqlObject(
        ROUTES,
        {
            **_columns(
                ROUTES,
                {
                    "id": "id",
                    "code": "code",
                    "name": "name",
                    "weekday": "weekday",
                    "depotId": "depot_id",
                    "vehicleId": "vehicle_id",
                    "isActive": "is_active",
                },
            ),
            "stats": Embedded("RouteStats"),
        },
    ),
    "RouteStats": SqlObject(None, {"stops": Expression(_stops, ("id",))}),
    "Ticket": SqlObject(
        TICKETS,
        _columns(
            TICKETS,
            {
                "id": "id",
                "type": "type",
                "status": "status",
                "title": "title",
                "reason": "reason",
                "customerId": "customer_id",
                "makerId": "maker_id",
                "regionId": "region_id",
            },
        ),
    ),
}


def _only(step: Step, allowed: set[str]) -> None:
    extra = {c.name for c in step.children} - allowed - {"__typename"}
    if extra:
        raise NotSql(f"{step.name}: {sorted(extra)}")


def _check(renderer: Renderer, step: Step) -> None:
    """totalCount, pageInfo { hasNextPage }, edges { node { ... } } (cursors: Python)."""
    _only(step, {"totalCount", "pageInfo", "edges"})
    for child in step.children:
        if child.name in ("pageInfo", "edges"):
            _only(child, {"hasNextPage"} if child.name == "pageInfo" else {"node"})
        for node in child.children if child.name == "edges" else ():
            if node.name == "node":
                renderer.check_object("Customer", node.children)


def _typename(step: Step) -> str:
    assert step.object_type is not None
    return step.object_type.name


def _customers(
    ctx: Context,
    step: Step,
    renderer: Renderer,
    filter: CustomerFilter | None,
    first: int | None,
    after: str | None,
    order_by: CustomerOrder,
) -> Any:
    size, offset = page_size(first), decode_cursor(after)
    where = customer_where(ctx, filter)
    order = (CUSTOMERS.c[order_by.value], CUSTOMERS.c.id)
    # named: the statement is kept per form and run again with other values (``_params``)
    limit = bindparam("page_limit", size + 1, type_=Integer)
    offset_bound = bindparam("page_offset", offset, type_=Integer)
    read = {order_by.value, "id"} | {
        name
        for edges in step.children
        if edges.name == "edges"
        for node in edges.children
        if node.name == "node"
        for name in renderer.columns("Customer", node.children)
    }
    page = (
        select(*[CUSTOMERS.c[c] for c in sorted(read)]).where(*where).order_by(*order)
        .offset(offset_bound).limit(limit).cte()
    )  # fmt: skip
    size_bound = bindparam("page_size", size, type_=Integer)
    shown = select(page).order_by(page.c[order_by.value], page.c.id).limit(size_bound).subquery()
    values: dict[str, Callable[[], Any]] = {  # built only when selected
        "totalCount": lambda: (
            select(func.count()).select_from(CUSTOMERS).where(*where).scalar_subquery()
        ),
        "hasNextPage": lambda: (
            select(func.count()).select_from(page).scalar_subquery() > size_bound
        ),
    }
    pairs: list[Any] = []
    for child in step.children:
        if child.name == "__typename":
            value: Any = key_literal(_typename(step))
        elif child.name == "totalCount":
            value = values["totalCount"]()
        elif child.name == "pageInfo":
            value = _object(child, values)
        else:  # edges
            edge = _edge(renderer, child, shown)
            order_shown = (shown.c[order_by.value], shown.c.id)
            agg = func.json_agg(aggregate_order_by(edge, *order_shown))
            value = select(func.coalesce(agg, EMPTY)).scalar_subquery()
        pairs += [key_literal(child.key), value]
    return func.json_build_object(*pairs)


def _params(
    ctx: Context,
    step: Step,
    filter: CustomerFilter | None,
    first: int | None,
    after: str | None,
    order_by: CustomerOrder,
) -> tuple[Hashable, dict[str, Any]]:
    """The form of ``_customers``' statement for these arguments and its values by bind
    name, without building it: the scope's form, the filter's names, the order."""
    size, offset = page_size(first), decode_cursor(after)
    form, values = scope_values(ctx.require())
    filtered = filter_values(filter) if filter is not None else {}
    page = {"page_limit": size + 1, "page_offset": offset, "page_size": size}
    return (form, order_by.value, *filtered), {**values, **filtered, **page}


def _object(step: Step, values: dict[str, Callable[[], Any]]) -> Any:
    pairs: list[Any] = []
    for child in step.children:
        named = child.name == "__typename"
        value = key_literal(_typename(step)) if named else values[child.name]()
        pairs += [key_literal(child.key), value]
    return func.json_build_object(*pairs)


def _edge(renderer: Renderer, step: Step, row: FromClause) -> Any:
    pairs: list[Any] = []
    for child in step.children:
        if child.name == "__typename":
            value: Any = key_literal(_typename(step))
        else:
            value = renderer.object("Customer", child.children, row, frozenset({CUSTOMERS}))
        pairs += [key_literal(child.key), value]
    return func.json_build_object(*pairs)


SQL_PATHS = SqlPaths(
    types=TYPES, roots={("Query", "customers"): SqlRoot(_check, _customers, _params)}
)
