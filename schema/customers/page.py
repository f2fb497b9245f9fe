"""A page of customers and one customer, as the resolvers and the fast path read them.

Both take the conditions already made (the caller's scope and the filters, from
``schema.customers.queries``) and the Customer field names the query selects, so that
only those columns are read (``schema.customers.columns``).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, func, select

from domain.access.scope import scope_condition, scope_values
from domain.models import Customer as CustomerRow
from schema.context import Context
from schema.customers.columns import ColumnPlan, column_plan
from schema.customers.types import Customer, CustomerConnection, customer_node
from schema.pagination import Edge, PageInfo, encode_cursor

Where = Sequence[ColumnElement[bool]]


def _nodes(ctx: Context, names: Collection[str], where: Where, *, order: Sequence[Any] = (),
           offset: int = 0, limit: int | None = None) -> list[Customer]:  # fmt: skip
    plan = column_plan(names)
    if plan.full:
        stmt = select(CustomerRow).where(*where).order_by(*order).offset(offset).limit(limit)
        return [customer_node(r) for r in ctx.session.scalars(stmt)]
    lean = select(*plan.select_list).where(*where).order_by(*order).offset(offset).limit(limit)
    # Core statements run on the session's connection: no ORM execution machinery
    return plan.nodes(ctx.session.connection().execute(lean).all())


def customer_page(
    ctx: Context,
    names: Collection[str],
    where: Where,
    *,
    order_column: str,
    size: int,
    offset: int,
    total: bool,
) -> CustomerConnection:
    """``size`` customers from ``offset`` in ``order_column`` order (then id); the next
    page is known by reading one row more; the total is counted only when asked for."""
    order = (CustomerRow.__table__.c[order_column], CustomerRow.id)
    nodes = _nodes(ctx, names, where, order=order, offset=offset, limit=size + 1)
    has_next = len(nodes) > size
    edges = [Edge(cursor=encode_cursor(offset + i), node=n) for i, n in enumerate(nodes[:size])]
    count = select(func.count()).select_from(CustomerRow).where(*where)
    return CustomerConnection(
        edges=edges,
        page_info=PageInfo(has_next_page=has_next, end_cursor=edges[-1].cursor if edges else None),
        total_count=(ctx.session.connection().scalar(count) or 0) if total else 0,
    )


def customer_one(ctx: Context, names: Collection[str], where: Where) -> Customer | None:
    found = _nodes(ctx, names, where, limit=1)
    return found[0] if found else None


_KEPT: dict[tuple[ColumnPlan, str, str], Select[Any]] = {}
MAX_KEPT = 256  # column plans × scope forms × key columns


def customer_one_by(
    ctx: Context, names: Collection[str], column: str, value: object
) -> Customer | None:
    """One customer by a unique column (``id``, ``customer_code``) in the caller's scope.
    The lean select is built once per column plan, scope form and column, and run again
    with each request's values: building the expressions and their cache key cost more
    Python than PostgreSQL spends on the lookup."""
    plan = column_plan(names)
    form, values = scope_values(ctx.require())
    key = CustomerRow.__table__.c[column]
    if plan.full:
        return customer_one(ctx, names, [scope_condition(form, values), key == value])
    kept = (plan, form, column)
    stmt = _KEPT.get(kept)
    if stmt is None:
        where = scope_condition(form, values), key == bindparam("key_value", value, key.type)
        stmt = select(*plan.select_list).where(*where).limit(1)
        if len(_KEPT) < MAX_KEPT:
            _KEPT[kept] = stmt
    rows = ctx.session.connection().execute(stmt, {**values, "key_value": value}).all()
    found = plan.nodes(rows)
    return found[0] if found else None
